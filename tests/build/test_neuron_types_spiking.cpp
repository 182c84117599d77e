// RegularSpiking, StochasticSpiking and PoissonSpiking against Nengo's step rules
// (shared/reference/nengo-semantics.md section 2): analytic spike counts, Poisson and
// stochastic-rounding statistics, seeding per minibatch item, rate twins and the spec form.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "snn/errors.h"
#include "snn/network.h"
#include "snn/neurons.h"
#include "snn/neurons_spiking.h"
#include "snn/simulator.h"

namespace {

torch::Tensor d(std::vector<double> v) { return torch::tensor(v, torch::kFloat64); }

/// Initial state of `t` for J's shape: every variable from its default, keys fixed per neuron.
snn::NeuronState start_state(const snn::NeuronType& t, const torch::Tensor& J, uint32_t seed = 1) {
  snn::NeuronState st;
  snn::Rng rng(seed);
  for (const auto& [name, init] : t.default_state()) {
    auto v = init.get(J.size(-1), 0, rng).to(torch::kFloat64);
    if (v.dim() == 0) v = v.expand({J.size(-1)});
    st[name] = (name == "voltage" ? torch::zeros_like(v) : v).expand(J.sizes()).clone();
  }
  return st;
}

/// Spike counts (spikes, not amplitude/dt units) over n_steps of constant J.
torch::Tensor count(const snn::NeuronType& t, const torch::Tensor& J, int64_t n_steps,
                    double dt = 0.001, snn::NeuronState* state = nullptr, double amplitude = 1) {
  snn::NeuronState local = start_state(t, J);
  snn::NeuronState& st = state ? *state : local;
  auto total = torch::zeros_like(J);
  for (int64_t k = 0; k < n_steps; ++k) total = total + t.step(dt, J, st) * (dt / amplitude);
  return total;
}

double lif_rate(double J) { return J > 1 ? 1.0 / (0.002 + 0.02 * std::log1p(1.0 / (J - 1))) : 0.0; }

}  // namespace

TEST_CASE("RegularSpiking fires floor(rate T) spikes from v = 0", "[neurons_spiking]") {
  snn::RegularSpiking reg(std::make_shared<snn::LIFRate>(), 0.5);
  const std::vector<double> currents = {0.5, 1.3, 2.0, 4.7, 11.0};
  auto J = d(currents);
  auto n = count(reg, J, 1000, 0.001, nullptr, 0.5);
  for (size_t i = 0; i < currents.size(); ++i) {
    INFO("J = " << currents[i] << ", rate " << lif_rate(currents[i]));
    CHECK(n[static_cast<int64_t>(i)].item<double>() == std::floor(lif_rate(currents[i]) * 1.0));
  }
  // Each spike is amplitude / dt.
  auto st = start_state(reg, d({11.0}));
  double seen = 0;
  for (int k = 0; k < 50; ++k) seen = std::max(seen, reg.step(0.001, d({11.0}), st)[0].item<double>());
  CHECK(seen == Approx(0.5 / 0.001));
  // rate_out holds the base type's rate.
  CHECK(st.at("rate_out")[0].item<double>() == Approx(lif_rate(11.0)));
}

TEST_CASE("PoissonSpiking counts are Poisson(rate dt) per step", "[neurons_spiking]") {
  snn::PoissonSpiking poi(std::make_shared<snn::RectifiedLinear>());
  SECTION("mean and variance of counts over 1 s at 50 Hz") {
    auto J = torch::full({400}, 50.0, torch::kFloat64);  // RectifiedLinear: rate = J
    auto n = count(poi, J, 1000);
    // Mean of 400 Poisson(50): standard error sqrt(50 / 400) = 0.35; allow 5 of them.
    CHECK(std::abs(n.mean().item<double>() - 50.0) < 5 * std::sqrt(50.0 / 400));
    // Variance ~ 50 (stochastic rounding would give ~0): sd of the sample variance ~ 3.5.
    CHECK(n.var().item<double>() == Approx(50.0).margin(17.5));
  }
  SECTION("per-step distribution at 0.5 spikes per step") {
    auto J = torch::full({2000}, 500.0, torch::kFloat64);
    auto st = start_state(poi, J);
    std::vector<double> freq(4, 0.0);
    const int steps = 50;
    for (int k = 0; k < steps; ++k) {
      auto c = poi.step(0.001, J, st) * 0.001;
      for (int m = 0; m < 3; ++m) freq[m] += (c == m).sum().item<double>();
      freq[3] += (c >= 3).sum().item<double>();
    }
    const double N = 2000.0 * steps;
    const double p0 = std::exp(-0.5), p1 = 0.5 * p0, p2 = 0.125 * p0;
    for (auto [m, p] : {std::pair<int, double>{0, p0}, {1, p1}, {2, p2}}) {
      INFO("count " << m);
      CHECK(std::abs(freq[m] / N - p) < 5 * std::sqrt(p * (1 - p) / N));
    }
  }
  SECTION("large means (normal approximation) keep the mean") {
    auto J = torch::full({1000}, 60000.0, torch::kFloat64);  // 60 spikes per step
    auto n = count(poi, J, 5);
    CHECK(std::abs(n.mean().item<double>() - 300.0) < 5 * std::sqrt(300.0 / 1000));
  }
}

