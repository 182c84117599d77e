// NengoDL's freeze_params / get_nengo_params: a trained simulator's values written back into
// the network (or into new objects) rebuild to the same parameters and the same outputs.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "snn/errors.h"
#include "snn/network.h"
#include "snn/simulator.h"
#include "snn/spec.h"
#include "snn/tensor_node.h"

namespace {

using Catch::Matchers::Contains;

/// Every kind of connection freeze_params rewrites: node -> ensemble with a matrix and with
/// a scalar transform, decoded connections with a function, a slice and a transform,
/// neurons -> neurons, and an identity node -> node connection (nothing to train); probes
/// on nodes, on an ensemble's decoded value (filtered) and on spikes.
snn::NetworkPtr trainable_net() {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(12));
  net->settings().lif_smoothing(0.05);
  auto in = net->node(snn::NodeOptions().id("in").size_out(2));
  auto a = net->ensemble(snn::EnsembleOptions(20, 2).id("a").radius(1.5));
  auto b = net->ensemble(snn::EnsembleOptions(15, 1).id("b"));
  auto c = net->ensemble(snn::EnsembleOptions(10, 1).id("c").neuron_type(
      std::make_shared<snn::RectifiedLinear>()));
  auto out = net->node(snn::NodeOptions().id("out").size_in(1));
  auto out2 = net->node(snn::NodeOptions().id("out2").size_in(2));
  auto copy = net->node(snn::NodeOptions().id("copy").size_in(2));
  torch::manual_seed(13);
  net->connect(in, a, snn::ConnectionOptions().id("in_a").synapse(nullptr).transform(
                          torch::eye(2, torch::kFloat64) + 0.2 * torch::randn({2, 2}, torch::kFloat64)));
  net->connect((*in)[snn::Slice::indices({0})], c,
               snn::ConnectionOptions().id("in_c").synapse(nullptr).transform(0.8));
  net->connect(a, b, snn::ConnectionOptions().id("a_b").synapse(0.005).function(snn::expr("x0*x1")));
  net->connect(a->neurons(), b->neurons(),
               snn::ConnectionOptions().id("nn").synapse(0.002).transform(
                   1e-3 * torch::randn({15, 20}, torch::kFloat64)));
  net->connect(b, out, snn::ConnectionOptions().id("b_out").synapse(nullptr));
  net->connect((*a)[snn::Slice::indices({1})], (*out2)[snn::Slice::indices({0})],
               snn::ConnectionOptions().id("a1_out2").synapse(0.003));
  net->connect(c, (*out2)[snn::Slice::indices({1})],
               snn::ConnectionOptions().id("c_out2").synapse(nullptr).transform(-0.5));
  net->connect(in, copy, snn::ConnectionOptions().id("identity").synapse(nullptr));
  net->probe(out, snn::ProbeOptions().id("p"));
  net->probe(out2, snn::ProbeOptions().id("p2"));
  net->probe(b, snn::ProbeOptions().id("p_b").synapse(0.01));
  net->probe(a->neurons(), snn::ProbeOptions().id("p_spikes"));
  net->probe(copy, snn::ProbeOptions().id("p_copy"));
  return net;
}

snn::SimulatorOptions f64(int64_t minibatch = 4) {
  return snn::SimulatorOptions().dtype(torch::kFloat64).minibatch_size(minibatch).progress_bar(
      false);
}

/// Trains every parameter of trainable_net for a few epochs (so each one moved).
void train(snn::Simulator& sim) {
  torch::manual_seed(14);
  auto x = torch::rand({16, 5, 2}, torch::kFloat64) - 0.5;
  auto y = torch::rand({16, 5, 1}, torch::kFloat64) - 0.5;
  auto y2 = torch::rand({16, 5, 2}, torch::kFloat64) - 0.5;
  sim.compile(snn::CompileOptions()
                  .optimizer(snn::OptimizerOptions().lr(0.02))
                  .loss("p", snn::LossOptions())
                  .loss("p2", snn::LossOptions()));
  sim.fit({{"in", x}}, {{"p", y}, {"p2", y2}}, snn::FitOptions().epochs(3).progress_bar(false));
}

