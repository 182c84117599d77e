// Loading `snn-network/1` specs: the conformance networks and hand-written specs, checked
// field by field against the JSON they came from.
// LibTorch first: it pulls in glog, whose CHECK macro Catch's must replace, not the reverse.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "snn/errors.h"
#include "snn/spec.h"

using nlohmann::json;

namespace {

std::string conformance_path(const std::string& scenario) {
  return std::string(SNN_SHARED_DIR) + "/conformance/" + scenario + "/network.json";
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in);
  return json::parse(in);
}

std::vector<double> to_vector(const torch::Tensor& t) {
  auto c = t.to(torch::kFloat64).contiguous().flatten();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

std::vector<double> flat(const json& j) {
  std::vector<double> out;
  if (j.is_number()) {
    out.push_back(j.get<double>());
  } else {
    for (const auto& e : j) {
      auto sub = flat(e);
      out.insert(out.end(), sub.begin(), sub.end());
    }
  }
  return out;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("snn_spec_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

}  // namespace

TEST_CASE("spec: lif_const loads with its literal parameters", "[spec]") {
  const auto path = conformance_path("lif_const");
  const json raw = read_json(path);
  auto net = snn::load_network(path);
  CHECK(net->label() == "lif_const");
  REQUIRE(net->seed());
  CHECK(*net->seed() == 0u);
  CHECK(net->dt() == 0.001);

  REQUIRE(net->nodes().size() == 1);
  const auto& stim = net->nodes()[0];
  CHECK(stim->id() == "stim");
  CHECK(stim->kind() == snn::Node::Kind::Constant);
  CHECK(to_vector(stim->options().constant()) == std::vector<double>{0.4});

  REQUIRE(net->ensembles().size() == 1);
  const auto& ens = net->ensembles()[0];
  const json& rens = raw["ensembles"][0];
  CHECK(ens->n_neurons() == 8);
  CHECK(ens->dimensions() == 1);
  const auto& nt = ens->options().neuron_type();
  CHECK(nt->type() == "LIF");
  CHECK(nt->spiking());
  REQUIRE(nt->initial_state.count("voltage"));
  CHECK(to_vector(nt->initial_state.at("voltage").literal()) ==
        flat(rens["neuron_type"]["initial_state"]["voltage"]));
  CHECK(to_vector(nt->initial_state.at("refractory_time").literal()) ==
        flat(rens["neuron_type"]["initial_state"]["refractory_time"]));
  CHECK(to_vector(ens->options().gain().literal()) == flat(rens["gain"]));
  CHECK(to_vector(ens->options().bias().literal()) == flat(rens["bias"]));
  CHECK(ens->options().encoders().literal().sizes() == torch::IntArrayRef({8, 1}));

  REQUIRE(net->connections().size() == 1);
  const auto& c = net->connections()[0];
  CHECK(c->pre().node == stim);
  CHECK(c->post().ensemble == ens);
  CHECK(c->options().synapse() == nullptr);  // "synapse": null

  REQUIRE(net->probes().size() == 2);
  CHECK(net->probes()[0]->id() == "p_spikes");
  CHECK(net->probes()[0]->target().kind == snn::ObjRef::Kind::Neurons);
  CHECK(net->probes()[0]->options().synapse() == nullptr);  // absent: unfiltered
  CHECK(net->probes()[1]->options().attr() == "voltage");
  CHECK(net->probes()[1]->size() == 8);
}

TEST_CASE("spec: slices_transforms keeps slices, index lists and transforms", "[spec]") {
  auto net = snn::load_network(conformance_path("slices_transforms"));
  const auto& cs = net->connections();
  REQUIRE(cs.size() == 7);
  // Connections without an id are named like Network names them.
  CHECK(cs[0]->id() == "c0");
  CHECK(cs[6]->id() == "c6");

  // {"start": 0, "stop": 2} on the 3-d stim node.
  CHECK(cs[0]->pre().slice.kind == snn::Slice::Kind::Range);
  CHECK(cs[0]->pre().slice.resolve(3) == std::vector<int64_t>{0, 1});
  CHECK(to_vector(cs[0]->options().transform().literal()) ==
        std::vector<double>{0.8, 0.3, -0.4, 0.9});
  CHECK(cs[0]->options().transform().literal().sizes() == torch::IntArrayRef({2, 2}));
  // A scalar transform stays 0-d.
  CHECK(cs[1]->options().transform().literal().dim() == 0);
  CHECK(cs[1]->post().slice.resolve(2) == std::vector<int64_t>{1});
  // The function's output (2) is transformed to 3 dims.
  CHECK(cs[2]->options().function().expr == "x0*x1, x0^2");
  CHECK(cs[2]->size_mid() == 2);
  // [1, 0] swaps the two dims; [2.0, -1.0] is elementwise.
  CHECK(cs[3]->pre().slice.kind == snn::Slice::Kind::Indices);
  CHECK(cs[3]->pre().slice.resolve(2) == std::vector<int64_t>{1, 0});
  CHECK(cs[3]->options().transform().literal().dim() == 1);
  auto syn = cs[4]->options().synapse();
  REQUIRE(syn);
  CHECK(syn->type() == "Lowpass");
  CHECK(dynamic_cast<const snn::Lowpass&>(*syn).tau == 0.01);
  CHECK(cs[5]->pre().kind == snn::ObjRef::Kind::Neurons);
  CHECK(cs[5]->options().transform().literal().sizes() == torch::IntArrayRef({1, 40}));
  // ens2.neurons[0:40:4]: 10 neurons.
  CHECK(cs[6]->post().kind == snn::ObjRef::Kind::Neurons);
  CHECK(cs[6]->post().slice.resolve(40) ==
        std::vector<int64_t>{0, 4, 8, 12, 16, 20, 24, 28, 32, 36});

  const auto& ps = net->probes();
  REQUIRE(ps.size() == 6);
  CHECK(ps[4]->id() == "p_ens2_dim1");
  CHECK(ps[4]->size() == 1);
  CHECK(ps[4]->target().slice.resolve(2) == std::vector<int64_t>{1});
}

TEST_CASE("spec: synapses scenario reads every synapse form", "[spec]") {
  auto net = snn::load_network(conformance_path("synapses"));
  const auto& cs = net->connections();
  REQUIRE(cs.size() == 7);
  CHECK(cs[1]->options().synapse()->type() == "Alpha");
  CHECK(dynamic_cast<const snn::Alpha&>(*cs[1]->options().synapse()).tau == 0.005);
  const auto& lf = dynamic_cast<const snn::LinearFilter&>(*cs[2]->options().synapse());
  CHECK(lf.num == std::vector<double>{1});
  CHECK(lf.den == std::vector<double>{0.0001, 0.02, 1});
  CHECK(lf.analog);
  CHECK(cs[3]->options().synapse() == nullptr);
  const auto& dig = dynamic_cast<const snn::LinearFilter&>(*cs[5]->options().synapse());
  CHECK_FALSE(dig.analog);
  CHECK(dig.den == std::vector<double>{1, -0.8});
  // No "synapse" key: Nengo's default Lowpass(0.005).
  REQUIRE(cs[6]->options().synapse());
  CHECK(cs[6]->options().synapse()->type() == "Lowpass");
  CHECK(dynamic_cast<const snn::Lowpass&>(*cs[6]->options().synapse()).tau == 0.005);

  const auto& ps = net->probes();
  REQUIRE(ps.size() == 11);
  CHECK(ps[0]->options().synapse() == nullptr);
  CHECK(dynamic_cast<const snn::Lowpass&>(*ps[8]->options().synapse()).tau == 0.01);
  CHECK(ps[9]->options().synapse()->type() == "Alpha");

  // The signal node's expression at t = 0.2.
  const auto& sig = net->nodes()[0]->options().function();
  const double t = 0.2;
  CHECK(std::abs(sig(t, {})[0] - (1.0 + 0.5 * std::sin(2 * M_PI * 3 * t) +
                                  0.25 * std::cos(2 * M_PI * 11 * t))) < 1e-15);
}

TEST_CASE("spec: nef_square_sin loads functions and solvers", "[spec]") {
  auto nef = snn::load_network(conformance_path("nef_square_sin"));
  REQUIRE(nef->ensembles().size() == 2);
  CHECK(nef->nodes()[0]->options().function()(0.25, {})[0] == Approx(0.9).margin(1e-15));
  const auto& c2 = nef->connections()[2];
  CHECK(c2->options().function().expr == "sin(x0)");
  CHECK(dynamic_cast<const snn::LstsqL2&>(*c2->options().solver()).reg == 0.1);
  CHECK(nef->probes()[1]->target().kind == snn::ObjRef::Kind::Ensemble);
}

TEST_CASE("spec: neuron_zoo loads every neuron type", "[spec]") {
  const json raw = read_json(conformance_path("neuron_zoo"));
  auto zoo = snn::load_network(conformance_path("neuron_zoo"));
  REQUIRE(zoo->ensembles().size() == raw["ensembles"].size());
  for (size_t i = 0; i < zoo->ensembles().size(); ++i) {
    const auto& ens = zoo->ensembles()[i];
    CHECK(ens->id() == raw["ensembles"][i]["id"].get<std::string>());
    CHECK(ens->options().neuron_type()->type() ==
          raw["ensembles"][i]["neuron_type"]["type"].get<std::string>());
    CHECK(to_vector(ens->options().gain().literal()) == flat(raw["ensembles"][i]["gain"]));
  }
  CHECK(zoo->probes().back()->options().attr() == "voltage");
}

namespace {
// Uses every field of the format that this build supports.
const char* kFullSpec = R"({
  "format": "snn-network/1", "label": "full", "seed": 7, "dt": 0.002,
  "settings": {"lif_smoothing": 0.05, "trainable": false, "dtype": "float64",
               "stateful": false, "keep_history": false, "training_mode": "spiking",
               "train_synapses": false},
  "nodes": [
    {"id": "vec", "output": [0.5, -0.1], "label": "a vector"},
    {"id": "prod", "size_in": 2, "output": {"expr": "x0*x1"}},
    {"id": "sum", "size_in": 3},
    {"id": "img", "size_out": 4},
    {"output": 1.5}
  ],
  "ensembles": [
    {"id": "a", "n_neurons": 20, "dimensions": 2, "radius": 1.5,
     "neuron_type": {"type": "LIFRate", "tau_rc": 0.03},
     "max_rates": {"type": "Uniform", "low": 100, "high": 200},
     "intercepts": {"type": "Uniform", "low": -0.5, "high": 0.5},
     "encoders": {"type": "UniformHypersphere", "surface": true},
     "gain": null, "bias": null, "eval_points": null, "n_eval_points": 300,
     "normalize_encoders": false, "noise": null, "seed": 3, "trainable": true},
    {"id": "b", "n_neurons": 4, "dimensions": 1, "neuron_type": "RectifiedLinear",
     "gain": 2.0, "bias": [0.1, 0.2, 0.3, 0.4]}
  ],
  "layers": [], "networks": [],
  "connections": [
    {"id": "in", "pre": "vec", "post": "a", "synapse": 0.01, "label": "input"},
    {"pre": "a", "post": "prod", "function": {"expr": "x0^2, x1"}, "synapse": null,
     "solver": {"type": "LstsqL2", "reg": 0.05}, "eval_points": [[0.1, 0.2], [0.3, -0.4]],
     "scale_eval_points": false, "seed": 11, "trainable": false},
    {"pre": {"ref": "a", "slice": [1]}, "post": {"ref": "sum", "slice": {"start": 0, "stop": 3, "step": 2}},
     "transform": [[1.0], [-1.0]]},
    {"pre": "a.neurons", "post": "b.neurons",
     "transform": {"type": "Gaussian", "mean": 0, "std": 0.1}, "learning_rule": null},
    {"pre": "img", "post": {"ref": "sum", "slice": [2]}, "transform": [[0.25, 0.25, 0.25, 0.25]],
     "synapse": {"type": "Alpha", "tau": 0.004}}
  ],
  "probes": [
    {"id": "p_a", "target": "a", "synapse": 0.01, "solver": {"type": "LstsqL2", "reg": 0.2},
     "seed": 5},
    {"id": "p_v", "target": {"ref": "b.neurons", "slice": [0, 3]}, "attr": "output",
     "sample_every": 0.01, "label": "some neurons"},
    {"id": "p_w", "target": {"connection": 3}, "attr": "weights"},
    {"target": "prod", "synapse": null}
  ],
  "train": {"n_steps": 25, "optimizer": {"type": "Adam", "lr": 0.001}}
})";
}  // namespace

