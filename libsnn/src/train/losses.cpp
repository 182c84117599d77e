// Losses follow NengoDL/Keras conventions: mean over every item, sample and value; the
// cross-entropies from probabilities renormalise and clip the outputs to [1e-7, 1 - 1e-7]
// as Keras does; NaN targets make zero mse (NengoDL's way to mask steps).
#include "train/losses.h"

#include "snn/errors.h"

namespace snn::detail {

namespace {

constexpr double kEps = 1e-7;

bool is_labels(const torch::Tensor& t) { return !t.is_floating_point(); }

/// The samples the loss sees: all of them, the last one, or their mean (kept 3-d).
torch::Tensor select_steps(const torch::Tensor& x, const std::string& steps) {
  if (steps == "last") return x.narrow(1, x.size(1) - 1, 1);
  if (steps == "mean") return x.mean(1, true);
  return x;
}

/// A float target brought to (batch, samples', size) against the selected output.
torch::Tensor float_target(const torch::Tensor& target, const std::string& steps) {
  if (target.dim() == 2) return target.unsqueeze(1);
  if (steps == "mean") {
    // Masked (NaN) samples do not enter the mean of a target.
    return target.nanmean(1, true);
  }
  return select_steps(target, steps);
}

/// Integer labels (batch,) brought to (batch, samples').
torch::Tensor label_target(const torch::Tensor& labels, int64_t samples) {
  return labels.to(torch::kLong).unsqueeze(1).expand({labels.size(0), samples});
}

torch::Tensor log_probabilities(const torch::Tensor& out, bool from_logits) {
  if (from_logits) return torch::log_softmax(out, -1);
  auto p = out / out.sum(-1, true);
  return torch::log(torch::clamp(p, kEps, 1.0 - kEps));
}

}  // namespace

torch::Tensor loss_samples(const LossOptions& loss, const torch::Tensor& output) {
  return select_steps(output, loss.steps());
}

torch::Tensor checked_scalar(const torch::Tensor& value, const std::string& what) {
  if (!value.defined()) throw SpecError(what + ": returned an undefined tensor");
  if (value.numel() != 1 || !value.is_floating_point())
    throw SpecError(what + ": expected a floating-point scalar, got " +
                    c10::str(value.scalar_type(), " of shape ", value.sizes()));
  return value.reshape({});
}

void check_target(const LossOptions& loss, const torch::Tensor& target, int64_t n_samples,
                  int64_t size, const std::string& probe_id) {
  const std::string where = "targets for probe \"" + probe_id + "\"";
  const auto& type = loss.type();
  if (type == "regularize" || type == "custom") return;  // a custom loss judges its own
  if (!target.defined()) throw DataError(where + ": missing (the " + type + " loss needs them)");
  if (type == "sparse_categorical_crossentropy") {
    if (!is_labels(target) || target.dim() != 1)
      throw DataError(where + ": sparse_categorical_crossentropy needs integer labels (N,), got " +
                      c10::str(target.scalar_type(), " ", target.sizes()));
  }
  if (is_labels(target)) {
    if (type != "sparse_categorical_crossentropy")
      throw DataError(where + ": integer labels need the sparse_categorical_crossentropy loss, not " +
                      type);
    if (target.numel() > 0) {
      const int64_t lo = target.min().item<int64_t>(), hi = target.max().item<int64_t>();
      if (lo < 0 || hi >= size) {
        auto bad = torch::nonzero((target < 0) | (target >= size))[0][0].item<int64_t>();
        throw DataError(where + ": label " + std::to_string(target[bad].item<int64_t>()) +
                        " at item " + std::to_string(bad) + " is outside [0, " +
                        std::to_string(size) + ")");
      }
    }
    return;
  }
  const bool ok2 = target.dim() == 2 && target.size(1) == size;
  const bool ok3 = target.dim() == 3 && target.size(2) == size &&
                   (target.size(1) == n_samples || target.size(1) == 1);
  if (!ok2 && !ok3)
    throw DataError(where + ": expected shape (N, " + std::to_string(n_samples) + ", " +
                    std::to_string(size) + ") or (N, " + std::to_string(size) + "), got " +
                    c10::str(target.sizes()));
}

void check_regularize_axis(const LossOptions& loss, const std::vector<int64_t>& signal_shape,
                           const std::string& probe_id) {
  const auto rank = static_cast<int64_t>(std::max<size_t>(signal_shape.size(), 1));
  if (loss.type() == "regularize" && loss.axis() >= rank)
    throw SpecError("loss on probe \"" + probe_id + "\": regularize axis " +
                    std::to_string(loss.axis()) + ", but the probed signal has " +
                    std::to_string(rank) + (rank == 1 ? " axis" : " axes") + " (shape " +
                    c10::str(signal_shape) + "; as NengoDL, the axis counts over one sample's "
                    "signal, not batch and time)");
}

torch::Tensor compute_loss(const LossOptions& loss, const torch::Tensor& output,
                           const torch::Tensor& target,
                           const std::vector<int64_t>& signal_shape) {
  const auto& type = loss.type();
  const auto out = select_steps(output, loss.steps());
  torch::Tensor value;
  if (type == "mse" || type == "mae") {
    auto t = float_target(target.to(out.scalar_type()), loss.steps());
    auto diff = out - t;
    diff = torch::where(torch::isnan(t).expand_as(diff), torch::zeros_like(diff), diff);
    value = type == "mse" ? diff.pow(2).mean() : diff.abs().mean();
  } else if (type == "sparse_categorical_crossentropy") {
    auto logp = log_probabilities(out, loss.from_logits());
    auto labels = label_target(target, out.size(1));
    value = -logp.gather(2, labels.unsqueeze(2)).mean();
  } else if (type == "categorical_crossentropy") {
    auto t = float_target(target.to(out.scalar_type()), loss.steps());
    value = -(t * log_probabilities(out, loss.from_logits())).sum(-1).mean();
  } else if (type == "custom") {
    if (!loss.function()) throw SpecError("the custom loss has no function");
    value = checked_scalar(loss.function()(out, target), "the custom loss");
  } else if (type == "regularize") {
    // NengoDL's Regularize: the norm of each sample's whole signal (axis unset), or along
    // one axis of the signal's own shape; then the mean over everything else (batch and
    // time included).
    const double order = static_cast<double>(loss.order());
    torch::Tensor norm;
    if (loss.axis() < 0) {
      norm = torch::linalg_vector_norm(out, order, std::vector<int64_t>{2}, false, c10::nullopt);
    } else {
      std::vector<int64_t> shape = {out.size(0), out.size(1)};
      int64_t n = 1;
      for (int64_t d : signal_shape) n *= d;
      if (signal_shape.empty() || n != out.size(2)) {
        shape.push_back(out.size(2));
      } else {
        shape.insert(shape.end(), signal_shape.begin(), signal_shape.end());
      }
      if (loss.axis() + 2 >= static_cast<int64_t>(shape.size()))
        throw SpecError("regularize: axis " + std::to_string(loss.axis()) +
                        " is not an axis of the probed signal");
      norm = torch::linalg_vector_norm(out.reshape(shape), order,
                                       std::vector<int64_t>{loss.axis() + 2}, false, c10::nullopt);
    }
    value = norm.mean();
  } else {
    throw SpecError("loss: unknown type \"" + type + "\"");
  }
  return loss.weight() == 1.0 ? value : value * loss.weight();
}

std::pair<int64_t, int64_t> count_correct(const torch::Tensor& output, const torch::Tensor& target,
                                          const std::string& steps) {
  auto out = select_steps(output, steps);
  auto pred = out.argmax(-1);  // (batch, samples')
  torch::Tensor labels;
  if (is_labels(target)) {
    labels = label_target(target, pred.size(1));
  } else {
    labels = float_target(target, steps).argmax(-1).expand_as(pred);
  }
  auto correct = (pred == labels.to(pred.device())).sum().item<int64_t>();
  return {correct, pred.numel()};
}

}  // namespace snn::detail
