// Processes (WhiteSignal, WhiteNoise, PresentInput, Piecewise) against Nengo's definitions
// (shared/reference/nengo-semantics.md section 6): spectra and moments, exact values at
// known steps, seeding per minibatch item, ensemble noise, and the spec form.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "snn/errors.h"
#include "snn/network.h"
#include "snn/processes.h"
#include "snn/simulator.h"
#include "snn/spec.h"

namespace {

snn::SimulatorOptions f64(int64_t batch = 1, bool layered = true) {
  return snn::SimulatorOptions().dtype(torch::kFloat64).minibatch_size(batch).layered(layered);
}

std::shared_ptr<snn::WhiteSignal> white_signal(double period, double high, double rms,
                                               std::optional<uint32_t> seed = std::nullopt) {
  return std::make_shared<snn::WhiteSignal>(
      snn::WhiteSignalOptions(period, high).rms(rms).seed(seed));
}

/// A network with one process node `p` probed unfiltered.
std::pair<snn::NetworkPtr, snn::ProbePtr> node_net(snn::ProcessPtr proc, int64_t size_out = -1,
                                                   uint32_t seed = 0) {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(seed));
  auto n = net->node(snn::NodeOptions().id("p").output(std::move(proc)).size_out(size_out));
  auto probe = net->probe(n);
  return {net, probe};
}

std::string error_of(const nlohmann::json& spec) {
  try {
    snn::network_from_json(spec);
  } catch (const snn::SpecError& e) {
    return e.what();
  }
  return "(no error)";
}

nlohmann::json spec_with_node_output(const nlohmann::json& output) {
  return {{"format", "snn-network/1"},
          {"dt", 0.001},
          {"nodes", {{{"id", "p"}, {"output", output}}}},
          {"probes", {{{"id", "pp"}, {"target", "p"}}}}};
}

}  // namespace

TEST_CASE("WhiteSignal has no power above high, zero mean and the requested RMS", "[processes]") {
  const double dt = 0.001, period = 1.0, high = 100.0, rms = 0.3;
  const int64_t size = 20;
  auto ws = white_signal(period, high, rms);
  auto sig = ws->period_signal(size, dt, 5);
  REQUIRE(sig.size(0) == 1000);  // 2 ceil(period / dt / 2)
  // Bin k of a one-period FFT is k / period = k Hz.
  auto power = torch::fft::rfft(sig, c10::nullopt, 0).abs().pow(2);
  const double total = power.sum().item<double>();
  CHECK(power.narrow(0, 101, power.size(0) - 101).sum().item<double>() < 1e-20 * total);
  CHECK(power[0].sum().item<double>() < 1e-20 * total);  // no DC term
  CHECK(power.narrow(0, 1, 100).min().item<double>() > 0.0);  // every bin up to high is used
  // RMS: 100 bins x 20 dims of chi-square power; the relative standard deviation of the mean
  // power is sqrt(2 / (2 * 100 * 20)) = 2.2%, so the RMS is within 1.1% (1 sigma): allow 5%.
  const double got = sig.pow(2).mean().sqrt().item<double>();
  CHECK(got == Approx(rms).epsilon(0.05));
  // The signal repeats: the node reads row k mod 2N at step k.
  auto again = ws->sample(size, dt, 999, 3, 5);
  CHECK(torch::equal(again[0], sig[0]));   // step 1000 -> row 0
  CHECK(torch::equal(again[1], sig[1]));   // step 1001 -> row 1
}

TEST_CASE("WhiteSignal y0 starts each dimension at its sample closest to y0", "[processes]") {
  const double dt = 0.001, y0 = 0.2;
  auto plain = std::make_shared<snn::WhiteSignal>(snn::WhiteSignalOptions(0.5, 10.0));
  auto shifted =
      std::make_shared<snn::WhiteSignal>(snn::WhiteSignalOptions(0.5, 10.0).y0(y0));
  auto base = plain->period_signal(3, dt, 11);
  auto first = shifted->sample(3, dt, 0, 1, 11);  // step 1
  for (int64_t d = 0; d < 3; ++d) {
    const double closest = (base.select(1, d) - y0).abs().min().item<double>();
    CHECK(std::abs(first[0][d].item<double>() - y0) == Approx(closest).margin(1e-15));
  }
}

