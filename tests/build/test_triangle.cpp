// Nengo's Triangle synapse: its taps in closed form, and a network with it against numbers
// recorded from Nengo 4.1 (nengo.synapses.Triangle on a connection and on a probe).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "snn/errors.h"
#include "snn/simulator.h"
#include "snn/spec.h"
#include "snn/synapses.h"

TEST_CASE("Triangle taps fall linearly from the current input and sum to 1", "[synapses]") {
  auto w = snn::Triangle(0.003).taps(0.001);
  REQUIRE(w.size() == 4);
  const double expected[] = {0.4, 0.3, 0.2, 0.1};
  for (size_t k = 0; k < 4; ++k) CHECK(w[k] == Approx(expected[k]).epsilon(1e-15));
  // t / dt = 2.5 rounds half to even as numpy does (Nengo: n_taps = round(t / dt) + 1 = 3).
  CHECK(snn::Triangle(0.0025).taps(0.001).size() == 3);
  // t = 0 passes the input straight through.
  auto ss = snn::Triangle(0.0).discretize(0.001);
  CHECK(ss.n_states() == 0);
  CHECK(ss.D == 1.0);
  // The state space is the FIR: an impulse comes out as the taps, one per step.
  auto fir = snn::Triangle(0.002).discretize(0.001);
  REQUIRE(fir.n_states() == 2);
  auto x = torch::zeros({2}, torch::kFloat64);
  std::vector<double> y;
  for (int k = 0; k < 4; ++k) {
    const double u = k == 0 ? 1.0 : 0.0;
    y.push_back(torch::dot(fir.C, x).item<double>() + fir.D * u);
    x = torch::mv(fir.A, x) + fir.B * u;
  }
  CHECK(y[0] == Approx(0.5));
  CHECK(y[1] == Approx(1.0 / 3.0));
  CHECK(y[2] == Approx(1.0 / 6.0));
  CHECK(y[3] == Approx(0.0).margin(1e-15));
}

TEST_CASE("Triangle in a network matches Nengo step for step", "[synapses]") {
  auto spec = nlohmann::json::parse(R"({
    "format": "snn-network/1", "dt": 0.001, "settings": {"dtype": "float64"},
    "nodes": [{"id": "u", "output": {"expr": "sin(50*t) + 3*t"}},
              {"id": "mid", "size_in": 1}],
    "connections": [{"pre": "u", "post": "mid", "synapse": {"type": "Triangle", "t": 0.004}}],
    "probes": [{"id": "p_mid", "target": "mid", "synapse": null},
               {"id": "p_u", "target": "u", "synapse": {"type": "Triangle", "t": 0.0025}}]})");
  snn::Simulator sim(snn::network_from_json(spec), snn::SimulatorOptions().progress_bar(false));
  sim.run_steps(12);
  // Nengo 4.1.1: Node(lambda t: np.sin(50*t) + 3*t) -> Node(size_in=1) with
  // synapse=Triangle(0.004), Probe(mid, synapse=None), Probe(u, synapse=Triangle(0.0025)),
  // Simulator(dt=0.001).run_steps(12).
  const double mid[] = {0.0, 0.01765972309022611, 0.04940558402112361, 0.09163078911782291,
                        0.14070385149010295, 0.1929771679625328, 0.24479563628693338,
                        0.2960372357166604, 0.34658138737687894, 0.39630925564895403,
                        0.4451040451976087, 0.49285129289843677};
  const double u[] = {0.0, 0.02648958463533917, 0.0705764314136402, 0.12332673333085539,
                      0.1757862789965351, 0.22783144530454846, 0.2793396448813544,
                      0.33018963249059274, 0.3802618080830324, 0.4294385157344072,
                      0.4776043377239533, 0.5246463830186021};
  auto got_mid = sim.data("p_mid"), got_u = sim.data("p_u");
  REQUIRE(got_mid.size(1) == 12);
  for (int k = 0; k < 12; ++k) {
    CHECK(got_mid[0][k][0].item<double>() == Approx(mid[k]).margin(1e-12));
    CHECK(got_u[0][k][0].item<double>() == Approx(u[k]).margin(1e-12));
  }
}

TEST_CASE("Triangle in specs: round trip and errors", "[synapses]") {
  auto s = snn::synapse_from_json(nlohmann::json::parse(R"({"type": "Triangle", "t": 0.004})"));
  REQUIRE(s);
  CHECK(s->type() == "Triangle");
  CHECK(s->to_json() == nlohmann::json::parse(R"({"type": "Triangle", "t": 0.004})"));
  auto message = [](const char* text) {
    try {
      snn::synapse_from_json(nlohmann::json::parse(text), "/connections/0/synapse");
    } catch (const snn::SpecError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message(R"({"type": "Triangle", "t": -0.01})") ==
        "/connections/0/synapse: Triangle: expected t >= 0, got -0.010000");
  CHECK(message(R"({"type": "Triangle"})") == "/connections/0/synapse: missing \"t\"");
  CHECK(message(R"({"type": "Triangle", "t": 0.01, "tau": 1})") ==
        "/connections/0/synapse: unknown key \"tau\" for Triangle");
  // Too many taps for dt fails the build naming the connection.
  auto spec = nlohmann::json::parse(R"({
    "format": "snn-network/1",
    "nodes": [{"id": "u", "output": 1.0}, {"id": "mid", "size_in": 1}],
    "connections": [{"id": "c", "pre": "u", "post": "mid",
                     "synapse": {"type": "Triangle", "t": 5.0}}]})");
  try {
    snn::Simulator sim(snn::network_from_json(spec), snn::SimulatorOptions().progress_bar(false));
    FAIL("expected a BuildError");
  } catch (const snn::BuildError& e) {
    const std::string what = e.what();
    CHECK_THAT(what, Catch::Matchers::Contains("\"c\"") &&
                         Catch::Matchers::Contains("at most 1001"));
  }
}
