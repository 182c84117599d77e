// The Legendre Memory Unit: its zero-order-hold matrices against a direct integration of the
// continuous system, its memory against the delayed input it must represent (Legendre
// coefficients of the last theta seconds), and the native network against the sequence
// module step for step.
#include <torch/torch.h>

// After LibTorch, whose glog would otherwise own CHECK.
#include <catch2/catch.hpp>

#include <cmath>
#include <iomanip>

#include "snn/errors.h"
#include "snn/lmu.h"
#include "snn/simulator.h"
#include "snn/spec.h"

using Catch::Matchers::Contains;

namespace {

constexpr auto kF64 = torch::kFloat64;
constexpr double kPi = 3.14159265358979323846;

/// The continuous matrices written out from the LMU paper's definition.
std::pair<torch::Tensor, torch::Tensor> continuous(int64_t order, double theta) {
  auto A = torch::empty({order, order}, kF64), B = torch::empty({order, 1}, kF64);
  for (int64_t i = 0; i < order; ++i) {
    const double r = (2.0 * i + 1.0) / theta;
    for (int64_t j = 0; j < order; ++j) A[i][j] = i < j ? -r : std::pow(-1.0, i - j + 1) * r;
    B[i][0] = std::pow(-1.0, i) * r;
  }
  return {A, B};
}

/// x(dt) of dx/dt = A x + B u from x0 with u held constant: classic RK4, 2000 substeps.
torch::Tensor integrate(const torch::Tensor& A, const torch::Tensor& B, torch::Tensor x,
                        double u, double dt) {
  const int n = 2000;
  const double h = dt / n;
  auto f = [&](const torch::Tensor& v) { return torch::mm(A, v) + B * u; };
  for (int k = 0; k < n; ++k) {
    auto k1 = f(x), k2 = f(x + 0.5 * h * k1), k3 = f(x + 0.5 * h * k2), k4 = f(x + h * k3);
    x = x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4);
  }
  return x;
}

}  // namespace

TEST_CASE("LMU matrices are the zero-order hold of the Legendre system", "[networks][lmu]") {
  SECTION("order 1: a lowpass, exp(-dt / theta)") {
    auto [Ad, Bd] = snn::lmu_matrices(1, 0.05, 0.001);
    INFO(std::setprecision(17) << Ad.item<double>() << " " << Bd.item<double>());
    CHECK(Ad.item<double>() == Approx(std::exp(-0.02)).epsilon(1e-12));
    CHECK(Bd.item<double>() == Approx(1.0 - std::exp(-0.02)).epsilon(1e-10));
  }
  SECTION("order 6: one step from any state matches the integrated dynamics") {
    const double theta = 0.05, dt = 0.001;
    auto [A, B] = continuous(6, theta);
    auto [Ad, Bd] = snn::lmu_matrices(6, theta, dt);
    torch::manual_seed(2);
    for (int trial = 0; trial < 3; ++trial) {
      auto x0 = torch::randn({6, 1}, kF64);
      const double u = 0.7 * (trial - 1);
      auto want = integrate(A, B, x0, u, dt);
      auto got = torch::mm(Ad, x0) + Bd * u;
      CHECK(torch::allclose(got, want, 0.0, 1e-10));
    }
  }
  CHECK_THROWS_WITH(snn::LMUCell(snn::LMUOptions(4, 3, -1.0, 1).id("bad"), 0.001),
                    Contains("theta > 0"));
}

