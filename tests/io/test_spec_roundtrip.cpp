// Saving specs: load -> save -> load -> save is a fixed point, saved specs keep every value of
// the original, and defaults are written out.
// LibTorch first: it pulls in glog, whose CHECK macro Catch's must replace, not the reverse.
#include <torch/types.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "snn/errors.h"
#include "snn/spec.h"

using nlohmann::json;

namespace {

const char* kScenarios[] = {"lif_const", "neuron_zoo", "synapses", "nef_square_sin",
                            "slices_transforms"};

json read_json(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in);
  return json::parse(in);
}

/// Whether everything `given` says is in `saved` (numbers compared as doubles; a number given
/// for a synapse is Lowpass(tau)). Reports the first difference through `where`.
bool keeps(const json& given, const json& saved, const std::string& path, std::string& where) {
  if (given.is_number() && saved.is_number()) {
    if (given.get<double>() == saved.get<double>()) return true;
  } else if (given.is_number() && saved.is_object() && path.size() >= 8 &&
             path.compare(path.size() - 8, 8, "/synapse") == 0) {
    if (saved.value("type", "") == "Lowpass" && saved["tau"] == given) return true;
  } else if (given.is_object() && saved.is_object()) {
    for (auto it = given.begin(); it != given.end(); ++it) {
      if (!saved.contains(it.key())) {
        where = path + "/" + it.key() + " (missing)";
        return false;
      }
      if (!keeps(it.value(), saved[it.key()], path + "/" + it.key(), where)) return false;
    }
    return true;
  } else if (given.is_array() && saved.is_array() && given.size() == saved.size()) {
    for (size_t i = 0; i < given.size(); ++i)
      if (!keeps(given[i], saved[i], path + "/" + std::to_string(i), where)) return false;
    return true;
  } else if (given == saved) {
    return true;
  }
  where = path + ": " + given.dump().substr(0, 80) + " became " + saved.dump().substr(0, 80);
  return false;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("snn_roundtrip_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

}  // namespace

TEST_CASE("spec round trip: conformance networks", "[spec][roundtrip]") {
  const std::string scenario = GENERATE(from_range(std::begin(kScenarios), std::end(kScenarios)));
  {
    INFO(scenario);
    const std::string path =
        std::string(SNN_SHARED_DIR) + "/conformance/" + scenario + "/network.json";
    const json raw = read_json(path);
    const json first = snn::network_to_json(*snn::load_network(path));
    const json second = snn::network_to_json(*snn::network_from_json(first, "first save"));
    CHECK(first.dump() == second.dump());

    // Everything the original says survives (plus defaults written out).
    std::string where;
    CHECK(keeps(raw, first, "", where));
    INFO(where);
    CHECK(where.empty());
    CHECK(first["probes"].size() == raw["probes"].size());
    CHECK(first["connections"].size() == raw["connections"].size());
  }
}

TEST_CASE("spec round trip: save_network writes atomically and reloads", "[spec][roundtrip]") {
  const std::string src =
      std::string(SNN_SHARED_DIR) + "/conformance/slices_transforms/network.json";
  auto net = snn::load_network(src);
  const auto path = temp_path("net.json");
  {
    std::ofstream old(path);
    old << "old content";
  }
  snn::save_network(*net, path);
  CHECK_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(::getpid())));
  const json saved = read_json(path);  // replaced, and valid JSON
  CHECK(saved["format"] == "snn-network/1");
  auto again = snn::load_network(path);
  CHECK(snn::network_to_json(*again) == snn::network_to_json(*net));
  // A second save gives the same bytes.
  std::ifstream a(path);
  std::string first_text((std::istreambuf_iterator<char>(a)), {});
  snn::save_network(*again, path);
  std::ifstream b(path);
  std::string second_text((std::istreambuf_iterator<char>(b)), {});
  CHECK(first_text == second_text);
  std::filesystem::remove(path);

  CHECK_THROWS_AS(snn::save_network(*net, "/nonexistent/dir/net.json"), snn::SpecError);
}

