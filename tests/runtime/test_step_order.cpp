// Nengo's step order and delays, checked on tiny networks whose outputs follow by hand.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "snn/network.h"
#include "snn/simulator.h"


namespace {
snn::NetworkPtr net() { return std::make_shared<snn::Network>(snn::NetworkOptions().seed(0)); }
snn::SimulatorOptions f64() { return snn::SimulatorOptions().dtype(torch::kFloat64); }
}  // namespace

TEST_CASE("time starts at dt and synapse-free chains land in the same step", "[runtime]") {
  auto n = net();
  auto t = n->node(snn::NodeOptions().id("t").output(snn::Function::of_t([](double t) {
    return std::vector<double>{t};
  })));
  auto a = n->node(snn::NodeOptions().id("a").size_in(1));
  auto b = n->node(snn::NodeOptions().id("b").size_in(1));
  n->connect(t, a, snn::ConnectionOptions().synapse(nullptr));
  n->connect(a, b, snn::ConnectionOptions().synapse(nullptr).transform(2.0));
  auto pt = n->probe(t), pb = n->probe(b);
  snn::Simulator sim(n, f64());
  sim.run_steps(5);
  auto tr = sim.trange();
  REQUIRE(tr.size(0) == 5);
  CHECK(tr[0].item<double>() == Approx(0.001));
  CHECK(torch::allclose(sim.data(pt)[0].squeeze(1), tr));
  CHECK(torch::allclose(sim.data(pb)[0].squeeze(1), 2 * tr));
}

TEST_CASE("a synapse delays by one step and filters exactly", "[runtime]") {
  auto n = net();
  auto one = n->node(snn::NodeOptions().id("one").output(1.0));
  auto post = n->node(snn::NodeOptions().id("post").size_in(1));
  n->connect(one, post, snn::ConnectionOptions().synapse(0.01));
  auto p_conn = n->probe(post);
  auto p_probe = n->probe(one, snn::ProbeOptions().synapse(0.01));
  auto p_both = n->probe(post, snn::ProbeOptions().synapse(0.01));
  snn::Simulator sim(n, f64());
  sim.run_steps(50);
  const double a = std::exp(-0.001 / 0.01);
  auto y = sim.data(p_conn)[0].squeeze(1);
  CHECK(y[0].item<double>() == 0.0);
  for (int k = 1; k <= 50; ++k)  // step k sees the filter output of step k-1: 1 - a^(k-1)
    CHECK(y[k - 1].item<double>() == Approx(1.0 - std::pow(a, k - 1)).margin(1e-12));
  CHECK(torch::allclose(sim.data(p_probe), sim.data(p_conn), 0, 1e-12));
  // Two synapses in a row: the first two samples are zero (Nengo's test_combined_delay).
  auto both = sim.data(p_both)[0].squeeze(1);
  CHECK(both[0].item<double>() == 0.0);
  CHECK(both[1].item<double>() == 0.0);
  CHECK(both[2].item<double>() > 0.0);
}

TEST_CASE("a recurrent loop through a pure delay counts steps", "[runtime]") {
  auto n = net();
  auto one = n->node(snn::NodeOptions().id("one").output(1.0));
  auto acc = n->node(snn::NodeOptions().id("acc").size_in(1));
  n->connect(one, acc, snn::ConnectionOptions().synapse(nullptr));
  n->connect(acc, acc, snn::ConnectionOptions().synapse(0.0));  // Lowpass(0): one-step delay
  auto p = n->probe(acc);
  snn::Simulator sim(n, f64());
  sim.run_steps(10);
  auto y = sim.data(p)[0].squeeze(1);
  for (int k = 1; k <= 10; ++k) CHECK(y[k - 1].item<double>() == Approx(k));
}

TEST_CASE("sample_every records steps where n % period < 1", "[runtime]") {
  auto n = net();
  auto t = n->node(snn::NodeOptions().id("t").output(snn::Function::of_t([](double t) {
    return std::vector<double>{t};
  })));
  auto p = n->probe(t, snn::ProbeOptions().sample_every(0.005));
  snn::Simulator sim(n, f64());
  sim.run_steps(20);
  auto y = sim.data(p)[0].squeeze(1);
  REQUIRE(y.size(0) == 4);
  CHECK(y[0].item<double>() == Approx(0.005));
  CHECK(torch::allclose(sim.trange(0.005), y));
}

TEST_CASE("runs append, reset clears, predict leaves the state alone", "[runtime]") {
  auto n = net();
  auto one = n->node(snn::NodeOptions().id("one").output(1.0));
  auto post = n->node(snn::NodeOptions().id("post").size_in(1));
  n->connect(one, post, snn::ConnectionOptions().synapse(0.01));
  auto p = n->probe(post);
  snn::Simulator sim(n, f64());
  sim.run_steps(30);
  auto first = sim.data(p).clone();
  sim.run_steps(20);
  CHECK(sim.data(p).size(1) == 50);
  CHECK(sim.n_steps() == 50);
  CHECK(sim.time() == Approx(0.05));
  auto pred = sim.predict({}, 10);
  CHECK(sim.n_steps() == 50);
  // predict continues from the current state: step 51 sees 1 - a^50.
  CHECK(pred.at(p->id())[0][0][0].item<double>() ==
        Approx(1.0 - std::pow(std::exp(-0.1), 50)).margin(1e-12));
  sim.reset();
  CHECK(sim.n_steps() == 0);
  CHECK(sim.data(p).size(1) == 0);
  sim.run_steps(30);
  CHECK(torch::equal(sim.data(p), first));
}

