// Nengo's step order and delays, checked on tiny networks whose outputs follow by hand.
#include <map>
#include <string>
#include <vector>

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

TEST_CASE("connection probes read Nengo's output and input signals", "[runtime]") {
  // Nengo's numbers (scripts/nengo_golden/connection_probes.py; Nengo 4.1, float64) at steps
  // 1, 2, 6 and 12 of a pinned network: explicit gains, biases, encoders and eval points.
  const std::map<std::string, std::vector<std::vector<double>>> nengo = {
  {"in_output", {{0.0018126622578300848, 0.18126480584360302}, {0.005109225586374194, 0.32965855382083686}, {0.0284258701050397, 0.6984758608217796}, {0.07879925090529905, 0.9074011351477075}}},
  {"in_output_filtered", {{0.0, 0.0}, {0.0, 0.0}, {0.0027936008289934184, 0.1297007826293941}, {0.020832996141523816, 0.4213822585684086}}},
  {"in_input", {{0.009999833334166664, 0.9999755001000417}, {0.01999866669333308, 0.9999020016006565}, {0.059964006479444595, 0.9991181296463767}, {0.11971220728891936, 0.9964740739761474}}},
  {"fn_output", {{0.0}, {0.0}, {-0.44782728038920916}, {-0.8503062906595908}}},
  {"fn_input", {{0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 0.0, 0.0, 1000.0}, {0.0, 0.0, 0.0, 0.0, 0.0, 0.0}}},
  {"neur_output", {{0.0014173198248583797, -0.0008503918949150279, 0.000566927929943352, 0.000283463964971676, -0.0017007837898300557}, {0.003850051950523358, -0.0023100311703140148, 0.0015400207802093433, 0.0007700103901046717, -0.0046200623406280296}, {0.019063538460228877, -0.011438123076137327, 0.007625415384091552, 0.003812707692045776, -0.022876246152274654}, {0.04750525442407222, -0.028503152654443333, 0.01900210176962889, 0.009501050884814444, -0.057006305308886666}}},
  {"b_current", {{0.5, 1.5, -0.4, 0.9, 1.2}, {0.5028346396497168, 1.499149608105085, -0.39829921621016995, 0.9004251959474575, 1.198809451347119}, {0.5294881162611929, 1.491153565121642, -0.38230713024328433, 0.904423217439179, 1.187614991170299}, {1.9460571459838856, 0.7940190690129061, 1.6923713299540082, -0.10782847046609434, 1.640486579375692}}},
  {"w_output", {{0.0, 0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 0.0, 0.0}, {-3.369160466802568, 1.684580233401284, -5.053740700203853, 2.5268703501019263, -1.1792061633808988}, {2.523537666493992, -1.261768833246996, 3.785306499740988, -1.892653249870494, 0.8832381832728974}}},
  {"node_output", {{0.01999966666833333, -0.9999755001000417}, {0.03999733338666616, -0.9999020016006565}, {0.11992801295888919, -0.9991181296463767}, {0.23942441457783872, -0.9964740739761474}}},
  };
  using T = torch::Tensor;
  auto f64t = [](std::vector<double> v, int64_t cols) {
    return torch::tensor(v, torch::kFloat64).reshape({-1, cols});
  };
  auto n = std::make_shared<snn::Network>(snn::NetworkOptions().seed(3));  // as the script
  auto stim = n->node(snn::NodeOptions().id("stim").output(snn::Function::of_t([](double t) {
    return std::vector<double>{std::sin(10 * t), std::cos(7 * t)};
  })));
  std::vector<double> grid;
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) grid.insert(grid.end(), {-1 + 0.5 * i, -1 + 0.5 * j});
  auto a = n->ensemble(
      snn::EnsembleOptions(6, 2)
          .id("a")
          .neuron_type(snn::LIF())
          .gain(std::vector<double>{1.5, 2.0, 1.2, 0.9, 2.5, 1.7})
          .bias(std::vector<double>{1.1, 0.4, 0.8, 1.9, -0.2, 1.3})
          .encoders(f64t({1, 0, 0, 1, -1, 0, 0, -1, 0.6, 0.8, -0.8, 0.6}, 2))
          .eval_points(f64t(grid, 2)));
  auto b = n->ensemble(snn::EnsembleOptions(5, 1)
                           .id("b")
                           .neuron_type(snn::LIFRate())
                           .gain(std::vector<double>{2.0, 1.0, 3.0, 1.5, 0.7})
                           .bias(std::vector<double>{0.5, 1.5, -0.4, 0.9, 1.2})
                           .encoders(f64t({1, -1, 1, -1, 1}, 1))
                           .eval_points(torch::linspace(-1, 1, 9, torch::kFloat64).unsqueeze(1)));
  auto out = n->node(snn::NodeOptions().id("out").size_in(3));
  auto c_in = n->connect(stim, a, snn::ConnectionOptions().synapse(0.005));
  auto c_fn = n->connect(
      a, b,
      snn::ConnectionOptions().synapse(0.01).function(snn::Function::of_x(
          [](const std::vector<double>& x) { return std::vector<double>{x[0] * x[1]}; })));
  auto c_neur = n->connect((*stim)[snn::Slice::indices({0})], b->neurons(),
                           snn::ConnectionOptions().synapse(0.003).transform(
                               f64t({0.5, -0.3, 0.2, 0.1, -0.6}, 1)));
  auto c_w = n->connect(
      a, b,
      snn::ConnectionOptions()
          .synapse(0.004)
          .solver(std::make_shared<snn::LstsqL2>(0.1, true))
          .function(snn::Function::of_x([](const std::vector<double>& x) {
            return std::vector<double>{x[0] - 0.5 * x[1]};
          })));
  auto c_node = n->connect(stim, (*out)[snn::Slice::range(1, std::nullopt)],
                           snn::ConnectionOptions().synapse(nullptr).transform(
                               f64t({2, 0, 0, -1}, 2)));
  auto probe = [&](const snn::ConnectionPtr& c, const std::string& id, const std::string& attr) {
    return n->probe(snn::ObjRef(c), snn::ProbeOptions().id(id).attr(attr));
  };
  probe(c_in, "in_output", "output");
  n->probe(snn::ObjRef(c_in), snn::ProbeOptions().id("in_output_filtered").synapse(0.01));
  probe(c_in, "in_input", "input");
  probe(c_fn, "fn_output", "output");
  probe(c_fn, "fn_input", "input");
  probe(c_neur, "neur_output", "output");
  n->probe(b->neurons(), snn::ProbeOptions().id("b_current").attr("input"));
  probe(c_w, "w_output", "output");
  probe(c_node, "node_output", "output");
  for (bool layered : {true, false}) {
    INFO((layered ? "layered" : "step by step"));
    snn::Simulator sim(n, f64().layered(layered));
    sim.run_steps(12);
    for (const auto& [id, rows] : nengo) {
      INFO(id);
      T got = sim.data(id)[0];
      REQUIRE(got.size(0) == 12);
      REQUIRE(got.size(1) == static_cast<int64_t>(rows[0].size()));
      const int64_t steps[4] = {0, 1, 5, 11};
      for (int r = 0; r < 4; ++r) {
        INFO("step " << steps[r] + 1 << ": " << got[steps[r]]);
        CHECK(torch::allclose(got[steps[r]], torch::tensor(rows[r], torch::kFloat64), 1e-9,
                              1e-9));
      }
    }
  }
  CHECK_THROWS_WITH(n->probe(snn::ObjRef(c_in), snn::ProbeOptions().id("bad").attr("voltage")),
                    Catch::Matchers::Contains("\"bad\"") &&
                        Catch::Matchers::Contains("expected output, input or weights"));
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
