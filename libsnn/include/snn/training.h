#pragma once
/// \file training.h
/// NengoDL's training vocabulary: losses on probes, optimizers built from names, fit options
/// and the per-epoch logs. Used by Simulator::compile / fit / evaluate and by snn-train.
///
///     sim.compile(snn::CompileOptions()
///                     .optimizer(snn::OptimizerOptions().type("Adam").lr(1e-3))
///                     .loss("p_out", snn::LossOptions().type("sparse_categorical_crossentropy")
///                                                    .from_logits(true).steps("last"))
///                     .metrics({"accuracy"}));
///     auto history = sim.fit({{"img", x}}, {{"p_out", labels}}, snn::FitOptions().epochs(5));
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/arg.h>
#include <torch/types.h>

namespace torch::optim {
class Optimizer;
}
namespace torch::nn {
class Module;
}

namespace snn {

/// Probe id -> target data: (N, n_steps, size), (N, size) (the same every step), or int64
/// labels (N,) for the sparse losses and the accuracy metric.
using Targets = std::map<std::string, torch::Tensor>;

/// A loss or metric of one's own, as a Keras function: (outputs, targets) -> a scalar tensor.
/// `outputs` are the probe's (batch, samples, size) over the samples the loss's `steps`
/// selects; `targets` are this minibatch's rows of the fit / evaluate targets as given (the
/// segment's steps under truncation), on the outputs' device, undefined when none were given.
using LossFunction =
    std::function<torch::Tensor(const torch::Tensor& outputs, const torch::Tensor& targets)>;

/// A loss on one probe's output (NengoDL's objectives).
struct LossOptions {
  /// mse (NaN targets count as zero error) | mae | categorical_crossentropy |
  /// sparse_categorical_crossentropy | regularize (NengoDL's Regularize: needs no target) |
  /// custom (set by `function`).
  TORCH_ARG(std::string, type) = "mse";
  /// For the cross-entropies: outputs are logits (true) or probabilities (false).
  TORCH_ARG(bool, from_logits) = false;
  /// Which samples the loss sees: all | last | mean (the mean over samples).
  TORCH_ARG(std::string, steps) = "all";
  /// regularize: the norm's order, and the axis of one sample's signal it is taken along,
  /// as NengoDL (a weights probe's signal is (rows, cols), a convolution's its kernel shape,
  /// others are vectors); the mean is over everything else, batch and time included.
  /// -1: NengoDL's default, the norm of each sample's whole signal.
  TORCH_ARG(int64_t, order) = 2;
  TORCH_ARG(int64_t, axis) = -1;
  /// Every loss is multiplied by its weight before the probe losses are summed.
  TORCH_ARG(double, weight) = 1.0;

 public:
  /// A loss function of one's own (NengoDL's `loss={probe: callable}`); sets type "custom".
  /// It must return a scalar that autograd can differentiate back to the outputs.
  LossOptions& function(LossFunction f) {
    function_ = std::move(f);
    type_ = "custom";
    return *this;
  }
  const LossFunction& function() const noexcept { return function_; }

 private:
  LossFunction function_;
};

/// An optimizer by LibTorch name: SGD | Adam | AdamW | RMSprop | Adagrad.
struct OptimizerOptions {
  TORCH_ARG(std::string, type) = "Adam";
  TORCH_ARG(double, lr) = 0.001;
  TORCH_ARG(double, momentum) = 0.0;       // SGD, RMSprop
  TORCH_ARG(bool, nesterov) = false;       // SGD
  TORCH_ARG(double, weight_decay) = 0.0;   // all (AdamW's default is 0.01 when unset here)
  TORCH_ARG(double, beta1) = 0.9;          // Adam, AdamW
  TORCH_ARG(double, beta2) = 0.999;        // Adam, AdamW
  TORCH_ARG(double, eps) = 1e-8;           // Adam, AdamW, RMSprop, Adagrad (LibTorch's)
  TORCH_ARG(double, alpha) = 0.99;         // RMSprop (Keras' rho = 0.9)
  /// Learning-rate schedule: none | step (gamma every step_size epochs) | cosine (to 0
  /// over the fit's epochs).
  TORCH_ARG(std::string, schedule) = "none";
  TORCH_ARG(int64_t, step_size) = 1;
  TORCH_ARG(double, gamma) = 0.1;
};

/// Reads `{"type": "Adam", "lr": 0.001, ...}`; throws SpecError naming `where`.
OptimizerOptions optimizer_from_json(const nlohmann::json& j, const std::string& where);
/// Reads `{"type": "mse", "steps": "last", ...}`; throws SpecError naming `where`.
LossOptions loss_from_json(const nlohmann::json& j, const std::string& where);
/// Builds a LibTorch optimizer over `params`; throws SpecError for unknown names/options.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerOptions& options,
                                                        std::vector<torch::Tensor> params);

