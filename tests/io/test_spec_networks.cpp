// The spec's `networks` list: library networks made from JSON entries must be the very
// networks the C++ functions make (same seeds, same parts), reachable through their ports,
// saved back as entries, and bad entries must be named.
#include <torch/torch.h>

// After LibTorch, whose glog would otherwise own CHECK.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "snn/errors.h"
#include "snn/networks.h"
#include "snn/simulator.h"
#include "snn/spec.h"

using Catch::Matchers::Contains;
using nlohmann::json;

namespace {

snn::SimulatorOptions quiet() {
  return snn::SimulatorOptions().progress_bar(false).dtype(torch::kFloat64);
}

json spec_with(json networks, json connections, json probes) {
  return {{"format", "snn-network/1"},
          {"seed", 4},
          {"nodes", json::array({{{"id", "stim"}, {"output", {0.5, -0.3}}}})},
          {"networks", std::move(networks)},
          {"connections", std::move(connections)},
          {"probes", std::move(probes)}};
}

json ensemble_array_spec() {
  return spec_with(
      json::array({{{"type", "EnsembleArray"}, {"id", "ea"}, {"n_neurons", 60},
                    {"n_ensembles", 2}, {"neuron_type", {{"type", "LIF"}}}}}),
      json::array({{{"pre", "stim"}, {"post", "ea.input"}}}),
      json::array({{{"id", "p_out"}, {"target", "ea.output"}, {"synapse", 0.01}},
                   {{"id", "p_spikes"}, {"target", "ea.ea_1.neurons"}}}));
}

torch::Tensor run_probe(const snn::NetworkPtr& net, const std::string& probe_id, int64_t steps) {
  snn::Simulator sim(net, quiet());
  sim.run_steps(steps);
  return sim.data(net->find_probe(probe_id));
}

}  // namespace

TEST_CASE("a networks entry builds the same network as the C++ function", "[spec][networks]") {
  auto loaded = snn::network_from_json(ensemble_array_spec());

  // The same network through the C++ API: the entry's parameters, the same seeds.
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(4));
  auto stim = net->node(snn::NodeOptions().id("stim").output(std::vector<double>{0.5, -0.3}));
  auto ea = snn::ensemble_array(*net, snn::EnsembleArrayOptions(60, 2).id("ea"));
  net->connect(stim, ea.input);
  net->probe(ea.output, snn::ProbeOptions().id("p_out").synapse(0.01));
  net->probe(ea.ensembles[1]->neurons(), snn::ProbeOptions().id("p_spikes"));

  for (const char* id : {"p_out", "p_spikes"}) {
    INFO("probe " << id);
    auto a = run_probe(loaded, id, 200), b = run_probe(net, id, 200);
    REQUIRE(a.sizes() == b.sizes());
    CHECK(torch::equal(a, b));
  }
  // And it does what an ensemble array is for: represents the input.
  auto out = run_probe(loaded, "p_out", 300);
  auto tail = out[0].slice(0, 200).mean(0);
  CHECK(std::abs(tail[0].item<double>() - 0.5) < 0.1);
  CHECK(std::abs(tail[1].item<double>() + 0.3) < 0.1);
}

TEST_CASE("a spec with networks saves back as entries and reloads identically",
          "[spec][networks]") {
  auto loaded = snn::network_from_json(ensemble_array_spec());
  const json saved = snn::network_to_json(*loaded);
  REQUIRE(saved.contains("networks"));
  REQUIRE(saved["networks"].size() == 1);
  CHECK(saved["networks"][0]["type"] == "EnsembleArray");
  CHECK(saved["ensembles"].empty());  // the parts are not listed
  CHECK(saved["connections"].size() == 1);
  CHECK(saved["connections"][0]["post"] == "ea.input");
  CHECK(saved["probes"][1]["target"] == "ea.ea_1.neurons");
  auto again = snn::network_from_json(saved);
  CHECK(snn::network_to_json(*again) == saved);
  CHECK(torch::equal(run_probe(loaded, "p_out", 100), run_probe(again, "p_out", 100)));
}

TEST_CASE("library networks from JSON expose their ports", "[spec][networks]") {
  // Basal ganglia picks the largest of three inputs: its output is ~0 there and negative
  // elsewhere (Gurney et al.; the same check as the C++ networks test, through JSON).
  json spec = {{"format", "snn-network/1"},
               {"seed", 1},
               {"nodes", json::array({{{"id", "u"}, {"output", {0.3, 0.8, 0.5}}}})},
               {"networks", json::array({{{"type", "BasalGanglia"}, {"id", "bg"},
                                          {"dimensions", 3}, {"n_neurons_per_ensemble", 50}}})},
               {"connections", json::array({{{"pre", "u"}, {"post", "bg.input"}}})},
               {"probes", json::array({{{"id", "p"}, {"target", "bg.output"}, {"synapse", 0.01}}})}};
  auto net = snn::network_from_json(spec);
  auto out = run_probe(net, "p", 300);
  auto tail = out[0].slice(0, 200).mean(0);
  INFO("basal ganglia output " << tail);
  CHECK(tail.argmax().item<int64_t>() == 1);
  CHECK(tail[1].item<double>() > tail[0].item<double>() + 0.2);
  CHECK(tail[1].item<double>() > tail[2].item<double>() + 0.2);
}

TEST_CASE("bad networks entries are named with their JSON path", "[spec][networks]") {
  auto fails_with = [](json networks, json connections, const std::string& message) {
    INFO(message);
    CHECK_THROWS_WITH(snn::network_from_json(spec_with(std::move(networks),
                                                       std::move(connections), json::array())),
                      Contains(message));
  };
  fails_with(json::array({{{"type", "Bogus"}, {"id", "x"}}}), json::array(),
             "/networks/0/type: unknown network type \"Bogus\"");
  fails_with(json::array({{{"type", "LMU"}, {"id", "x"}, {"units", 4}, {"order", 3},
                           {"input_dimensions", 1}}}),
             json::array(), "/networks/0: missing required key \"theta\"");
  fails_with(json::array({{{"type", "EnsembleArray"}, {"id", "ea"}, {"n_ensembles", 2}}}),
             json::array(), "/networks/0: missing required key \"n_neurons\"");
  fails_with(json::array({{{"type", "Product"}, {"id", "pr"}, {"n_neurons", 10},
                           {"dimensions", 1}, {"radius", 2}}}),
             json::array(), "/networks/0/radius: unknown key \"radius\"");
  fails_with(json::array({{{"type", "EnsembleArray"}, {"id", "ea"}, {"n_neurons", 10},
                           {"n_ensembles", 2}}}),
             json::array({{{"pre", "stim"}, {"post", "ea.inptu"}}}),
             "network \"ea\" has no port \"inptu\" (ports: ea.input");
  fails_with(json::array({{{"type", "EnsembleArray"}, {"id", "ea"}, {"n_neurons", 10},
                           {"n_ensembles", 2}}}),
             json::array({{{"pre", "stim"}, {"post", "ea"}}}),
             "network \"ea\" is referred to by its ports");
}