TEST_CASE("spec round trip: hand-written spec with distributions and references",
          "[spec][roundtrip]") {
  const json spec = json::parse(R"JSON({
    "format": "snn-network/1", "label": "hand", "seed": 42, "dt": 0.0005,
    "settings": {"lif_smoothing": 0.1, "training_mode": "spiking"},
    "nodes": [{"id": "u", "output": {"expr": "sin(t), cos(t)"}},
              {"id": "k", "output": [1, 2, 3]},
              {"id": "sink", "size_in": 2},
              {"id": "data", "size_out": 3}],
    "ensembles": [
      {"id": "e", "n_neurons": 12, "dimensions": 2,
       "neuron_type": {"type": "LIF", "tau_rc": 0.025, "initial_state": {"voltage": {"type": "Uniform", "low": 0, "high": 0.5}}},
       "max_rates": {"type": "Uniform", "low": 150, "high": 250},
       "intercepts": {"type": "Uniform", "low": -0.8, "high": 0.8},
       "encoders": {"type": "ScatteredHypersphere", "surface": true},
       "eval_points": {"type": "UniformHypersphere"}, "n_eval_points": 100, "seed": 9},
      {"id": "f", "n_neurons": 3, "dimensions": 1, "neuron_type": {"type": "SpikingRectifiedLinear"},
       "gain": [1, 2, 3], "bias": 0.5, "trainable": false}],
    "connections": [
      {"id": "c_u", "pre": "u", "post": "e", "synapse": {"type": "Alpha", "tau": 0.003}},
      {"pre": "e", "post": "sink", "function": {"expr": "x0*x1, -x0"},
       "solver": {"type": "LstsqL2", "reg": 0.02}, "eval_points": [[0.5, 0.5], [-0.5, 0.1], [0, 0.2]],
       "scale_eval_points": false, "seed": 3, "trainable": false, "label": "product"},
      {"pre": {"ref": "k", "slice": [2, 0]}, "post": {"ref": "f.neurons", "slice": {"start": -2}},
       "transform": [0.1, 0.2], "synapse": null},
      {"pre": "e.neurons", "post": "f.neurons", "transform": {"type": "Glorot"}},
      {"pre": "data", "post": "sink", "transform": {"type": "Gaussian", "mean": 0, "std": 0.5},
       "synapse": {"type": "LinearFilter", "num": [0.2], "den": [1, -0.8], "analog": false}}
    ],
    "probes": [
      {"id": "pe", "target": "e", "synapse": 0.02, "sample_every": 0.002, "seed": 1},
      {"id": "pf", "target": {"ref": "f.neurons", "slice": [2]}, "attr": "voltage"},
      {"id": "pw", "target": {"connection": 3}, "attr": "weights", "label": "w"}
    ],
    "layers": [], "networks": [], "train": {"epochs": 2}
  })JSON");
  const json first = snn::network_to_json(*snn::network_from_json(spec));
  const json second = snn::network_to_json(*snn::network_from_json(first));
  CHECK(first.dump() == second.dump());
  std::string where;
  json given = spec;
  for (const char* k : {"layers", "networks", "train"}) given.erase(k);  // not kept
  CHECK(keeps(given, first, "", where));
  INFO(where);
  CHECK(where.empty());
  // Generated ids are written, so a reload names objects the same.
  CHECK(first["connections"][1]["id"] == "c0");
  CHECK(first["probes"][2]["target"] == json{{"connection", 3}});
  CHECK(first["connections"][2]["post"]["slice"] ==
        json{{"start", -2}, {"stop", nullptr}, {"step", nullptr}});
}

