// NengoDL's state handling around calls: settings.stateful and settings.keep_history, reset's
// include_trainable / include_probes / include_processes, and fit starting from the current
// state. Each is checked against the same network run the plain way (NengoDL's own tests
// test_keep_history and test_stateful state the expected behaviour).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>

#include <unistd.h>

#include "snn/checkpoint.h"
#include "snn/network.h"
#include "snn/simulator.h"
#include "snn/spec.h"

namespace {

/// A LIF ensemble driven by white noise through a lowpass, probed with and without a synapse:
/// its outputs depend on the neuron state, the synapse state and the process's position.
nlohmann::json noisy_spec(bool stateful = true, bool keep_history = true) {
  auto spec = nlohmann::json::parse(R"({
    "format": "snn-network/1", "seed": 3, "dt": 0.001,
    "settings": {"dtype": "float64"},
    "nodes": [{"id": "noise", "output": {"type": "WhiteNoise", "seed": 5}}],
    "ensembles": [{"id": "a", "n_neurons": 12, "dimensions": 1}],
    "connections": [{"pre": "noise", "post": "a", "synapse": 0.01}],
    "probes": [{"id": "spikes", "target": "a.neurons"},
               {"id": "value", "target": "a", "synapse": 0.02}]})");
  spec["settings"]["stateful"] = stateful;
  spec["settings"]["keep_history"] = keep_history;
  return spec;
}

snn::SimulatorOptions quiet() { return snn::SimulatorOptions().progress_bar(false); }

}  // namespace

TEST_CASE("keep_history false keeps the last sample of each run call", "[simulator][state]") {
  snn::Simulator full(snn::network_from_json(noisy_spec()), quiet());
  snn::Simulator last(snn::network_from_json(noisy_spec(true, false)), quiet());
  full.run_steps(10);
  last.run_steps(10);
  for (const char* p : {"spikes", "value"}) {
    auto all = full.data(p), kept = last.data(p);
    REQUIRE(all.size(1) == 10);
    REQUIRE(kept.size(1) == 1);
    CHECK(torch::equal(kept, all.narrow(1, 9, 1)));
  }
  full.run_steps(7);
  last.run_steps(7);
  auto kept = last.data("value");
  REQUIRE(kept.size(1) == 2);
  CHECK(torch::equal(kept.select(1, 1), full.data("value").select(1, 16)));
  // predict too returns the last sample only.
  auto predicted = last.predict({}, 5);
  CHECK(predicted.at("value").size(1) == 1);
}

TEST_CASE("a probe's own keep_history overrides the setting both ways", "[simulator][state]") {
  auto own = [](bool setting, bool probe) {
    auto spec = noisy_spec(true, setting);
    spec["probes"][1]["keep_history"] = probe;  // "value"; "spikes" follows the setting
    return spec;
  };
  snn::Simulator full(snn::network_from_json(noisy_spec()), quiet());
  full.run_steps(10);
  full.run_steps(7);
  for (bool setting : {true, false}) {
    INFO("settings.keep_history " << setting);
    auto spec = own(setting, !setting);
    snn::Simulator sim(snn::network_from_json(spec), quiet());
    sim.run_steps(10);
    sim.run_steps(7);
    auto history = [](bool keep) { return keep ? int64_t{17} : int64_t{2}; };
    CHECK(sim.data("spikes").size(1) == history(setting));
    CHECK(sim.data("value").size(1) == history(!setting));
    for (const char* p : {"spikes", "value"}) {
      auto got = sim.data(p);
      auto want = got.size(1) == 17 ? full.data(p)
                                    : torch::stack({full.data(p).select(1, 9),
                                                    full.data(p).select(1, 16)}, 1);
      CHECK(torch::equal(got, want));
    }
    CHECK(sim.predict({}, 5).at("value").size(1) == (setting ? 1 : 5));
    // Saved and loaded, the probe keeps its own setting.
    auto saved = snn::network_to_json(*snn::network_from_json(spec));
    CHECK(saved["probes"][1]["keep_history"] == !setting);
    CHECK(saved["probes"][0]["keep_history"].is_null());
  }
  auto bad = noisy_spec();
  bad["probes"][0]["keep_history"] = "no";
  CHECK_THROWS_WITH(snn::network_from_json(bad),
                    Catch::Matchers::Contains("/probes/0/keep_history: expected true or false"));
}

TEST_CASE("stateful false starts every call from the initial state", "[simulator][state]") {
  snn::Simulator plain(snn::network_from_json(noisy_spec()), quiet());
  snn::Simulator stateless(snn::network_from_json(noisy_spec(false)), quiet());
  plain.run_steps(5);
  stateless.run_steps(5);
  CHECK(stateless.n_steps() == 0);
  stateless.run_steps(5);
  CHECK(stateless.n_steps() == 0);
  auto d = stateless.data("value");
  REQUIRE(d.size(1) == 10);
  // Both calls are the stateful simulator's first five steps.
  CHECK(torch::allclose(d.narrow(1, 0, 5), plain.data("value"), 0, 0));
  CHECK(torch::allclose(d.narrow(1, 5, 5), plain.data("value"), 0, 0));
  plain.run_steps(5);
  CHECK_FALSE(torch::allclose(plain.data("value").narrow(1, 5, 5), plain.data("value").narrow(1, 0, 5)));
}