TEST_CASE("StochasticSpiking rounds dt rate up with probability frac", "[neurons_spiking]") {
  snn::StochasticSpiking sto(std::make_shared<snn::RectifiedLinear>());
  auto J = torch::full({1000}, 1700.0, torch::kFloat64);  // 1.7 spikes per step
  auto st = start_state(sto, J);
  double twos = 0, total = 0;
  const int steps = 20;
  for (int k = 0; k < steps; ++k) {
    auto c = sto.step(0.001, J, st) * 0.001;
    CHECK(((c == 1) | (c == 2)).all().item<bool>());
    twos += (c == 2).sum().item<double>();
    total += c.sum().item<double>();
  }
  const double N = 1000.0 * steps;
  CHECK(std::abs(twos / N - 0.7) < 5 * std::sqrt(0.21 / N));
  CHECK(std::abs(total / N - 1.7) < 5 * std::sqrt(0.21 / N));
  SECTION("negative base rates give negative spikes") {
    snn::StochasticSpiking neg(std::make_shared<snn::Tanh>());
    auto Jn = d({-3.0, 3.0});
    auto n = count(neg, Jn, 1000);  // tanh(3)/0.0025 = 398 Hz, in magnitude
    const double r = std::tanh(3.0) / 0.0025;
    CHECK(n[0].item<double>() < 0);
    CHECK(std::abs(-n[0].item<double>() - r) < 5 * std::sqrt(r));
    CHECK(std::abs(n[1].item<double>() - r) < 5 * std::sqrt(r));
  }
}

TEST_CASE("random spiking is reproducible and differs per minibatch item", "[neurons_spiking]") {
  snn::PoissonSpiking poi(std::make_shared<snn::RectifiedLinear>());
  auto J = torch::full({3, 100}, 100.0, torch::kFloat64);
  auto s1 = start_state(poi, J, 5), s2 = start_state(poi, J, 5), s3 = start_state(poi, J, 6);
  std::vector<torch::Tensor> a, b, c;
  for (int k = 0; k < 50; ++k) {
    a.push_back(poi.step(0.001, J, s1));
    b.push_back(poi.step(0.001, J, s2));
    c.push_back(poi.step(0.001, J, s3));
  }
  auto A = torch::stack(a), B = torch::stack(b), C = torch::stack(c);
  CHECK(torch::equal(A, B));
  CHECK(!torch::equal(A, C));
  CHECK(!torch::equal(A.select(1, 0), A.select(1, 1)));
  CHECK(!torch::equal(A.select(1, 1), A.select(1, 2)));

  SECTION("through the simulator: same seed, same spikes; items differ; layered == steps") {
    auto make = [] {
      auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(3));
      auto stim = net->node(snn::NodeOptions().output(0.5));
      auto e = net->ensemble(snn::EnsembleOptions(30, 1).neuron_type(
          std::make_shared<snn::PoissonSpiking>(std::make_shared<snn::LIFRate>())));
      net->connect(stim, e, snn::ConnectionOptions().synapse(nullptr));
      return std::make_pair(net, net->probe(e->neurons()));
    };
    auto [n1, p1] = make();
    auto [n2, p2] = make();
    auto opts = snn::SimulatorOptions().dtype(torch::kFloat64).minibatch_size(2);
    snn::Simulator x(n1, opts), y(n2, snn::SimulatorOptions(opts).layered(false));
    x.run_steps(100);
    y.run_steps(60);
    y.run_steps(40);
    auto X = x.data(p1);
    CHECK(torch::equal(X, y.data(p2)));
    CHECK(!torch::equal(X[0], X[1]));
    CHECK(X.sum().item<double>() > 0);
    x.reset();
    x.run_steps(100);
    CHECK(torch::equal(x.data(p1), X));
  }
}