TEST_CASE("spec: a spec using every supported field", "[spec]") {
  auto net = snn::network_from_json(json::parse(kFullSpec));
  CHECK(net->label() == "full");
  CHECK(*net->seed() == 7u);
  CHECK(net->dt() == 0.002);
  const auto& s = net->settings();
  CHECK(s.lif_smoothing() == 0.05);
  CHECK_FALSE(s.trainable());
  CHECK(s.dtype() == "float64");
  CHECK_FALSE(s.stateful());
  CHECK_FALSE(s.keep_history());
  CHECK(s.training_mode() == "spiking");
  CHECK_FALSE(s.train_synapses());

  const auto& ns = net->nodes();
  REQUIRE(ns.size() == 5);
  CHECK(ns[0]->label() == "a vector");
  CHECK(to_vector(ns[0]->options().constant()) == std::vector<double>{0.5, -0.1});
  CHECK(ns[1]->kind() == snn::Node::Kind::Function);
  CHECK(ns[1]->options().function()(0.0, {3.0, -2.0})[0] == -6.0);
  CHECK(ns[2]->kind() == snn::Node::Kind::PassThrough);
  CHECK(ns[2]->size_out() == 3);
  CHECK(ns[3]->kind() == snn::Node::Kind::Input);
  CHECK(ns[3]->size_out() == 4);
  CHECK(ns[4]->id() == "node_0");

  const auto& a = net->ensembles()[0]->options();
  CHECK(a.radius() == 1.5);
  CHECK(a.neuron_type()->type() == "LIFRate");
  CHECK(dynamic_cast<const snn::LIFRate&>(*a.neuron_type()).options.tau_rc() == 0.03);
  REQUIRE(a.max_rates().is_distribution());
  const auto& mr = dynamic_cast<const snn::Uniform&>(*a.max_rates().distribution());
  CHECK(mr.low == 100.0);
  CHECK(mr.high == 200.0);
  CHECK(a.encoders().distribution()->type() == "UniformHypersphere");
  CHECK(a.gain().empty());
  CHECK(a.eval_points().distribution()->type() == "ScatteredHypersphere");  // null: default
  CHECK(*a.n_eval_points() == 300);
  CHECK_FALSE(a.normalize_encoders());
  CHECK(*a.seed() == 3u);
  CHECK(*a.trainable());
  const auto& b = net->ensembles()[1]->options();
  CHECK(b.neuron_type()->type() == "RectifiedLinear");
  CHECK(b.gain().literal().dim() == 0);
  CHECK(to_vector(b.bias().literal()) == std::vector<double>{0.1, 0.2, 0.3, 0.4});

  const auto& cs = net->connections();
  REQUIRE(cs.size() == 5);
  CHECK(cs[0]->id() == "in");
  CHECK(cs[0]->options().label() == "input");
  CHECK(cs[1]->id() == "c0");  // ids generated for the rest
  CHECK(cs[1]->options().synapse() == nullptr);
  CHECK(cs[1]->size_mid() == 2);
  CHECK(dynamic_cast<const snn::LstsqL2&>(*cs[1]->options().solver()).reg == 0.05);
  CHECK(to_vector(cs[1]->options().eval_points().literal()) ==
        std::vector<double>{0.1, 0.2, 0.3, -0.4});
  CHECK_FALSE(cs[1]->options().scale_eval_points());
  CHECK(*cs[1]->options().seed() == 11u);
  CHECK_FALSE(*cs[1]->options().trainable());
  CHECK(cs[2]->post().slice.resolve(3) == std::vector<int64_t>{0, 2});
  CHECK(cs[3]->options().transform().distribution()->type() == "Gaussian");
  CHECK(cs[4]->options().synapse()->type() == "Alpha");

  const auto& ps = net->probes();
  REQUIRE(ps.size() == 4);
  CHECK(dynamic_cast<const snn::Lowpass&>(*ps[0]->options().synapse()).tau == 0.01);
  CHECK(dynamic_cast<const snn::LstsqL2&>(*ps[0]->options().solver()).reg == 0.2);
  CHECK(*ps[0]->options().seed() == 5u);
  CHECK(ps[1]->size() == 2);
  CHECK(*ps[1]->options().sample_every() == 0.01);
  CHECK(ps[2]->target().kind == snn::ObjRef::Kind::Connection);
  CHECK(ps[2]->target().connection == cs[3]);
  CHECK(ps[2]->size() == 4 * 20);
  CHECK(ps[3]->id() == "probe_0");
  CHECK(ps[3]->options().synapse() == nullptr);
}

