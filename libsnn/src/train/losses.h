#pragma once
// NengoDL's objectives on probe outputs, and the accuracy metric.
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "snn/training.h"

namespace snn::detail {

/// Checks a target against a probe's output shape (batch, n_samples, size) and the loss
/// type; throws DataError naming the probe.
void check_target(const LossOptions& loss, const torch::Tensor& target, int64_t n_samples,
                  int64_t size, const std::string& probe_id);

/// The loss of output (batch, n_samples, size) against target (see snn::Targets; undefined
/// for `regularize`), times the loss weight. `signal_shape` is one sample's shape as NengoDL
/// sees it (a weights probe's (rows, cols), ...; empty: (size)): regularize's axis counts
/// over it.
torch::Tensor compute_loss(const LossOptions& loss, const torch::Tensor& output,
                           const torch::Tensor& target,
                           const std::vector<int64_t>& signal_shape = {});

/// The samples of output (batch, n_samples, size) that `loss.steps()` selects (all, the
/// last, or their mean), as the loss and its metrics see them.
torch::Tensor loss_samples(const LossOptions& loss, const torch::Tensor& output);

/// A custom loss's or metric's value, checked to be one floating-point number (returned as a
/// 0-d tensor); throws SpecError naming `what` otherwise.
torch::Tensor checked_scalar(const torch::Tensor& value, const std::string& what);

/// Throws SpecError naming the probe when regularize's axis is not an axis of
/// `signal_shape`.
void check_regularize_axis(const LossOptions& loss, const std::vector<int64_t>& signal_shape,
                           const std::string& probe_id);

/// Correct predictions and their count: argmax of the output per sample against integer
/// labels or the argmax of one-hot targets, over the samples `steps` selects.
std::pair<int64_t, int64_t> count_correct(const torch::Tensor& output, const torch::Tensor& target,
                                          const std::string& steps);

}  // namespace snn::detail
