// Solvers with weights=true (Nengo's weight solvers): an ensemble -> ensemble connection whose
// (n_post, n_pre) weights feed the post neurons' input currents. Checked against Nengo's
// definitions computed here from the built parameters: compositional solvers give
// W = scaled_encoders_post[:, slice] @ transform @ decoders, non-negative ones solve for W
// directly (KKT conditions of NNLS), and the network computes what the decoded one does.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

// After LibTorch, whose glog would otherwise own CHECK.
#include <catch2/catch.hpp>

#include "snn/errors.h"
#include "snn/network.h"
#include "snn/neurons.h"
#include "snn/simulator.h"
#include "snn/solvers.h"
#include "snn/spec.h"

using Catch::Matchers::Contains;

namespace {

constexpr auto kF64 = torch::kFloat64;

snn::SimulatorOptions f64() { return snn::SimulatorOptions().dtype(kF64).progress_bar(false); }

/// a (40 LIFRate, 2-D) -> b (50 LIFRate, 3-D) with b's dimensions 0 and 2 receiving
/// transform @ f(a), f(x) = (x0 x1, x0 + x1); a stimulus drives a.
struct Net {
  snn::NetworkPtr net;
  snn::EnsemblePtr a, b;
  snn::ConnectionPtr conn;
  snn::ProbePtr p_b, p_J;

  explicit Net(snn::SolverPtr solver, bool with_transform = true) {
    net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(11));
    auto stim = net->node(snn::NodeOptions().id("stim").output(std::vector<double>{0.4, -0.3}));
    a = net->ensemble(snn::EnsembleOptions(40, 2).id("a").neuron_type(snn::LIFRate()));
    b = net->ensemble(snn::EnsembleOptions(50, 3).id("b").neuron_type(snn::LIFRate()));
    net->connect(stim, a, snn::ConnectionOptions().synapse(snn::SynapsePtr()));
    auto o = snn::ConnectionOptions()
                 .id("ab")
                 .function(snn::Function([](double, const std::vector<double>& x) {
                   return std::vector<double>{x[0] * x[1], x[0] + x[1]};
                 }))
                 .solver(std::move(solver))
                 .synapse(0.01);
    if (with_transform)
      o.transform(snn::Init(torch::tensor({{0.5, -1.0}, {2.0, 0.25}}, kF64)));
    conn = net->connect(a, (*b)[snn::Slice::indices({0, 2})], o);
    p_b = net->probe(b, snn::ProbeOptions().id("p_b").synapse(0.02));
    p_J = net->probe(b->neurons(), snn::ProbeOptions().id("p_J").attr("input"));
  }
};

/// The post's scaled encoders of dimensions 0 and 2, (50, 2).
torch::Tensor post_encoders(const snn::Simulator& sim, const snn::EnsemblePtr& b) {
  return sim.data(b).scaled_encoders.to(kF64).index_select(1, torch::tensor({0, 2}));
}

}  // namespace

TEST_CASE("LstsqL2 with weights=true composes encoders, transform and decoders",
          "[solvers][weights]") {
  Net plain(std::make_shared<snn::LstsqL2>(0.1, false));
  Net full(std::make_shared<snn::LstsqL2>(0.1, true));
  snn::Simulator sim_plain(plain.net, f64()), sim_full(full.net, f64());
  auto T = torch::tensor({{0.5, -1.0}, {2.0, 0.25}}, kF64);
  auto D = sim_plain.data(plain.conn).decoders.to(kF64);  // (2, 40)
  auto W = sim_full.data(full.conn).weights.to(kF64);
  REQUIRE(W.sizes() == torch::IntArrayRef({50, 40}));
  auto expect = torch::mm(post_encoders(sim_full, full.b), torch::mm(T, D));
  CHECK(torch::allclose(W, expect, 1e-12, 1e-12));

  // Neuron currents and the decoded value are what the decoded connection gives (the
  // synapse is linear, so filtering before or after the encoders is the same).
  sim_plain.run_steps(150);
  sim_full.run_steps(150);
  CHECK(torch::allclose(sim_full.data(full.p_J), sim_plain.data(plain.p_J), 1e-9, 1e-9));
  CHECK(torch::allclose(sim_full.data(full.p_b), sim_plain.data(plain.p_b), 1e-9, 1e-9));
  // And that value is transform @ f(x) on the sliced dimensions (NEF accuracy).
  auto y = sim_full.data(full.p_b)[0][149];
  const double f0 = 0.4 * -0.3, f1 = 0.4 - 0.3;
  CHECK(y[0].item<double>() == Approx(0.5 * f0 - 1.0 * f1).margin(0.08));
  CHECK(y[2].item<double>() == Approx(2.0 * f0 + 0.25 * f1).margin(0.08));
  CHECK(std::abs(y[1].item<double>()) < 0.05);
}

