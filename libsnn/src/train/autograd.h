#pragma once
// Custom autograd functions for the LIF rate curves. Autograd through the plain formulas
// would differentiate torch::where's masked branches (0 * inf = NaN at the threshold) and
// recompute logs; these give the analytic derivative directly.
#include <torch/torch.h>

namespace snn::detail {

/// amplitude / (tau_ref + tau_rc log1p(1/(J-1))) for J > 1, else 0; d/dJ analytic (0 below
/// threshold).
torch::Tensor lif_rate_fn(const torch::Tensor& J, double tau_rc, double tau_ref, double amplitude);

/// NengoDL's SoftLIFRate: z = sigma softplus((J-1)/sigma),
/// amplitude / (tau_ref + tau_rc log1p(1/z)), with its exact derivative.
torch::Tensor soft_lif_rate_fn(const torch::Tensor& J, double sigma, double tau_rc,
                               double tau_ref, double amplitude);

/// The value of `forward` with the gradient of `surrogate`: a straight-through estimator
/// for spikes (forward is not differentiable, surrogate is a smooth rate of the same input).
inline torch::Tensor straight_through(const torch::Tensor& forward, const torch::Tensor& surrogate) {
  return forward.detach() + (surrogate - surrogate.detach());
}

}  // namespace snn::detail
