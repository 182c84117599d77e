// Neuron types against Nengo's formulas (reference numbers derived by hand from the
// equations in shared/reference/nengo-semantics.md, section 13).
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "snn/neurons.h"


namespace {
torch::Tensor d(std::vector<double> v) { return torch::tensor(v, torch::kFloat64); }
}  // namespace

TEST_CASE("LIF gain_bias matches Nengo's closed form", "[neurons]") {
  snn::LIF lif;
  auto [gain, bias] = lif.gain_bias(d({200, 400, 300}), d({0.0, 0.5, -0.5}));
  CHECK(gain[0].item<double>() == Approx(6.179161981676415).epsilon(1e-12));
  CHECK(bias[0].item<double>() == Approx(1.0).epsilon(1e-12));
  CHECK(gain[1].item<double>() == Approx(79.00416662326435).epsilon(1e-12));
  CHECK(bias[1].item<double>() == Approx(-38.50208331163218).epsilon(1e-12));
  CHECK(gain[2].item<double>() == Approx(9.670370096050982).epsilon(1e-12));
  CHECK(bias[2].item<double>() == Approx(5.835185048025491).epsilon(1e-12));
}

TEST_CASE("gain_bias and max_rates_intercepts are inverse for every type", "[neurons]") {
  auto max_rates = d({120, 250, 380});
  auto intercepts = d({-0.6, 0.1, 0.7});
  std::vector<std::shared_ptr<snn::NeuronType>> types = {
      std::make_shared<snn::LIF>(), std::make_shared<snn::LIFRate>(),
      std::make_shared<snn::SoftLIFRate>(), std::make_shared<snn::RectifiedLinear>(),
      std::make_shared<snn::SpikingRectifiedLinear>(), std::make_shared<snn::Sigmoid>(),
      std::make_shared<snn::Tanh>(), std::make_shared<snn::LeakyReLU>(),
      std::make_shared<snn::SpikingLeakyReLU>()};
  for (const auto& t : types) {
    INFO(t->type());
    auto [g, b] = t->gain_bias(max_rates, intercepts);
    auto [m, i] = t->max_rates_intercepts(g, b);
    CHECK(torch::allclose(m, max_rates, 1e-9, 1e-9));
    CHECK(torch::allclose(i, intercepts, 1e-9, 1e-9));
    // The rate at x = 1 is max_rate; at x = intercept the neuron is at threshold.
    if (t->type() != "Sigmoid" && t->type() != "SoftLIFRate") {
      CHECK(torch::allclose(t->rates(g + b), max_rates, 1e-9, 1e-9));
      CHECK(torch::allclose(t->rates(g * (intercepts - 1e-6) + b), torch::zeros(3, torch::kFloat64),
                            0, t->negative() ? 1.0 : 1e-9));
    }
  }
}

TEST_CASE("LIF rate formula", "[neurons]") {
  snn::LIF lif;
  // r = 1 / (tau_ref + tau_rc log1p(1/(J-1))) for J = 2: 1/(0.002 + 0.02 ln 2)
  auto r = lif.rates(d({2.0, 1.0, 0.5}));
  CHECK(r[0].item<double>() == Approx(1.0 / (0.002 + 0.02 * std::log(2.0))).epsilon(1e-12));
  CHECK(r[1].item<double>() == 0.0);
  CHECK(r[2].item<double>() == 0.0);
}

TEST_CASE("LIF spiking matches the analytic spike train", "[neurons]") {
  // From v = 0 with J = 2: the first spike in step 14, then one every 16 steps; 63 spikes
  // in 1000 steps (derived from the exact LIF solution with dt = 1 ms).
  snn::LIF lif;
  snn::NeuronState s{{"voltage", d({0.0})}, {"refractory_time", d({0.0})}};
  std::vector<int> spikes;
  for (int k = 1; k <= 1000; ++k) {
    auto out = lif.step(0.001, d({2.0}), s);
    if (out[0].item<double>() > 0) {
      CHECK(out[0].item<double>() == Approx(1000.0));
      spikes.push_back(k);
    }
  }
  REQUIRE(spikes.size() == 63);
  CHECK(spikes[0] == 14);
  CHECK(spikes[1] - spikes[0] == 16);
  // The long-run rate approaches the rate formula (63 spikes in ~1 s vs 63.49 Hz).
  CHECK(spikes.size() == Approx(lif.rates(d({2.0})).item<double>()).margin(1.0));
}

