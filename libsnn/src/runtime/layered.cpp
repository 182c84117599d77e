// The layered executor for feed-forward networks: every object is computed for all the
// steps of a call at once, level by level, instead of step by step. Matrix products run over
// (batch, steps) together; signals that are constant over the call (a (batch, size) input,
// a constant node, a rate neuron driven by them) stay (batch, 1, size), so e.g. an image's
// input currents are computed once, not once per step. Only what is sequential by nature
// loops over steps: stateful neurons and synapse filters, both elementwise.
//
// It reproduces the step loop exactly: a filtered connection's output at step k reaches its
// target at step k + 1 (the first step sees the state left by the previous call), and probes
// with synapses lag one step the same way.
#include <cmath>

#include "build/processes_internal.h"
#include "runtime/sim_module.h"
#include "snn/errors.h"
#include "snn/tensor_node.h"

namespace snn::detail {

namespace {

/// A signal over the steps of one call: (batch, steps, size) or (batch, 1, size) when it
/// is the same at every step.
using Signal = torch::Tensor;

Signal expand_steps(const Signal& s, int64_t n_steps) {
  return s.size(1) == n_steps ? s : s.expand({s.size(0), n_steps, s.size(2)});
}

/// Adds `v` into `acc` at `idx` along the last axis (all when undefined).
void accumulate(Signal& acc, const Signal& v, const torch::Tensor& idx, int64_t size,
                const torch::TensorOptions& opts) {
  Signal full = v;
  if (idx.defined()) full = torch::zeros({v.size(0), v.size(1), size}, opts).index_add(2, idx, v);
  acc = acc.defined() ? acc + full : full;
}

/// Runs a filter over the steps of `u`, starting from `x`; returns the outputs (B, T, n).
Signal filter_steps(const FilterKernel& f, torch::Tensor& x, const Signal& u, int64_t n_steps) {
  std::vector<torch::Tensor> ys;
  ys.reserve(n_steps);
  for (int64_t k = 0; k < n_steps; ++k) ys.push_back(f.step(x, u.select(1, u.size(1) == 1 ? 0 : k)));
  return torch::stack(ys, 1);
}

/// What the target of a filtered signal sees: the previous output first, then y shifted by
/// one step; `last` receives the newest output for the next call.
Signal delay_one_step(const Signal& y, torch::Tensor& last) {
  const int64_t T = y.size(1);
  auto seen = torch::cat({last.unsqueeze(1), y.narrow(1, 0, T - 1)}, 1);
  last = y.select(1, T - 1);
  return seen;
}

}  // namespace

std::vector<torch::Tensor> SimModuleImpl::forward_layered(SimState& state, const Inputs& inputs,
                                                          int64_t n_steps) {
  const auto& m = *model_;
  const auto& plan = *plan_;
  const int64_t B = state.batch, T = n_steps;
  const double dt = m.dt;
  const size_t n_nodes = m.nodes.size(), n_ens = m.ensembles.size(), n_conn = m.connections.size();
  auto time_of = [&](int64_t k) { return static_cast<double>(state.step + k + 1) * dt; };

  std::vector<Signal> node_out(n_nodes), node_in(n_nodes);
  std::vector<Signal> ens_in(n_ens), ens_nin(n_ens), ens_out(n_ens), ens_J(n_ens);
  std::vector<Signal> conn_weighted(n_conn);  // after transform and synapse, before post gain
  std::vector<Signal> conn_seen(n_conn);      // ... and, with a synapse, one step later
  // Per block, per probed state variable: its value after every step.
  std::vector<std::map<std::string, Signal>> state_history(plan.blocks.size());
  for (const auto& bp : m.probes) {
    const auto& target = bp.probe->target();
    const auto& attr = bp.probe->options().attr();
    if (target.kind == ObjRef::Kind::Neurons && attr != "output" && attr != "spikes" &&
        attr != "rates" && attr != "input")
      state_history[plan.ensemble_block[m.ensemble_index.at(target.ensemble.get())]][attr] =
          Signal();
  }

  auto deliver = [&](size_t ci, const Signal& v) {
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
      default: {
        const size_t e = m.ensemble_index.at(post.ensemble.get());
        accumulate(ens_nin[e], v, conn_post_idx_[ci], post.ensemble->n_neurons(), opts_);
      }
    }
  };