std::map<std::string, torch::Tensor> params(snn::Simulator& sim) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : sim.module().named_parameters()) out[p.key()] = p.value().detach().clone();
  return out;
}

torch::Tensor test_inputs() {
  torch::manual_seed(15);
  return torch::rand({4, 60, 2}, torch::kFloat64) * 2 - 1;
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

}  // namespace

TEST_CASE("freeze_params: a new simulator of the frozen network reproduces the trained one",
          "[train][runtime][freeze]") {
  auto net = trainable_net();
  snn::Simulator trained(net, f64());
  const auto built = params(trained);
  train(trained);
  const auto after = params(trained);
  for (const auto& [k, v] : after) {
    INFO(k << " moved in training");
    CHECK(max_diff(v, built.at(k)) > 1e-6);
  }
  trained.freeze_params(net);

  snn::Simulator fresh(net, f64());
  const auto frozen = params(fresh);
  REQUIRE(frozen.size() == after.size());
  for (const auto& [k, v] : after) {
    INFO(k);
    CHECK(max_diff(frozen.at(k), v) < 1e-12);
  }
  const auto x = test_inputs();
  auto want = trained.predict({{"in", x}});
  auto got = fresh.predict({{"in", x}});
  for (const auto& [id, v] : want) {
    INFO("probe " << id);
    CHECK(max_diff(got.at(id), v) < 1e-10);
  }
  CHECK(want.at("p_spikes").sum().item<double>() > 0);  // spikes happened, and matched
  // The frozen ensembles hold the trained scaled encoders and biases with the gain they
  // were built with (training does not change gains, only the scaled encoders).
  snn::Simulator untrained(trainable_net(), f64());
  for (const char* e : {"a", "b", "c"}) {
    auto ens = net->find_ensemble(e);
    auto d_trained = trained.data(ens), d_fresh = fresh.data(ens);
    INFO(e);
    CHECK(max_diff(d_fresh.scaled_encoders, d_trained.scaled_encoders) < 1e-12);
    CHECK(torch::equal(d_fresh.bias, d_trained.bias));
    CHECK(max_diff(d_fresh.gain, untrained.data(untrained.network().find_ensemble(e)).gain) <
          1e-12);
  }
  // And the frozen network is still a spec: saved and loaded, it runs the same again.
  auto reloaded = snn::network_from_json(snn::network_to_json(*net));
  snn::Simulator from_json(reloaded, f64());
  auto again = from_json.predict({{"in", x}});
  for (const auto& [id, v] : want) {
    INFO("probe " << id << " after JSON");
    CHECK(max_diff(again.at(id), v) < 1e-10);
  }
}

TEST_CASE("freeze_params of one ensemble and one connection", "[train][runtime][freeze]") {
  auto net = trainable_net();
  snn::Simulator trained(net, f64());
  train(trained);
  auto a = net->find_ensemble("a");
  auto conn = net->find_connection("in_a");
  trained.freeze_params(a);
  trained.freeze_params(conn);
  snn::Simulator fresh(net, f64());
  const auto t = params(trained), f = params(fresh);
  for (const char* k : {"ensembles.a.bias", "ensembles.a.scaled_encoders",
                        "connections.in_a.weights"}) {
    INFO(k);
    CHECK(max_diff(f.at(k), t.at(k)) < 1e-12);
  }
  // What was not frozen builds as before training.
  snn::Simulator untouched(trainable_net(), f64());
  const auto u = params(untouched);
  CHECK(torch::equal(f.at("ensembles.b.bias"), u.at("ensembles.b.bias")));
  CHECK(torch::equal(f.at("connections.nn.weights"), u.at("connections.nn.weights")));
}

