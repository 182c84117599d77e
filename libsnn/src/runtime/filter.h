#pragma once
// A synapse at run time: a discrete state-space filter applied to (batch, size) signals,
// with Nengo's step variants (no state, one state, no direct term, general).
#include <torch/torch.h>

#include "snn/synapses.h"

namespace snn::detail {

class FilterKernel {
 public:
  FilterKernel(const StateSpace& ss, torch::Dtype dtype, torch::Device device);
  /// Zero state for signals of shape (batch, size).
  torch::Tensor initial_state(int64_t batch, int64_t size) const;
  /// Filters input u; returns the output y and replaces `state`. With no direct term the
  /// output is read after the state update (Nengo's NoD/OneX), else before it (General).
  torch::Tensor step(torch::Tensor& state, const torch::Tensor& u) const;

 private:
  enum class Kind { NoX, OneX, NoD, General } kind_;
  torch::Tensor At_, B_, C_;  // A transposed (ns, ns), B (ns), C (ns)
  double D_ = 0.0, a_ = 0.0, b_ = 0.0;
  int64_t ns_ = 0;
  torch::TensorOptions opts_;
};

}  // namespace snn::detail