TEST_CASE("minibatch items get their own input data", "[runtime]") {
  auto n = net();
  auto in = n->node(snn::NodeOptions().id("in").size_out(2));
  auto out = n->node(snn::NodeOptions().id("out").size_in(2));
  n->connect(in, out, snn::ConnectionOptions().synapse(nullptr).transform(
                          std::vector<std::vector<double>>{{0, 1}, {1, 0}}));
  auto p = n->probe(out);
  snn::Simulator sim(n, f64().minibatch_size(3));
  auto data = torch::arange(3 * 4 * 2, torch::kFloat64).reshape({3, 4, 2});
  sim.run_steps(4, {{"in", data}});
  CHECK(torch::equal(sim.data(p), data.flip(2)));
  // Without data an input node outputs zeros.
  sim.run_steps(1);
  CHECK(sim.data(p).select(1, 4).abs().sum().item<double>() == 0.0);
  // Bad data is a clear error.
  CHECK_THROWS_WITH(sim.run_steps(2, {{"in", torch::zeros({3, 2, 5})}}),
                    Catch::Matchers::Contains("node \"in\"") && Catch::Matchers::Contains("(3, 2, 2)"));
  CHECK_THROWS_WITH(sim.run_steps(2, {{"nope", torch::zeros({3, 2, 2})}}),
                    Catch::Matchers::Contains("no such node"));
}

TEST_CASE("an ensemble represents its input (NEF sanity)", "[runtime]") {
  auto n = net();
  auto stim = n->node(snn::NodeOptions().id("stim").output(0.5));
  auto ens = n->ensemble(snn::EnsembleOptions(100, 1).id("ens"));
  auto sq = n->node(snn::NodeOptions().id("sq").size_in(1));
  n->connect(stim, ens);
  n->connect(ens, sq, snn::ConnectionOptions().function(snn::Function::of_x(
                          [](const std::vector<double>& x) { return std::vector<double>{x[0] * x[0]}; })));
  auto p = n->probe(ens, snn::ProbeOptions().synapse(0.01));
  auto psq = n->probe(sq, snn::ProbeOptions().synapse(0.01));
  snn::Simulator sim(n, f64());
  sim.run(0.5);
  auto tail = sim.data(p)[0].slice(0, 300).mean().item<double>();
  CHECK(tail == Approx(0.5).margin(0.05));
  CHECK(sim.data(psq)[0].slice(0, 300).mean().item<double>() == Approx(0.25).margin(0.05));
  auto ed = sim.data(ens);
  CHECK(ed.gain.size(0) == 100);
  CHECK(torch::allclose(ed.scaled_encoders, ed.encoders * ed.gain.unsqueeze(1)));
  CHECK((ed.max_rates >= 200 - 1e-6).all().item<bool>());
  CHECK((ed.max_rates <= 400 + 1e-6).all().item<bool>());
}

TEST_CASE("the same seed builds the same parameters", "[runtime]") {
  auto make = [] {
    auto n = std::make_shared<snn::Network>(snn::NetworkOptions().seed(42));
    n->ensemble(snn::EnsembleOptions(20, 2).id("e"));
    return n;
  };
  auto n1 = make(), n2 = make();
  snn::Simulator s1(n1), s2(n2);
  auto d1 = s1.data(n1->find_ensemble("e")), d2 = s2.data(n2->find_ensemble("e"));
  CHECK(torch::equal(d1.gain, d2.gain));
  CHECK(torch::equal(d1.encoders, d2.encoders));
  auto n3 = std::make_shared<snn::Network>(snn::NetworkOptions().seed(43));
  n3->ensemble(snn::EnsembleOptions(20, 2).id("e"));
  snn::Simulator s3(n3);
  CHECK_FALSE(torch::equal(d1.gain, s3.data(n3->find_ensemble("e")).gain));
}

TEST_CASE("CUDA matches CPU", "[cuda]") {
  if (!torch::cuda::is_available()) {
    WARN("CUDA not available: skipped");
    return;
  }
  auto n = net();
  auto stim = n->node(snn::NodeOptions().id("stim").output(snn::Function::of_t([](double t) {
    return std::vector<double>{std::sin(6.28 * t)};
  })));
  auto ens = n->ensemble(snn::EnsembleOptions(50, 1).id("ens"));
  n->connect(stim, ens);
  auto p = n->probe(ens, snn::ProbeOptions().synapse(0.01));
  snn::Simulator cpu(n, f64());
  snn::Simulator gpu(n, f64().device(torch::kCUDA));
  cpu.run_steps(200);
  gpu.run_steps(200);
  CHECK(torch::allclose(cpu.data(p), gpu.data(p), 1e-9, 1e-9));
}
