// The training half of the Simulator: compile / fit / evaluate / predict_on_batch and
// check_gradients, as NengoDL's Keras-style API.
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <set>

#include "runtime/simulator_impl.h"
#include "train/losses.h"

namespace snn {

namespace {

/// Puts the module in training mode for a scope and back to inference after.
class TrainingScope {
 public:
  explicit TrainingScope(torch::nn::Module& m) : m_(m) { m_.train(true); }
  ~TrainingScope() { m_.train(false); }
  TrainingScope(const TrainingScope&) = delete;
  TrainingScope& operator=(const TrainingScope&) = delete;

 private:
  torch::nn::Module& m_;
};

/// Items (rows) of every tensor in a map.
std::map<std::string, torch::Tensor> rows(const std::map<std::string, torch::Tensor>& data,
                                          const torch::Tensor& index) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [k, v] : data) out[k] = v.index_select(0, index.to(v.device()));
  return out;
}

/// The first `n` minibatch items of a state (for a last, smaller minibatch).
SimState narrow_state(const SimState& s, int64_t n) {
  SimState out = s.clone();
  if (n == s.batch) return out;
  auto cut = [n](torch::Tensor& t) {
    if (t.defined()) t = t.narrow(0, 0, n).clone();
  };
  for (auto& b : out.blocks)
    for (auto& [k, t] : b) cut(t);
  for (auto* v : {&out.conn_out, &out.conn_x, &out.probe_out, &out.probe_x, &out.learned,
                  &out.learn_x})
    for (auto& t : *v) cut(t);
  out.batch = n;
  return out;
}

/// Where a training minibatch starts: the simulator's current state, as NengoDL's
/// stateful=False (synapses, time, learned changes, neuron state), except where training
/// runs neurons of another kind: a rate twin keeps none of the spiking type's state, and
/// giving it some would only push the block off the all-steps-at-once path.
SimState training_start(const Simulator::Impl& im, int64_t n) {
  SimState fresh = im.module->initial_state(n);  // built in training mode: its block layout
  SimState now = narrow_state(im.state, n);
  for (size_t b = 0; b < now.blocks.size(); ++b) {
    bool same = fresh.blocks[b].size() == now.blocks[b].size();
    for (const auto& [k, v] : fresh.blocks[b]) same = same && now.blocks[b].count(k);
    if (!same) now.blocks[b] = std::move(fresh.blocks[b]);
  }
  return now;
}

/// A permutation of [0, n) from a seed, by Fisher-Yates over mt19937_64 (the same order on
/// every platform, unlike std::shuffle).
torch::Tensor permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  std::mt19937_64 gen(seed);
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[gen() % static_cast<uint64_t>(i + 1)]);
  return torch::tensor(p, torch::kLong);
}

}  // namespace

// ------------------------------------------------------------------------------------------
// What a pass over data needs, checked once: the item count, the steps per item, and for
// every loss its probe's position.
struct DataPlan {
  int64_t n_items = 0;
  int64_t n_steps = 1;
  std::vector<std::pair<std::string, size_t>> losses;  // probe id, probe position
};