TEST_CASE("get_nengo_params gives NengoDL's kwargs", "[train][runtime][freeze]") {
  auto net = trainable_net();
  snn::Simulator sim(net, f64());
  train(sim);
  const auto p = params(sim);

  auto a = net->find_ensemble("a");
  auto ep = sim.get_nengo_params(a);
  CHECK_FALSE(ep.normalize_encoders());
  CHECK(ep.id() == "a");
  CHECK(ep.radius() == 1.5);
  CHECK(ep.max_rates().is_distribution());  // back at the defaults, unused
  CHECK(ep.intercepts().is_distribution());
  const auto& gain = ep.gain().literal();
  snn::Simulator untrained(trainable_net(), f64());
  // The built gain (what connections into the neurons use), not the live one.
  CHECK(max_diff(gain, untrained.data(untrained.network().find_ensemble("a")).gain) < 1e-12);
  // encoders * gain / radius are the trained scaled encoders; the bias is the trained one.
  auto scaled = ep.encoders().literal() * (gain / 1.5).unsqueeze(1);
  CHECK(max_diff(scaled, p.at("ensembles.a.scaled_encoders")) < 1e-12);
  CHECK(torch::equal(ep.bias().literal(), p.at("ensembles.a.bias")));

  // A decoded connection: NoSolver(W^T), a zeros function of the post's size, identity.
  auto cp = sim.get_nengo_params(net->find_connection("a_b"));
  REQUIRE(cp.solver()->type() == "NoSolver");
  CHECK(cp.transform().empty());
  CHECK(cp.function()(0.0, {0.3, -0.2}) == std::vector<double>{0.0});
  CHECK(cp.synapse() == net->find_connection("a_b")->options().synapse());
  auto W = p.at("connections.a_b.weights");
  CHECK(torch::equal(std::dynamic_pointer_cast<const snn::NoSolver>(cp.solver())->values, W.t()));
  // A node -> ensemble connection: transform W, same shape (a scalar stays a scalar).
  auto ip = sim.get_nengo_params(net->find_connection("in_a"));
  CHECK(torch::equal(ip.transform().literal(), p.at("connections.in_a.weights")));
  auto sp = sim.get_nengo_params(net->find_connection("in_c"));
  CHECK(sp.transform().literal().dim() == 0);
  CHECK(torch::equal(sp.transform().literal(), p.at("connections.in_c.weights")));
  // Nothing to train, nothing changed.
  auto id = sim.get_nengo_params(net->find_connection("identity"));
  CHECK(id.transform().empty());
  CHECK(id.solver()->type() == "LstsqL2");
}

TEST_CASE("get_nengo_params rebuilds equivalent objects in another network",
          "[train][runtime][freeze]") {
  auto net = trainable_net();
  snn::Simulator sim(net, f64());
  train(sim);
  auto a = net->find_ensemble("a"), b = net->find_ensemble("b");
  auto conn = net->find_connection("a_b");

  // A different network (other seed, other ids, other objects around): the parameters come
  // from the kwargs alone.
  auto other = std::make_shared<snn::Network>(snn::NetworkOptions().seed(99));
  other->node(snn::NodeOptions().id("unrelated").output(1.0));
  auto d = other->ensemble(sim.get_nengo_params(a).id("d"));
  auto e = other->ensemble(sim.get_nengo_params(b).id("e"));
  auto f = other->connect(d, e, sim.get_nengo_params(conn).id("f"));
  snn::Simulator rebuilt(other, f64());
  for (auto [src, dst] : {std::pair{a, d}, std::pair{b, e}}) {
    INFO(src->id() << " -> " << dst->id());
    auto want = sim.data(src), got = rebuilt.data(dst);
    CHECK(max_diff(got.scaled_encoders, want.scaled_encoders) < 1e-12);
    CHECK(torch::equal(got.bias, want.bias));
  }
  CHECK(torch::equal(rebuilt.data(f).weights, sim.data(conn).weights));
}