  auto push = [&](size_t ci, const Signal& src) {
    const auto& bc = m.connections[ci];
    const auto& c = *bc.connection;
    Signal x;
    if (bc.decoded) {
      x = torch::matmul(src, (bc.conv || bc.sparse ? conn_dec_[ci] : weights_[ci]).t());
    } else {
      x = conn_pre_idx_[ci].defined() ? src.index_select(2, conn_pre_idx_[ci]) : src;
      if (c.options().function()) {
        std::vector<torch::Tensor> ys;
        for (int64_t k = 0; k < T; ++k)
          ys.push_back(call_function(c.options().function(), time_of(k),
                                     x.select(1, x.size(1) == 1 ? 0 : k), B, c.size_mid(),
                                     c.describe(), opts_));
        x = torch::stack(ys, 1);
      }
      const auto& w = weights_[ci];
      if (w.defined() && !bc.conv && !bc.sparse)
        x = w.dim() == 2 ? torch::matmul(x, w.t()) : x * w;
    }
    if (bc.conv || bc.sparse) x = structured_transform(ci, x);
    if (conn_filter_[ci] && !synapses_off()) {
      auto y = filter_steps(*conn_filter_[ci], state.conn_x[ci], x, T);
      conn_weighted[ci] = y;
      x = delay_one_step(y, state.conn_out[ci]);
      conn_seen[ci] = x;
    } else {
      conn_weighted[ci] = x;
    }
    deliver(ci, with_post_gain(ci, x));
  };

  const auto tables = node_tables(state, inputs, T);
  const auto noise = noise_tables(state, T);
  for (size_t level = 0; level < plan.level_nodes.size(); ++level) {
    for (size_t i : plan.level_nodes[level]) {
      const auto& n = *m.nodes[i];
      Signal out;
      if (tables[i].defined()) {
        const auto& d = tables[i];
        if (d.dim() == 3) {
          // Data given as (batch, size) arrive expanded over the steps (stride 0): keep them
          // as one step so everything downstream is computed once.
          out = d.size(1) > 1 && d.stride(1) == 0 ? d.narrow(1, 0, 1) : d;
        } else {
          out = d.unsqueeze(0).expand({B, -1, -1});
        }
      } else {
        switch (n.kind()) {
          case Node::Kind::Constant:
            out = node_const_[i].unsqueeze(0).expand({B, 1, -1});
            break;
          case Node::Kind::Input: out = torch::zeros({B, 1, n.size_out()}, opts_); break;
          case Node::Kind::PassThrough:
            out = node_in[i].defined() ? node_in[i] : torch::zeros({B, 1, n.size_in()}, opts_);
            break;
          case Node::Kind::Function: {
            auto x = node_in[i].defined() ? node_in[i] : torch::zeros({B, 1, n.size_in()}, opts_);
            std::vector<torch::Tensor> ys;
            for (int64_t k = 0; k < T; ++k)
              ys.push_back(call_function(n.options().function(), time_of(k),
                                         x.select(1, x.size(1) == 1 ? 0 : k), B, n.size_out(),
                                         n.describe(), opts_));
            out = torch::stack(ys, 1);
            break;
          }
          case Node::Kind::Tensor: {
            // All steps at once as (batch * steps, ...); an input that is the same at every
            // step stays one step, so e.g. a first convolution runs once per call.
            auto x = node_in[i].defined() ? node_in[i] : torch::zeros({B, 1, n.size_in()}, opts_);
            const int64_t S = x.size(1);
            if (n.options().tensor()->pass_time) {
              std::vector<torch::Tensor> ys;
              for (int64_t k = 0; k < T; ++k)
                ys.push_back(tensor_forward(i, time_of(k), x.select(1, S == 1 ? 0 : k)));
              out = torch::stack(ys, 1);
            } else {
              out = tensor_forward(i, time_of(0), x.reshape({B * S, n.size_in()}))
                        .reshape({B, S, n.size_out()});
            }
            break;
          }
          case Node::Kind::Process:  // tabulated by node_tables
            TORCH_CHECK(false, n.describe(), ": process output was not tabulated");
        }
      }
      node_out[i] = out;
      for (size_t ci : plan.node_outgoing[i]) push(ci, out);
    }

    for (size_t bi : plan.level_blocks[level]) {
      const auto& block = plan.blocks[bi];
      std::vector<Signal> parts;
      int64_t steps = 1;
      for (size_t e : block.ensembles) {
        Signal J;
        if (ens_in[e].defined()) J = torch::matmul(ens_in[e], enc_[e].t());
        if (ens_nin[e].defined()) J = J.defined() ? J + ens_nin[e] : ens_nin[e];
        if (!J.defined()) J = torch::zeros({B, 1, m.ensembles[e].units()}, opts_);
        if (noise[e].defined())  // added to the neuron input every step, as the step loop does
          J = J + (noise[e].dim() == 3 ? noise[e] : noise[e].unsqueeze(0));
        steps = std::max(steps, J.size(1));
        parts.push_back(J);
      }
      if (block.ensembles.size() > 1)
        for (auto& p : parts) p = expand_steps(p, steps);
      std::vector<torch::Tensor> biases;
      for (size_t e : block.ensembles) biases.push_back(bias_[e]);
      auto J = (parts.size() == 1 ? parts[0] : torch::cat(parts, 2)) +
               (biases.size() == 1 ? biases[0] : torch::cat(biases));

      auto& st = state.blocks[bi];
      Signal out;
      if (st.empty() && !(is_training() && sim_options_.training_mode == TrainingMode::Spiking &&
                          block.neuron_type->spiking())) {
        // A stateless rate: elementwise over all steps (or once, for a constant current).
        out = step_block(bi, dt, J, st);
      } else {
        auto& history = state_history[bi];
        std::map<std::string, std::vector<torch::Tensor>> hist;
        std::vector<torch::Tensor> outs;
        outs.reserve(T);
        for (int64_t k = 0; k < T; ++k) {
          outs.push_back(step_block(bi, dt, J.select(1, J.size(1) == 1 ? 0 : k), st));
          for (auto& [attr, unused] : history) {
            auto it = st.find(attr);
            hist[attr].push_back(it == st.end() ? torch::zeros_like(outs.back()) : it->second);
          }
        }
        out = torch::stack(outs, 1);
        for (auto& [attr, h] : history) h = torch::stack(hist[attr], 1);
      }
      for (size_t j = 0; j < block.ensembles.size(); ++j) {
        const size_t e = block.ensembles[j];
        const int64_t n = m.ensembles[e].units();
        ens_out[e] = block.ensembles.size() == 1 ? out : out.narrow(2, block.offsets[j], n);
        ens_J[e] = block.ensembles.size() == 1 ? J : J.narrow(2, block.offsets[j], n);
        for (size_t ci : plan.ensemble_outgoing[e]) push(ci, ens_out[e]);
      }
    }
  }