TEST_CASE("a WhiteSignal node outputs row k at step k, continuing across runs", "[processes]") {
  auto ws = white_signal(0.2, 20.0, 0.5, 9u);
  auto [net, probe] = node_net(ws, 2);
  snn::Simulator sim(net, f64());
  sim.run_steps(150);
  sim.run_steps(250);  // crosses the period (200 steps)
  auto y = sim.data(probe)[0];
  auto sig = ws->period_signal(2, 0.001, 9);
  REQUIRE(y.size(0) == 400);
  for (int64_t k : {1, 2, 150, 151, 199, 200, 201, 400})
    CHECK(torch::allclose(y[k - 1], sig[k % 200], 0, 1e-15));
}

TEST_CASE("process seeds: own seed shared by minibatch items, else one draw per item",
          "[processes]") {
  SECTION("without a seed, items differ; the same network seed repeats the signals") {
    auto [net, probe] = node_net(white_signal(1.0, 10.0, 0.5), 1, 4);
    snn::Simulator a(net, f64(3)), b(net, f64(3));
    a.run_steps(100);
    b.run_steps(100);
    auto ya = a.data(probe), yb = b.data(probe);
    CHECK(torch::equal(ya, yb));
    CHECK((ya[0] - ya[1]).abs().max().item<double>() > 1e-3);
    CHECK((ya[1] - ya[2]).abs().max().item<double>() > 1e-3);
    // reset() replays; reset(seed) redraws (Nengo's simulator seed).
    a.reset();
    a.run_steps(100);
    CHECK(torch::equal(a.data(probe), ya));
    a.reset(12345);
    a.run_steps(100);
    CHECK((a.data(probe) - ya).abs().max().item<double>() > 1e-3);
  }
  SECTION("with a seed, every item sees the same signal, whatever the network seed") {
    auto [n1, p1] = node_net(white_signal(1.0, 10.0, 0.5, 77u), 1, 4);
    auto [n2, p2] = node_net(white_signal(1.0, 10.0, 0.5, 77u), 1, 5);
    snn::Simulator a(n1, f64(2)), b(n2, f64(2));
    a.run_steps(50);
    b.run_steps(50);
    CHECK(torch::equal(a.data(p1)[0], a.data(p1)[1]));
    CHECK(torch::equal(a.data(p1), b.data(p2)));
  }
}

TEST_CASE("WhiteNoise moments, scale by 1/sqrt(dt), and seamless ranges", "[processes]") {
  const double dt = 0.001;
  const int64_t n = 20000, size = 4;  // several blocks of steps
  SECTION("Gaussian(0, 1), unscaled") {
    snn::WhiteNoise wn(snn::WhiteNoiseOptions().scale(false));
    auto x = wn.sample(size, dt, 0, n, 3);
    REQUIRE(x.sizes() == torch::IntArrayRef({n, size}));
    const double N = static_cast<double>(n * size);
    // 5 standard errors: mean 1/sqrt(N), std sqrt(1/(2N)).
    CHECK(std::abs(x.mean().item<double>()) < 5.0 / std::sqrt(N));
    CHECK(std::abs(x.std().item<double>() - 1.0) < 5.0 * std::sqrt(0.5 / N));
    // Consecutive steps are uncorrelated (lag-1 correlation within 5 standard errors).
    auto a = x.narrow(0, 0, n - 1), b = x.narrow(0, 1, n - 1);
    CHECK(std::abs((a * b).mean().item<double>()) < 5.0 / std::sqrt(N));
    // Any range equals the same steps of a longer one.
    auto part = wn.sample(size, dt, 4000, 300, 3);  // straddles a block boundary
    CHECK(torch::equal(part, x.narrow(0, 4000, 300)));
    CHECK(!torch::equal(wn.sample(size, dt, 0, 10, 4), x.narrow(0, 0, 10)));
  }
  SECTION("scale divides by sqrt(dt); the distribution is honoured") {
    snn::WhiteNoise wn(snn::WhiteNoiseOptions().dist(std::make_shared<snn::Gaussian>(2.0, 0.5)));
    auto x = wn.sample(size, dt, 0, n, 8) * std::sqrt(dt);
    const double N = static_cast<double>(n * size);
    CHECK(std::abs(x.mean().item<double>() - 2.0) < 5.0 * 0.5 / std::sqrt(N));
    CHECK(std::abs(x.std().item<double>() - 0.5) < 5.0 * 0.5 * std::sqrt(0.5 / N));
  }
}