TEST_CASE("SpikingRectifiedLinear emits floor(v) spikes", "[neurons]") {
  snn::SpikingRectifiedLinear relu;
  snn::NeuronState s{{"voltage", d({0.5, 0.0})}};
  // J = 2500 Hz gives 2.5 spikes per ms: 3 then 2 spikes from v = 0.5.
  auto out1 = relu.step(0.001, d({2500.0, -5.0}), s);
  CHECK(out1[0].item<double>() == Approx(3000.0));
  CHECK(out1[1].item<double>() == 0.0);
  auto out2 = relu.step(0.001, d({2500.0, -5.0}), s);
  CHECK(out2[0].item<double>() == Approx(2000.0));
  CHECK(s.at("voltage")[0].item<double>() == Approx(0.5).margin(1e-12));  // 0 + 2.5 - 2
}

TEST_CASE("LeakyReLU rates scale negative currents by the slope", "[neurons]") {
  snn::LeakyReLU leaky(snn::LeakyReLUOptions().negative_slope(0.1).amplitude(2.0));
  auto r = leaky.rates(d({-3.0, 0.0, 4.0}));
  CHECK(r[0].item<double>() == Approx(2.0 * 0.1 * -3.0).epsilon(1e-14));
  CHECK(r[1].item<double>() == 0.0);
  CHECK(r[2].item<double>() == Approx(8.0).epsilon(1e-14));
  CHECK(leaky.negative());
  CHECK_FALSE(snn::LeakyReLU(snn::LeakyReLUOptions().negative_slope(0.0)).negative());
  // Gain and bias as RectifiedLinear: the slope below threshold does not move it.
  auto [g, b] = leaky.gain_bias(d({200.0}), d({0.25}));
  auto [g0, b0] = snn::RectifiedLinear().gain_bias(d({200.0}), d({0.25}));
  CHECK(torch::equal(g, g0));
  CHECK(torch::equal(b, b0));
}

TEST_CASE("SpikingLeakyReLU emits trunc(v) spikes, negative below zero", "[neurons]") {
  snn::SpikingLeakyReLU leaky(snn::LeakyReLUOptions().negative_slope(0.25));
  snn::NeuronState s{{"voltage", d({0.5, 0.5, 0.0})}};
  // Per 1 ms step the voltages move by 2.5, 0.25 * -4 = -1 and 0.25 * -100 ms = -0.025.
  const auto J = d({2500.0, -4000.0, -100.0});
  auto out1 = leaky.step(0.001, J, s);  // v = 3, -0.5, -0.025: 3 spikes, none, none
  CHECK(out1[0].item<double>() == Approx(3000.0));
  CHECK(out1[1].item<double>() == 0.0);
  CHECK(out1[2].item<double>() == 0.0);
  auto out2 = leaky.step(0.001, J, s);  // v = 2.5, -1.5, -0.05: 2 spikes, one negative, none
  CHECK(out2[0].item<double>() == Approx(2000.0));
  CHECK(out2[1].item<double>() == Approx(-1000.0));
  CHECK(out2[2].item<double>() == 0.0);
  CHECK(s.at("voltage")[0].item<double>() == Approx(0.5).margin(1e-12));
  CHECK(s.at("voltage")[1].item<double>() == Approx(-0.5).margin(1e-12));
  CHECK(s.at("voltage")[2].item<double>() == Approx(-0.05).margin(1e-12));
  // Over a second the spike count is the rate (within the one spike still in the voltage).
  snn::NeuronState run{{"voltage", d({0.0, 0.0})}};
  const auto J2 = d({37.3, -411.0});
  auto total = torch::zeros(2, torch::kFloat64);
  for (int k = 0; k < 1000; ++k) total += leaky.step(0.001, J2, run) * 0.001;
  auto rate = leaky.rates(J2);
  CHECK(rate[1].item<double>() == Approx(-102.75));
  CHECK(total[0].item<double>() == Approx(rate[0].item<double>()).margin(1.0));
  CHECK(total[1].item<double>() == Approx(rate[1].item<double>()).margin(1.0));
}

TEST_CASE("LeakyReLU types in spec form", "[neurons][spec]") {
  auto t = snn::neuron_type_from_json(
      nlohmann::json{{"type", "SpikingLeakyReLU"}, {"negative_slope", 0.1}, {"amplitude", 0.5}});
  CHECK(t->spiking());
  CHECK(t->to_json() ==
        nlohmann::json{{"type", "SpikingLeakyReLU"}, {"negative_slope", 0.1}, {"amplitude", 0.5}});
  CHECK(snn::neuron_type_from_json(nlohmann::json("LeakyReLU"))->to_json() ==
        nlohmann::json{{"type", "LeakyReLU"}, {"negative_slope", 0.3}, {"amplitude", 1.0}});
  CHECK_THROWS_WITH(
      snn::neuron_type_from_json(nlohmann::json{{"type", "LeakyReLU"}, {"alpha", 0.1}}, "/nt"),
      Catch::Matchers::Contains("/nt") && Catch::Matchers::Contains("unknown parameter \"alpha\"") &&
          Catch::Matchers::Contains("negative_slope"));
  // The rate twin keeps slope and amplitude.
  auto twin = t->rate_twin(0.0);
  CHECK(twin->to_json() ==
        nlohmann::json{{"type", "LeakyReLU"}, {"negative_slope", 0.1}, {"amplitude", 0.5}});
}

