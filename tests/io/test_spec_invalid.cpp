// Broken specs: each must fail with a SpecError naming the JSON path and the reason, and
// check_network_json must list every problem of a spec at once.
// LibTorch first: it pulls in glog, whose CHECK macro Catch's must replace, not the reverse.
#include <torch/types.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "snn/errors.h"
#include "snn/spec.h"

using nlohmann::json;

namespace {

struct BrokenSpec {
  const char* what;
  const char* spec;      // JSON text
  const char* expected;  // substring of the message, after "<spec>: "
};

// Small valid pieces the cases build on: nodes a (1-d constant) and b (1-d pass-through),
// ensemble c (10 neurons, 1-d).
#define HEAD R"("format": "snn-network/1", )"
#define NODES R"("nodes": [{"id": "a", "output": 0.5}, {"id": "b", "size_in": 1}])"
#define ENS R"("ensembles": [{"id": "c", "n_neurons": 10, "dimensions": 1}])"

const BrokenSpec kBroken[] = {
    {"wrong format", R"({"format": "snn-network/2"})",
     R"(/format: expected "snn-network/1", got "snn-network/2")"},
    {"missing format", R"({"nodes": []})", R"(/: missing required key "format")"},
    {"not an object", R"([1, 2])", "/: expected a JSON object"},
    {"unknown top-level key", R"({)" HEAD R"("nodez": []})",
     R"(/nodez: unknown key "nodez" in the network)"},
    {"seed of the wrong type", R"({)" HEAD R"("seed": "abc"})",
     R"(/seed: expected an integer in [0, 4294967295], got "abc")"},
    {"negative seed", R"({)" HEAD R"("seed": -1})",
     "/seed: expected an integer in [0, 4294967295], got -1"},
    {"zero dt", R"({)" HEAD R"("dt": 0})", "/dt: expected a number > 0, got 0"},
    {"bad dtype", R"({)" HEAD R"("settings": {"dtype": "float16"}})",
     R"(/settings/dtype: expected "float32" or "float64", got "float16")"},
    {"unknown settings key", R"({)" HEAD R"("settings": {"lif_smothing": 1}})",
     R"(/settings/lif_smothing: unknown key "lif_smothing")"},
    {"nodes not a list", R"({)" HEAD R"("nodes": {"a": 1}})", "/nodes: expected a list"},
    {"node not an object", R"({)" HEAD R"("nodes": [5]})", "/nodes/0: expected an object, got 5"},
    {"unknown node key", R"({)" HEAD R"("nodes": [{"id": "a", "outptu": 1}]})",
     R"(/nodes/0/outptu: unknown key "outptu" in a node (expected id, label, output, size_in, size_out))"},
    {"node output of the wrong type", R"({)" HEAD R"("nodes": [{"id": "a", "output": "abc"}]})",
     R"(/nodes/0/output: expected a number, a list of numbers, {"expr": ...} or a process object, got "abc")"},
    {"process not available",
     R"({)" HEAD R"("nodes": [{"id": "fn", "output": {"type": "FilteredNoise"}}]})",
     "/nodes/0/output/type: FilteredNoise is not available in this build"},
    {"unknown variable in an expression",
     R"({)" HEAD R"("nodes": [{"id": "f", "output": {"expr": "y + 1"}}]})",
     R"(/nodes/0/output/expr: expression "y + 1": unknown variable "y")"},
    {"expression syntax error",
     R"({)" HEAD R"("nodes": [{"id": "f", "output": {"expr": "sin(t"}}]})",
     R"(/nodes/0/output/expr: expression "sin(t")"},
    {"constant node with an input",
     R"({)" HEAD R"("nodes": [{"id": "a", "output": 1, "size_in": 2}]})",
     R"(/nodes/0: node "a": a constant output takes no input)"},
    {"expression needs more inputs",
     R"({)" HEAD R"("nodes": [{"id": "f", "size_in": 1, "output": {"expr": "x0*x1"}}]})",
     R"(/nodes/0: node "f": output function failed on a trial call)"},
    {"invalid id", R"({)" HEAD R"("nodes": [{"id": "a.b", "output": 1}]})",
     R"(/nodes/0/id: invalid id "a.b")"},
    {"duplicate id",
     R"({)" HEAD NODES R"(, "ensembles": [{"id": "a", "n_neurons": 5, "dimensions": 1}]})",
     R"(/ensembles/0/id: duplicate id "a" (already used by /nodes/0))"},
    {"n_neurons beyond the size limit",
     R"({)" HEAD R"("ensembles": [{"id": "e", "n_neurons": 1000000000000, "dimensions": 1}]})",
     "/ensembles/0/n_neurons: expected at most 16777216 (the size limit), got 1000000000000"},
    {"size_in beyond the size limit",
     R"({)" HEAD R"("nodes": [{"id": "n", "size_in": 2147483648}]})",
     "/nodes/0/size_in: expected at most 16777216 (the size limit), got 2147483648"},
    {"an ensemble array of too many neurons",
     R"({)" HEAD R"("networks": [{"id": "ea", "type": "EnsembleArray", "n_neurons": 1000,
                                  "n_ensembles": 1000000}]})",
     "/networks/0/n_ensembles: 1000000 ensembles of 1000 neurons: more than 16777216"},
    {"a reference ending with a dot",
     R"({)" HEAD NODES R"(, )" ENS R"(, "connections": [{"pre": "a", "post": "c."}]})",
     R"(/connections/0/post: "c." ends with '.')"},
    {"an expression with a NUL character",
     R"({)" HEAD R"("nodes": [{"id": "n", "output": {"expr": "t)"
     "\\u0000" R"(+1"}}]})",
     "/nodes/0/output/expr: expression contains a NUL character"},
    {"a spiking base type for PoissonSpiking",
     R"({)" HEAD R"("ensembles": [{"id": "e", "n_neurons": 5, "dimensions": 1,
        "neuron_type": {"type": "PoissonSpiking", "base_type": {"type": "LIF"}}}]})",
     "/ensembles/0/neuron_type/base_type: PoissonSpiking needs a rate neuron type, got the "
     "spiking LIF"},
    {"Izhikevich tau_recovery 0",
     R"({)" HEAD R"("ensembles": [{"id": "e", "n_neurons": 5, "dimensions": 1,
        "neuron_type": {"type": "Izhikevich", "tau_recovery": 0}}]})",
     "/ensembles/0/neuron_type/tau_recovery: expected a number > 0"},
    {"negative n_neurons",
     R"({)" HEAD R"("ensembles": [{"id": "e", "n_neurons": -5, "dimensions": 1}]})",
     "/ensembles/0/n_neurons: expected an integer >= 1, got -5"},
    {"fractional n_neurons",
     R"({)" HEAD R"("ensembles": [{"id": "e", "n_neurons": 2.5, "dimensions": 1}]})",
     "/ensembles/0/n_neurons: expected an integer >= 1, got 2.5"},
    {"missing dimensions", R"({)" HEAD R"("ensembles": [{"id": "e", "n_neurons": 5}]})",
     R"(/ensembles/0: missing required key "dimensions")"},
    {"unknown neuron type",
     R"({)" HEAD
     R"("ensembles": [{"id": "e", "n_neurons": 5, "dimensions": 1, "neuron_type": {"type": "LIFF"}}]})",
     R"(/ensembles/0/neuron_type/type: unknown neuron type "LIFF")"},
    {"bad neuron parameter",
     R"({)" HEAD
     R"("ensembles": [{"id": "e", "n_neurons": 5, "dimensions": 1, "neuron_type": {"type": "LIF", "tau_rc": -0.02}}]})",
     "/ensembles/0/neuron_type/tau_rc: expected tau_rc > 0"},
    {"unknown state variable",
     R"({)" HEAD
     R"("ensembles": [{"id": "e", "n_neurons": 2, "dimensions": 1, "neuron_type": {"type": "LIF", "initial_state": {"volts": 0}}}]})",
     R"(/ensembles/0/neuron_type/initial_state/volts: LIF has no state variable "volts")"},
    {"gain of the wrong length",
     R"({)" HEAD
     R"("ensembles": [{"id": "e", "n_neurons": 3, "dimensions": 1, "gain": [1, 2], "bias": [0, 0, 0]}]})",
     R"(/ensembles/0: ensemble "e": gain must have one value per neuron (3))"},
    {"ragged encoders",
     R"({)" HEAD
     R"("ensembles": [{"id": "e", "n_neurons": 2, "dimensions": 1, "encoders": [[1], [1, 2]]}]})",
     "/ensembles/0/encoders: expected a rectangular list of numbers"},
    {"noise",
     R"({)" HEAD
     R"("ensembles": [{"id": "e", "n_neurons": 2, "dimensions": 1, "noise": {"type": "WhiteSignal", "period": 1, "high": 0.5}}]})",
     "/ensembles/0/noise/high: expected high >= 1/period = 1 Hz"},
    {"dangling reference",
     R"({)" HEAD NODES ", " ENS R"(, "connections": [{"pre": "foo", "post": "b"}]})",
     R"(/connections/0/pre: no object "foo" (nodes: a, b; ensembles: c))"},
    {"neurons of a node",
     R"({)" HEAD NODES R"(, "connections": [{"pre": "a.neurons", "post": "b"}]})",
     R"(/connections/0/pre: node "a" has no port "neurons")"},
    {"unknown port of an ensemble",
     R"({)" HEAD NODES ", " ENS R"(, "connections": [{"pre": "c.spikes", "post": "b"}]})",
     R"(/connections/0/pre: ensemble "c" has no port "spikes")"},
    {"missing post", R"({)" HEAD NODES R"(, "connections": [{"pre": "a"}]})",
     R"(/connections/0: missing required key "post")"},
    {"transform of the wrong type",
     R"({)" HEAD NODES R"(, "connections": [{"pre": "a", "post": "b", "transform": "abc"}]})",
     R"(/connections/0/transform: expected a number, list or distribution object, got "abc")"},
    {"transform size mismatch",
     R"({)" HEAD NODES R"(, "connections": [{"pre": "a", "post": "b", "transform": [[1, 2]]}]})",
     R"(/connections/0: connection "c0" (a -> b): expected a transform of shape (1, 1) [post][pre], got [1, 2])"},
    {"sparse transform without indices",
     R"({)" HEAD NODES
     R"(, "connections": [{"pre": "a", "post": "b", "transform": {"type": "Sparse", "shape": [1, 1]}}]})",
     R"(/connections/0/transform/indices: missing ([[row, col], ...]))"},
    {"slice index out of range",
     R"({)" HEAD NODES R"(, "connections": [{"pre": {"ref": "a", "slice": [5]}, "post": "b"}]})",
     "/connections/0/pre/slice: slice index 5 is out of range for size 1"},
    {"slice index not an integer",
     R"({)" HEAD NODES R"(, "connections": [{"pre": {"ref": "a", "slice": ["x"]}, "post": "b"}]})",
     R"(/connections/0/pre/slice/0: expected an integer index, got "x")"},
    {"slice step zero",
     R"({)" HEAD NODES
     R"(, "connections": [{"pre": {"ref": "a", "slice": {"start": 0, "step": 0}}, "post": "b"}]})",
     "/connections/0/pre/slice/step: slice step cannot be zero"},
    {"unknown slice key",
     R"({)" HEAD NODES
     R"(, "connections": [{"pre": {"ref": "a", "slice": {"begin": 0}}, "post": "b"}]})",
     R"(/connections/0/pre/slice/begin: unknown key "begin" in a slice)"},
    {"negative synapse tau",
     R"({)" HEAD NODES R"(, "connections": [{"pre": "a", "post": "b", "synapse": -0.01}]})",
     "/connections/0/synapse: Lowpass: expected tau >= 0"},
    {"unknown synapse type",
     R"({)" HEAD NODES
     R"(, "connections": [{"pre": "a", "post": "b", "synapse": {"type": "Highpass", "tau": 1}}]})",
     R"(/connections/0/synapse: unknown synapse type "Highpass")"},
    {"unknown solver",
     R"({)" HEAD NODES
     R"(, "connections": [{"pre": "a", "post": "b", "solver": {"type": "Magic"}}]})",
     R"(/connections/0/solver/type: unknown solver "Magic")"},
    {"function not an expression object",
     R"({)" HEAD NODES R"(, "connections": [{"pre": "a", "post": "b", "function": "x0^2"}]})",
     R"(/connections/0/function: expected {"expr": "<muParser expression>"}, got "x0^2")"},
    {"function of neurons",
     R"({)" HEAD NODES ", " ENS
     R"(, "connections": [{"pre": "c.neurons", "post": "b", "function": {"expr": "x0"}, "transform": [[1,1,1,1,1,1,1,1,1,1]]}]})",
     "/connections/0: connection \"c0\" (c.neurons -> b): a function cannot be applied to neurons"},
    {"trainable not a boolean",
     R"({)" HEAD NODES R"(, "connections": [{"pre": "a", "post": "b", "trainable": "yes"}]})",
     R"(/connections/0/trainable: expected true or false, got "yes")"},
    {"learning rule",
     R"({)" HEAD NODES ", " ENS
     R"(, "connections": [{"pre": "c", "post": "b", "learning_rule": {"type": "Hebb"}}]})",
     R"(/connections/0/learning_rule/type: unknown learning rule "Hebb")"},
    {"connection position out of range",
     R"({)" HEAD NODES
     R"(, "connections": [{"pre": "a", "post": "b"}], "probes": [{"target": {"connection": 3}, "attr": "weights"}]})",
     "/probes/0/target/connection: expected the position of a connection (0 to 0), got 3"},
    {"connection as a connection endpoint",
     R"({)" HEAD NODES
     R"(, "connections": [{"pre": "a", "post": "b"}, {"pre": {"connection": 0}, "post": "b"}]})",
     "/connections/1/pre: a connection can only be the target of a probe"},
    {"probe of an unknown attribute",
     R"({)" HEAD NODES ", " ENS
     R"(, "probes": [{"id": "p", "target": "c.neurons", "attr": "voltag"}]})",
     R"(/probes/0: probe "p" (c.neurons): LIF neurons have no "voltag" to probe)"},
    {"negative sample_every",
     R"({)" HEAD NODES R"(, "probes": [{"target": "a", "sample_every": -0.1}]})",
     "/probes/0/sample_every: expected a number > 0, got -0.1"},
    {"probe without target", R"({)" HEAD NODES R"(, "probes": [{"id": "p"}]})",
     R"(/probes/0: missing required key "target")"},
    {"layers", R"({)" HEAD R"("layers": [{"id": "c1", "type": "Conv2D", "filters": 32}]})",
     R"(/layers/0/shape_in: missing, and the size of the input cannot be inferred from the connections into "c1" (give it))"},
    {"networks", R"({)" HEAD R"("networks": [{"id": "ea", "type": "EnsembleArray"}]})",
     R"(/networks/0: missing required key "n_neurons")"},
    {"train not an object", R"({)" HEAD R"("train": [1]})", "/train: expected an object, got [1]"},
};

