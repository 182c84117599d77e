// NengoDL's get_nengo_params / freeze_params: the live (trained) values turned back into the
// options Nengo builds from, so that a fresh build of the objects gives exactly these values.
#include "runtime/simulator_impl.h"
#include "snn/tensor_node.h"
#include "snn/transforms.h"

namespace snn {

namespace {

torch::Tensor f64_cpu(const torch::Tensor& t) {
  return t.detach().to(torch::kCPU, torch::kFloat64).contiguous().clone();
}

/// A function of x returning `n` zeros, kept as an expression so that the network can still
/// be saved as JSON.
Function zeros_function(int64_t n) {
  std::string src;
  for (int64_t i = 0; i < n; ++i) src += i ? ", 0" : "0";
  return expr(src);
}

std::string who(const EnsemblePtr& e) { return e ? e->describe() : std::string("null ensemble"); }
std::string who(const ConnectionPtr& c) {
  return c ? c->describe() : std::string("null connection");
}

/// Probes of an ensemble's decoded value would be solved anew for its trained tuning
/// curves: they keep the decoders this simulator reads them with.
void pin_probe_decoders(const detail::Model& model, const EnsemblePtr& ensemble) {
  for (const auto& bp : model.probes) {
    const auto& target = bp.probe->target();
    if (target.kind != ObjRef::Kind::Ensemble || target.ensemble != ensemble ||
        !bp.decoders.defined() || is_direct(ensemble->options().neuron_type()))
      continue;
    bp.probe->set_options(ProbeOptions(bp.probe->options())
                              .solver(std::make_shared<NoSolver>(bp.decoders.t().contiguous())));
  }
}

}  // namespace

EnsembleOptions Simulator::get_nengo_params(const EnsemblePtr& ensemble) const {
  const auto& im = *impl_;
  const auto& index = im.model->ensemble_index;
  const auto it = ensemble ? index.find(ensemble.get()) : index.end();
  if (it == index.end())
    throw SpecError("get_nengo_params: " + who(ensemble) +
                    " is not part of this simulator's network");
  const auto& built = im.model->ensembles[it->second];
  const auto& o = ensemble->options();
  if (built.direct()) return o;  // Direct mode: nothing was tuned or trained
  auto scaled = f64_cpu(im.module->scaled_encoders(it->second));
  // The build multiplies encoders by gain / radius; dividing it out here makes the rebuild
  // give the trained scaled encoders. The gain itself is the built one: training changes
  // the scaled encoders only, and connections into the neurons still use the built gain.
  auto encoders = scaled * o.radius() / built.gain.unsqueeze(1);
  const EnsembleOptions defaults(o.n_neurons(), o.dimensions());
  EnsembleOptions p = o;
  p.encoders(Init(encoders))
      .normalize_encoders(false)
      .gain(Init(built.gain.clone()))
      .bias(Init(f64_cpu(im.module->bias(it->second))))
      .max_rates(defaults.max_rates())
      .intercepts(defaults.intercepts());
  return p;
}

ConnectionOptions Simulator::get_nengo_params(const ConnectionPtr& connection) const {
  const auto& im = *impl_;
  const auto& index = im.model->connection_index;
  const auto it = connection ? index.find(connection.get()) : index.end();
  if (it == index.end())
    throw SpecError("get_nengo_params: " + who(connection) +
                    " is not part of this simulator's network");
  ConnectionOptions p = connection->options();
  const auto& w = im.module->weights(it->second);
  if (!w.defined()) return p;  // an identity transform: nothing was trained
  auto W = f64_cpu(w);
  const auto& built = im.model->connections[it->second];
  if (built.conv || built.sparse) {
    // NengoDL's form: a copy of the transform whose init is the trained kernel (values).
    if (built.conv)
      p.convolution(std::make_shared<Convolution>(Convolution(*built.conv).init(Init(W))));
    else
      p.sparse(std::make_shared<Sparse>(Sparse(*built.sparse).init(Init(W))));
    // The decoders this simulator used stay pinned (the function keeps the decoded size).
    if (built.decoded) p.solver(std::make_shared<NoSolver>(built.decoders.t().contiguous()));
    return p;
  }
  if (built.to_post_neurons) {
    // A weight solver's (n_post, n_pre) weights: given as they are (NoSolver with weights,
    // which is not composed with the post's encoders); the function only fixes the size.
    const auto post_dims =
        static_cast<int64_t>(connection->post().slice.resolve(connection->post().size_in()).size());
    p.solver(std::make_shared<NoSolver>(W.t().contiguous(), /*weights=*/true))
        .function(zeros_function(post_dims))
        .transform(Init());
  } else if (built.decoded) {
    // NengoDL's form: W = transform x decoders (post, n_neurons) become the decoders of an
    // identity connection. NoSolver returns them as they are; the function only sets the
    // decoded size to the post's (its values, the solver's targets, are ignored).
    p.solver(std::make_shared<NoSolver>(W.t().contiguous()))
        .function(zeros_function(W.size(0)))
        .transform(Init());
  } else {
    p.transform(Init(W));  // same shape as the built transform (scalar, vector or matrix)
  }
  return p;
}

void Simulator::freeze_params(const EnsemblePtr& ensemble) {
  auto params = get_nengo_params(ensemble);  // checks membership
  ensemble->set_options(std::move(params));
  pin_probe_decoders(*impl_->model, ensemble);
}

void Simulator::freeze_params(const ConnectionPtr& connection) {
  auto params = get_nengo_params(connection);
  connection->set_options(std::move(params));
}

void Simulator::freeze_params(const NetworkPtr& network) {
  if (!network) throw SpecError("freeze_params: network is null");
  const auto ensembles = network->all_ensembles();
  const auto connections = network->all_connections();
  // Everything is checked (and read) before anything changes.
  std::vector<EnsembleOptions> ens_params;
  std::vector<ConnectionOptions> conn_params;
  for (const auto& e : ensembles) ens_params.push_back(get_nengo_params(e));
  for (const auto& c : connections) conn_params.push_back(get_nengo_params(c));
  for (size_t i = 0; i < ensembles.size(); ++i) {
    ensembles[i]->set_options(std::move(ens_params[i]));
    pin_probe_decoders(*impl_->model, ensembles[i]);
  }
  for (size_t i = 0; i < connections.size(); ++i)
    connections[i]->set_options(std::move(conn_params[i]));
  // TensorNodes: later simulators clone a copy of the trained module instead of making a
  // fresh one (the copy is taken now, so further training here does not leak into it).
  // JSON layers saved with network_to_json still hold only their spec: trained layer
  // weights travel in checkpoints (save_params), not in JSON.
  const auto& im = *impl_;
  for (const auto& n : network->all_nodes()) {
    const auto& tf = n->options().tensor();
    auto it = im.model->node_index.find(n.get());
    if (!tf || it == im.model->node_index.end()) continue;
    const auto& module = im.module->node_module(it->second);
    if (!module) continue;
    std::shared_ptr<torch::nn::Module> copy;
    try {
      copy = module->clone();
    } catch (const c10::Error&) {
      continue;  // not cloneable: every simulator shares this module, trained in place
    }
    copy->to(torch::kCPU);
    tf->make = clone_or_share(std::move(copy));
  }
}

}  // namespace snn