static DataPlan plan_data(const Simulator::Impl& im, const Inputs& x, const Targets& y,
                          int64_t n_steps, const std::string& what) {
  if (!im.compiled) throw SpecError(what + ": call compile() first");
  DataPlan dp;
  dp.n_items = -1;
  auto count = [&](const std::string& name, const torch::Tensor& t) {
    if (!t.defined() || t.dim() < 1)
      throw DataError(what + ": " + name + " is empty or a scalar");
    if (dp.n_items >= 0 && t.size(0) != dp.n_items)
      throw DataError(what + ": " + name + " has " + std::to_string(t.size(0)) +
                      " items, other data have " + std::to_string(dp.n_items));
    dp.n_items = t.size(0);
  };
  int64_t data_steps = -1;
  for (const auto& [id, t] : x) {
    count("input data for \"" + id + "\"", t);
    if (t.dim() == 3) {
      if (data_steps >= 0 && t.size(1) != data_steps)
        throw DataError(what + ": input data for \"" + id + "\" has " +
                        std::to_string(t.size(1)) + " steps, other inputs " +
                        std::to_string(data_steps));
      data_steps = t.size(1);
    }
  }
  for (const auto& [id, t] : y) {
    if (!im.network->find_probe(id))
      throw DataError(what + ": targets for \"" + id + "\": no such probe");
    count("targets for \"" + id + "\"", t);
  }
  if (dp.n_items <= 0) throw DataError(what + ": no data (0 items)");
  dp.n_steps = n_steps > 0 ? n_steps : (data_steps > 0 ? data_steps : 1);
  if (data_steps > 0 && data_steps != dp.n_steps)
    throw DataError(what + ": the input data have " + std::to_string(data_steps) +
                    " steps, but n_steps is " + std::to_string(dp.n_steps));
  for (const auto& [id, loss] : im.compiled->losses()) {
    auto probe = im.network->find_probe(id);
    const size_t pos = im.probe_position(probe.get());
    const auto& bp = im.model->probes[pos];
    int64_t n_samples = 0;
    for (int64_t k = 1; k <= dp.n_steps; ++k)
      if (std::fmod(static_cast<double>(k), bp.period) < 1.0) ++n_samples;
    auto it = y.find(id);
    detail::check_target(loss, it == y.end() ? torch::Tensor() : it->second, n_samples,
                         probe->size(), id);
    detail::check_regularize_axis(loss, probe->signal_shape(), id);
    dp.losses.emplace_back(id, pos);
  }
  return dp;
}

/// Sum of the compiled losses for one minibatch's probe outputs; adds each probe's loss and
/// accuracy counts to `sums` (weighted by the batch size).
static torch::Tensor batch_loss(const Simulator::Impl& im, const DataPlan& dp,
                                const std::vector<torch::Tensor>& out, const Targets& y,
                                std::map<std::string, double>& sums, bool metrics) {
  torch::Tensor total;
  const auto& losses = im.compiled->losses();
  const auto& names = im.compiled->metrics();
  const bool accuracy = std::find(names.begin(), names.end(), "accuracy") != names.end();
  for (const auto& [id, pos] : dp.losses) {
    const auto& loss = losses.at(id);
    auto it = y.find(id);
    torch::Tensor target = it == y.end() ? torch::Tensor() : it->second.to(out[pos].device());
    torch::Tensor l;
    try {
      l = detail::compute_loss(loss, out[pos], target, im.model->probes[pos].probe->signal_shape());
    } catch (const SpecError& e) {
      throw SpecError("loss on probe \"" + id + "\": " + e.what());
    }
    total = total.defined() ? total + l : l;
    const double nb = static_cast<double>(out[pos].size(0));
    sums[id + "_loss"] += l.item<double>() * nb;
    if (metrics) {
      for (const auto& m : im.compiled->custom_metrics()) {
        if (m.probe_id != id) continue;
        torch::NoGradGuard no_grad;
        const auto v = detail::checked_scalar(
            m.function(detail::loss_samples(loss, out[pos].detach()), target),
            "metric \"" + m.name + "\" on probe \"" + id + "\"");
        sums[id + "_" + m.name] += v.item<double>() * nb;
      }
    }
    // A custom loss counts accuracy only against integer labels: its float targets can be
    // anything.
    const bool labels = target.defined() && !target.is_floating_point();
    const bool classifies = loss.type() != "regularize" && loss.type() != "mse" &&
                            loss.type() != "mae" && (loss.type() != "custom" || labels);
    if (metrics && accuracy && target.defined() && classifies) {
      auto [correct, count] = detail::count_correct(out[pos].detach(), target, loss.steps());
      sums[id + "_correct"] += static_cast<double>(correct);
      sums[id + "_count"] += static_cast<double>(count);
    }
  }
  if (!total.defined()) throw SpecError("compile: no losses given");
  sums["loss"] += total.item<double>() * static_cast<double>(out[0].size(0));
  return total;
}

