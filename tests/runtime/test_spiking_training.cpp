// Training mode "spiking": the module's forward pass in training emits the same spikes as
// inference, and the gradient that reaches the input current is the rate twin's derivative
// at that current (straight-through), checked against the derivative written out here.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>

#include "runtime/sim_module.h"
#include "snn/network.h"
#include "snn/simulator.h"

namespace {

constexpr int64_t kN = 6, kT = 40;
constexpr double kSigma = 0.05, kTauRc = 0.02, kTauRef = 0.002;

/// in (1-d input) -> ens (6 neurons, literal gains and biases, encoders +-1), no synapse;
/// probes on the neurons' output (spikes) and input current.
snn::NetworkPtr tiny_net(snn::NeuronTypePtr type, const std::string& mode) {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(4));
  net->settings().training_mode(mode).lif_smoothing(kSigma);
  auto in = net->node(snn::NodeOptions().id("in").size_out(1));
  auto enc = torch::tensor({1.0, -1.0, 1.0, -1.0, 1.0, 1.0}, torch::kFloat64).unsqueeze(1);
  auto ens = net->ensemble(snn::EnsembleOptions(kN, 1)
                               .id("ens")
                               .neuron_type(std::move(type))
                               .encoders(enc)
                               .gain(std::vector<double>{1.0, 2.0, 3.0, 1.5, 0.8, 2.5})
                               .bias(std::vector<double>{1.2, 0.5, 1.0, 2.0, 0.9, -0.3}));
  net->connect(in, ens, snn::ConnectionOptions().synapse(nullptr));
  net->probe(ens->neurons(), snn::ProbeOptions().id("spikes"));
  net->probe(ens->neurons(), snn::ProbeOptions().id("current").attr("input"));
  return net;
}

/// d/dJ of SoftLIFRate(sigma): tau_rc / denom^2 * sigmoid(x) / (z (z + 1)).
double soft_lif_derivative(double J) {
  const double x = (J - 1.0) / kSigma;
  const double z = kSigma * (std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))));
  const double denom = kTauRef + kTauRc * std::log1p(1.0 / z);
  return kTauRc / (denom * denom) / (1.0 + std::exp(-x)) / (z * (z + 1.0));
}

struct Pass {
  torch::Tensor spikes, current, grad_bias, grad_enc;
};

/// One forward pass of the module in `training` mode on x (1, T, 1), and the gradients of
/// sum(w * spikes) with respect to the bias and scaled encoders.
Pass run(snn::Simulator& sim, const torch::Tensor& x, const torch::Tensor& w, bool training) {
  auto& m = dynamic_cast<snn::detail::SimModuleImpl&>(sim.module());
  m.train(training);
  auto state = m.initial_state(1);
  auto out = m.forward(state, {{"in", x}}, kT);
  m.train(false);
  Pass p;
  p.spikes = out[0].detach();
  p.current = out[1].detach();
  if (training) {
    auto params = m.named_parameters();
    auto grads = torch::autograd::grad({(out[0] * w).sum()},
                                       {params["ensembles.ens.bias"],
                                        params["ensembles.ens.scaled_encoders"]});
    p.grad_bias = grads[0];
    p.grad_enc = grads[1];
  }
  return p;
}

/// Inputs sweeping the neurons' currents through and around their thresholds.
torch::Tensor sweep() {
  return torch::linspace(-1.0, 1.0, kT, torch::kFloat64).reshape({1, kT, 1});
}

torch::Tensor weights() {
  torch::manual_seed(11);
  return torch::randn({1, kT, kN}, torch::kFloat64);
}

auto f64() { return snn::SimulatorOptions().dtype(torch::kFloat64).progress_bar(false); }

}  // namespace