TEST_CASE("PresentInput shows each input for presentation_time, cycling", "[processes]") {
  auto pi = std::make_shared<snn::PresentInput>(snn::PresentInputOptions(
      std::vector<std::vector<double>>{{1, 2}, {3, 4}, {5, 6}}, 0.005));
  auto [net, probe] = node_net(pi);
  snn::Simulator sim(net, f64());
  sim.run_steps(12);
  sim.run_steps(8);
  auto y = sim.data(probe)[0];
  // Step k (t = k dt) shows input floor((k - 1) dt / 0.005) mod 3: 5 steps each.
  for (int64_t k = 1; k <= 20; ++k) {
    const int64_t i = ((k - 1) / 5) % 3;
    CHECK(y[k - 1][0].item<double>() == 2.0 * i + 1);
    CHECK(y[k - 1][1].item<double>() == 2.0 * i + 2);
  }
}

TEST_CASE("Piecewise zero and linear interpolation at known steps", "[processes]") {
  SECTION("zero: Nengo's {0.05: 1, 0.1: 0} example") {
    auto pw = std::make_shared<snn::Piecewise>(snn::PiecewiseOptions({{0.05, {1.0}}, {0.1, {0.0}}}));
    auto [net, probe] = node_net(pw);
    snn::Simulator sim(net, f64());
    sim.run_steps(120);
    auto y = sim.data(probe)[0].squeeze(1);
    CHECK(y[48].item<double>() == 0.0);   // step 49, t = 0.049
    CHECK(y[49].item<double>() == 1.0);   // step 50, t = 0.05
    CHECK(y[98].item<double>() == 1.0);   // t = 0.099
    CHECK(y[99].item<double>() == 0.0);   // t = 0.1
    CHECK(y.sum().item<double>() == 50.0);
  }
  SECTION("linear, zero outside [first, last]") {
    snn::Piecewise pw(snn::PiecewiseOptions({{0.0, {0.0, 1.0}}, {0.1, {1.0, 1.0}}, {0.2, {-1.0, 0.0}}})
                          .interpolation("linear"));
    auto y = pw.sample(2, 0.001, 0, 260, 0);
    CHECK(y[29][0].item<double>() == Approx(0.3));    // t = 0.03
    CHECK(y[99][0].item<double>() == Approx(1.0));    // t = 0.1
    CHECK(y[129][0].item<double>() == Approx(0.4));   // t = 0.13: 1 + 0.3 (-1 - 1)
    CHECK(y[129][1].item<double>() == Approx(0.7));
    CHECK(y[199][0].item<double>() == Approx(-1.0));  // t = 0.2
    CHECK(y[249][0].item<double>() == 0.0);           // t = 0.25: outside
  }
}

TEST_CASE("ensemble noise is added to the neuron input current every step", "[processes]") {
  for (bool layered : {true, false}) {
    INFO("layered " << layered);
    auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(1));
    // A constant "noise" (one PresentInput row) shifts each neuron's current by its value.
    auto constant = std::make_shared<snn::PresentInput>(
        snn::PresentInputOptions(std::vector<std::vector<double>>{{0.5, -1.0, 2.0}}, 1.0));
    auto e = net->ensemble(snn::EnsembleOptions(3, 1)
                               .neuron_type(snn::RectifiedLinear())
                               .gain(std::vector<double>{1, 1, 1})
                               .bias(std::vector<double>{1.0, 0.25, -3.0})
                               .noise(constant));
    auto white = std::make_shared<snn::WhiteNoise>(snn::WhiteNoiseOptions().scale(false));
    auto w = net->ensemble(snn::EnsembleOptions(200, 1)
                               .neuron_type(snn::RectifiedLinear())
                               .gain(snn::Init(torch::ones({200}, torch::kFloat64)))
                               .bias(snn::Init(torch::zeros({200}, torch::kFloat64)))
                               .noise(white));
    auto pj = net->probe(e->neurons(), snn::ProbeOptions().attr("input"));
    auto po = net->probe(e->neurons());
    auto pw = net->probe(w->neurons(), snn::ProbeOptions().attr("input"));
    snn::Simulator sim(net, f64(1, layered));
    sim.run_steps(20);
    auto J = sim.data(pj)[0];
    auto expected = torch::tensor({1.5, -0.75, -1.0}, torch::kFloat64);
    for (int64_t k = 0; k < 20; ++k) CHECK(torch::allclose(J[k], expected, 0, 1e-12));
    CHECK(torch::allclose(sim.data(po)[0][5], torch::tensor({1.5, 0.0, 0.0}, torch::kFloat64)));
    // White noise N(0, 1) per neuron and step: 4000 samples.
    auto Jw = sim.data(pw);
    CHECK(std::abs(Jw.mean().item<double>()) < 5.0 / std::sqrt(4000.0));
    CHECK(std::abs(Jw.std().item<double>() - 1.0) < 5.0 * std::sqrt(0.5 / 4000.0));
  }
}

