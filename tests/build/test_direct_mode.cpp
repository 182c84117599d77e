// Direct mode ensembles (Nengo's Direct neuron type): the ensemble passes its input to its
// output in the same step and connections from it compute their functions exactly, as a
// Node's do. Checked against values written out by hand, in both executors.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>

#include "snn/errors.h"
#include "snn/learning_rules.h"
#include "snn/network.h"
#include "snn/simulator.h"
#include "snn/spec.h"

namespace {

constexpr int64_t kSteps = 40;
constexpr double kDt = 0.001;

snn::SimulatorOptions f64(bool layered) {
  return snn::SimulatorOptions().dtype(torch::kFloat64).layered(layered);
}

std::vector<double> u_of(double t) { return {std::sin(40.0 * t), 0.5 + t}; }

}  // namespace

TEST_CASE("a Direct ensemble computes its connection's function exactly, same step",
          "[direct]") {
  for (bool layered : {true, false}) {
    INFO("layered " << layered);
    auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(3));
    auto u = net->node(snn::NodeOptions().id("u").output(snn::Function::of_t(u_of)));
    // 7 "neurons" that never exist: Direct mode keeps only the dimensions.
    auto a = net->ensemble(snn::EnsembleOptions(7, 2).id("a").neuron_type(snn::Direct()));
    auto out = net->node(snn::NodeOptions().id("out").size_in(1));
    net->connect(u, a, snn::ConnectionOptions().synapse(nullptr));
    net->connect(a, out, snn::ConnectionOptions().synapse(nullptr).transform(3.0).function(
                             snn::Function::of_x([](const std::vector<double>& x) {
                               return std::vector<double>{x[0] * x[1]};
                             })));
    auto p_out = net->probe(out);
    auto p_a = net->probe(a);
    auto p_a1 = net->probe((*a)[snn::Slice::indices({1})]);
    snn::Simulator sim(net, f64(layered));
    sim.run_steps(kSteps);
    auto y = sim.data(p_out)[0], ya = sim.data(p_a)[0], ya1 = sim.data(p_a1)[0];
    for (int64_t k = 0; k < kSteps; ++k) {
      const auto x = u_of(static_cast<double>(k + 1) * kDt);
      CHECK(y[k][0].item<double>() == Approx(3.0 * x[0] * x[1]).margin(1e-12));
      CHECK(ya[k][0].item<double>() == Approx(x[0]).margin(1e-12));
      CHECK(ya[k][1].item<double>() == Approx(x[1]).margin(1e-12));
      CHECK(ya1[k][0].item<double>() == Approx(x[1]).margin(1e-12));
    }
  }
}

TEST_CASE("a Direct integrator follows the discretised lowpass recursion", "[direct]") {
  // Nengo's integrator in Direct mode: x <- Lowpass(tau) of (x + tau * u), with u = 1.
  const double tau = 0.05, a = std::exp(-kDt / tau);
  for (bool layered : {true, false}) {
    INFO("layered " << layered);
    auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(1));
    auto u = net->node(snn::NodeOptions().id("u").output(1.0));
    auto x = net->ensemble(snn::EnsembleOptions(50, 1).id("x").neuron_type(snn::Direct()));
    net->connect(u, x, snn::ConnectionOptions().synapse(tau).transform(tau));
    net->connect(x, x, snn::ConnectionOptions().synapse(tau));
    auto p = net->probe(x);
    snn::Simulator sim(net, f64(layered));
    sim.run_steps(kSteps);
    auto y = sim.data(p)[0];
    // Each synapse's state s <- a s + (1 - a) v; x at step k is the sum of the two filter
    // outputs of step k - 1.
    double s_in = 0.0, s_rec = 0.0, xk = 0.0;
    for (int64_t k = 0; k < kSteps; ++k) {
      xk = s_in + s_rec;
      CHECK(y[k][0].item<double>() == Approx(xk).margin(1e-12));
      s_in = a * s_in + (1.0 - a) * tau;
      s_rec = a * s_rec + (1.0 - a) * xk;
    }
    CHECK(xk > 0.03);  // it integrates: about t = 0.04 after 40 steps
  }
}

