// The fused CPU loop of LIF::step (used when no gradient is recorded) against the tensor
// expression of the same step (used under autograd), which the conformance tests check
// against Nengo: both must give the same output, voltage and refractory time in every regime
// (integrating, leaving the refractory period part-way, refractory, spiking, clamped at
// min_voltage), in float64 and float32.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "build/lif_step_kernel.h"
#include "snn/neurons.h"

namespace {

struct Step {
  torch::Tensor out, voltage, refractory_time;
};

Step run(const snn::LIF& lif, double dt, const torch::Tensor& J, const torch::Tensor& v,
         const torch::Tensor& ref, bool with_graph) {
  snn::NeuronState state{{"voltage", v.clone()}, {"refractory_time", ref.clone()}};
  auto j = J.clone();
  if (with_graph) j.requires_grad_(true);
  auto out = lif.step(dt, j, state);
  return {out.detach(), state.at("voltage").detach(), state.at("refractory_time").detach()};
}

}  // namespace

TEST_CASE("LIF fused CPU step equals the tensor expression", "[neurons][lif]") {
  const double dt = 0.001;
  auto lif = snn::LIF(snn::LIFOptions().tau_rc(0.02).tau_ref(0.002).min_voltage(-0.5).amplitude(0.7));
  for (auto dtype : {torch::kFloat64, torch::kFloat32}) {
    torch::manual_seed(4);
    const int64_t B = 3, N = 4000;
    auto opts = torch::TensorOptions().dtype(dtype);
    // Currents from strongly negative (clamping) to far above threshold (a spike a step).
    auto J = torch::empty({B, N}, opts).uniform_(-30.0, 60.0);
    auto v = torch::empty({B, N}, opts).uniform_(-0.6, 1.0);
    // Refractory times: none, part of this step, more than a step, exactly dt.
    auto ref = torch::empty({B, N}, opts).uniform_(-0.001, 0.003);
    ref.index_put_({0, torch::indexing::Slice(0, 10)}, dt);
    SECTION(std::string("dtype ") + c10::toString(dtype)) {
      auto snn_tensor = run(lif, dt, J, v, ref, true);
      REQUIRE(snn::detail::lif_step_cpu_applies(J, v, ref));
      auto fused = run(lif, dt, J, v, ref, false);
      const double tol = dtype == torch::kFloat64 ? 1e-13 : 2e-5;
      // expm1 may differ in the last bit between the loop's libm and LibTorch's vectorised
      // one, which can flip a spike for a voltage within an ulp of threshold: allow a few
      // such neurons in float32, compare the rest.
      auto same = fused.out.eq(snn_tensor.out);
      const auto flipped = same.logical_not().sum().item<int64_t>();
      CHECK(flipped <= (dtype == torch::kFloat64 ? 0 : 3));
      CHECK(torch::allclose(fused.voltage.masked_select(same),
                            snn_tensor.voltage.masked_select(same), tol, tol));
      CHECK(torch::allclose(fused.refractory_time.masked_select(same),
                            snn_tensor.refractory_time.masked_select(same), tol, tol));
      // Every regime occurred.
      CHECK(fused.out.gt(0).sum().item<int64_t>() > 100);
      CHECK(fused.voltage.eq(-0.5).sum().item<int64_t>() > 100);
      CHECK(ref.gt(0).logical_and(ref.lt(dt)).sum().item<int64_t>() > 100);
    }
  }
}

TEST_CASE("LIF fused CPU step is not taken where it cannot apply", "[neurons][lif]") {
  auto J = torch::ones({2, 3}, torch::kFloat64);
  auto v = torch::zeros({2, 3}, torch::kFloat64);
  auto ref = torch::zeros({2, 3}, torch::kFloat64);
  CHECK(snn::detail::lif_step_cpu_applies(J, v, ref));
  CHECK_FALSE(snn::detail::lif_step_cpu_applies(J.clone().requires_grad_(true), v, ref));
  {
    torch::NoGradGuard no_grad;  // a graph is only recorded with grad mode on
    CHECK(snn::detail::lif_step_cpu_applies(J.clone().requires_grad_(true), v, ref));
  }
  CHECK_FALSE(snn::detail::lif_step_cpu_applies(J.to(torch::kFloat32), v, ref));
  CHECK_FALSE(snn::detail::lif_step_cpu_applies(torch::ones({1, 3}, torch::kFloat64), v, ref));
  CHECK_FALSE(snn::detail::lif_step_cpu_applies(J.to(torch::kFloat16), v.to(torch::kFloat16),
                                                ref.to(torch::kFloat16)));
}