/// Turns accumulated sums into NengoDL-style logs ("loss", "<probe>_loss",
/// "<probe>_accuracy", "accuracy" for the first probe with one, "<probe>_<metric>").
static std::map<std::string, double> finish_logs(const Simulator::Impl& im, const DataPlan& dp,
                                                 const std::map<std::string, double>& sums,
                                                 double n_items, const std::string& prefix) {
  std::map<std::string, double> logs;
  logs[prefix + "loss"] = sums.at("loss") / n_items;
  for (const auto& m : im.compiled->custom_metrics()) {
    auto it = sums.find(m.probe_id + "_" + m.name);
    if (it != sums.end()) logs[prefix + it->first] = it->second / n_items;
  }
  bool first = true;
  for (const auto& [id, pos] : dp.losses) {
    (void)pos;
    logs[prefix + id + "_loss"] = sums.at(id + "_loss") / n_items;
    auto c = sums.find(id + "_correct");
    if (c != sums.end()) {
      const double acc = c->second / sums.at(id + "_count");
      logs[prefix + id + "_accuracy"] = acc;
      if (first) logs[prefix + "accuracy"] = acc;
      first = false;
    }
  }
  return logs;
}

void Simulator::compile(CompileOptions options) {
  auto& im = *impl_;
  if (options.losses().empty()) throw SpecError("compile: no losses given");
  for (const auto& [id, loss] : options.losses()) {
    if (!im.network->find_probe(id)) {
      std::string names;
      for (const auto& p : im.network->all_probes()) names += (names.empty() ? "" : ", ") + p->id();
      throw SpecError("compile: loss on \"" + id + "\": no such probe (probes: " +
                      (names.empty() ? "none" : names) + ")");
    }
    static const std::vector<std::string> types = {"mse", "mae", "categorical_crossentropy",
                                                   "sparse_categorical_crossentropy", "regularize",
                                                   "custom"};
    if (std::find(types.begin(), types.end(), loss.type()) == types.end())
      throw SpecError("compile: loss on \"" + id + "\": unknown type \"" + loss.type() + "\"");
    if (loss.type() == "custom" && !loss.function())
      throw SpecError("compile: loss on \"" + id +
                      "\": type custom needs a function (LossOptions::function)");
    if (loss.type() != "custom" && loss.function())
      throw SpecError("compile: loss on \"" + id + "\": a function is set, but the type is \"" +
                      loss.type() + "\" (setting the function makes the loss custom)");
    if (loss.steps() != "all" && loss.steps() != "last" && loss.steps() != "mean")
      throw SpecError("compile: loss on \"" + id + "\": steps must be all, last or mean, got \"" +
                      loss.steps() + "\"");
  }
  for (const auto& m : options.metrics())
    if (m != "accuracy") throw SpecError("compile: unknown metric \"" + m + "\" (known: accuracy)");
  std::set<std::string> metric_keys;
  for (const auto& m : options.custom_metrics()) {
    const std::string what = "compile: metric \"" + m.name + "\" on \"" + m.probe_id + "\"";
    if (!options.losses().count(m.probe_id))
      throw SpecError(what + ": the probe has no loss (metrics are computed where a loss is)");
    if (m.name.empty() || m.name == "loss" || m.name == "accuracy")
      throw SpecError(what + ": the name must be set and not \"loss\" or \"accuracy\"");
    if (!m.function) throw SpecError(what + ": no function");
    if (!metric_keys.insert(m.probe_id + "_" + m.name).second)
      throw SpecError(what + ": given twice");
  }
  std::vector<torch::Tensor> params;
  for (auto& p : im.module->parameters())
    if (p.requires_grad()) params.push_back(p);
  if (params.empty())
    throw SpecError("compile: the network has no trainable parameters (check `trainable`)");
  im.optimizer = make_optimizer(options.optimizer(), params);
  im.compiled = std::move(options);
}

torch::optim::Optimizer* Simulator::optimizer() { return impl_->optimizer.get(); }