TEST_CASE("set_options validates and keeps the old options on failure",
          "[train][frontend][freeze]") {
  auto net = trainable_net();
  auto a = net->find_ensemble("a");
  const auto old = a->options();
  CHECK_THROWS_WITH(a->set_options(snn::EnsembleOptions(old).encoders(torch::ones({3, 2}))),
                    Contains("ensemble \"a\"") && Contains("encoders must have shape (20, 2)"));
  CHECK(a->options().encoders().is_distribution());
  CHECK_THROWS_WITH(a->set_options(snn::EnsembleOptions(old).n_neurons(21)),
                    Contains("ensemble \"a\"") && Contains("n_neurons"));
  CHECK_THROWS_WITH(a->set_options(snn::EnsembleOptions(old).id("z")), Contains("id"));
  CHECK_THROWS_WITH(
      a->set_options(snn::EnsembleOptions(old).neuron_type(std::make_shared<snn::LIFRate>())),
      Contains("neuron type"));
  a->set_options(snn::EnsembleOptions(old).id("").bias(torch::zeros({20})).gain(torch::ones({20})));
  CHECK(a->id() == "a");
  CHECK(a->options().bias().literal().size(0) == 20);

  auto c = net->find_connection("in_a");
  CHECK_THROWS_WITH(c->set_options(snn::ConnectionOptions(c->options()).transform(torch::ones({3, 2}))),
                    Contains("connection \"in_a\"") && Contains("(2, 2)"));
  CHECK(c->options().transform().literal().size(0) == 2);
  CHECK(c->size_mid() == 2);
  // A function changes the decoded size; a wrong one is refused and the size kept.
  auto dec = net->find_connection("a_b");
  CHECK_THROWS_WITH(dec->set_options(snn::ConnectionOptions(dec->options()).function(snn::expr("x0, x1"))),
                    Contains("connection \"a_b\""));
  CHECK(dec->size_mid() == 1);

  auto p = net->find_probe("p_b");
  CHECK_THROWS_WITH(p->set_options(snn::ProbeOptions(p->options()).sample_every(-1.0)),
                    Contains("probe \"p_b\""));
  CHECK_FALSE(p->options().sample_every().has_value());
}

TEST_CASE("freeze_params refuses objects of another network", "[train][runtime][freeze]") {
  snn::Simulator sim(trainable_net(), f64());
  auto stranger = trainable_net();
  CHECK_THROWS_WITH(sim.freeze_params(stranger->find_ensemble("a")),
                    Contains("ensemble \"a\"") && Contains("not part of this simulator"));
  CHECK_THROWS_WITH(sim.freeze_params(stranger), Contains("not part of this simulator"));
  CHECK_THROWS_AS(sim.get_nengo_params(snn::ConnectionPtr()), snn::SpecError);
  // Nothing of the stranger changed.
  CHECK(stranger->find_ensemble("a")->options().encoders().is_distribution());
}

TEST_CASE("freeze_params: TensorNode modules start later simulators from the trained values",
          "[train][runtime][freeze]") {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(5));
  auto in = net->node(snn::NodeOptions().id("in").size_out(3));
  auto lin = snn::tensor_node(
      *net, snn::TensorNodeOptions().id("lin").shape_in({3}).module(torch::nn::Linear(3, 2)));
  net->connect(in, lin, snn::ConnectionOptions().synapse(nullptr));
  net->probe(lin, snn::ProbeOptions().id("p"));
  snn::Simulator trained(net, f64());
  const auto built = params(trained);
  torch::manual_seed(21);
  auto x = torch::rand({8, 1, 3}, torch::kFloat64), y = torch::rand({8, 1, 2}, torch::kFloat64);
  trained.compile(snn::CompileOptions().optimizer(snn::OptimizerOptions().lr(0.05)).loss(
      "p", snn::LossOptions()));
  trained.fit({{"in", x}}, {{"p", y}}, snn::FitOptions().epochs(3).progress_bar(false));
  const auto after = params(trained);
  CHECK(max_diff(after.at("nodes.lin.weight"), built.at("nodes.lin.weight")) > 1e-4);

  snn::Simulator before_freeze(net, f64());  // a fresh module: the built values
  CHECK(max_diff(params(before_freeze).at("nodes.lin.weight"), built.at("nodes.lin.weight")) <
        1e-12);
  trained.freeze_params(net);
  snn::Simulator fresh(net, f64());
  for (const char* k : {"nodes.lin.weight", "nodes.lin.bias"}) {
    INFO(k);
    CHECK(max_diff(params(fresh).at(k), after.at(k)) < 1e-12);
  }
  auto want = trained.predict({{"in", x}}), got = fresh.predict({{"in", x}});
  CHECK(max_diff(got.at("p"), want.at("p")) < 1e-12);
  // Training the first simulator further does not reach the frozen copy.
  trained.fit({{"in", x}}, {{"p", y}}, snn::FitOptions().epochs(1).progress_bar(false));
  snn::Simulator later(net, f64());
  CHECK(max_diff(params(later).at("nodes.lin.weight"), after.at("nodes.lin.weight")) < 1e-12);
}