std::string error_of(const json& spec) {
  try {
    snn::network_from_json(spec);
  } catch (const snn::SpecError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("(not a SpecError) ") + e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("spec: broken specs fail with the JSON path and reason", "[spec][invalid]") {
  STATIC_REQUIRE(sizeof(kBroken) / sizeof(kBroken[0]) >= 25);
  for (const auto& c : kBroken) {
    INFO(c.what << "\n  spec: " << c.spec);
    json spec;
    REQUIRE_NOTHROW(spec = json::parse(c.spec));
    const auto msg = error_of(spec);
    CHECK_THAT(msg, Catch::StartsWith(std::string("<spec>: ") + c.expected));
    // check_network_json finds the same problem, without the source.
    const auto problems = snn::check_network_json(spec);
    REQUIRE_FALSE(problems.empty());
    CHECK_THAT(problems[0], Catch::StartsWith(c.expected));
  }
}

TEST_CASE("spec: non-JSON text is reported with its position", "[spec][invalid]") {
  const auto path = (std::filesystem::temp_directory_path() /
                     ("snn_spec_invalid_" + std::to_string(::getpid()) + ".json"))
                        .string();
  {
    std::ofstream out(path);
    out << "{\"format\": \"snn-network/1\", nodes: []}";
  }
  CHECK_THROWS_AS(snn::load_network(path), snn::SpecError);
  CHECK_THROWS_WITH(snn::load_network(path),
                    Catch::StartsWith(path + ": not valid JSON (byte 30)") &&
                        Catch::Contains("line 1, column 30"));
  {
    std::ofstream out(path);
    out << "{\"format\": \"snn-network/1\", \"dt\": 1e400}";
  }
  CHECK_THROWS_WITH(snn::load_network(path),
                    Catch::StartsWith(path + ": not valid JSON: ") && Catch::Contains("1e400"));
  std::filesystem::remove(path);
}

TEST_CASE("spec: check_network_json lists every problem once", "[spec][invalid]") {
  const json spec = json::parse(R"({
    "format": "snn-network/0",
    "nodes": [{"id": "a", "output": "x"}, {"id": "b", "size_in": 1, "colour": 1}],
    "ensembles": [{"id": "c", "n_neurons": 0, "dimensions": 1}],
    "connections": [{"pre": "a", "post": "b"}, {"pre": "c", "post": "zzz"},
                    {"pre": "b", "post": "b", "transform": "t"}],
    "probes": [{"target": "a"}, {"target": {"connection": 1}, "attr": "weights"}]
  })");
  const auto problems = snn::check_network_json(spec);
  const std::vector<std::string> expected = {
      "/format: expected \"snn-network/1\"",
      "/nodes/0/output: expected a number",
      "/nodes/1/colour: unknown key \"colour\"",
      "/ensembles/0/n_neurons: expected an integer >= 1, got 0",
      "/connections/1/post: no object \"zzz\"",
      "/connections/2/transform: expected a number, list or distribution object, got \"t\"",
  };
  // Objects that only depend on broken ones (connection 0 and probe 0 use node "a", the
  // probe uses connection 1) are skipped rather than reported again.
  REQUIRE(problems.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("problem " << i << ": " << problems[i]);
    CHECK_THAT(problems[i], Catch::StartsWith(expected[i]));
  }
  // The thrown form reports the first one.
  CHECK_THROWS_WITH(snn::network_from_json(spec, "net.json"),
                    Catch::StartsWith("net.json: /format: expected"));
}

TEST_CASE("spec: a valid spec has no problems", "[spec][invalid]") {
  const json spec = json::parse(R"({"format": "snn-network/1",
    "nodes": [{"id": "a", "output": [1, 2]}, {"id": "b", "size_in": 2}],
    "connections": [{"pre": "a", "post": "b", "transform": -1}],
    "probes": [{"target": "b"}]})");
  CHECK(snn::check_network_json(spec).empty());
}