History Simulator::fit(const Inputs& x, const Targets& y, FitOptions options) {
  auto& im = *impl_;
  const DataPlan dp = plan_data(im, x, y, options.n_steps(), "fit");
  if (options.epochs() < 0) throw SpecError("fit: expected epochs >= 0");
  if (options.truncation() < 0) throw SpecError("fit: expected truncation >= 0");
  const bool validate = !options.validation_inputs().empty() || !options.validation_targets().empty();
  const int64_t validation_steps =
      options.validation_steps() > 0 ? options.validation_steps() : options.n_steps();
  if (validate)  // fail before training, not after the first epoch
    plan_data(im, options.validation_inputs(), options.validation_targets(), validation_steps,
              "fit: validation data");
  const int64_t B = im.options.minibatch_size(), N = dp.n_items, T = dp.n_steps;
  const int64_t trunc = options.truncation() > 0 ? options.truncation() : T;
  // A truncated sequence's earlier segments train only the losses on every sample: "last"
  // and "mean" losses are about the whole sequence, so they wait for its final segment.
  DataPlan dp_all = dp;
  dp_all.losses.clear();
  for (const auto& [id, pos] : dp.losses)
    if (im.compiled->losses().at(id).steps() == "all") dp_all.losses.emplace_back(id, pos);
  const auto& opt = im.compiled->optimizer();
  const double base_lr = opt.lr();
  auto set_lr = [&](int64_t epoch) {
    double lr = base_lr;
    if (opt.schedule() == "step")
      lr = base_lr * std::pow(opt.gamma(), static_cast<double>(epoch / opt.step_size()));
    else if (opt.schedule() == "cosine" && options.epochs() > 0)
      lr = 0.5 * base_lr * (1.0 + std::cos(M_PI * static_cast<double>(epoch) /
                                           static_cast<double>(options.epochs())));
    for (auto& g : im.optimizer->param_groups()) g.options().set_lr(lr);
  };

  History history;
  for (int64_t epoch = options.initial_epoch(); epoch < options.epochs(); ++epoch) {
    set_lr(epoch);
    const auto start = std::chrono::steady_clock::now();
    auto order = options.shuffle() ? permutation(N, options.seed() + static_cast<uint64_t>(epoch))
                                   : torch::arange(N, torch::kLong);
    std::map<std::string, double> sums;
    detail::ProgressBar bar("epoch " + std::to_string(epoch + 1) + "/" +
                                std::to_string(options.epochs()),
                            N, options.progress_bar() && im.options.progress_bar());
    {
      TrainingScope training(*im.module);
      for (int64_t s = 0; s < N; s += B) {
        const int64_t nb = std::min(B, N - s);
        auto idx = order.narrow(0, s, nb);
        auto xb = im.prepare(rows(x, idx), nb, T);
        auto yb = rows(y, idx);
        SimState state = training_start(im, nb);
        for (int64_t t0 = 0; t0 < T; t0 += trunc) {
          const int64_t len = std::min(trunc, T - t0);
          Inputs part;
          for (const auto& [id, v] : xb) part[id] = v.narrow(1, t0, len);
          auto out = im.module->forward(state, part, len);
          // A loss on the last sample only sees the final segment of a truncated sequence.
          Targets ys;
          bool any = false;
          for (const auto& [id, v] : yb) ys[id] = v.dim() == 3 && v.size(1) == T && len < T
                                                    ? v.narrow(1, t0, len)
                                                    : v;
          std::map<std::string, double> seg;
          torch::Tensor loss;
          if (t0 + len == T) {
            loss = batch_loss(im, dp, out, ys, sums, true);
            any = true;
          } else if (!dp_all.losses.empty()) {
            loss = batch_loss(im, dp_all, out, ys, seg, false);
            any = true;
          }
          if (any) {
            if (!std::isfinite(loss.item<double>()))
              throw SimulationError("fit: the loss became " + std::to_string(loss.item<double>()) +
                                    " in epoch " + std::to_string(epoch + 1) +
                                    " (diverged: lower the learning rate)");
            if (!loss.requires_grad())
              throw SimulationError(
                  "fit: the loss does not depend on any trainable parameter over " +
                  std::to_string(len) + (len == 1 ? " step" : " steps") +
                  " (nothing trainable reaches the probes with a loss; synapses and "
                  "ensembles delay signals by a step, so with few steps set synapses to null "
                  "or run more steps)");
            im.optimizer->zero_grad();
            loss.backward();
            im.optimizer->step();
          }
          if (t0 + len < T) {  // truncated BPTT: the next segment starts from a cut state
            for (auto& b : state.blocks)
              for (auto& [k, v] : b) v = v.detach();
            for (auto* v : {&state.conn_out, &state.conn_x, &state.probe_out, &state.probe_x,
                            &state.learned, &state.learn_x})
              for (auto& t : *v)
                if (t.defined()) t = t.detach();
          }
        }
        char buf[64];
        std::snprintf(buf, sizeof buf, "loss %.4g", sums["loss"] / static_cast<double>(s + nb));
        bar.update(s + nb, buf);
      }
    }
    bar.finish();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EpochLogs logs;
    logs.epoch = epoch + 1;
    logs.values = finish_logs(im, dp, sums, static_cast<double>(N), "");
    logs.values["seconds"] = seconds;
    logs.values["samples_per_s"] = static_cast<double>(N) / std::max(seconds, 1e-9);
    if (validate && (epoch + 1) % std::max<int64_t>(options.validation_freq(), 1) == 0) {
      auto val = evaluate(options.validation_inputs(), options.validation_targets(),
                          validation_steps);
      for (const auto& [k, v] : val) logs.values["val_" + k] = v;
    }
    history.epochs.push_back(logs);
    if (options.on_epoch_end() && !options.on_epoch_end()(logs)) break;
  }
  return history;
}