TEST_CASE("spec: generated ids never take an id claimed later in the spec", "[spec]") {
  auto net = snn::network_from_json(json::parse(R"({
    "format": "snn-network/1",
    "nodes": [{"output": 1}, {"id": "out", "size_in": 1}],
    "connections": [{"pre": "node_1", "post": "out"}, {"pre": "node_1", "post": "out"}],
    "probes": [{"id": "c0", "target": "out"}, {"id": "node_0", "target": "out"}]
  })"));
  // node_0 is claimed by a probe, so the first node becomes node_1; c0 likewise.
  CHECK(net->nodes()[0]->id() == "node_1");
  CHECK(net->connections()[0]->id() == "c1");
  CHECK(net->connections()[1]->id() == "c2");
  CHECK(net->probes()[0]->id() == "c0");
}

TEST_CASE("spec: a loop without a synapse is passed on to the simulator", "[spec]") {
  // Rejecting it is the build's job; the loader only describes the network.
  auto net = snn::network_from_json(json::parse(R"({
    "format": "snn-network/1",
    "nodes": [{"id": "a", "size_in": 1}, {"id": "b", "size_in": 1}],
    "connections": [{"pre": "a", "post": "b", "synapse": null},
                    {"pre": "b", "post": "a", "synapse": null}]
  })"));
  CHECK(net->connections().size() == 2);
}

TEST_CASE("spec: load_network reports missing files and bad JSON", "[spec]") {
  CHECK_THROWS_WITH(snn::load_network("/nonexistent/dir/net.json"),
                    Catch::StartsWith("/nonexistent/dir/net.json: cannot open"));
  const auto path = temp_path("bad.json");
  {
    std::ofstream out(path);
    out << "{\n  \"format\": \"snn-network/1\",\n  \"nodes\": [1, 2,]\n}\n";
  }
  try {
    snn::load_network(path);
    FAIL("expected a SpecError");
  } catch (const snn::SpecError& e) {
    const std::string msg = e.what();
    CHECK_THAT(msg, Catch::StartsWith(path + ": not valid JSON"));
    CHECK_THAT(msg, Catch::Contains("line 3"));
  }
  // A valid file: errors carry the file name as the source.
  {
    std::ofstream out(path);
    out << R"({"format": "snn-network/1", "nodes": [{"id": "x", "output": "abc"}]})";
  }
  CHECK_THROWS_WITH(snn::load_network(path),
                    Catch::StartsWith(path + ": /nodes/0/output: expected a number"));
  std::filesystem::remove(path);
}