TEST_CASE("the LMU's memory holds the input's window: now and theta ago", "[networks][lmu]") {
  // Legendre polynomials at the window's ends, in this A/B convention: u(t - theta) ~
  // sum_i m_i and u(t) ~ sum_i (-1)^i m_i.
  const double theta = 0.1, freq = 2.0;
  const int64_t order = 8, steps = 400;
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(0));
  auto src = net->node(snn::NodeOptions().id("src").output(snn::Function::of_t(
      [=](double t) { return std::vector<double>{std::sin(2 * kPi * freq * t)}; })));
  auto l = snn::lmu(*net, snn::LMUOptions(3, order, theta, 1).id("lmu"));
  net->connect(src, l.input, snn::ConnectionOptions().synapse(nullptr));
  auto p = net->probe(l.memory);
  snn::Simulator sim(net, snn::SimulatorOptions().dtype(kF64).progress_bar(false));
  sim.run_steps(steps);
  auto m = sim.data(p)[0];  // (steps, order)
  auto signs = torch::empty({order}, kF64);
  for (int64_t i = 0; i < order; ++i) signs[i] = i % 2 == 0 ? 1.0 : -1.0;
  double worst_now = 0, worst_past = 0;
  for (int64_t k = 200; k < steps; ++k) {
    const double t = (k + 1) * 0.001;
    const double past = m[k].sum().item<double>(), now = (m[k] * signs).sum().item<double>();
    worst_now = std::max(worst_now, std::abs(now - std::sin(2 * kPi * freq * t)));
    worst_past = std::max(worst_past, std::abs(past - std::sin(2 * kPi * freq * (t - theta))));
  }
  INFO("max error now " << worst_now << ", theta ago " << worst_past);
  CHECK(worst_now < 0.02);
  CHECK(worst_past < 0.05);
}

TEST_CASE("the native LMU network and LMUCell compute the same sequence", "[networks][lmu]") {
  const int64_t units = 5, order = 4, d = 2, steps = 30, batch = 3;
  const double theta = 0.02;
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(7));
  auto x = net->node(snn::NodeOptions().id("x").size_out(d));
  auto l = snn::lmu(*net, snn::LMUOptions(units, order, theta, d).id("lmu"));
  net->connect(x, l.input, snn::ConnectionOptions().synapse(nullptr));
  auto p = net->probe(l.hidden);
  snn::Simulator sim(
      net, snn::SimulatorOptions().dtype(kF64).minibatch_size(batch).progress_bar(false));
  torch::manual_seed(3);
  auto data = torch::randn({batch, steps, d}, kF64);
  sim.run_steps(steps, {{"x", data}});
  auto native = sim.data(p);

  snn::LMUCell cell(snn::LMUOptions(units, order, theta, d), 0.001);
  cell->to(kF64);
  torch::NoGradGuard no_grad;
  cell->W_x.copy_(sim.data(l.input_to_hidden).weights);
  cell->W_h.copy_(sim.data(l.hidden_to_hidden).weights);
  cell->W_m.copy_(sim.data(l.memory_to_hidden).weights);
  auto module = cell->forward(data);
  REQUIRE(module.sizes() == native.sizes());
  INFO("max difference per step " << (module - native).abs().amax({0, 2}));
  CHECK(torch::allclose(module, native, 0.0, 1e-12));
  CHECK(native.abs().max().item<double>() > 0.1);  // not a trivially zero comparison
}

TEST_CASE("an LMU from a spec's networks, with its ports", "[networks][lmu][spec]") {
  const auto spec = nlohmann::json::parse(R"J({
    "format": "snn-network/1", "seed": 1,
    "nodes": [{"id": "u", "output": {"expr": "sin(2*_pi*5*t)"}}, {"id": "y", "size_in": 6}],
    "networks": [{"type": "LMU", "id": "lmu", "units": 6, "order": 5, "theta": 0.05,
                  "input_dimensions": 1}],
    "connections": [{"pre": "u", "post": "lmu.input", "synapse": null},
                    {"pre": "lmu.hidden", "post": "y", "synapse": null}],
    "probes": [{"id": "p", "target": "y"}, {"id": "m", "target": "lmu.memory"}]
  })J");
  auto net = snn::network_from_json(spec);
  auto again = snn::network_from_json(snn::network_to_json(*net));
  snn::Simulator sim(again, snn::SimulatorOptions().progress_bar(false));
  sim.run_steps(50);
  auto y = sim.data(again->find_probe("p"));
  CHECK(y.sizes() == torch::IntArrayRef({1, 50, 6}));
  CHECK(y.abs().max().item<double>() > 0.0);
  CHECK(y.abs().max().item<double>() < 1.0);  // tanh
  CHECK(sim.data(again->find_probe("m")).size(2) == 5);
  auto bad = spec;
  bad["networks"][0]["theta"] = -1;
  CHECK_THROWS_WITH(snn::network_from_json(bad), Contains("/networks/0/theta"));
}