TEST_CASE("spiking wrappers delegate tuning to the base and train as base times amplitude",
          "[neurons_spiking]") {
  auto base = std::make_shared<snn::LIFRate>(snn::LIFRateOptions().tau_rc(0.03));
  snn::PoissonSpiking poi(base, 0.25);
  auto [g, b] = poi.gain_bias(d({100, 200}), d({-0.5, 0.3}));
  auto [gb, bb] = base->gain_bias(d({100, 200}), d({-0.5, 0.3}));
  CHECK(torch::equal(g, gb));
  CHECK(torch::equal(b, bb));
  auto J = d({0.5, 1.5, 3.0});
  CHECK(torch::allclose(poi.rates(J), base->rates(J)));
  auto twin = poi.rate_twin(0.0);
  CHECK(!twin->spiking());
  CHECK(torch::allclose(twin->rates(J), 0.25 * base->rates(J)));
  snn::NeuronState none;
  CHECK(torch::allclose(twin->step(0.001, J, none), 0.25 * base->rates(J)));
  CHECK(snn::RegularSpiking(base).rate_twin(0.0)->type() == "LIFRate");
  // A stateful base keeps its state next to the wrapper's.
  snn::RegularSpiking adaptive(std::make_shared<snn::AdaptiveLIFRate>());
  std::vector<std::string> names;
  for (const auto& [name, init] : adaptive.default_state()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"voltage", "adaptation", "rate_out"});
  auto st = start_state(adaptive, d({3.0}));
  for (int k = 0; k < 10; ++k) adaptive.step(0.001, d({3.0}), st);
  CHECK(st.at("adaptation")[0].item<double>() > 0);
}

TEST_CASE("spiking wrappers in the spec", "[neurons_spiking]") {
  nlohmann::json j = {{"type", "PoissonSpiking"},
                      {"base_type", {{"type", "LIFRate"}, {"tau_rc", 0.03}}},
                      {"amplitude", 0.5}};
  auto t = snn::neuron_type_from_json(j, "/ensembles/0/neuron_type");
  REQUIRE(t->type() == "PoissonSpiking");
  CHECK(t->spiking());
  auto saved = t->to_json();
  CHECK(saved["amplitude"] == 0.5);
  CHECK(saved["base_type"]["type"] == "LIFRate");
  CHECK(saved["base_type"]["tau_rc"] == 0.03);
  CHECK(snn::neuron_type_from_json(saved)->to_json() == saved);
  auto reg = snn::neuron_type_from_json(
      {{"type", "RegularSpiking"}, {"base_type", "RectifiedLinear"}, {"initial_state", {{"voltage", 0.5}}}});
  CHECK(reg->to_json()["initial_state"]["voltage"] == 0.5);
  CHECK(snn::neuron_type_from_json({{"type", "StochasticSpiking"}, {"base_type", "Tanh"}})->negative());

  using Catch::Contains;
  CHECK_THROWS_WITH(snn::neuron_type_from_json({{"type", "PoissonSpiking"}}, "/nt"),
                    Contains("/nt") && Contains("base_type"));
  CHECK_THROWS_WITH(snn::neuron_type_from_json(
                        {{"type", "PoissonSpiking"}, {"base_type", "LIFRate"}, {"amplitude", -1}}, "/nt"),
                    Contains("/nt/amplitude"));
  CHECK_THROWS_WITH(snn::neuron_type_from_json(
                        {{"type", "PoissonSpiking"}, {"base_type", "LIFRate"}, {"tau", 1}}, "/nt"),
                    Contains("/nt") && Contains("tau"));
  CHECK_THROWS_WITH(snn::neuron_type_from_json(
                        {{"type", "RegularSpiking"}, {"base_type", "SpikingRectifiedLinear"}}, "/nt"),
                    Contains("/nt/base_type") && Contains("needs a rate neuron type"));
}
