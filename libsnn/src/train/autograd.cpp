// The LIF rate curve and its smoothed twin as torch::autograd::Functions.
//
// With j = J - 1 > 0 and q = log1p(1/j):   r = a / (tr + tc q),
//   dr/dJ = a tc / (tr + tc q)^2 * 1 / (j (j + 1)).
// SoftLIFRate replaces j by z = s softplus(j/s), and dz/dJ = sigmoid(j/s).
#include "train/autograd.h"

#include <cmath>

namespace snn::detail {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

struct LIFRateFunction : public torch::autograd::Function<LIFRateFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& J, double tau_rc,
                               double tau_ref, double amplitude) {
    auto j = J - 1.0;
    auto pos = j > 0;
    auto safe_j = torch::where(pos, j, torch::ones_like(j));
    auto denom = tau_ref + tau_rc * torch::log1p(1.0 / safe_j);
    auto r = torch::where(pos, amplitude / denom, torch::zeros_like(j));
    // dr/dJ, computed now while the pieces are at hand.
    auto d = torch::where(pos, amplitude * tau_rc / (denom * denom * safe_j * (safe_j + 1.0)),
                          torch::zeros_like(j));
    ctx->save_for_backward({d});
    return r;
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grad) {
    auto d = ctx->get_saved_variables()[0];
    return {grad[0] * d, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

struct SoftLIFRateFunction : public torch::autograd::Function<SoftLIFRateFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& J, double sigma,
                               double tau_rc, double tau_ref, double amplitude) {
    auto js = (J - 1.0) / sigma;
    // Far below threshold softplus underflows; there log1p(1/z) ~ -log(z) = -js - log(sigma)
    // and z ~ sigma exp(js), so dq/dJ -> -1/sigma * ... handled by the same asymptote.
    auto low = js <= -20.0;
    auto js_safe = torch::where(low, torch::zeros_like(js), js);
    auto z = sigma * torch::softplus(js_safe);
    auto q = torch::where(low, -js - std::log(sigma), torch::log1p(1.0 / z));
    auto denom = tau_ref + tau_rc * q;
    auto r = amplitude / denom;
    // dq/dJ = -sigmoid(js) / (z (z + 1)); in the asymptote dq/dJ = -1/sigma.
    auto dq = torch::where(low, torch::full_like(js, -1.0 / sigma),
                           -torch::sigmoid(js_safe) / (z * (z + 1.0)));
    auto d = -amplitude * tau_rc * dq / (denom * denom);
    ctx->save_for_backward({d});
    return r;
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grad) {
    auto d = ctx->get_saved_variables()[0];
    return {grad[0] * d, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor lif_rate_fn(const torch::Tensor& J, double tau_rc, double tau_ref, double amplitude) {
  return LIFRateFunction::apply(J, tau_rc, tau_ref, amplitude);
}

torch::Tensor soft_lif_rate_fn(const torch::Tensor& J, double sigma, double tau_rc,
                               double tau_ref, double amplitude) {
  return SoftLIFRateFunction::apply(J, sigma, tau_rc, tau_ref, amplitude);
}

}  // namespace snn::detail