TEST_CASE("reset options keep trainables, probe data or the processes' position",
          "[simulator][state]") {
  auto spec = noisy_spec();
  snn::Simulator sim(snn::network_from_json(spec), quiet());
  sim.run_steps(20);
  auto twenty = sim.data("value").clone();
  const auto bias_before = sim.data(sim.network().find_ensemble("a")).bias.clone();
  {
    torch::NoGradGuard no_grad;
    for (auto& p : sim.module().named_parameters())
      if (p.key().find("bias") != std::string::npos) p.value().add_(0.5);
  }
  const auto bias_changed = sim.data(sim.network().find_ensemble("a")).bias.clone();
  REQUIRE_FALSE(torch::allclose(bias_changed, bias_before));

  SECTION("include_trainable false keeps the changed parameters") {
    sim.reset(std::nullopt, snn::ResetOptions().include_trainable(false));
    CHECK(torch::equal(sim.data(sim.network().find_ensemble("a")).bias, bias_changed));
    CHECK(sim.n_steps() == 0);
    CHECK(sim.data("value").size(1) == 0);
    sim.reset();
    CHECK(torch::equal(sim.data(sim.network().find_ensemble("a")).bias, bias_before));
  }
  SECTION("include_probes false keeps the recorded data") {
    sim.reset(std::nullopt, snn::ResetOptions().include_probes(false));
    CHECK(torch::equal(sim.data("value"), twenty));
    CHECK(sim.n_steps() == 0);
  }
  SECTION("include_processes false lets the noise go on where it was") {
    // Against one uninterrupted run: the noise of steps 21-30 after the reset, the neurons
    // from their initial state. So the unfiltered input of a pass-through probe of the node
    // is what compares; the rest of the network restarts.
    auto with_input = spec;
    with_input["probes"].push_back({{"id", "in"}, {"target", "noise"}, {"synapse", nullptr}});
    snn::Simulator whole(snn::network_from_json(with_input), quiet());
    whole.run_steps(30);
    snn::Simulator kept(snn::network_from_json(with_input), quiet());
    kept.run_steps(20);
    kept.reset(std::nullopt, snn::ResetOptions().include_processes(false));
    kept.run_steps(10);
    CHECK(kept.n_steps() == 10);
    CHECK(torch::equal(kept.data("in"), whole.data("in").narrow(1, 20, 10)));
    snn::Simulator restarted(snn::network_from_json(with_input), quiet());
    restarted.run_steps(20);
    restarted.reset();
    restarted.run_steps(10);
    CHECK(torch::equal(restarted.data("in"), whole.data("in").narrow(1, 0, 10)));
  }
}

TEST_CASE("fit runs each minibatch from the simulator's current state", "[simulator][state]") {
  // in -> out through a lowpass (trainable 1x1 transform, learning rate 0): fit's loss is that
  // of the current synapse state, as evaluate's, and the state is left alone.
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(1));
  auto in = net->node(snn::NodeOptions().id("in").size_out(1));
  auto out = net->node(snn::NodeOptions().id("out").size_in(1));
  net->connect(in, out, snn::ConnectionOptions().id("w").transform(torch::ones({1, 1})).synapse(0.05));
  net->probe(out, snn::ProbeOptions().id("p").synapse(nullptr));
  snn::Simulator sim(net, quiet().dtype(torch::kFloat64));
  sim.compile(snn::CompileOptions()
                  .optimizer(snn::OptimizerOptions().type("SGD").lr(0.0))
                  .loss("p", snn::LossOptions().type("mse")));
  auto x = torch::zeros({1, 4, 1}, torch::kFloat64);
  auto y = torch::zeros({1, 4, 1}, torch::kFloat64);
  const double fresh = sim.evaluate({{"in", x}}, {{"p", y}}).at("loss");
  CHECK(fresh == 0.0);
  sim.run_steps(50, {{"in", torch::ones({1, 50, 1}, torch::kFloat64)}});
  const double charged = sim.evaluate({{"in", x}}, {{"p", y}}).at("loss");
  CHECK(charged > 0.1);
  auto history = sim.fit({{"in", x}}, {{"p", y}}, snn::FitOptions().progress_bar(false));
  CHECK(history.epochs.at(0).values.at("loss") == Approx(charged).epsilon(1e-12));
  CHECK(sim.n_steps() == 50);
}

