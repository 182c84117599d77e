// The layered executor (feed-forward networks computed for all steps at once) must give the
// step loop's numbers exactly: same delays, same neuron state, across several calls.
#include <torch/types.h>

#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "snn/network.h"
#include "snn/simulator.h"

namespace {

/// A feed-forward network with every feature the layered path handles: data and
/// time-only nodes, node functions of x, slices, decoded and neuron connections, synapses
/// of every step kind, stateful (LIF, AdaptiveLIF) and stateless neurons in one level,
/// probes with synapses, sample_every and state attributes.
snn::NetworkPtr feature_net() {
  auto n = std::make_shared<snn::Network>(snn::NetworkOptions().seed(3));
  auto in = n->node(snn::NodeOptions().id("in").size_out(2));
  auto sine = n->node(snn::NodeOptions().id("sine").output(snn::Function::of_t([](double t) {
    return std::vector<double>{std::sin(20 * t)};
  })));
  auto sq = n->node(snn::NodeOptions().id("sq").size_in(1).output(
      snn::Function::of_x([](const std::vector<double>& x) { return std::vector<double>{x[0] * x[0]}; })));
  auto a = n->ensemble(snn::EnsembleOptions(30, 2).id("a"));
  auto b = n->ensemble(snn::EnsembleOptions(20, 1).id("b").neuron_type(
      std::make_shared<snn::LIFRate>()));
  auto c = n->ensemble(snn::EnsembleOptions(10, 1).id("c").neuron_type(
      std::make_shared<snn::AdaptiveLIF>()));
  auto out = n->node(snn::NodeOptions().id("out").size_in(2));
  n->connect(in, a, snn::ConnectionOptions().synapse(nullptr));
  n->connect(sine, b, snn::ConnectionOptions().synapse(std::make_shared<snn::Alpha>(0.004)));
  n->connect((*in)[snn::Slice::indices({1})], sq, snn::ConnectionOptions().synapse(nullptr));
  n->connect(sq, c, snn::ConnectionOptions().synapse(0.002));
  n->connect((*a)[snn::Slice::indices({0})], (*out)[snn::Slice::indices({1})],
             snn::ConnectionOptions().synapse(0.005));
  n->connect(b, (*out)[snn::Slice::indices({0})],
             snn::ConnectionOptions().function(snn::Function::of_x([](const std::vector<double>& x) {
               return std::vector<double>{x[0] * 0.5};
             })));
  n->connect(c->neurons(), (*out)[snn::Slice::indices({0})],
             snn::ConnectionOptions().transform(torch::full({1, 10}, 1e-3, torch::kFloat64)).synapse(nullptr));
  n->probe(out, snn::ProbeOptions().id("p_out"));
  n->probe(out, snn::ProbeOptions().id("p_out_f").synapse(0.01).sample_every(0.003));
  n->probe(a, snn::ProbeOptions().id("p_a").synapse(0.01));
  n->probe(a->neurons(), snn::ProbeOptions().id("p_v").attr("voltage"));
  n->probe(c->neurons(), snn::ProbeOptions().id("p_adapt").attr("adaptation"));
  n->probe(b->neurons(), snn::ProbeOptions().id("p_b_in").attr("input"));
  return n;
}

}  // namespace

TEST_CASE("the layered executor reproduces the step loop", "[runtime][layered]") {
  auto net = feature_net();
  auto opts = snn::SimulatorOptions().dtype(torch::kFloat64).minibatch_size(2).progress_bar(false);
  snn::Simulator layered(net, snn::SimulatorOptions(opts).layered(true));
  snn::Simulator steps(net, snn::SimulatorOptions(opts).layered(false));
  torch::manual_seed(0);
  // Time-varying data for one call, constant (batch, size) data for the next.
  auto x1 = torch::rand({2, 40, 2}, torch::kFloat64);
  auto x2 = torch::rand({2, 2}, torch::kFloat64);
  for (auto* sim : {&layered, &steps}) {
    sim->run_steps(40, {{"in", x1}});
    sim->run_steps(33, {{"in", x2}});
  }
  for (const char* p : {"p_out", "p_out_f", "p_a", "p_v", "p_adapt", "p_b_in"}) {
    INFO(p);
    auto a = layered.data(p), b = steps.data(p);
    REQUIRE(a.sizes() == b.sizes());
    CHECK((a - b).abs().max().item<double>() < 1e-12);
    CHECK(a.abs().max().item<double>() > 0);  // the probe saw something
  }
  CHECK(layered.data("p_out_f").size(1) == 24);  // steps 3, 6, ..., 72
  // predict() from the same state agrees too.
  auto pa = layered.predict({{"in", x1}}), pb = steps.predict({{"in", x1}});
  CHECK((pa["p_out"] - pb["p_out"]).abs().max().item<double>() < 1e-12);
}

TEST_CASE("a recurrent network runs step by step with layered enabled", "[runtime][layered]") {
  auto n = std::make_shared<snn::Network>(snn::NetworkOptions().seed(1));
  auto stim = n->node(snn::NodeOptions().id("stim").output(0.5));
  auto ens = n->ensemble(snn::EnsembleOptions(40, 1).id("ens"));
  n->connect(stim, ens, snn::ConnectionOptions().transform(0.1));
  n->connect(ens, ens, snn::ConnectionOptions().synapse(0.1));  // an integrator
  auto p = n->probe(ens, snn::ProbeOptions().synapse(0.01));
  auto opts = snn::SimulatorOptions().dtype(torch::kFloat64).progress_bar(false);
  snn::Simulator a(n, snn::SimulatorOptions(opts).layered(true));
  snn::Simulator b(n, snn::SimulatorOptions(opts).layered(false));
  a.run_steps(300);
  b.run_steps(300);
  CHECK(torch::equal(a.data(p), b.data(p)));
  CHECK(a.data(p)[0][299][0].item<double>() > 0.05);  // it integrated something
}