TEST_CASE("spec save: defaults are written out", "[spec][roundtrip]") {
  const json spec = json::parse(R"({"format": "snn-network/1",
    "nodes": [{"id": "in", "output": 0.3}, {"id": "out", "size_in": 1}],
    "ensembles": [{"id": "e", "n_neurons": 5, "dimensions": 1}],
    "connections": [{"pre": "in", "post": "e"}, {"pre": "e", "post": "out"}],
    "probes": [{"id": "p", "target": "out"}]})");
  const json j = snn::network_to_json(*snn::network_from_json(spec));
  CHECK(j["format"] == "snn-network/1");
  CHECK(j["dt"] == 0.001);
  CHECK(j["seed"].is_null());
  CHECK(j["settings"] == json{{"lif_smoothing", 0.0},
                              {"trainable", true},
                              {"dtype", "float32"},
                              {"stateful", true},
                              {"keep_history", true},
                              {"training_mode", "rate"},
                              {"train_synapses", true}});
  const json& e = j["ensembles"][0];
  CHECK(e["neuron_type"]["type"] == "LIF");
  CHECK(e["neuron_type"]["tau_rc"] == 0.02);
  CHECK(e["neuron_type"]["tau_ref"] == 0.002);
  CHECK(e["radius"] == 1.0);
  CHECK(e["max_rates"]["type"] == "Uniform");
  CHECK(e["max_rates"]["low"] == 200.0);
  CHECK(e["max_rates"]["high"] == 400.0);
  CHECK(e["intercepts"]["low"] == -1.0);
  CHECK(e["intercepts"]["high"] == 0.9);
  CHECK(e["encoders"]["type"] == "ScatteredHypersphere");
  CHECK(e["encoders"]["surface"] == true);
  CHECK(e["gain"].is_null());
  CHECK(e["n_eval_points"].is_null());
  const json& c = j["connections"][0];
  CHECK(c["id"] == "c0");
  CHECK(c["synapse"] == json{{"type", "Lowpass"}, {"tau", 0.005}});
  CHECK(c["solver"]["type"] == "LstsqL2");
  CHECK(c["solver"]["reg"] == 0.1);
  CHECK(c["transform"].is_null());
  CHECK(c["function"].is_null());
  CHECK(c["scale_eval_points"] == true);
  CHECK(j["probes"][0]["synapse"].is_null());
  CHECK(j["probes"][0]["attr"] == "output");
  CHECK(j["nodes"][0] ==
        json{{"id", "in"}, {"label", ""}, {"output", 0.3}, {"size_in", 0}, {"size_out", 1}});
  CHECK(j["nodes"][1]["size_out"] == 1);
  CHECK_FALSE(j["nodes"][1].contains("output"));
}

TEST_CASE("spec save: C++ callables cannot be saved", "[spec][roundtrip]") {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().label("cpp"));
  auto a = net->node(snn::NodeOptions().id("a").output(0.5));
  auto b = net->node(snn::NodeOptions().id("b").size_in(1));
  net->connect(a, b, snn::ConnectionOptions().function(snn::Function::of_x([](const auto& x) {
    return std::vector<double>{2 * x[0]};
  })));
  CHECK_THROWS_WITH(snn::network_to_json(*net),
                    Catch::Contains("connection \"c0\"") &&
                        Catch::Contains("function is a C++ callable and cannot be saved as JSON"));
  const auto path = temp_path("cpp.json");
  CHECK_THROWS_AS(snn::save_network(*net, path), snn::SpecError);
  CHECK_FALSE(std::filesystem::exists(path));

  auto net2 = std::make_shared<snn::Network>();
  net2->node(snn::NodeOptions().id("t").output(
      snn::Function::of_t([](double t) { return std::vector<double>{t}; })));
  CHECK_THROWS_WITH(snn::network_to_json(*net2),
                    Catch::Contains("node \"t\"") && Catch::Contains("C++ callable"));
}

TEST_CASE("spec save: a network built in C++ with a sub-network is written flat",
          "[spec][roundtrip]") {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(5).dt(0.002));
  auto in = net->node(snn::NodeOptions().id("in").output(snn::expr("sin(t)")));
  auto sub = net->network(snn::NetworkOptions().label("sub"));
  auto e = sub->ensemble(snn::EnsembleOptions(10, 1).id("e").radius(2.0));
  net->connect(in, e, snn::ConnectionOptions().synapse(nullptr));
  auto c = sub->connect(e, e, snn::ConnectionOptions().transform(0.9).synapse(0.1));
  net->probe(c, snn::ProbeOptions().attr("weights"));
  net->probe(e->neurons()[snn::Slice::range(0, 4)]);

  const json j = snn::network_to_json(*net);
  REQUIRE(j["ensembles"].size() == 1);
  CHECK(j["ensembles"][0]["radius"] == 2.0);
  CHECK(j["connections"].size() == 2);
  CHECK(j["dt"] == 0.002);
  CHECK(j["seed"] == 5);
  // Top-level connections come first, then the sub-network's.
  CHECK(j["connections"][1]["transform"] == 0.9);
  CHECK(j["probes"][0]["target"] == json{{"connection", 1}});
  CHECK(j["probes"][1]["target"]["ref"] == "e.neurons");
  auto back = snn::network_from_json(j);
  CHECK(snn::network_to_json(*back) == j);
  CHECK(back->probes()[0]->target().connection == back->connections()[1]);
}