TEST_CASE("spec: hostile nesting is refused without recursion", "[spec][invalid]") {
  const int depth = 100000;
  const std::string text = R"({"format": "snn-network/1", "nodes": [{"id": "a", "output": )" +
                           std::string(depth, '[') + "1" + std::string(depth, ']') + "}]}";
  const json spec = json::parse(text);
  CHECK_THROWS_WITH(snn::network_from_json(spec),
                    Catch::StartsWith("<spec>: /nodes/0/output/0/0/0/") &&
                        Catch::EndsWith(": values nested deeper than 64 levels"));
  CHECK(snn::check_network_json(spec).size() == 1);
}

TEST_CASE("spec: the loader never crashes on odd values", "[spec][invalid]") {
  // A sweep of odd values into every field of a small spec: only SpecErrors may come out.
  const json base = json::parse(R"({"format": "snn-network/1", "seed": 1, "dt": 0.001,
    "settings": {"dtype": "float32"},
    "nodes": [{"id": "a", "output": [1, 2]}, {"id": "b", "size_in": 2}],
    "ensembles": [{"id": "e", "n_neurons": 4, "dimensions": 2, "neuron_type": {"type": "LIF"}}],
    "connections": [{"pre": "a", "post": "e", "transform": 1, "synapse": 0.01},
                    {"pre": {"ref": "e", "slice": [1, 0]}, "post": "b", "function": {"expr": "x0, x1"}}],
    "probes": [{"target": "b", "synapse": null}]})");
  const std::vector<json> odd = {nullptr,
                                 true,
                                 -1,
                                 0,
                                 1e308,
                                 -3.5,
                                 "",
                                 "e",
                                 "e.neurons",
                                 json::array(),
                                 json::array({1, "a"}),
                                 json::array({json::array()}),
                                 json::object(),
                                 json{{"type", 7}},
                                 json{{"expr", 3}},
                                 json{{"ref", "e"}, {"slice", json::array({99})}},
                                 json{{"connection", -1}}};
  int specs = 0, accepted = 0;
  auto visit = [&](json spec, const json::json_pointer& ptr) {
    for (const auto& v : odd) {
      json s = spec;
      s[ptr] = v;
      ++specs;
      try {
        snn::network_from_json(s);
        ++accepted;
      } catch (const snn::SpecError&) {
      }
      CHECK_NOTHROW(snn::check_network_json(s));
    }
  };
  const json flat = base.flatten();
  std::set<std::string> pointers;
  for (auto it = flat.begin(); it != flat.end(); ++it) {
    // Every value and every object/array holding it.
    std::string p = it.key();
    while (!p.empty()) {
      pointers.insert(p);
      p = p.substr(0, p.rfind('/'));
    }
  }
  for (const auto& p : pointers) visit(base, json::json_pointer(p));
  CHECK(specs > 300);
  CHECK(accepted < specs);  // most odd values are rejected
}
