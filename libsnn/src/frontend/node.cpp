// Node: classifies the output kind and infers size_out the way Nengo does (one trial call).
#include <torch/torch.h>

#include "snn/errors.h"
#include "snn/network.h"
#include "snn/processes.h"
#include "snn/tensor_node.h"

namespace snn {

NodeOptions& NodeOptions::output(double v) {
  return output(torch::tensor({v}, torch::kFloat64));
}
NodeOptions& NodeOptions::output(std::vector<double> v) {
  return output(torch::tensor(v, torch::kFloat64));
}
NodeOptions& NodeOptions::output(torch::Tensor v) {
  constant_ = v.to(torch::kFloat64).flatten().contiguous();
  function_ = Function();
  process_.reset();
  return *this;
}
NodeOptions& NodeOptions::output(Function f) {
  function_ = std::move(f);
  constant_ = torch::Tensor();
  process_.reset();
  return *this;
}
NodeOptions& NodeOptions::output(ProcessPtr p) {
  process_ = std::move(p);
  if (process_) {
    constant_ = torch::Tensor();
    function_ = Function();
  }
  return *this;
}

std::string Node::describe() const { return "node \"" + id() + "\""; }

Node::Node(NodeOptions o) : options_(std::move(o)) {
  const auto& name = describe();
  if (options_.size_in() < 0)
    throw SpecError(name + ": expected size_in >= 0, got " + std::to_string(options_.size_in()));
  if (const auto& tf = options_.tensor()) {
    // Made by snn::tensor_node, which has run the trial call and filled both shapes.
    kind_ = Kind::Tensor;
    if (!tf->make || !tf->forward)
      throw SpecError(name + ": a TensorNode needs a module (TensorNodeOptions::module)");
    if (options_.constant().defined() || options_.function() || options_.process())
      throw SpecError(name + ": a TensorNode's output is its module; it takes no output");
    int64_t in = 1, out = 1;
    for (int64_t d : tf->shape_in) in *= d;
    for (int64_t d : tf->shape_out) out *= d;
    if (tf->shape_in.empty()) in = 0;
    if (options_.size_in() != in)
      throw SpecError(name + ": size_in is " + std::to_string(options_.size_in()) +
                      " but shape_in holds " + std::to_string(in) + " values");
    size_out_ = tf->shape_out.empty() ? 0 : out;
  } else if (options_.constant().defined()) {
    kind_ = Kind::Constant;
    if (options_.size_in() != 0)
      throw SpecError(name + ": a constant output takes no input, but size_in is " +
                      std::to_string(options_.size_in()));
    size_out_ = options_.constant().numel();
  } else if (options_.function()) {
    kind_ = Kind::Function;
    const auto& f = options_.function();
    if (f.uses_x && !f.uses_t && options_.size_in() == 0 && f.expr.empty())
      throw SpecError(name + ": a function of x needs size_in > 0");
    std::vector<double> trial;
    try {
      trial = f(0.0, std::vector<double>(options_.size_in(), 0.0));
    } catch (const std::exception& e) {
      throw SpecError(name + ": output function failed on a trial call at t=0: " + e.what());
    }
    size_out_ = static_cast<int64_t>(trial.size());
  } else if (const auto& p = options_.process()) {
    // Nengo's Node(output=process): size_in is the process's (0 for every process here);
    // size_out is given or the process's default (fixed by PresentInput's and Piecewise's
    // values, which the check below compares with a given size_out).
    kind_ = Kind::Process;
    if (options_.size_in() != p->size_in())
      throw SpecError(name + ": a " + p->type() + " output takes " +
                      (p->size_in() == 0 ? std::string("no input")
                                         : std::to_string(p->size_in()) + " inputs") +
                      ", but size_in is " + std::to_string(options_.size_in()));
    size_out_ = p->fixed_size() || options_.size_out() < 0 ? p->default_size_out()
                                                            : options_.size_out();
  } else if (options_.size_in() > 0) {
    kind_ = Kind::PassThrough;
    size_out_ = options_.size_in();
  } else if (options_.size_out() > 0) {
    kind_ = Kind::Input;
    size_out_ = options_.size_out();
  } else {
    throw SpecError(name + ": needs an output, a size_in (pass-through) or a size_out (input)");
  }
  if (options_.size_out() >= 0 && options_.size_out() != size_out_)
    throw SpecError(name + ": size_out is " + std::to_string(options_.size_out()) +
                    " but the output has " + std::to_string(size_out_) + " dimensions");
  if (size_out_ == 0 && kind_ != Kind::Function)
    throw SpecError(name + ": output has no dimensions");
}

ObjRef Node::operator[](Slice s) const {
  auto self = self_.lock();
  if (!self) throw SpecError(describe() + ": slice a node added to a network");
  return ObjRef(self)[std::move(s)];
}

}  // namespace snn
