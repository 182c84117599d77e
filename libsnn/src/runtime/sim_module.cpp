// The step loop. Per step: synapse outputs of the previous step are delivered, then objects
// are computed level by level; each computed object pushes its value through its outgoing
// connections (synapse-free ones land in the same step, filtered ones are delivered next
// step); finally probes record. This reproduces Nengo's operator schedule.
#include <cmath>

#include "build/processes_internal.h"
#include "runtime/sim_module.h"
#include "snn/errors.h"
#include "train/autograd.h"

namespace snn::detail {

namespace {

torch::Tensor index_tensor(const std::vector<int64_t>& idx, torch::Device device) {
  return torch::tensor(idx, torch::kLong).to(device);
}

/// Adds `v` into `acc` (shape (batch, size)) at `idx` (all when undefined), functionally.
void accumulate(torch::Tensor& acc, const torch::Tensor& v, const torch::Tensor& idx, int64_t size,
                const torch::TensorOptions& opts) {
  if (!idx.defined()) {
    acc = acc.defined() ? acc + v : v;
    return;
  }
  if (!acc.defined()) acc = torch::zeros({v.size(0), size}, opts);
  acc = acc.index_add(1, idx, v);
}

}  // namespace

torch::Tensor call_function(const Function& f, double t, const torch::Tensor& x, int64_t batch,
                            int64_t size_out, const std::string& who,
                            const torch::TensorOptions& opts) {
  torch::Tensor xc;
  int64_t d = 0;
  if (x.defined()) {
    xc = x.detach().to(torch::kCPU, torch::kFloat64).contiguous();
    d = xc.size(1);
  }
  auto out = torch::empty({batch, size_out}, torch::kFloat64);
  double* po = out.data_ptr<double>();
  std::vector<double> row(d);
  for (int64_t b = 0; b < batch; ++b) {
    if (d) std::copy(xc.data_ptr<double>() + b * d, xc.data_ptr<double>() + (b + 1) * d, row.begin());
    std::vector<double> y;
    try {
      y = f(t, row);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw SimulationError(who + ": function failed at t=" + std::to_string(t) + ": " + e.what());
    }
    if (static_cast<int64_t>(y.size()) != size_out)
      throw SimulationError(who + ": function returned " + std::to_string(y.size()) +
                            " values at t=" + std::to_string(t) + ", expected " +
                            std::to_string(size_out));
    for (int64_t i = 0; i < size_out; ++i) {
      if (!std::isfinite(y[i]))
        throw SimulationError(who + ": function returned a non-finite value at t=" +
                              std::to_string(t));
      po[b * size_out + i] = y[i];
    }
  }
  return out.to(opts);
}

bool time_only(const Node& n) {
  return n.kind() == Node::Kind::Function && (n.size_in() == 0 || !n.options().function().uses_x);
}

SimState SimState::clone() const {
  SimState s = *this;
  auto deep = [](std::vector<torch::Tensor>& v) {
    for (auto& t : v)
      if (t.defined()) t = t.clone();
  };
  for (auto& b : s.blocks)
    for (auto& [k, t] : b) t = t.clone();
  deep(s.conn_out);
  deep(s.conn_x);
  deep(s.probe_out);
  deep(s.probe_x);
  deep(s.learned);
  deep(s.learn_x);
  return s;
}

SimModuleImpl::SimModuleImpl(std::shared_ptr<const Model> model, std::shared_ptr<const Plan> plan,
                             torch::Dtype dtype, torch::Device device, SimModuleOptions options)
    : model_(std::move(model)),
      plan_(std::move(plan)),
      dtype_(dtype),
      device_(device),
      opts_(torch::TensorOptions().dtype(dtype).device(device)),
      sim_options_(options) {
  const auto& m = *model_;
  const bool trainable_default = options.trainable_default;
  for (const auto& block : plan_->blocks)
    rate_twin_.push_back(block.neuron_type->rate_twin(options.lif_smoothing));
  auto ens_mod = register_module("ensembles", std::make_shared<torch::nn::Module>());
  for (const auto& be : m.ensembles) {
    auto sub = ens_mod->register_module(be.ensemble->id(), std::make_shared<torch::nn::Module>());
    // A Direct ensemble's identity encoders and zero biases are fixed.
    const bool trainable =
        !be.direct() && be.ensemble->options().trainable().value_or(trainable_default);
    auto add = [&](const char* name, const torch::Tensor& v, bool param) {
      auto t = v.to(opts_).clone();
      return param && trainable ? sub->register_parameter(name, t, true)
                                : sub->register_buffer(name, t);
    };
    bias_.push_back(add("bias", be.bias, true));
    enc_.push_back(add("scaled_encoders", be.scaled_encoders, true));
    gain_.push_back(add("gain", be.gain, false));
  }
  auto conn_mod = register_module("connections", std::make_shared<torch::nn::Module>());
  for (const auto& bc : m.connections) {
    const auto& c = *bc.connection;
    torch::Tensor w;
    if (bc.weights.defined()) {
      auto sub = conn_mod->register_module(c.id(), std::make_shared<torch::nn::Module>());
      const bool trainable = c.options().trainable().value_or(trainable_default);
      auto t = bc.weights.to(opts_).clone();
      w = trainable ? sub->register_parameter("weights", t, true) : sub->register_buffer("weights", t);
    }
    weights_.push_back(w);
    conn_pre_idx_.push_back(bc.pre_full || bc.decoded ? torch::Tensor()
                                                      : index_tensor(bc.pre_index, device_));
    conn_post_idx_.push_back(bc.post_full ? torch::Tensor() : index_tensor(bc.post_index, device_));
    torch::Tensor post_gain;
    if (c.post().kind == ObjRef::Kind::Neurons) {
      const auto& g = m.ensembles[m.ensemble_index.at(c.post().ensemble.get())].gain;
      post_gain = g.index_select(0, torch::tensor(bc.post_index, torch::kLong)).to(opts_);
    }
    conn_post_gain_.push_back(post_gain);
    conn_filter_.push_back(bc.filter ? std::make_unique<FilterKernel>(*bc.filter, dtype, device)
                                     : nullptr);
  }
  init_tensor_nodes();
  init_structured_transforms();
  init_learning();
  for (const auto& n : m.nodes)
    node_const_.push_back(n->kind() == Node::Kind::Constant
                              ? n->options().constant().to(opts_).unsqueeze(0)
                              : torch::Tensor());
  for (const auto& bp : m.probes) {
    probe_idx_.push_back(bp.full || bp.decoders.defined() ? torch::Tensor()
                                                          : index_tensor(bp.index, device_));
    probe_dec_.push_back(bp.decoders.defined() ? bp.decoders.to(opts_) : torch::Tensor());
    probe_filter_.push_back(bp.filter ? std::make_unique<FilterKernel>(*bp.filter, dtype, device)
                                      : nullptr);
  }
}

void SimModuleImpl::restore_parameters() {
  torch::NoGradGuard guard;
  const auto& m = *model_;
  for (size_t e = 0; e < m.ensembles.size(); ++e) {
    bias_[e].copy_(m.ensembles[e].bias);
    enc_[e].copy_(m.ensembles[e].scaled_encoders);
  }
  for (size_t c = 0; c < m.connections.size(); ++c)
    if (weights_[c].defined()) weights_[c].copy_(m.connections[c].weights);
  for (size_t i = 0; i < node_module_.size(); ++i) {
    if (!node_module_[i]) continue;
    size_t k = 0;
    for (auto& p : node_module_[i]->parameters()) p.copy_(node_initial_[i][k++]);
    for (auto& b : node_module_[i]->buffers()) b.copy_(node_initial_[i][k++]);
  }
}

SimState SimModuleImpl::initial_state(int64_t batch) const {
  const auto& m = *model_;
  SimState s;
  s.batch = batch;
  s.process_seed = m.seed + 1;
  for (size_t bi = 0; bi < plan_->blocks.size(); ++bi) {
    const auto& block = plan_->blocks[bi];
    NeuronState st;
    for (const auto& [name, dflt] : active_type(bi).default_state()) {
      std::vector<torch::Tensor> parts;
      for (size_t e : block.ensembles) {
        const auto& init = m.ensembles[e].initial_state;
        auto it = init.find(name);
        // A rate twin's own state variable that the spiking type lacks starts at zero.
        parts.push_back(it != init.end()
                            ? it->second
                            : torch::zeros({m.ensembles[e].units()}, torch::kFloat64));
      }
      st[name] = torch::cat(parts).to(opts_).unsqueeze(0).expand({batch, -1}).clone();
    }
    s.blocks.push_back(std::move(st));
  }
  for (size_t c = 0; c < m.connections.size(); ++c) {
    const auto& bc = m.connections[c];
    const int64_t size = static_cast<int64_t>(bc.post_index.size());
    if (conn_filter_[c]) {
      s.conn_out.push_back(torch::zeros({batch, size}, opts_));
      s.conn_x.push_back(conn_filter_[c]->initial_state(batch, size));
    } else {
      s.conn_out.emplace_back();
      s.conn_x.emplace_back();
    }
  }
  for (size_t p = 0; p < m.probes.size(); ++p) {
    const int64_t size = m.probes[p].probe->size();
    if (probe_filter_[p]) {
      s.probe_out.push_back(torch::zeros({batch, size}, opts_));
      s.probe_x.push_back(probe_filter_[p]->initial_state(batch, size));
    } else {
      s.probe_out.emplace_back();
      s.probe_x.emplace_back();
    }
  }
  for (size_t r = 0; r < m.learning_rules.size(); ++r) {
    const auto& lr = m.learning_rules[r];
    const auto& target = lr.kind == BuiltLearningRule::Kind::Voja ? enc_[lr.post_ensemble]
                                                                  : weights_[lr.connection];
    std::vector<int64_t> shape{batch};
    for (int64_t d : target.sizes()) shape.push_back(d);
    s.learned.push_back(torch::zeros(shape, opts_));
    // Filter states sized by what each filter sees: pre neurons (PES: the selected ones) and
    // post neurons.
    const int64_t n_pre =
        lr.pre_ensemble == BuiltLearningRule::kNone
            ? 0
            : (lr.pre_full ? m.ensembles[lr.pre_ensemble].ensemble->n_neurons()
                           : static_cast<int64_t>(lr.pre_index.size()));
    const int64_t n_post = lr.post_ensemble == BuiltLearningRule::kNone
                               ? 0
                               : m.ensembles[lr.post_ensemble].ensemble->n_neurons();
    const int64_t sizes[3] = {n_pre, n_post, n_post};
    for (int slot = 0; slot < 3; ++slot) {
      const auto& k = learn_filter_[3 * r + slot];
      s.learn_x.push_back(k ? k->initial_state(batch, sizes[slot]) : torch::Tensor());
    }
  }
  return s;
}

const NeuronType& SimModuleImpl::active_type(size_t bi) const {
  if (is_training() && sim_options_.training_mode == TrainingMode::Rate) return *rate_twin_[bi];
  return *plan_->blocks[bi].neuron_type;
}

torch::Tensor SimModuleImpl::step_block(size_t bi, double dt, const torch::Tensor& J,
                                        NeuronState& st) const {
  const auto& type = *plan_->blocks[bi].neuron_type;
  if (!is_training()) return type.step(dt, J, st);
  if (sim_options_.training_mode == TrainingMode::Rate) return rate_twin_[bi]->step(dt, J, st);
  if (!type.spiking()) return type.step(dt, J, st);
  // Spiking mode: the spike train forward, the smooth rate's derivative backward. The
  // neuron state (voltage, refractory time) carries no gradient: spikes reset it
  // discontinuously, and the surrogate already accounts for the current's effect.
  // The spikes' own graph would be dropped by straight_through: step on a detached current.
  for (auto& [name, v] : st) v = v.detach();
  auto spikes = type.step(dt, J.detach(), st);
  double sigma = sim_options_.lif_smoothing > 0 ? sim_options_.lif_smoothing : 1.0;
  return straight_through(spikes, type.rate_twin(sigma)->rates(J));
}

std::vector<torch::Tensor> SimModuleImpl::node_tables(const SimState& state, const Inputs& inputs,
                                                      int64_t n_steps) const {
  const auto& m = *model_;
  const double dt = m.dt;
  const size_t n_nodes = m.nodes.size();
  std::vector<torch::Tensor> node_data(n_nodes);  // (B, n_steps, size) or (n_steps, size)
  for (size_t i = 0; i < n_nodes; ++i) {
    const auto& n = *m.nodes[i];
    auto it = inputs.find(n.id());
    if (it != inputs.end()) {
      const auto& d = it->second;
      // Keep (batch, size) data that were expanded over the steps as a view (stride 0), so
      // the layered executor can tell they are constant.
      node_data[i] = d.dim() == 3 && d.size(1) > 1 && d.stride(1) == 0
                         ? d.narrow(1, 0, 1).to(opts_).expand(d.sizes())
                         : d.to(opts_);
    } else if (time_only(n)) {
      auto table = torch::empty({n_steps, n.size_out()}, torch::kFloat64);
      for (int64_t k = 0; k < n_steps; ++k) {
        const double t = static_cast<double>(state.step + k + 1) * dt;
        table[k] = call_function(n.options().function(), t, torch::Tensor(), 1, n.size_out(),
                                 n.describe(), torch::TensorOptions().dtype(torch::kFloat64))[0];
      }
      node_data[i] = table.to(opts_);
    } else if (n.kind() == Node::Kind::Process) {
      node_data[i] = process_table(*n.options().process(), state.process_seed, m.node_seed[i],
                                   state.batch, state.process_steps + state.step, n_steps, n.size_out(), dt)
                         .to(opts_);
    }
  }
  return node_data;
}

std::vector<torch::Tensor> SimModuleImpl::noise_tables(const SimState& state,
                                                       int64_t n_steps) const {
  const auto& m = *model_;
  std::vector<torch::Tensor> noise(m.ensembles.size());
  for (size_t e = 0; e < m.ensembles.size(); ++e) {
    const auto& be = m.ensembles[e];
    if (const auto& p = be.ensemble->options().noise())
      // The ensemble's own seed, moved off the neuron-state generator's (seed + 1).
      noise[e] = process_table(*p, state.process_seed, mix_seed(be.seed, 0x6e6f6973U),
                               state.batch, state.process_steps + state.step, n_steps, be.ensemble->n_neurons(), m.dt)
                     .to(opts_);
  }
  return noise;
}

std::vector<torch::Tensor> SimModuleImpl::forward(SimState& state, const Inputs& inputs,
                                                  int64_t n_steps) {
  if (layered()) return forward_layered(state, inputs, n_steps);
  return forward_steps(state, inputs, n_steps);
}

std::vector<torch::Tensor> SimModuleImpl::forward_steps(SimState& state, const Inputs& inputs,
                                                        int64_t n_steps) {
  const auto& m = *model_;
  const auto& plan = *plan_;
  const int64_t B = state.batch;
  const double dt = m.dt;
  const size_t n_nodes = m.nodes.size(), n_ens = m.ensembles.size(), n_conn = m.connections.size();

  // Node outputs that do not depend on the step's inputs are computed for all steps at once,
  // and so is ensemble noise.
  const auto node_data = node_tables(state, inputs, n_steps);
  const auto noise = noise_tables(state, n_steps);

  // Parameters gathered per block once per call (cheap, and differentiable for training).
  std::vector<torch::Tensor> block_bias(plan.blocks.size());
  for (size_t bi = 0; bi < plan.blocks.size(); ++bi) {
    std::vector<torch::Tensor> parts;
    for (size_t e : plan.blocks[bi].ensembles) parts.push_back(bias_[e]);
    block_bias[bi] = parts.size() == 1 ? parts[0] : torch::cat(parts);
  }

  std::vector<std::vector<torch::Tensor>> recorded(m.probes.size());
  std::vector<torch::Tensor> node_out(n_nodes), node_in(n_nodes);
  std::vector<torch::Tensor> ens_in(n_ens), ens_nin(n_ens), ens_out(n_ens), ens_J(n_ens);
  std::vector<torch::Tensor> next_out(n_conn);
  // Each connection's output after its transform and synapse (Nengo's "weighted" signal),
  // before a neurons post's gain, which Nengo applies after the synapse.
  std::vector<torch::Tensor> conn_weighted(n_conn);
  // Learning rules: error accumulators (reset every step) and each connection's output.
  const size_t n_rules = m.learning_rules.size();
  std::vector<torch::Tensor> rule_err(n_rules), conn_value(n_rules ? n_conn : 0);

  auto deliver = [&](size_t ci, const torch::Tensor& v) {
    const auto& post = m.connections[ci].connection->post();
    switch (post.kind) {
      case ObjRef::Kind::Node: {
        const size_t i = m.node_index.at(post.node.get());
        accumulate(node_in[i], v, conn_post_idx_[ci], post.node->size_in(), opts_);
        break;
      }
      case ObjRef::Kind::Ensemble: {
        const size_t e = m.ensemble_index.at(post.ensemble.get());
        if (m.connections[ci].to_post_neurons)  // a weight solver's (n_post, n_pre) weights
          accumulate(ens_nin[e], v, conn_post_idx_[ci], post.ensemble->n_neurons(), opts_);
        else
          accumulate(ens_in[e], v, conn_post_idx_[ci], post.ensemble->dimensions(), opts_);
        break;
      }
      case ObjRef::Kind::LearningRule: {
        const size_t r = m.learning_rule_index.at(post.connection.get());
        accumulate(rule_err[r], v, conn_post_idx_[ci], m.learning_rules[r].error_size, opts_);
        break;
      }
      default: {
        const size_t e = m.ensemble_index.at(post.ensemble.get());
        accumulate(ens_nin[e], v, conn_post_idx_[ci], post.ensemble->n_neurons(), opts_);
      }
    }
  };

  auto push = [&](size_t ci, const torch::Tensor& src, double t) {
    const auto& bc = m.connections[ci];
    const auto& c = *bc.connection;
    torch::Tensor x;
    const bool learning = n_rules && conn_rule_[ci] >= 0 &&
                          m.learning_rules[conn_rule_[ci]].kind != BuiltLearningRule::Kind::Voja;
    if (learning) {  // this item's own weights: (B, post, pre)
      if (!bc.decoded && conn_pre_idx_[ci].defined()) x = src.index_select(1, conn_pre_idx_[ci]);
      else x = src;
      x = torch::bmm(current_weights(ci, state), x.unsqueeze(2)).squeeze(2);
    } else if (bc.decoded) {
      x = torch::mm(src, (bc.conv || bc.sparse ? conn_dec_[ci] : weights_[ci]).t());
    } else {
      x = conn_pre_idx_[ci].defined() ? src.index_select(1, conn_pre_idx_[ci]) : src;
      if (c.options().function())
        x = call_function(c.options().function(), t, x, B, c.size_mid(), c.describe(), opts_);
      const auto& w = weights_[ci];
      if (w.defined() && !bc.conv && !bc.sparse) x = w.dim() == 2 ? torch::mm(x, w.t()) : x * w;
    }
    if (!learning && (bc.conv || bc.sparse)) x = structured_transform(ci, x);
    if (conn_filter_[ci]) {
      // Synapses off in training: the value passes unfiltered, still one step late, as the
      // step order needs it to break recurrent loops.
      next_out[ci] = synapses_off() ? x : conn_filter_[ci]->step(state.conn_x[ci], x);
      conn_weighted[ci] = next_out[ci];
    } else {
      conn_weighted[ci] = x;
      x = with_post_gain(ci, x);
      if (n_rules) conn_value[ci] = x;
      deliver(ci, x);
    }
  };

  for (int64_t k = 0; k < n_steps; ++k) {
    const int64_t step_no = state.step + 1;
    const double t = static_cast<double>(step_no) * dt;
    for (auto& v : node_in) v = torch::Tensor();
    for (auto& v : ens_in) v = torch::Tensor();
    for (auto& v : ens_nin) v = torch::Tensor();
    for (auto& v : rule_err) v = torch::Tensor();
    for (size_t ci = 0; ci < n_conn; ++ci)
      if (conn_filter_[ci]) {
        auto v = with_post_gain(ci, state.conn_out[ci]);
        if (n_rules) conn_value[ci] = v;
        deliver(ci, v);
      }

    for (size_t level = 0; level < plan.level_nodes.size(); ++level) {
      for (size_t i : plan.level_nodes[level]) {
        const auto& n = *m.nodes[i];
        torch::Tensor out;
        if (node_data[i].defined()) {
          const auto& d = node_data[i];
          out = d.dim() == 3 ? d.select(1, k) : d.select(0, k).unsqueeze(0).expand({B, -1});
        } else {
          switch (n.kind()) {
            case Node::Kind::Constant: out = node_const_[i].expand({B, -1}); break;
            case Node::Kind::Input: out = torch::zeros({B, n.size_out()}, opts_); break;
            case Node::Kind::PassThrough:
              out = node_in[i].defined() ? node_in[i] : torch::zeros({B, n.size_in()}, opts_);
              break;
            case Node::Kind::Function:
              out = call_function(n.options().function(), t,
                                  node_in[i].defined() ? node_in[i]
                                                       : torch::zeros({B, n.size_in()}, opts_),
                                  B, n.size_out(), n.describe(), opts_);
              break;
            case Node::Kind::Tensor:
              out = tensor_forward(
                  i, t, node_in[i].defined() ? node_in[i] : torch::zeros({B, n.size_in()}, opts_));
              break;
            case Node::Kind::Process:  // tabulated by node_tables
              TORCH_CHECK(false, n.describe(), ": process output was not tabulated");
          }
        }
        node_out[i] = out;
        for (size_t ci : plan.node_outgoing[i]) push(ci, out, t);
      }
      for (size_t bi : plan.level_blocks[level]) {
        const auto& block = plan.blocks[bi];
        std::vector<torch::Tensor> parts;
        for (size_t e : block.ensembles) {
          torch::Tensor J;
          if (ens_in[e].defined()) {
            const auto E = current_encoders(e, state);  // (B, n, d) while Voja learns
            J = E.dim() == 2 ? torch::mm(ens_in[e], E.t())
                             : torch::bmm(E, ens_in[e].unsqueeze(2)).squeeze(2);
          }
          if (ens_nin[e].defined()) J = J.defined() ? J + ens_nin[e] : ens_nin[e];
          if (!J.defined()) J = torch::zeros({B, m.ensembles[e].units()}, opts_);
          if (noise[e].defined())  // Nengo: noise SimProcess incs the neuron input (same step)
            J = J + (noise[e].dim() == 3 ? noise[e].select(1, k) : noise[e].select(0, k));
          parts.push_back(J);
        }
        auto J = (parts.size() == 1 ? parts[0] : torch::cat(parts, 1)) + block_bias[bi];
        auto out = step_block(bi, dt, J, state.blocks[bi]);
        for (size_t j = 0; j < block.ensembles.size(); ++j) {
          const size_t e = block.ensembles[j];
          const int64_t n = m.ensembles[e].units();
          ens_out[e] = block.ensembles.size() == 1 ? out : out.narrow(1, block.offsets[j], n);
          ens_J[e] = block.ensembles.size() == 1 ? J : J.narrow(1, block.offsets[j], n);
          for (size_t ci : plan.ensemble_outgoing[e]) push(ci, ens_out[e], t);
        }
      }
    }

    // Learning rules compute this step's deltas now; they reach their targets after the
    // probes, so that a weights probe reads the weights this step used.
    std::vector<RuleStep> rule_steps;
    if (n_rules) rule_steps = learning_deltas(state, ens_out, rule_err, conn_value);

    for (size_t p = 0; p < m.probes.size(); ++p) {
      const auto& bp = m.probes[p];
      const auto& target = bp.probe->target();
      const auto& attr = bp.probe->options().attr();
      torch::Tensor v;
      switch (target.kind) {
        case ObjRef::Kind::LearningRule: {
          const size_t r = m.learning_rule_index.at(target.connection.get());
          const RuleStep& rs = rule_steps[r];
          if (attr == "error") v = rs.error;
          else if (attr == "activities" || attr == "pre_filtered") v = rs.pre_filtered;
          else if (attr == "post_filtered") v = rs.post_filtered;
          else if (attr == "theta") v = rs.theta;
          else if (attr == "scaled_encoders")  // before this step's delta, as Nengo reads them
            v = current_encoders(m.learning_rules[r].post_ensemble, state);
          else
            v = rs.delta;  // flattened per item
          v = v.reshape({-1, bp.probe->size()}).expand({B, -1});
          break;
        }
        case ObjRef::Kind::Node: {
          const size_t i = m.node_index.at(target.node.get());
          v = attr == "input" ? (node_in[i].defined() ? node_in[i]
                                                      : torch::zeros({B, target.size_in()}, opts_))
                              : node_out[i];
          break;
        }
        case ObjRef::Kind::Ensemble: {
          const size_t e = m.ensemble_index.at(target.ensemble.get());
          if (attr == "input")
            v = ens_in[e].defined() ? ens_in[e]
                                    : torch::zeros({B, target.ensemble->dimensions()}, opts_);
          else if (attr == "scaled_encoders")
            v = current_encoders(e, state).reshape({-1, bp.probe->size()}).expand({B, -1});
          else
            v = torch::mm(ens_out[e], probe_dec_[p].t());
          break;
        }
        case ObjRef::Kind::Neurons: {
          const size_t e = m.ensemble_index.at(target.ensemble.get());
          if (attr == "output" || attr == "spikes" || attr == "rates") {
            v = ens_out[e];
          } else if (attr == "input") {
            v = ens_J[e];
          } else {
            const size_t bi = plan.ensemble_block[e];
            auto it = state.blocks[bi].find(attr);
            // A rate twin in training lacks the spiking type's variables: they read as zero.
            v = it == state.blocks[bi].end()
                    ? torch::zeros({B, target.ensemble->n_neurons()}, opts_)
                    : it->second.narrow(1, plan.ensemble_offset[e], target.ensemble->n_neurons());
          }
          break;
        }
        case ObjRef::Kind::Connection: {
          const size_t ci = m.connection_index.at(target.connection.get());
          if (attr == "output") {
            v = conn_weighted[ci];
          } else if (attr == "input") {
            v = pre_output(*target.connection, node_out, ens_out);
          } else {
            v = current_weights(ci, state).reshape({-1, bp.probe->size()}).expand({B, -1});
          }
          break;
        }
        default: break;
      }
      if (probe_idx_[p].defined()) v = v.index_select(1, probe_idx_[p]);
      if (probe_filter_[p] && reads_before_synapse(bp)) {
        // Nengo's probe synapse reads a connection's filtered output before the connection's
        // synapse updates it: the value delivered this step.
        v = state.conn_out[m.connection_index.at(target.connection.get())];
      }
      torch::Tensor sample = v;
      if (probe_filter_[p]) {
        sample = state.probe_out[p];
        state.probe_out[p] = synapses_off() ? v : probe_filter_[p]->step(state.probe_x[p], v);
      }
      if (std::fmod(static_cast<double>(step_no), bp.period) < 1.0) recorded[p].push_back(sample);
    }

    // Learning rules update last: their deltas reach the weights in the next step.
    for (size_t r = 0; r < rule_steps.size(); ++r)
      state.learned[r] = state.learned[r] + rule_steps[r].delta;
    for (size_t ci = 0; ci < n_conn; ++ci)
      if (conn_filter_[ci]) state.conn_out[ci] = next_out[ci];
    state.step = step_no;
  }

  std::vector<torch::Tensor> result;
  for (size_t p = 0; p < m.probes.size(); ++p)
    result.push_back(recorded[p].empty()
                         ? torch::zeros({B, 0, m.probes[p].probe->size()}, opts_)
                         : torch::stack(recorded[p], 1));
  return result;
}

}  // namespace snn::detail