TEST_CASE("the layered and step paths give the same noisy spiking run", "[processes]") {
  auto make = [] {
    auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(2));
    auto stim = net->node(snn::NodeOptions().id("s").output(white_signal(1.0, 5.0, 0.5)));
    auto e = net->ensemble(snn::EnsembleOptions(20, 1).noise(
        std::make_shared<snn::WhiteNoise>(snn::WhiteNoiseOptions().scale(false))));
    net->connect(stim, e);
    return std::make_pair(net, net->probe(e->neurons()));
  };
  auto [n1, p1] = make();
  auto [n2, p2] = make();
  snn::Simulator a(n1, f64(2, true)), b(n2, f64(2, false));
  a.run_steps(100);
  b.run_steps(100);
  CHECK(torch::equal(a.data(p1), b.data(p2)));
  CHECK(a.data(p1).sum().item<double>() > 0);
}

TEST_CASE("processes round-trip through the spec", "[processes]") {
  nlohmann::json spec = {
      {"format", "snn-network/1"},
      {"dt", 0.001},
      {"nodes",
       {{{"id", "ws"}, {"size_out", 2},
         {"output", {{"type", "WhiteSignal"}, {"period", 1}, {"high", 5}, {"rms", 0.3}, {"y0", 0.1},
                     {"seed", 4}}}},
        {{"id", "wn"},
         {"output", {{"type", "WhiteNoise"}, {"dist", {{"type", "Uniform"}, {"low", -1}, {"high", 1}}},
                     {"scale", false}}}},
        {{"id", "pi"},
         {"output", {{"type", "PresentInput"}, {"inputs", {{1, 2}, {3, 4}}}, {"presentation_time", 0.1}}}},
        {{"id", "pw"},
         {"output", {{"type", "Piecewise"}, {"data", {{"0", 1}, {"2", 2}, {"10", 3}}},
                     {"interpolation", "linear"}}}},
        {{"id", "pl"},
         {"output", {{"type", "Piecewise"}, {"data", {{0, {1, 0}}, {0.25, {2, 5}}}}}}}}},
      {"ensembles",
       {{{"id", "e"}, {"n_neurons", 10}, {"dimensions", 1},
         {"noise", {{"type", "WhiteNoise"}, {"seed", 2}}}}}}};
  auto net = snn::network_from_json(spec);
  auto saved = snn::network_to_json(*net);
  const auto& nodes = saved["nodes"];
  CHECK(nodes[0]["output"]["type"] == "WhiteSignal");
  CHECK(nodes[0]["output"]["high"] == 5.0);
  CHECK(nodes[0]["output"]["y0"] == 0.1);
  CHECK(nodes[0]["output"]["seed"] == 4);
  CHECK(nodes[0]["size_out"] == 2);
  CHECK(nodes[1]["output"]["scale"] == false);
  CHECK(nodes[1]["output"]["dist"]["type"] == "Uniform");
  CHECK(nodes[2]["size_out"] == 2);
  // Times sort as numbers, not as the strings of the keys ("10" < "2").
  auto pw = std::dynamic_pointer_cast<const snn::Piecewise>(net->all_nodes()[3]->options().process());
  REQUIRE(pw);
  CHECK(pw->options.data().rbegin()->first == 10.0);
  CHECK(pw->value_at(5.0, 0.001)[0] == Approx(2.0 + 3.0 / 8.0));  // linear between 2 and 10
  CHECK(nodes[4]["size_out"] == 2);
  CHECK(saved["ensembles"][0]["noise"]["type"] == "WhiteNoise");
  CHECK(saved["ensembles"][0]["noise"]["seed"] == 2);
  // Saving what was loaded back gives the same document.
  auto again = snn::network_to_json(*snn::network_from_json(saved));
  CHECK(again == saved);
}