  std::vector<torch::Tensor> result;
  for (size_t p = 0; p < m.probes.size(); ++p) {
    const auto& bp = m.probes[p];
    const auto& target = bp.probe->target();
    const auto& attr = bp.probe->options().attr();
    Signal v;
    switch (target.kind) {
      case ObjRef::Kind::Node: {
        const size_t i = m.node_index.at(target.node.get());
        v = attr == "input" ? (node_in[i].defined() ? node_in[i]
                                                    : torch::zeros({B, 1, target.size_in()}, opts_))
                            : node_out[i];
        break;
      }
      case ObjRef::Kind::Ensemble: {
        const size_t e = m.ensemble_index.at(target.ensemble.get());
        if (attr == "input")
          v = ens_in[e].defined() ? ens_in[e]
                                  : torch::zeros({B, 1, target.ensemble->dimensions()}, opts_);
        else if (attr == "scaled_encoders")  // constant here: no learning rule on this path
          v = enc_[e].reshape({1, 1, -1}).expand({B, 1, -1});
        else
          v = torch::matmul(ens_out[e], probe_dec_[p].t());
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
          const auto& h = state_history[bi].at(attr);
          v = h.defined() ? h.narrow(2, plan.ensemble_offset[e], target.ensemble->n_neurons())
                          : torch::zeros({B, 1, target.ensemble->n_neurons()}, opts_);
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
          v = weights_[ci].reshape({1, 1, -1}).expand({B, 1, -1});
        }
        break;
      }
      default: break;
    }
    if (probe_idx_[p].defined()) v = v.index_select(2, probe_idx_[p]);
    if (probe_filter_[p] && reads_before_synapse(bp))  // as the step loop: a step later
      v = conn_seen[m.connection_index.at(target.connection.get())];
    if (probe_filter_[p] && !synapses_off()) {
      auto y = filter_steps(*probe_filter_[p], state.probe_x[p], v, T);
      v = delay_one_step(y, state.probe_out[p]);
    }
    v = expand_steps(v, T);
    if (bp.period != 1.0) {
      std::vector<int64_t> keep;
      for (int64_t k = 0; k < T; ++k)
        if (std::fmod(static_cast<double>(state.step + k + 1), bp.period) < 1.0) keep.push_back(k);
      v = v.index_select(1, torch::tensor(keep, torch::kLong).to(device_));
    }
    result.push_back(v);
  }
  state.step += T;
  return result;
}

}  // namespace snn::detail
