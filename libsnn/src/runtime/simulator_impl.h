#pragma once
// The Simulator's state, shared by its run/data half (simulator.cpp) and its training half
// (simulator_train.cpp, checkpoint.cpp).
#include <optional>

#include <torch/torch.h>

#include "build/model.h"
#include "compile/plan.h"
#include "runtime/sim_module.h"
#include "snn/errors.h"
#include "snn/simulator.h"
#include "train/progress_bar.h"

namespace snn {

using detail::SimState;

struct Simulator::Impl {
  NetworkPtr network;
  SimulatorOptions options;
  double dt = 0.001;
  torch::Dtype dtype = torch::kFloat32;
  std::shared_ptr<const detail::Model> model;
  std::shared_ptr<const detail::Plan> plan;
  detail::SimModule module{nullptr};
  SimState state;
  std::vector<std::vector<torch::Tensor>> probe_chunks;  // per probe, per run call

  // Training (simulator_train.cpp).
  std::optional<CompileOptions> compiled;
  std::unique_ptr<torch::optim::Optimizer> optimizer;

  /// Checks and shapes input data to (batch, n_steps, size) for the steps to run.
  Inputs prepare(const Inputs& data, int64_t batch, int64_t n_steps) const {
    Inputs out;
    for (const auto& [id, raw] : data) {
      auto node = network->find_node(id);
      if (!node) {
        std::string names;
        for (const auto& n : network->all_nodes())
          if (n->size_in() == 0) names += (names.empty() ? "" : ", ") + n->id();
        throw DataError("input data for \"" + id + "\": no such node (input nodes: " +
                        (names.empty() ? "none" : names) + ")");
      }
      if (node->size_in() != 0)
        throw DataError("input data for " + node->describe() +
                        ": only nodes without inputs can be fed data");
      auto t = raw;
      if (t.dim() == 2) t = t.unsqueeze(1).expand({t.size(0), n_steps, t.size(1)});
      if (t.dim() != 3 || t.size(0) != batch || t.size(1) != n_steps ||
          t.size(2) != node->size_out())
        throw DataError("input data for " + node->describe() + ": expected shape (" +
                        std::to_string(batch) + ", " + std::to_string(n_steps) + ", " +
                        std::to_string(node->size_out()) + ") or (" + std::to_string(batch) +
                        ", " + std::to_string(node->size_out()) + "), got " +
                        c10::str(raw.sizes()));
      if (!t.is_floating_point())
        throw DataError("input data for " + node->describe() + ": expected floating point values");
      if (!torch::isfinite(t).all().item<bool>())
        throw DataError("input data for " + node->describe() + ": contains NaN or infinite values");
      out[id] = t;
    }
    return out;
  }

  void run(int64_t n, const Inputs& data) {
    if (n < 0) throw SpecError("run_steps: expected n >= 0, got " + std::to_string(n));
    if (n == 0) return;
    const int64_t B = options.minibatch_size();
    auto prepared = prepare(data, B, n);
    torch::NoGradGuard no_grad;
    detail::ProgressBar bar("simulating", n, options.progress_bar() && n >= 5000);
    // settings.stateful false: every call starts from the current (initial) state and
    // leaves it as it was, time included (NengoDL).
    SimState scratch;
    SimState& s = network->settings().stateful() ? state : (scratch = state.clone());
    std::vector<std::vector<torch::Tensor>> outs(probe_chunks.size());
    const int64_t chunk = 1000;
    for (int64_t done = 0; done < n; done += chunk) {
      const int64_t len = std::min(chunk, n - done);
      Inputs part;
      for (const auto& [id, t] : prepared) part[id] = t.narrow(1, done, len);
      auto out = module->forward(s, part, len);
      for (size_t p = 0; p < out.size(); ++p) outs[p].push_back(out[p]);
      bar.update(done + len);
    }
    for (size_t p = 0; p < outs.size(); ++p) {
      if (keep_history(p)) {
        for (auto& t : outs[p]) probe_chunks[p].push_back(t);
      } else if (auto last = last_sample(outs[p]); last.defined()) {
        probe_chunks[p].push_back(last);
      }
    }
  }

  /// keep_history false (the probe's own, else settings.keep_history): probe `p` keeps only
  /// the last sample of each call.
  bool keep_history(size_t p) const {
    const auto& own = model->probes[p].probe->options().keep_history();
    return own ? *own : network->settings().keep_history();
  }

  /// The last sample (batch, 1, size) in a call's chunks of one probe; undefined if none.
  static torch::Tensor last_sample(const std::vector<torch::Tensor>& chunks) {
    for (auto it = chunks.rbegin(); it != chunks.rend(); ++it)
      if (it->size(1) > 0) return it->narrow(1, it->size(1) - 1, 1);
    return torch::Tensor();
  }

  size_t probe_position(const Probe* p) const {
    for (size_t i = 0; i < model->probes.size(); ++i)
      if (model->probes[i].probe.get() == p) return i;
    throw SpecError(p->describe() + " is not part of this simulator's network");
  }
};


}  // namespace snn
