#include "build/lif_step_kernel.h"

#include <ATen/Parallel.h>

#include <cmath>

namespace snn::detail {

bool lif_step_cpu_applies(const torch::Tensor& J, const torch::Tensor& voltage,
                          const torch::Tensor& refractory_time) {
  const auto dtype = J.scalar_type();
  if (dtype != torch::kFloat32 && dtype != torch::kFloat64) return false;
  for (const auto* t : {&J, &voltage, &refractory_time}) {
    if (!t->defined() || !t->device().is_cpu() || t->scalar_type() != dtype ||
        t->sizes() != J.sizes() || t->is_complex())
      return false;
  }
  const bool records = torch::GradMode::is_enabled() &&
                       (J.requires_grad() || voltage.requires_grad() ||
                        refractory_time.requires_grad());
  return !records;
}

namespace {

template <class T>
void lif_loop(const LifConstants& c, const T* J, const T* v_in, const T* ref_in, T* out, T* v_out,
              T* ref_out, int64_t n) {
  // The same arithmetic as LIF::step's tensor expression, in the tensor's precision.
  const T dt = static_cast<T>(c.dt), tau_rc = static_cast<T>(c.tau_rc);
  const T tau_ref = static_cast<T>(c.tau_ref), min_v = static_cast<T>(c.min_voltage);
  const T spike_value = static_cast<T>(c.amplitude / c.dt);
  const T full_step = std::expm1(-dt / tau_rc);
  at::parallel_for(0, n, 16384, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T j = J[i];
      T v = v_in[i];
      T ref = ref_in[i] - dt;
      T delta_t = dt - ref;  // clamped to [0, dt] below; NaN passes through as in torch::clamp
      T factor;
      if (delta_t >= dt) {
        factor = full_step;
      } else {
        if (delta_t < T(0)) delta_t = T(0);
        factor = std::expm1(-delta_t / tau_rc);
      }
      v = v - (j - v) * factor;
      const bool spiked = v > T(1);
      out[i] = spiked ? spike_value : T(0);
      if (spiked) {
        const T over = (v - T(1)) / (j - T(1));
        ref = tau_ref + (dt + tau_rc * std::log1p(-over));
        v = T(0);
      } else if (v < min_v) {
        v = min_v;
      }
      v_out[i] = v;
      ref_out[i] = ref;
    }
  });
}

}  // namespace

torch::Tensor lif_step_cpu(const LifConstants& c, const torch::Tensor& J, torch::Tensor& voltage,
                           torch::Tensor& refractory_time) {
  auto Jc = J.contiguous();
  auto vc = voltage.contiguous();
  auto rc = refractory_time.contiguous();
  auto out = torch::empty_like(Jc);
  auto v_new = torch::empty_like(vc);
  auto ref_new = torch::empty_like(rc);
  const int64_t n = Jc.numel();
  if (Jc.scalar_type() == torch::kFloat64)
    lif_loop<double>(c, Jc.data_ptr<double>(), vc.data_ptr<double>(), rc.data_ptr<double>(),
                     out.data_ptr<double>(), v_new.data_ptr<double>(), ref_new.data_ptr<double>(),
                     n);
  else
    lif_loop<float>(c, Jc.data_ptr<float>(), vc.data_ptr<float>(), rc.data_ptr<float>(),
                    out.data_ptr<float>(), v_new.data_ptr<float>(), ref_new.data_ptr<float>(), n);
  voltage = v_new;
  refractory_time = ref_new;
  return out;
}

}  // namespace snn::detail
