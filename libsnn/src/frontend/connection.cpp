// Connection and Probe: endpoint kinds, slices and transform shapes are checked here, so a
// mistake is reported with the object's name before anything is built.
#include <algorithm>
#include <map>
#include <vector>

#include <torch/torch.h>

#include "snn/errors.h"
#include "snn/learning_rules.h"
#include "snn/network.h"
#include "snn/transforms.h"

namespace snn {

std::string Connection::describe() const {
  return "connection \"" + id() + "\" (" + pre_.id() + " -> " + post_.id() + ")";
}

Connection::Connection(ObjRef pre, ObjRef post, ConnectionOptions o)
    : pre_(std::move(pre)), post_(std::move(post)), options_(std::move(o)) {
  validate();
}

void Connection::set_options(ConnectionOptions o) {
  if (!o.id().empty() && o.id() != id())
    throw SpecError(describe() + ": set_options cannot change the id (to \"" + o.id() + "\")");
  o.id(id());
  const int64_t old_size_mid = size_mid_;
  std::swap(options_, o);
  try {
    validate();
  } catch (...) {
    std::swap(options_, o);  // the old options stay
    size_mid_ = old_size_mid;
    throw;
  }
}

// Nengo's ConnectionLearningRuleTypeParam checks, plus what an error connection needs.
namespace {
void validate_learning(const ObjRef& pre_, const ObjRef& post_, const ConnectionOptions& options_,
                       const std::string& name) {
  using K = ObjRef::Kind;
  if (post_.kind == K::LearningRule) {
    const auto& target = *post_.connection;
    const auto& rule = target.options().learning_rule();
    if (!rule)
      throw SpecError(name + ": its post is the learning rule of " + target.describe() +
                      ", which has none (set ConnectionOptions::learning_rule)");
    if (post_.size_in() == 0)
      throw SpecError(name + ": the " + rule->type() + " rule of " + target.describe() +
                      " takes no error input (only PES and Voja do)");
    if (options_.learning_rule())
      throw SpecError(name + ": a connection into a learning rule cannot learn itself");
  }
  const auto& rule = options_.learning_rule();
  if (!rule) return;
  const std::string what = name + ": learning rule " + rule->type();
  if (post_.kind == K::LearningRule)
    throw SpecError(what + ": a connection into a learning rule cannot learn itself");
  if (options_.convolution() || options_.sparse())
    throw SpecError(what + " needs a dense transform, not a Convolution or Sparse one");
  const auto& tr = options_.transform();
  const bool matrix = !tr.empty() && (tr.is_distribution() || tr.literal().dim() == 2);
  switch (rule->modifies()) {
    case LearningRule::Modifies::Decoders:  // PES
      if (pre_.kind != K::Ensemble && pre_.kind != K::Neurons)
        throw SpecError(what + ": pre must be an ensemble (decoded) or neurons, got " +
                        pre_.describe());
      if (pre_.kind == K::Neurons && !matrix)
        throw SpecError(what + ": a connection from neurons needs a 2-D transform matrix "
                               "[post][pre neurons] for PES to change");
      break;
    case LearningRule::Modifies::Weights:  // BCM, Oja
      if (pre_.kind != K::Neurons || post_.kind != K::Neurons)
        throw SpecError(what + " changes neuron-to-neuron weights: connect neurons to neurons "
                               "(got " + pre_.describe() + " -> " + post_.describe() + ")");
      if (!pre_.slice.is_all() || !post_.slice.is_all())
        throw SpecError(what + ": the pre and post neurons cannot be sliced");
      if (!matrix)
        throw SpecError(what + ": needs a 2-D transform of shape (" +
                        std::to_string(post_.ensemble->n_neurons()) + ", " +
                        std::to_string(pre_.ensemble->n_neurons()) + ")");
      break;
    case LearningRule::Modifies::Encoders:  // Voja
      if (post_.kind != K::Ensemble)
        throw SpecError(what + " changes the post ensemble's encoders: post must be an "
                               "ensemble, got " + post_.describe());
      if (!post_.slice.is_all()) throw SpecError(what + ": the post ensemble cannot be sliced");
      break;
  }
}
}  // namespace

void Connection::validate() {
  const auto name = describe();
  using K = ObjRef::Kind;
  if (pre_.kind == K::None || pre_.kind == K::Connection || pre_.kind == K::LearningRule)
    throw SpecError(name + ": pre must be a node, an ensemble or neurons");
  if (post_.kind == K::None || post_.kind == K::Connection)
    throw SpecError(name + ": post must be a node, an ensemble, neurons or a learning rule");
  validate_learning(pre_, post_, options_, name);
  if (post_.kind == K::Node && post_.node->size_in() == 0)
    throw SpecError(name + ": " + post_.node->describe() +
                    " has size_in 0 and cannot receive connections");
  if (pre_.kind == K::Node && pre_.node->size_out() == 0)
    throw SpecError(name + ": " + pre_.node->describe() + " has no output");
  int64_t pre_size, post_size;
  try {
    pre_size = static_cast<int64_t>(pre_.slice.resolve(pre_.size_out()).size());
  } catch (const BuildError& e) {
    throw SpecError(name + ": pre slice: " + e.what());
  }
  try {
    post_size = static_cast<int64_t>(post_.slice.resolve(post_.size_in()).size());
  } catch (const BuildError& e) {
    throw SpecError(name + ": post slice: " + e.what());
  }
  if (pre_size == 0 || post_size == 0) throw SpecError(name + ": a slice selects nothing");

  size_mid_ = pre_size;
  const auto& fn = options_.function();
  if (fn) {
    if (pre_.kind == K::Neurons)
      throw SpecError(name + ": a function cannot be applied to neurons (use a transform)");
    std::vector<double> trial;
    try {
      trial = fn(0.0, std::vector<double>(pre_size, 0.0));
    } catch (const std::exception& e) {
      throw SpecError(name + ": function failed on a trial call with " +
                      std::to_string(pre_size) + " zeros: " + e.what());
    }
    if (trial.empty()) throw SpecError(name + ": function returns no values");
    size_mid_ = static_cast<int64_t>(trial.size());
  }

  const auto& tr = options_.transform();
  const auto& conv = options_.convolution();
  const auto& sparse = options_.sparse();
  if (conv || sparse) {
    if (conv && sparse)
      throw SpecError(name + ": set either a Convolution or a Sparse transform, not both");
    if (!tr.empty())
      throw SpecError(name + ": a " + std::string(conv ? "Convolution" : "Sparse") +
                      " transform replaces `transform`; set only one of them");
    if (conv) conv->validate(name);
    else sparse->validate(name);
    const int64_t in = conv ? conv->size_in() : sparse->size_in();
    const int64_t out = conv ? conv->size_out() : sparse->size_out();
    const std::string what = conv ? "the Convolution's input_shape (size " : "the Sparse matrix's "
                                                                             "cols (";
    if (in != size_mid_)
      throw SpecError(name + ": " + what + std::to_string(in) + ") does not match the pre value (" +
                      std::to_string(size_mid_) + " dims)");
    if (out != post_size)
      throw SpecError(name + ": the " + std::string(conv ? "Convolution's output (size "
                                                         : "Sparse matrix's rows (") +
                      std::to_string(out) + ") does not match the post (" +
                      std::to_string(post_size) + " dims)");
  } else if (tr.empty()) {
    if (size_mid_ != post_size)
      throw SpecError(name + ": without a transform, the pre value (" + std::to_string(size_mid_) +
                      " dims) must match the post (" + std::to_string(post_size) + " dims)");
  } else if (!tr.is_distribution()) {
    const auto& t = tr.literal();
    if (t.dim() == 1) {
      if (t.size(0) != size_mid_ || size_mid_ != post_size)
        throw SpecError(name + ": an elementwise transform needs pre (" +
                        std::to_string(size_mid_) + "), post (" + std::to_string(post_size) +
                        ") and transform (" + std::to_string(t.size(0)) + ") sizes to agree");
    } else if (t.dim() == 2) {
      if (t.size(0) != post_size || t.size(1) != size_mid_)
        throw SpecError(name + ": expected a transform of shape (" + std::to_string(post_size) +
                        ", " + std::to_string(size_mid_) + ") [post][pre], got " +
                        c10::str(t.sizes()));
    } else if (t.dim() != 0) {
      throw SpecError(name + ": a transform must be a scalar, vector or matrix, got " +
                      std::to_string(t.dim()) + " dimensions");
    }
  }
  if (!options_.eval_points().empty()) {
    if (pre_.kind != K::Ensemble)
      throw SpecError(name + ": eval_points only apply to connections from an ensemble");
    if (!options_.eval_points().is_distribution()) {
      const auto& e = options_.eval_points().literal();
      if (e.dim() != 2 || e.size(1) != pre_.ensemble->dimensions())
        throw SpecError(name + ": eval_points must have shape (m, " +
                        std::to_string(pre_.ensemble->dimensions()) + "), got " +
                        c10::str(e.sizes()));
    }
  }
  if (!options_.solver()) throw SpecError(name + ": solver is missing");
  if (options_.solver()->weights()) {
    // Nengo: a weight solver connects an ensemble's neurons to another ensemble's neurons.
    if (pre_.kind != K::Ensemble || post_.kind != K::Ensemble)
      throw SpecError(name + ": a solver with weights=true needs an ensemble as pre and as post "
                             "(got " + pre_.describe() + " -> " + post_.describe() + ")");
    if (options_.convolution() || options_.sparse())
      throw SpecError(name + ": a solver with weights=true needs a dense transform, not a "
                             "Convolution or Sparse one");
    if (options_.learning_rule())
      throw SpecError(name + ": learning rules on a connection whose solver has weights=true "
                             "are not supported; use weights=false (PES learns the decoders)");
  }
}

std::string Probe::describe() const { return "probe \"" + id() + "\" (" + target_.id() + ")"; }

Probe::Probe(ObjRef target, ProbeOptions o) : target_(std::move(target)), options_(std::move(o)) {
  validate();
}

void Probe::set_options(ProbeOptions o) {
  if (!o.id().empty() && o.id() != id())
    throw SpecError(describe() + ": set_options cannot change the id (to \"" + o.id() + "\")");
  o.id(id());
  const int64_t old_size = size_;
  std::swap(options_, o);
  try {
    validate();
  } catch (...) {
    std::swap(options_, o);  // the old options stay
    size_ = old_size;
    throw;
  }
}

void Probe::validate() {
  validate_size();
  using K = ObjRef::Kind;
  const auto& t = target_;
  const auto& attr = options_.attr();
  std::vector<int64_t> shape = {size_};
  if (t.kind == K::Ensemble && attr == "scaled_encoders") {
    shape = {t.ensemble->n_neurons(), t.ensemble->dimensions()};
  } else if ((t.kind == K::Connection && attr == "weights") ||
             (t.kind == K::LearningRule && (attr == "delta" || attr == "scaled_encoders"))) {
    const auto& c = *t.connection;
    const auto& tr = c.options().transform();
    const bool matrix = c.pre().kind == K::Ensemble || tr.is_distribution() ||
                        (!tr.empty() && tr.literal().dim() == 2);
    if (t.kind == K::LearningRule &&
        (attr == "scaled_encoders" ||
         c.options().learning_rule()->modifies() == LearningRule::Modifies::Encoders)) {
      shape = {c.post().ensemble->n_neurons(), c.post().ensemble->dimensions()};
    } else if (const auto& conv = c.options().convolution()) {
      shape = conv->kernel_shape();
    } else if (!c.options().sparse() && matrix) {
      const int64_t rows =
          c.pre().kind == K::Ensemble && c.options().solver()->weights()
              ? c.post().ensemble->n_neurons()
              : static_cast<int64_t>(c.post().slice.resolve(c.post().size_in()).size());
      if (rows > 0) shape = {rows, size_ / rows};
    }
  }
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  shape_ = n == size_ ? shape : std::vector<int64_t>{size_};
}

void Probe::validate_size() {
  const auto name = describe();
  using K = ObjRef::Kind;
  const auto& attr = options_.attr();
  if (options_.sample_every() && !(*options_.sample_every() > 0))
    throw SpecError(name + ": expected sample_every > 0");
  switch (target_.kind) {
    case K::None: throw SpecError(name + ": probe target is missing");
    case K::LearningRule: {
      // Nengo's probeable signals of each rule. "delta": the change the rule computed this
      // step, to the connection's weights (decoders) or, for Voja, to the post's scaled
      // encoders, flattened as they are; the rest are the vectors the rule reads this step.
      if (!target_.slice.is_all())
        throw SpecError(name + ": a learning rule probe cannot be sliced");
      const auto& c = *target_.connection;
      if (!c.options().learning_rule())
        throw SpecError(name + ": " + c.describe() + " has no learning rule");
      const std::string type = c.options().learning_rule()->type();
      static const std::map<std::string, std::vector<std::string>> probeable = {
          {"PES", {"delta", "error", "activities"}},
          {"BCM", {"delta", "pre_filtered", "post_filtered", "theta"}},
          {"Oja", {"delta", "pre_filtered", "post_filtered"}},
          {"Voja", {"delta", "post_filtered", "scaled_encoders"}}};
      const auto& known = probeable.at(type);
      if (std::find(known.begin(), known.end(), attr) == known.end()) {
        std::string list;
        for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
        throw SpecError(name + ": cannot probe \"" + attr + "\" of " + target_.describe() +
                        " (a " + type + " rule has " + list + ")");
      }
      const auto& post = c.post();
      const auto& pre = c.pre();
      if (attr == "error") {
        size_ = target_.size_in();
      } else if (attr == "activities" || attr == "pre_filtered") {
        // Nengo filters the whole pre ensemble; this rule filters the neurons it reads.
        if (pre.kind == K::Neurons && !pre.slice.is_all())
          throw SpecError(name + ": \"" + attr + "\" of a rule whose pre is a slice of "
                                 "neurons is not available (probe the pre neurons instead)");
        size_ = pre.ensemble->n_neurons();
      } else if (attr == "post_filtered" || attr == "theta") {
        size_ = post.ensemble->n_neurons();
      } else if (attr == "scaled_encoders" ||
                 c.options().learning_rule()->modifies() == LearningRule::Modifies::Encoders) {
        size_ = post.ensemble->n_neurons() * post.ensemble->dimensions();
      } else {
        break;  // a delta of weights or decoders: sized below as the connection's weights
      }
      return;
    }
    case K::Ensemble:
      if (attr == "scaled_encoders") {
        // The encoders scaled by gain / radius, flattened (n_neurons * dimensions); Voja
        // changes them while the simulation runs.
        if (!target_.slice.is_all())
          throw SpecError(name + ": a scaled_encoders probe cannot be sliced");
        size_ = target_.ensemble->n_neurons() * target_.ensemble->dimensions();
        return;
      }
      [[fallthrough]];
    case K::Node:
      if (attr != "output" && attr != "decoded_output" && attr != "input")
        throw SpecError(name + ": cannot probe \"" + attr + "\" of " + target_.describe() +
                        " (expected output or input)");
      if (target_.kind == K::Node && attr == "input" && target_.node->size_in() == 0)
        throw SpecError(name + ": " + target_.describe() + " has no input");
      break;
    case K::Neurons: {
      bool ok = attr == "output" || attr == "spikes" || attr == "rates" || attr == "input";
      for (const auto& [state, init] : target_.ensemble->options().neuron_type()->default_state())
        ok = ok || attr == state;
      if (!ok)
        throw SpecError(name + ": " + target_.ensemble->options().neuron_type()->type() +
                        " neurons have no \"" + attr + "\" to probe");
      break;
    }
    case K::Connection:
      if (attr != "weights" && attr != "output" && attr != "input")
        throw SpecError(name + ": cannot probe \"" + attr + "\" of " + target_.describe() +
                        " (expected output, input or weights)");
      if (!target_.slice.is_all()) throw SpecError(name + ": a connection probe cannot be sliced");
      break;
  }
  if (target_.kind == K::Connection || target_.kind == K::LearningRule) {
    const auto& c = *target_.connection;
    const int64_t post = static_cast<int64_t>(c.post().slice.resolve(c.post().size_in()).size());
    const bool weight_solver = c.pre().kind == K::Ensemble && c.options().solver()->weights();
    if (attr == "input") {  // what the pre object outputs, unsliced (an ensemble's neurons)
      const auto& pre = c.pre();
      size_ = pre.kind == K::Node ? pre.node->size_out()
              : is_direct(pre.ensemble->options().neuron_type())
                  ? pre.ensemble->dimensions()
                  : pre.ensemble->n_neurons();
      return;
    }
    if (attr == "output") {  // after the transform and synapse, before the post's slice
      size_ = weight_solver ? c.post().ensemble->n_neurons() : post;
      return;
    }
    if (const auto& conv = c.options().convolution()) {  // the kernel, flattened
      size_ = 1;
      for (auto k : conv->kernel_shape()) size_ *= k;
    } else if (const auto& sp = c.options().sparse()) {  // the values, one per index
      size_ = static_cast<int64_t>(sp->indices().size());
    } else if (weight_solver) {
      size_ = c.post().ensemble->n_neurons() * c.pre().ensemble->n_neurons();
    } else if (c.pre().kind == K::Ensemble) {
      size_ = post * c.pre().ensemble->n_neurons();
    } else {
      const auto& tr = c.options().transform();
      if (tr.empty())
        throw SpecError(name + ": " + c.describe() + " has no weights (identity transform)");
      size_ = tr.is_distribution() || tr.literal().dim() == 2 ? post * c.size_mid()
                                                             : tr.literal().numel();
    }
    return;
  }
  const int64_t full = attr == "input" && target_.kind == K::Node ? target_.size_in()
                                                                   : target_.size_out();
  try {
    size_ = static_cast<int64_t>(target_.slice.resolve(full).size());
  } catch (const BuildError& e) {
    throw SpecError(name + ": " + e.what());
  }
}

}  // namespace snn