struct CompileOptions {
  /// Adds (or replaces) the loss on one probe.
  CompileOptions& loss(const std::string& probe_id, LossOptions l) {
    losses_[probe_id] = std::move(l);
    return *this;
  }

  TORCH_ARG(OptimizerOptions, optimizer);
  /// Probe id -> loss (one per probe, as NengoDL's dict form).
  using LossMap = std::map<std::string, LossOptions>;
  TORCH_ARG(LossMap, losses);
  /// "accuracy" (argmax of the probe's output against integer labels or one-hot targets).
  TORCH_ARG(std::vector<std::string>, metrics);

 public:
  /// A metric of one's own on a probe that has a loss, logged as "<probe>_<name>" (and
  /// "val_<probe>_<name>"): the mean over items of `fn(outputs, targets)` (a scalar per
  /// minibatch, weighted by its size), seeing what a custom loss on that probe would see.
  CompileOptions& metric(const std::string& probe_id, const std::string& name, LossFunction fn) {
    custom_metrics_.push_back({probe_id, name, std::move(fn)});
    return *this;
  }
  struct CustomMetric {
    std::string probe_id;
    std::string name;
    LossFunction function;
  };
  const std::vector<CustomMetric>& custom_metrics() const noexcept { return custom_metrics_; }

 private:
  std::vector<CustomMetric> custom_metrics_;
};

/// What one epoch did: "loss", "<probe>_loss", "<probe>_accuracy", "<probe>_<metric>" (a
/// custom metric), "val_loss", "val_<probe>_accuracy", "val_accuracy" (first probe with
/// accuracy), "val_<probe>_<metric>", "seconds", "samples_per_s".
struct EpochLogs {
  int64_t epoch = 0;  // 1-based
  std::map<std::string, double> values;
};

struct FitOptions {
  TORCH_ARG(int64_t, epochs) = 1;
  /// Steps to run per item; -1: the data's steps (1 for (N, size) data).
  TORCH_ARG(int64_t, n_steps) = -1;
  TORCH_ARG(bool, shuffle) = true;
  /// Shuffling seed (epoch e uses seed + e), so a resumed run sees the same order.
  TORCH_ARG(uint64_t, seed) = 0;
  /// Truncated backpropagation through time: an optimizer step every `truncation` steps
  /// (0: the whole sequence).
  TORCH_ARG(int64_t, truncation) = 0;
  /// The epoch to start at (0-based: how many epochs an earlier, resumed run completed).
  TORCH_ARG(int64_t, initial_epoch) = 0;
  TORCH_ARG(bool, progress_bar) = true;
  /// Validation data evaluated after every epoch (skipped when empty).
  using TensorMap = std::map<std::string, torch::Tensor>;
  TORCH_ARG(TensorMap, validation_inputs);
  TORCH_ARG(Targets, validation_targets);
  /// Steps per validation item; -1: as n_steps. Spiking networks are trained as rates in
  /// few steps but need more steps to be judged on their spikes.
  TORCH_ARG(int64_t, validation_steps) = -1;
  /// Validate after every Nth epoch only (epochs N, 2N, ..., as Keras's validation_freq):
  /// spiking validation over many steps can cost more than the epoch it judges.
  TORCH_ARG(int64_t, validation_freq) = 1;
  /// Called after every epoch (after validation); return false to stop training.
  TORCH_ARG(std::function<bool(const EpochLogs&)>, on_epoch_end);
};

struct History {
  std::vector<EpochLogs> epochs;
};

}  // namespace snn