TEST_CASE("spiking training mode: spikes forward, the SoftLIFRate derivative backward",
          "[train][runtime][spiking]") {
  auto net = tiny_net(std::make_shared<snn::LIF>(), "spiking");
  snn::Simulator sim(net, f64());
  const auto x = sweep(), w = weights();
  auto trained = run(sim, x, w, true);
  auto inference = run(sim, x, w, false);
  // Real spikes forward: exactly the inference pass (same start state), and some of them.
  CHECK(torch::equal(trained.spikes, inference.spikes));
  CHECK(trained.spikes.sum().item<double>() > 0);
  CHECK(torch::equal(trained.current, inference.current));
  // Backward: dL/dJ[t, i] = w[t, i] * r'(J[t, i]) with r the rate twin SoftLIFRate(sigma);
  // J = e_i x_t + b_i, so dL/db_i = sum_t w r' and dL/de_i = sum_t w r' x_t.
  for (int64_t i = 0; i < kN; ++i) {
    double gb = 0, ge = 0;
    for (int64_t t = 0; t < kT; ++t) {
      const double d = w[0][t][i].item<double>() * soft_lif_derivative(trained.current[0][t][i].item<double>());
      gb += d;
      ge += d * x[0][t][0].item<double>();
    }
    INFO("neuron " << i);
    CHECK(trained.grad_bias[i].item<double>() == Approx(gb).epsilon(1e-10));
    CHECK(trained.grad_enc[i][0].item<double>() == Approx(ge).epsilon(1e-10));
  }
}

TEST_CASE("spiking training mode gives the rate mode's gradient for a linear readout",
          "[train][runtime][spiking]") {
  // With a loss linear in the neurons' output, the gradient at the output is the same in both
  // modes, so the straight-through estimator must reproduce rate mode's parameter gradients.
  snn::Simulator spiking(tiny_net(std::make_shared<snn::LIF>(), "spiking"), f64());
  snn::Simulator rate(tiny_net(std::make_shared<snn::LIF>(), "rate"), f64());
  const auto x = sweep(), w = weights();
  auto s = run(spiking, x, w, true);
  auto r = run(rate, x, w, true);
  CHECK(torch::allclose(s.grad_bias, r.grad_bias, 1e-12, 1e-12));
  CHECK(torch::allclose(s.grad_enc, r.grad_enc, 1e-12, 1e-12));
  // ... while the forward values differ: spikes against rates.
  CHECK_FALSE(torch::allclose(s.spikes, r.spikes));
}

TEST_CASE("spiking training mode: SpikingRectifiedLinear backpropagates as RectifiedLinear",
          "[train][runtime][spiking]") {
  const double amp = 0.5;
  auto net = tiny_net(std::make_shared<snn::SpikingRectifiedLinear>(
                          snn::RectifiedLinearOptions().amplitude(amp)),
                      "spiking");
  snn::Simulator sim(net, f64());
  const auto x = sweep(), w = weights();
  auto p = run(sim, x, w, true);
  CHECK(torch::equal(p.spikes, run(sim, x, w, false).spikes));
  for (int64_t i = 0; i < kN; ++i) {
    double gb = 0;
    for (int64_t t = 0; t < kT; ++t)
      if (p.current[0][t][i].item<double>() > 0) gb += amp * w[0][t][i].item<double>();
    INFO("neuron " << i);
    CHECK(p.grad_bias[i].item<double>() == Approx(gb).epsilon(1e-12).margin(1e-14));
  }
}

TEST_CASE("spiking training mode: SpikingLeakyReLU backpropagates as LeakyReLU",
          "[train][runtime][spiking]") {
  const double amp = 0.5, slope = 0.2;
  auto net = tiny_net(std::make_shared<snn::SpikingLeakyReLU>(
                          snn::LeakyReLUOptions().negative_slope(slope).amplitude(amp)),
                      "spiking");
  snn::Simulator sim(net, f64());
  const auto x = sweep(), w = weights();
  auto p = run(sim, x, w, true);
  CHECK(torch::equal(p.spikes, run(sim, x, w, false).spikes));
  int below = 0;
  for (int64_t i = 0; i < kN; ++i) {
    double gb = 0;
    for (int64_t t = 0; t < kT; ++t) {
      const bool negative = p.current[0][t][i].item<double>() < 0;
      below += negative;
      gb += amp * (negative ? slope : 1.0) * w[0][t][i].item<double>();
    }
    INFO("neuron " << i);
    CHECK(p.grad_bias[i].item<double>() == Approx(gb).epsilon(1e-12).margin(1e-14));
  }
  CHECK(below > 0);
}
