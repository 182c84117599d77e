// TensorNode: checks the options, infers shape_out by one trial call, and wraps it all in a
// Node. Layer: the node (or neurons) plus its input connection.
#include "snn/tensor_node.h"

#include <torch/torch.h>

#include "first_line.h"
#include "snn/errors.h"

namespace snn {

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

int64_t product(const std::vector<int64_t>& s) {
  int64_t p = 1;
  for (int64_t d : s) p *= d;
  return p;
}


}  // namespace

ModuleMaker clone_or_share(std::shared_ptr<torch::nn::Module> module) {
  if (!module) return nullptr;
  return [module](uint32_t) -> std::shared_ptr<torch::nn::Module> {
    try {
      return module->clone();
    } catch (const c10::Error&) {
      return module;  // not a Cloneable: every simulator uses this very module
    }
  };
}

NodePtr tensor_node(Network& net, TensorNodeOptions o) {
  const std::string name = "tensor node \"" + (o.id().empty() ? std::string("?") : o.id()) + "\"";
  if (!o.maker() || !o.forward())
    throw SpecError(name + ": needs a module (TensorNodeOptions::module)");
  for (int64_t d : o.shape_in())
    if (d < 1) throw SpecError(name + ": shape_in " + shape_str(o.shape_in()) + " has a size < 1");
  for (int64_t d : o.shape_out())
    if (d < 1)
      throw SpecError(name + ": shape_out " + shape_str(o.shape_out()) + " has a size < 1");

  // The trial call: on a module made with seed 0, in inference mode and without gradients,
  // so that it changes nothing (a shared module gets its mode back).
  std::vector<int64_t> shape_out;
  {
    std::shared_ptr<torch::nn::Module> m;
    try {
      m = o.maker()(0);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw SpecError(name + ": making the module failed: " + first_line(e.what()));
    }
    if (!m) throw SpecError(name + ": the module maker returned no module");
    const bool was_training = m->is_training();
    m->eval();
    torch::NoGradGuard no_grad;
    std::vector<int64_t> xs = {1};
    xs.insert(xs.end(), o.shape_in().begin(), o.shape_in().end());
    if (o.shape_in().empty()) xs.push_back(0);
    // The trial input lives where the module's weights do (a module made on CUDA or in
    // float64 must not be handed CPU float32 zeros).
    auto held = m->parameters();
    if (held.empty()) held = m->buffers();
    const torch::TensorOptions trial =
        held.empty() ? torch::TensorOptions().dtype(torch::kFloat32) : held.front().options();
    torch::Tensor y;
    try {
      y = o.forward()(*m, torch::zeros({}, trial), torch::zeros(xs, trial));
    } catch (const std::exception& e) {
      m->train(was_training);
      throw SpecError(name + ": the trial call on zeros of shape " + shape_str(xs) +
                      " failed: " + first_line(e.what()));
    }
    m->train(was_training);
    if (!y.defined() || y.dim() < 1 || y.size(0) != 1)
      throw SpecError(name + ": the module must return (N, ...) for an input of (N, ...), got " +
                      (y.defined() ? c10::str(y.sizes()) : std::string("nothing")) +
                      " for N = 1");
    shape_out.assign(y.sizes().begin() + 1, y.sizes().end());
    if (shape_out.empty()) shape_out = {1};
  }
  if (!o.shape_out().empty() && product(o.shape_out()) != product(shape_out))
    throw SpecError(name + ": shape_out is " + shape_str(o.shape_out()) + " but the module returns " +
                    shape_str(shape_out));
  if (!o.shape_out().empty()) shape_out = o.shape_out();
  if (product(shape_out) < 1) throw SpecError(name + ": the module returns no values");

  auto tf = std::make_shared<TensorFunction>();
  tf->make = o.maker();
  tf->forward = o.forward();
  tf->shape_in = o.shape_in();
  tf->shape_out = shape_out;
  tf->pass_time = o.pass_time();
  tf->trainable = o.trainable();
  tf->seed = o.seed();
  tf->layer_spec = o.layer_spec();
  NodeOptions no;
  no.id(o.id()).label(o.label()).tensor(tf);
  no.size_in(o.shape_in().empty() ? 0 : product(o.shape_in()));
  no.size_out(product(shape_out));
  return net.node(std::move(no));
}

Layer::Layer(Network& net, TensorNodeOptions options) : net_(net), options_(std::move(options)) {}

Layer::Layer(Network& net, NeuronTypePtr neuron_type, std::string id)
    : net_(net), neuron_type_(std::move(neuron_type)), id_(std::move(id)) {
  if (!neuron_type_) throw SpecError("Layer: neuron type is null");
}

ObjRef Layer::operator()(const ObjRef& input, std::vector<int64_t> shape_in, SynapsePtr synapse,
                         Init transform) const {
  if (shape_in.empty() && options_) shape_in = options_->shape_in();
  if (shape_in.empty()) {
    // The size of what arrives: a matrix transform's rows, else the input's size.
    const bool matrix = !transform.empty() && !transform.is_distribution() &&
                        transform.literal().dim() == 2;
    const int64_t n = matrix ? transform.literal().size(0)
                             : static_cast<int64_t>(input.slice.resolve(input.size_out()).size());
    shape_in = {n};
  }
  ObjRef target;
  ObjRef output;
  if (options_) {
    auto o = *options_;
    o.shape_in(shape_in);
    auto node = tensor_node(net_, o);
    target = output = ObjRef(node);
  } else {
    auto ens = net_.ensemble(EnsembleOptions(product(shape_in), 1)
                                 .id(id_)
                                 .neuron_type(neuron_type_)
                                 .gain(Init(1.0))
                                 .bias(Init(0.0))
                                 .neurons_layer(true));
    target = output = ens->neurons();
  }
  net_.connect(input, target, ConnectionOptions().synapse(synapse).transform(transform));
  return output;
}

}  // namespace snn