std::map<std::string, double> Simulator::evaluate(const Inputs& x, const Targets& y,
                                                  int64_t n_steps) {
  auto& im = *impl_;
  const DataPlan dp = plan_data(im, x, y, n_steps, "evaluate");
  const int64_t B = im.options.minibatch_size(), N = dp.n_items, T = dp.n_steps;
  torch::NoGradGuard no_grad;
  im.module->train(false);
  std::map<std::string, double> sums;
  for (int64_t s = 0; s < N; s += B) {
    const int64_t nb = std::min(B, N - s);
    auto idx = torch::arange(s, s + nb, torch::kLong);
    auto xb = im.prepare(rows(x, idx), nb, T);
    SimState state = narrow_state(im.state, nb);
    auto out = im.module->forward(state, xb, T);
    batch_loss(im, dp, out, rows(y, idx), sums, true);
  }
  return finish_logs(im, dp, sums, static_cast<double>(N), "");
}

ProbeData Simulator::predict_on_batch(const Inputs& x, int64_t n_steps) {
  for (const auto& [id, t] : x)
    if (t.dim() >= 1 && t.size(0) != impl_->options.minibatch_size())
      throw DataError("predict_on_batch: input data for \"" + id + "\" has " +
                      std::to_string(t.size(0)) + " items, expected the minibatch size " +
                      std::to_string(impl_->options.minibatch_size()));
  return predict(x, n_steps);
}