TEST_CASE("bad process parameters name the JSON path", "[processes]") {
  using Catch::Contains;
  nlohmann::json ws = {{"type", "WhiteSignal"}, {"period", 1}, {"high", 0.5}};
  CHECK_THAT(error_of(spec_with_node_output(ws)), Contains("/nodes/0/output/high") &&
                                                      Contains("1/period"));
  ws["high"] = 600;  // above 0.5 / dt
  CHECK_THAT(error_of(spec_with_node_output(ws)), Contains("/nodes/0/output/high") &&
                                                      Contains("Nyquist"));
  ws = {{"type", "WhiteSignal"}, {"period", -1}, {"high", 5}};
  CHECK_THAT(error_of(spec_with_node_output(ws)), Contains("/nodes/0/output/period"));
  nlohmann::json pi = {{"type", "PresentInput"}, {"inputs", {1, 2}}, {"presentation_time", -0.1}};
  CHECK_THAT(error_of(spec_with_node_output(pi)), Contains("/nodes/0/output/presentation_time"));
  nlohmann::json pw = {{"type", "Piecewise"}, {"data", {{0.5, 1}, {0.2, 2}}}};
  CHECK_THAT(error_of(spec_with_node_output(pw)),
             Contains("/nodes/0/output/data/1/0") && Contains("increase"));
  pw = {{"type", "Piecewise"}, {"data", {{"0", 1}, {"x", 2}}}};
  CHECK_THAT(error_of(spec_with_node_output(pw)), Contains("/nodes/0/output/data/x"));
  for (const char* key : {"0x10", " 1", "1e", "inf"}) {  // hex, spaces, half numbers, infinities
    INFO(key);
    pw = {{"type", "Piecewise"}, {"data", {{"0", 1}, {key, 2}}}};
    CHECK_THAT(error_of(spec_with_node_output(pw)), Contains("Piecewise keys are times"));
  }
  pw = {{"type", "Piecewise"}, {"data", {{"0", 1}, {"1.5e-1", 2}, {"+2", 3}}}};
  CHECK(error_of(spec_with_node_output(pw)) == "(no error)");
  pw = {{"type", "Piecewise"}, {"data", {{"0", 1}, {"1", {1, 2}}}}};
  CHECK_THAT(error_of(spec_with_node_output(pw)), Contains("/nodes/0/output/data/1"));
  pw = {{"type", "Piecewise"}, {"data", {{"0", 1}}}, {"interpolation", "cubic"}};
  CHECK_THAT(error_of(spec_with_node_output(pw)), Contains("/nodes/0/output/interpolation"));
  nlohmann::json wn = {{"type", "WhiteNoise"}, {"sigma", 1}};
  CHECK_THAT(error_of(spec_with_node_output(wn)), Contains("/nodes/0/output/sigma"));
  CHECK_THAT(error_of(spec_with_node_output({{"type", "PinkNoise"}})),
             Contains("/nodes/0/output/type"));
  // Noise of a fixed size must have one value per neuron.
  nlohmann::json spec = {{"format", "snn-network/1"},
                         {"ensembles",
                          {{{"id", "e"}, {"n_neurons", 3}, {"dimensions", 1},
                            {"noise", {{"type", "PresentInput"}, {"inputs", {{1, 2}}},
                                       {"presentation_time", 1}}}}}}};
  CHECK_THAT(error_of(spec), Contains("/ensembles/0/noise"));
}

TEST_CASE("bad process parameters in C++", "[processes]") {
  CHECK_THROWS_AS(snn::WhiteSignal(snn::WhiteSignalOptions(1.0, 0.5)), snn::SpecError);
  CHECK_THROWS_AS(snn::PresentInput(snn::PresentInputOptions(torch::ones({2, 2}), 0.0)),
                  snn::SpecError);
  CHECK_THROWS_AS(snn::Piecewise(snn::PiecewiseOptions({})), snn::SpecError);
  CHECK_THROWS_AS(snn::Piecewise(snn::PiecewiseOptions({{0.0, {1.0}}, {1.0, {1.0, 2.0}}})),
                  snn::SpecError);
  // A given size_out must match PresentInput's inputs.
  auto pi = std::make_shared<snn::PresentInput>(snn::PresentInputOptions(torch::ones({2, 3}), 0.1));
  auto net = std::make_shared<snn::Network>();
  CHECK_THROWS_AS(net->node(snn::NodeOptions().output(pi).size_out(2)), snn::SpecError);
  CHECK(net->node(snn::NodeOptions().output(pi))->size_out() == 3);
  // high above the Nyquist frequency of the simulator's dt is a build error naming the node.
  auto [n2, p2] = node_net(white_signal(1.0, 400.0, 0.5));
  CHECK_NOTHROW(snn::Simulator(n2, f64()));
  CHECK_THROWS_WITH(snn::Simulator(n2, f64().dt(0.002)), Catch::Contains("node \"p\""));
}
