// settings.train_synapses: synapses filter in inference always, and in training only when
// the setting is on. Checked against the Lowpass step response written out here
// (y_k = (1 - a^k) x with a = exp(-dt / tau), one step late), in both executors.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>

#include "runtime/sim_module.h"
#include "snn/network.h"
#include "snn/simulator.h"
#include "snn/spec.h"
#include "snn/synapses.h"

namespace {

constexpr int64_t kT = 6;
constexpr double kDt = 0.001, kTau = 0.01;

/// in (2-d) --Lowpass(tau)--> mid (pass-through); probe "p" on mid unfiltered, probe "q" on
/// mid through another Lowpass(tau).
snn::NetworkPtr chain(bool train_synapses) {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(1));
  net->settings().train_synapses(train_synapses);
  auto in = net->node(snn::NodeOptions().id("in").size_out(2));
  auto mid = net->node(snn::NodeOptions().id("mid").size_in(2));
  net->connect(in, mid, snn::ConnectionOptions().synapse(snn::Lowpass(kTau)));
  net->probe(mid, snn::ProbeOptions().id("p").synapse(nullptr));
  net->probe(mid, snn::ProbeOptions().id("q").synapse(snn::Lowpass(kTau)));
  return net;
}

/// Probe outputs (p, q), each (1, T, 2), of one forward pass from the initial state.
std::vector<torch::Tensor> run(const snn::NetworkPtr& net, bool layered, bool training) {
  snn::Simulator sim(net, snn::SimulatorOptions().dtype(torch::kFloat64).layered(layered));
  auto& m = dynamic_cast<snn::detail::SimModuleImpl&>(sim.module());
  m.train(training);
  auto state = m.initial_state(1);
  auto x = torch::tensor({0.5, -2.0}, torch::kFloat64).reshape({1, 1, 2}).expand({1, kT, 2});
  auto out = m.forward(state, {{"in", x.contiguous()}}, kT);
  m.train(false);
  return out;
}

/// The step response of Lowpass(kTau) to x, seen one step late: row k holds
/// (1 - a^k) x, k = 0 .. T-1. `delays` stacks that many filters (each one step late).
torch::Tensor lowpass_response(int delays) {
  const double a = std::exp(-kDt / kTau);
  auto x = torch::tensor({0.5, -2.0}, torch::kFloat64);
  std::vector<double> y(kT, 1.0);  // unit input
  for (int d = 0; d < delays; ++d) {
    std::vector<double> state(kT, 0.0), out(kT, 0.0);
    double s = 0.0;
    for (int64_t k = 0; k < kT; ++k) {
      out[k] = s;  // one step late: the previous step's filter output
      s = a * s + (1.0 - a) * y[k];
    }
    y = out;
  }
  return torch::tensor(y, torch::kFloat64).unsqueeze(1) * x.unsqueeze(0);
}

}  // namespace

TEST_CASE("synapses filter in inference whatever train_synapses says", "[runtime][synapse]") {
  for (bool layered : {true, false}) {
    for (bool setting : {true, false}) {
      INFO("layered " << layered << ", train_synapses " << setting);
      auto out = run(chain(setting), layered, /*training=*/false);
      CHECK(torch::allclose(out[0][0], lowpass_response(1), 1e-12, 1e-12));
      CHECK(torch::allclose(out[1][0], lowpass_response(2), 1e-12, 1e-12));
    }
  }
}

TEST_CASE("train_synapses true: training filters as inference does", "[runtime][synapse]") {
  for (bool layered : {true, false}) {
    INFO("layered " << layered);
    auto out = run(chain(true), layered, /*training=*/true);
    CHECK(torch::allclose(out[0][0], lowpass_response(1), 1e-12, 1e-12));
    CHECK(torch::allclose(out[1][0], lowpass_response(2), 1e-12, 1e-12));
  }
}

TEST_CASE("train_synapses false: training passes signals through the synapses",
          "[runtime][synapse]") {
  auto x = torch::tensor({0.5, -2.0}, torch::kFloat64).unsqueeze(0).expand({kT, 2});
  SECTION("feed-forward (layered): straight through, from the first step") {
    auto out = run(chain(false), true, /*training=*/true);
    CHECK(torch::allclose(out[0][0], x, 0.0, 1e-15));
    CHECK(torch::allclose(out[1][0], x, 0.0, 1e-15));
  }
  SECTION("step loop: unfiltered, still one step late per synapse") {
    auto out = run(chain(false), false, /*training=*/true);
    auto once = x.clone(), twice = x.clone();
    once[0].zero_();
    twice.narrow(0, 0, 2).zero_();
    CHECK(torch::allclose(out[0][0], once, 0.0, 1e-15));
    CHECK(torch::allclose(out[1][0], twice, 0.0, 1e-15));
  }
}

TEST_CASE("train_synapses in a spec: a boolean, named when it is not", "[runtime][synapse][spec]") {
  auto spec = nlohmann::json::parse(R"({
    "format": "snn-network/1", "settings": {"train_synapses": false},
    "nodes": [{"id": "in", "size_out": 1}, {"id": "mid", "size_in": 1}],
    "connections": [{"pre": "in", "post": "mid", "synapse": 0.01}]
  })");
  CHECK_FALSE(snn::network_from_json(spec)->settings().train_synapses());
  spec["settings"]["train_synapses"] = "no";
  CHECK_THROWS_WITH(snn::network_from_json(spec),
                    Catch::Contains("/settings/train_synapses"));
}