GradientCheck Simulator::check_gradients(const Inputs& x, const Targets& y, int64_t n_steps,
                                         double epsilon) {
  auto& im = *impl_;
  if (im.dtype != torch::kFloat64)
    throw SpecError("check_gradients: needs a float64 simulator (SimulatorOptions().dtype)");
  const DataPlan dp = plan_data(im, x, y, n_steps, "check_gradients");
  const int64_t N = dp.n_items, T = dp.n_steps;
  TrainingScope training(*im.module);
  auto xb = im.prepare(x, N, T);
  auto loss_of = [&]() {
    SimState state = im.module->initial_state(N);
    auto out = im.module->forward(state, xb, T);
    std::map<std::string, double> sums;
    return batch_loss(im, dp, out, y, sums, false);
  };
  GradientCheck result;
  bool failed = false;
  for (auto& p : im.module->parameters()) p.mutable_grad() = torch::Tensor();
  loss_of().backward();
  for (const auto& item : im.module->named_parameters()) {
    auto p = item.value();
    if (!p.requires_grad()) continue;
    auto analytic = p.grad().defined() ? p.grad().clone() : torch::zeros_like(p);
    auto flat = p.detach().view(-1);  // shares storage: perturbs the parameter in place
    auto a = analytic.view(-1);
    torch::NoGradGuard no_grad;
    for (int64_t i = 0; i < flat.numel(); ++i) {
      const double orig = flat[i].item<double>();
      flat[i].fill_(orig + epsilon);
      const double up = loss_of().item<double>();
      flat[i].fill_(orig - epsilon);
      const double down = loss_of().item<double>();
      flat[i].fill_(orig);
      const double numeric = (up - down) / (2 * epsilon);
      const double err = std::abs(numeric - a[i].item<double>());
      if (err > result.max_abs_error) {
        result.max_abs_error = err;
        result.worst_parameter = item.key() + "[" + std::to_string(i) + "]";
      }
      if (std::abs(numeric) > 1e-6)
        result.max_rel_error = std::max(result.max_rel_error, err / std::abs(numeric));
      // NengoDL's tolerance: a component passes when err <= atol + rtol |numeric|.
      if (err > 1e-5 + 1e-3 * std::abs(numeric)) failed = true;
    }
  }
  for (auto& p : im.module->parameters()) p.mutable_grad() = torch::Tensor();
  result.passed = !failed;
  return result;
}

namespace {

/// "[item, step, index]" of element `flat` of a (batch, steps, size) tensor.
std::string element(int64_t flat, const torch::Tensor& t) {
  const int64_t size = t.size(2), steps = t.size(1);
  return "[" + std::to_string(flat / (steps * size)) + ", " + std::to_string(flat / size % steps) +
         ", " + std::to_string(flat % size) + "]";
}

}  // namespace