TEST_CASE("a Direct ensemble has identity encoders, no tuning, nothing to train", "[direct]") {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(2));
  auto u = net->node(snn::NodeOptions().id("u").size_out(3));
  auto a = net->ensemble(snn::EnsembleOptions(10, 3).id("a").neuron_type(snn::Direct()));
  auto b = net->node(snn::NodeOptions().id("b").size_in(3));
  net->connect(u, a, snn::ConnectionOptions().synapse(nullptr));
  auto c = net->connect(a, b, snn::ConnectionOptions().id("c").synapse(nullptr).transform(
                                  torch::eye(3, torch::kFloat64) * 2.0));
  snn::Simulator sim(net, f64(true));
  auto d = sim.data(a);
  CHECK(torch::equal(d.encoders, torch::eye(3, torch::kFloat64)));
  CHECK(!d.gain.defined());
  CHECK(!d.bias.defined());
  CHECK(!d.max_rates.defined());
  CHECK(d.eval_points.size(1) == 3);
  bool ensemble_param = false, connection_param = false;
  for (const auto& p : sim.module().named_parameters()) {
    ensemble_param = ensemble_param || p.key().rfind("ensembles.a.", 0) == 0;
    connection_param = connection_param || p.key() == "connections.c.weights";
  }
  CHECK_FALSE(ensemble_param);
  CHECK(connection_param);
  // get_nengo_params / freeze_params leave a Direct ensemble as it was.
  auto p = sim.get_nengo_params(a);
  CHECK(snn::is_direct(p.neuron_type()));
  CHECK(p.n_neurons() == 10);
  (void)c;
}

TEST_CASE("a Direct ensemble in a spec round-trips and runs", "[direct][spec]") {
  const auto spec = nlohmann::json::parse(R"({
    "format": "snn-network/1", "seed": 0,
    "nodes": [{"id": "u", "output": [0.25, -0.5]}, {"id": "v", "size_in": 1}],
    "ensembles": [{"id": "a", "n_neurons": 1, "dimensions": 2, "neuron_type": {"type": "Direct"}}],
    "connections": [{"pre": "u", "post": "a", "synapse": null},
                    {"pre": "a", "post": "v", "synapse": null, "transform": [[2.0, 4.0]]}],
    "probes": [{"id": "p", "target": "v"}]
  })");
  auto net = snn::network_from_json(spec);
  auto again = snn::network_from_json(snn::network_to_json(*net));
  CHECK(snn::network_to_json(*again)["ensembles"][0]["neuron_type"]["type"] == "Direct");
  snn::Simulator sim(again, f64(true));
  sim.run_steps(3);
  auto y = sim.data(again->find_probe("p"));
  CHECK(torch::allclose(y, torch::full({1, 3, 1}, 2.0 * 0.25 - 4.0 * 0.5, torch::kFloat64)));
}

TEST_CASE("what needs neurons fails on a Direct ensemble, naming the object", "[direct]") {
  auto make = [] {
    auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(0));
    auto u = net->node(snn::NodeOptions().id("u").output(0.5));
    auto a = net->ensemble(snn::EnsembleOptions(20, 1).id("a").neuron_type(snn::Direct()));
    net->connect(u, a);
    return std::make_pair(net, a);
  };
  auto build = [](const snn::NetworkPtr& net) { snn::Simulator sim(net, f64(true)); };
  using Catch::Matchers::Contains;
  SECTION("connecting to its neurons") {
    auto [net, a] = make();
    auto b = net->ensemble(snn::EnsembleOptions(20, 1).id("b"));
    net->connect(a->neurons(), b->neurons(), snn::ConnectionOptions().transform(
                                                 torch::zeros({20, 20}, torch::kFloat64)));
    CHECK_THROWS_WITH(build(net), Contains("a.neurons") && Contains("Direct"));
  }
  SECTION("probing its neurons") {
    auto [net, a] = make();
    net->probe(a->neurons());
    CHECK_THROWS_WITH(build(net), Contains("a.neurons") && Contains("Direct"));
  }
  SECTION("a weight solver from it") {
    auto [net, a] = make();
    auto b = net->ensemble(snn::EnsembleOptions(20, 1).id("b"));
    net->connect(a, b, snn::ConnectionOptions().solver(std::make_shared<snn::LstsqL2>(0.1, true)));
    CHECK_THROWS_WITH(build(net), Contains("Direct") && Contains("weight solver"));
  }
  SECTION("a learning rule on a connection from it") {
    auto [net, a] = make();
    auto b = net->node(snn::NodeOptions().id("b").size_in(1));
    net->connect(a, b, snn::ConnectionOptions().learning_rule(
                           snn::PES::make(snn::PESOptions().learning_rate(1e-4))));
    CHECK_THROWS_WITH(build(net), Contains("PES") && Contains("Direct"));
  }
}