namespace {

/// noisy_spec plus a PES-learned connection a -> out (so the learned change and the learning
/// rule's filter state are part of the state too).
nlohmann::json learning_spec() {
  auto spec = noisy_spec();
  spec["nodes"].push_back({{"id", "out"}, {"size_in", 1}});
  spec["connections"].push_back(
      {{"pre", "a"}, {"post", "out"}, {"learning_rule", {{"type", "PES"}, {"learning_rate", 1e-3}}}});
  spec["connections"].push_back({{"pre", "out"}, {"post", {{"learning_rule_of", 1}}}, {"transform", -1}});
  spec["connections"].push_back({{"pre", "noise"}, {"post", {{"learning_rule_of", 1}}}});
  spec["probes"].push_back({{"id", "learned"}, {"target", "out"}});
  return spec;
}

/// A scratch file path, removed at the end of the test.
struct ScratchFile {
  explicit ScratchFile(const std::string& name)
      : path((std::filesystem::temp_directory_path() /
              (name + "_" + std::to_string(::getpid()) + ".pt"))
                 .string()) {}
  ~ScratchFile() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
  std::string path;
};

}  // namespace

TEST_CASE("save_params include_state: a new simulator goes on where the first one stopped",
          "[simulator][state][checkpoint]") {
  ScratchFile with_state("snn_state"), params_only("snn_state_params");
  const auto spec = learning_spec();
  snn::Simulator first(snn::network_from_json(spec), quiet().minibatch_size(2));
  first.run_steps(150);
  first.save_params(with_state.path, snn::SaveParamsOptions().include_state(true));
  first.save_params(params_only.path);
  CHECK(snn::read_checkpoint_info(with_state.path).has_state);
  CHECK_FALSE(snn::read_checkpoint_info(params_only.path).has_state);
  first.run_steps(100);

  snn::Simulator second(snn::network_from_json(spec), quiet().minibatch_size(2));
  second.load_params(with_state.path, snn::LoadParamsOptions().include_state(true));
  CHECK(second.n_steps() == 150);
  CHECK(second.time() == Approx(0.15));
  second.run_steps(100);
  CHECK(second.n_steps() == 250);
  // Neuron voltages, both synapses, the noise's position and PES's learned change all carry
  // over: the 100 steps are the first simulator's steps 151..250, bit for bit.
  for (const char* p : {"spikes", "value", "learned"}) {
    INFO(p);
    REQUIRE(second.data(p).size(1) == 100);
    CHECK(torch::equal(second.data(p), first.data(p).narrow(1, 150, 100)));
  }
  // Without the state, a simulator starts at time 0 (and so runs other values).
  snn::Simulator fresh(snn::network_from_json(spec), quiet().minibatch_size(2));
  fresh.load_params(with_state.path);
  CHECK(fresh.n_steps() == 0);
  fresh.run_steps(100);
  CHECK_FALSE(torch::equal(fresh.data("value"), second.data("value")));
}

TEST_CASE("load_params include_state refuses a state that does not fit, changing nothing",
          "[simulator][state][checkpoint]") {
  using Catch::Matchers::Contains;
  ScratchFile with_state("snn_state_bad"), params_only("snn_state_bad_params");
  const auto spec = learning_spec();
  snn::Simulator first(snn::network_from_json(spec), quiet().minibatch_size(2));
  first.run_steps(30);
  first.save_params(with_state.path, snn::SaveParamsOptions().include_state(true));
  first.save_params(params_only.path);

  // A checkpoint without a state.
  snn::Simulator other(snn::network_from_json(spec), quiet().minibatch_size(2));
  CHECK_THROWS_WITH(other.load_params(params_only.path, snn::LoadParamsOptions().include_state(true)),
                    Contains(params_only.path) && Contains("no simulation state"));
  // Another minibatch size: named, and nothing loaded (parameters included).
  snn::Simulator wider(snn::network_from_json(spec), quiet().minibatch_size(3));
  auto ens = wider.network().find_ensemble("a");
  const auto bias = wider.data(ens).bias.clone();
  wider.run_steps(4);
  CHECK_THROWS_WITH(wider.load_params(with_state.path, snn::LoadParamsOptions().include_state(true)),
                    Contains(with_state.path) && Contains("minibatch size 2") &&
                        Contains("this simulator's is 3"));
  CHECK(wider.n_steps() == 4);
  CHECK(torch::equal(wider.data(ens).bias, bias));
  // The same parameters, but a probe without synapse: its state has no slot for the filter.
  auto unfiltered = spec;
  unfiltered["probes"][1]["synapse"] = nullptr;
  snn::Simulator plain(snn::network_from_json(unfiltered), quiet().minibatch_size(2));
  CHECK_NOTHROW(plain.load_params(with_state.path));
  CHECK_THROWS_WITH(plain.load_params(with_state.path, snn::LoadParamsOptions().include_state(true)),
                    Contains(with_state.path) && Contains("simulation state probe_") &&
                        Contains("not in this simulator"));
  CHECK(plain.n_steps() == 0);
}