std::map<std::string, ProbeGradients> Simulator::check_gradients(GradientCheckOptions options) {
  auto& im = *impl_;
  if (im.dtype != torch::kFloat64)
    throw SpecError("check_gradients: needs a float64 simulator (SimulatorOptions().dtype)");
  const int64_t B = im.options.minibatch_size();
  Inputs raw = options.inputs();
  int64_t T = options.n_steps();
  if (raw.empty()) {
    if (T < 1)
      throw SpecError("check_gradients: n_steps must be >= 1, got " + std::to_string(T));
    for (const auto& node : im.network->all_nodes())
      if (node->kind() == Node::Kind::Input)
        raw[node->id()] = torch::zeros({B, T, node->size_out()}, torch::kFloat64);
    if (raw.empty())
      throw SpecError("check_gradients: the network has no input nodes to differentiate by "
                      "(check_gradients(x, y) checks the parameters' gradients)");
  } else {
    for (const auto& [id, t] : raw)
      if (!t.defined() || t.dim() != 3)
        throw DataError("check_gradients: input data for \"" + id +
                        "\": expected (minibatch, n_steps, size)");
    T = raw.begin()->second.size(1);
  }
  const auto prepared = im.prepare(raw, B, T);  // shapes, steps, finite values
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(im.options.device());

  std::vector<std::pair<std::string, size_t>> probes;  // id, position
  for (const auto& p : options.outputs()) {
    if (!p) throw SpecError("check_gradients: an output probe is null");
    probes.emplace_back(p->id(), im.probe_position(p.get()));
  }
  if (options.outputs().empty())
    for (size_t i = 0; i < im.model->probes.size(); ++i)
      probes.emplace_back(im.model->probes[i].probe->id(), i);
  if (probes.empty()) throw SpecError("check_gradients: the network has no probes");

  TrainingScope training(*im.module);
  auto run = [&](const Inputs& in) {
    SimState state = im.module->initial_state(B);
    return im.module->forward(state, in, T);
  };
  std::vector<std::string> ids;
  std::vector<torch::Tensor> leaves;
  Inputs with_grad, plain;
  for (const auto& [id, t] : prepared) {
    ids.push_back(id);
    leaves.push_back(t.to(f64).detach().clone().requires_grad_(true));
    with_grad[id] = leaves.back();
    plain[id] = t.to(f64).detach().clone();
  }

  // Autograd: one backward pass per output element.
  std::map<std::string, ProbeGradients> result;
  std::vector<torch::Tensor> outputs;
  {
    auto outs = run(with_grad);
    for (const auto& [pid, pos] : probes) {
      auto y = outs[pos].reshape(-1);
      outputs.push_back(outs[pos].detach());
      auto& r = result[pid];
      for (size_t k = 0; k < ids.size(); ++k)
        r.analytic[ids[k]] = torch::zeros({leaves[k].numel(), y.numel()}, torch::kFloat64);
      if (!y.requires_grad()) continue;  // depends on no input (nor parameter)
      for (int64_t j = 0; j < y.numel(); ++j) {
        auto g = torch::autograd::grad({y[j]}, leaves, {}, /*retain_graph=*/true,
                                       /*create_graph=*/false, /*allow_unused=*/true);
        for (size_t k = 0; k < ids.size(); ++k)
          if (g[k].defined()) r.analytic[ids[k]].select(1, j).copy_(g[k].reshape(-1).cpu());
      }
    }
  }

  // Central differences: two runs per input element.
  {
    torch::NoGradGuard no_grad;
    for (const auto& [pid, pos] : probes)
      for (size_t k = 0; k < ids.size(); ++k)
        result[pid].numeric[ids[k]] = torch::zeros_like(result[pid].analytic[ids[k]]);
    const double eps = options.epsilon();
    for (size_t k = 0; k < ids.size(); ++k) {
      auto flat = plain[ids[k]].view(-1);  // contiguous: perturbs the input in place
      for (int64_t i = 0; i < flat.numel(); ++i) {
        const double orig = flat[i].item<double>();
        flat[i].fill_(orig + eps);
        auto up = run(plain);
        flat[i].fill_(orig - eps);
        auto down = run(plain);
        flat[i].fill_(orig);
        for (const auto& [pid, pos] : probes)
          result[pid].numeric[ids[k]].select(0, i).copy_(
              ((up[pos] - down[pos]).reshape(-1) / (2 * eps)).cpu());
      }
    }
  }

  // NengoDL's rule, entry by entry.
  for (size_t p = 0; p < probes.size(); ++p) {
    const auto& pid = probes[p].first;
    for (size_t k = 0; k < ids.size(); ++k) {
      const auto& a = result[pid].analytic[ids[k]];
      const auto& n = result[pid].numeric[ids[k]];
      const std::string which = "d(probe \"" + pid + "\")/d(input \"" + ids[k] + "\")";
      if (torch::isnan(a).any().item<bool>() || torch::isnan(n).any().item<bool>())
        throw SimulationError("check_gradients: NaN in " + which);
      auto excess = (a - n).abs() - (options.atol() + options.rtol() * n.abs());
      auto fail = excess >= 0;
      const int64_t n_fail = fail.sum().item<int64_t>();
      if (n_fail == 0) continue;
      const int64_t worst = excess.argmax().item<int64_t>();
      const int64_t i = worst / a.size(1), j = worst % a.size(1);
      throw SimulationError("check_gradients: " + which + " differs from central differences at " +
                            std::to_string(n_fail) + " of " + std::to_string(a.numel()) +
                            " entries; worst: input " + element(i, leaves[k]) + " -> output " +
                            element(j, outputs[p]) + ": analytic " +
                            std::to_string(a.view(-1)[worst].item<double>()) + ", numeric " +
                            std::to_string(n.view(-1)[worst].item<double>()));
    }
  }
  return result;
}

}  // namespace snn