TEST_CASE("Nnls with weights=true solves the non-negative weights directly",
          "[solvers][weights]") {
  Net n(std::make_shared<snn::Nnls>(std::nullopt, false, true), /*with_transform=*/false);
  snn::Simulator sim(n.net, f64());
  auto W = sim.data(n.conn).weights.to(kF64);  // (50, 40)
  REQUIRE(W.sizes() == torch::IntArrayRef({50, 40}));
  CHECK(W.min().item<double>() >= 0.0);

  // The LIFRate activities of a on the connection's eval points (Nengo's rate formula),
  // and the targets mapped through the post encoders: Y' = f(x) @ E^T.
  auto ad = sim.data(n.a);
  auto x = sim.data(n.conn).eval_points.to(kF64);
  auto J = torch::mm(x, ad.encoders.to(kF64).t()) * ad.gain.to(kF64) + ad.bias.to(kF64);
  const double tau_rc = 0.02, tau_ref = 0.002;
  auto jm = torch::clamp_min(J - 1.0, 0.0);
  auto rates = torch::where(J > 1.0, 1.0 / (tau_ref + tau_rc * torch::log1p(1.0 / jm)),
                            torch::zeros_like(J));
  auto f = torch::stack({x.select(1, 0) * x.select(1, 1), x.select(1, 0) + x.select(1, 1)}, 1);
  auto Y = torch::mm(f, post_encoders(sim, n.b).t());  // (m, 50)
  // KKT of min |A w - y|, w >= 0, for a few post neurons (columns).
  for (int64_t j : {0, 17, 49}) {
    INFO("post neuron " << j);
    auto w = W[j], yj = Y.select(1, j);
    auto g = torch::mv(rates.t(), torch::mv(rates, w) - yj);
    const double scale = torch::mv(rates.t(), yj).abs().max().item<double>();
    CHECK(g.min().item<double>() >= -1e-6 * scale);
    auto active = w > 0;
    if (active.any().item<bool>())
      CHECK(g.masked_select(active).abs().max().item<double>() <= 1e-6 * scale);
  }
}

TEST_CASE("NoSolver with weights=true uses its values as the weights", "[solvers][weights]") {
  torch::manual_seed(3);
  auto values = torch::randn({40, 50}, kF64) * 1e-3;  // (n_pre, n_post)
  Net n(std::make_shared<snn::NoSolver>(values, true), false);
  snn::Simulator sim(n.net, f64());
  CHECK(torch::equal(sim.data(n.conn).weights.to(kF64), values.t()));
  // freeze_params keeps trained weights in that form: a new simulator has them.
  sim.freeze_params(n.conn);
  snn::Simulator again(n.net, f64());
  CHECK(torch::allclose(again.data(n.conn).weights.to(kF64), values.t(), 0, 1e-15));
}

TEST_CASE("weights=true from JSON, and its probe of the weights", "[solvers][weights][spec]") {
  auto spec = nlohmann::json::parse(R"({
    "format": "snn-network/1", "seed": 2,
    "nodes": [{"id": "stim", "output": 0.5}],
    "ensembles": [{"id": "a", "n_neurons": 20, "dimensions": 1},
                  {"id": "b", "n_neurons": 30, "dimensions": 1}],
    "connections": [{"pre": "stim", "post": "a"},
                    {"pre": "a", "post": "b", "solver": {"type": "LstsqL2", "weights": true}}],
    "probes": [{"id": "w", "target": {"connection": 1}, "attr": "weights"},
               {"id": "out", "target": "b", "synapse": 0.02}]})");
  auto net = snn::network_from_json(spec);
  auto again = snn::network_from_json(snn::network_to_json(*net));
  snn::Simulator sim(net, f64()), sim2(again, f64());
  sim.run_steps(300);
  sim2.run_steps(300);
  auto w = sim.data("w");
  CHECK(w.sizes() == torch::IntArrayRef({1, 300, 30 * 20}));
  CHECK(torch::equal(w, sim2.data("w")));
  // LIF neurons with weights carry the value across.
  CHECK(sim.data("out")[0][299][0].item<double>() == Approx(0.5).margin(0.1));
}

TEST_CASE("weights=true is refused where Nengo refuses it", "[solvers][weights]") {
  auto net = std::make_shared<snn::Network>();
  auto stim = net->node(snn::NodeOptions().id("stim").output(0.5));
  auto a = net->ensemble(snn::EnsembleOptions(10, 1).id("a"));
  auto b = net->ensemble(snn::EnsembleOptions(10, 1).id("b"));
  auto weights = snn::ConnectionOptions().solver(std::make_shared<snn::LstsqL2>(0.1, true));
  CHECK_THROWS_WITH(net->connect(stim, b, weights),
                    Contains("needs an ensemble as pre and as post") && Contains("stim"));
  CHECK_THROWS_WITH(net->connect(a, b->neurons(),
                                 snn::ConnectionOptions()
                                     .solver(std::make_shared<snn::LstsqL2>(0.1, true))
                                     .transform(snn::Init(torch::ones({10, 1}, kF64)))),
                    Contains("needs an ensemble as pre and as post"));
  auto spec = nlohmann::json::parse(R"({
    "format": "snn-network/1",
    "nodes": [{"id": "stim", "output": 0.5}],
    "ensembles": [{"id": "b", "n_neurons": 10, "dimensions": 1}],
    "connections": [{"pre": "stim", "post": "b", "solver": {"type": "LstsqL2", "weights": true}}]})");
  CHECK_THROWS_WITH(snn::network_from_json(spec),
                    Contains("/connections/0") && Contains("weights=true"));
}