TEST_CASE("SoftLIFRate approaches LIFRate as sigma shrinks and is smooth", "[neurons]") {
  snn::LIFRate lif;
  snn::SoftLIFRate soft(snn::SoftLIFRateOptions().sigma(0.001));
  auto J = d({1.5, 2.0, 5.0, 0.5});
  CHECK(torch::allclose(soft.rates(J), lif.rates(J), 1e-3, 0.5));
  // Gradient check by central finite differences (double precision).
  snn::SoftLIFRate s1(snn::SoftLIFRateOptions().sigma(1.0));
  auto x = d({0.3, 1.0, 1.7, 4.0, -30.0}).requires_grad_(true);
  auto r = s1.rates(x);
  auto g = torch::autograd::grad({r.sum()}, {x})[0];
  const double h = 1e-6;
  auto fd = (s1.rates(x.detach() + h) - s1.rates(x.detach() - h)) / (2 * h);
  CHECK(torch::allclose(g, fd, 1e-5, 1e-6));
  CHECK(torch::isfinite(g).all().item<bool>());
}

TEST_CASE("Sigmoid and Tanh rates", "[neurons]") {
  snn::Sigmoid sig;
  snn::Tanh tanh_;
  auto J = d({0.0, 1.0});
  CHECK(sig.rates(J)[0].item<double>() == Approx(0.5 / 0.0025));
  CHECK(sig.rates(J)[1].item<double>() == Approx(1.0 / (1.0 + std::exp(-1.0)) / 0.0025));
  CHECK(tanh_.rates(J)[1].item<double>() == Approx(std::tanh(1.0) / 0.0025));
}

TEST_CASE("rate twins for training", "[neurons]") {
  auto lif = std::make_shared<snn::LIF>();
  CHECK(lif->rate_twin(0.0)->type() == "LIFRate");
  CHECK(lif->rate_twin(0.05)->type() == "SoftLIFRate");
  auto relu = std::make_shared<snn::SpikingRectifiedLinear>();
  CHECK(relu->rate_twin(0.0)->type() == "RectifiedLinear");
  auto rate = std::make_shared<snn::Sigmoid>();
  CHECK(rate->rate_twin(0.0).get() == rate.get());
}

TEST_CASE("AdaptiveLIFRate adapts towards inc_n * rate", "[neurons]") {
  snn::AdaptiveLIFRate alif(snn::AdaptiveLIFOptions().tau_n(0.1).inc_n(0.05));
  snn::NeuronState s{{"adaptation", d({0.0})}};
  const double dt = 0.001;
  // First step: rate of J, then n = (dt/tau_n) inc_n r.
  auto r0 = alif.step(dt, d({3.0}), s);
  CHECK(r0[0].item<double>() == Approx(snn::LIFRate().rates(d({3.0}))[0].item<double>()));
  CHECK(s.at("adaptation")[0].item<double>() == Approx(0.01 * 0.05 * r0[0].item<double>()));
  // Adaptation lowers the rate over time.
  torch::Tensor r;
  for (int k = 0; k < 2000; ++k) r = alif.step(dt, d({3.0}), s);
  CHECK(r[0].item<double>() < r0[0].item<double>());
  // At steady state n = inc_n r.
  CHECK(s.at("adaptation")[0].item<double>() == Approx(0.05 * r[0].item<double>()).epsilon(1e-6));
}

TEST_CASE("Izhikevich regular spiking fires at a plausible rate and resets", "[neurons]") {
  snn::Izhikevich izh;
  auto r = izh.rates(d({0.0, 10.0}));
  // 0 and 20 Hz: a numpy re-run of the same update equations (Nengo's rates() procedure).
  CHECK(r[0].item<double>() == 0.0);
  CHECK(r[1].item<double>() == Approx(20.0));
  snn::NeuronState s{{"voltage", d({29.9})}, {"recovery", d({0.0})}};
  auto out = izh.step(0.001, d({10.0}), s);
  CHECK(out[0].item<double>() == Approx(1000.0));
  CHECK(s.at("voltage")[0].item<double>() == Approx(-65.0));
}
