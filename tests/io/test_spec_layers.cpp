// `layers` in snn-network/1 specs: load -> save -> load round trips, errors with JSON paths,
// custom layer types, and the shipped convolutional model.
#include <torch/types.h>

#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "snn/errors.h"
#include "snn/layers.h"
#include "snn/simulator.h"
#include "snn/spec.h"

using nlohmann::json;

namespace {

const char* kAllLayers = R"JSON({
  "format": "snn-network/1", "seed": 2,
  "nodes": [{"id": "img", "size_out": 64}, {"id": "out", "size_in": 3}],
  "layers": [
    {"id": "c1", "type": "Conv2D", "shape_in": [8, 8, 1], "filters": 2, "kernel_size": 3,
     "padding": "same", "label": "first"},
    {"id": "n1", "type": "Neurons", "neuron_type": {"type": "SpikingRectifiedLinear"}},
    {"id": "bn", "type": "BatchNorm", "shape_in": [8, 8, 2], "momentum": 0.9},
    {"id": "mp", "type": "MaxPool2D", "shape_in": [8, 8, 2], "pool_size": [2, 2]},
    {"id": "ap", "type": "AvgPool2D", "shape_in": [4, 4, 2], "strides": 1},
    {"id": "c0", "type": "Conv1D", "shape_in": [9, 2], "filters": 2, "kernel_size": 2,
     "trainable": false},
    {"id": "fl", "type": "Flatten"},
    {"id": "dr", "type": "Dropout", "rate": 0.2},
    {"id": "d", "type": "Dense", "units": 3, "use_bias": false, "seed": 11}
  ],
  "connections": [
    {"pre": "img", "post": "c1", "synapse": null},
    {"pre": "c1", "post": "n1", "synapse": null},
    {"pre": "n1", "post": "bn", "synapse": 0.005},
    {"pre": "bn", "post": "mp", "synapse": null},
    {"pre": "mp", "post": "ap", "synapse": null},
    {"pre": "ap", "post": "c0", "synapse": null},
    {"pre": "c0", "post": "fl", "synapse": null},
    {"pre": "fl", "post": "dr", "synapse": null},
    {"pre": "dr", "post": "d", "synapse": null},
    {"pre": "d", "post": "out", "synapse": 0.01}
  ],
  "probes": [{"id": "p", "target": "out"}, {"id": "p_n1", "target": {"ref": "n1", "slice": [0, 5]}}]
})JSON";

struct BadLayer {
  const char* what;
  const char* layers;     // the "layers" list
  const char* expected;   // substring of the message
};

// Every case: img (784) -> the first layer.
const BadLayer kBad[] = {
    {"conv on a flat input", R"([{"id": "c", "type": "Conv2D", "filters": 4, "kernel_size": 3}])",
     "/layers/0/shape_in: a Conv2D layer views its input as [H, W, C] (3 sizes), got [784]"},
    {"kernel_size of the wrong type",
     R"([{"id": "c", "type": "Conv2D", "shape_in": [28, 28, 1], "filters": 4, "kernel_size": "3"}])",
     R"(/layers/0/kernel_size: expected an integer >= 1 or a list of 2 such integers, got "3")"},
    {"bad padding",
     R"([{"id": "c", "type": "Conv2D", "shape_in": [28, 28, 1], "filters": 4, "kernel_size": 3,
          "padding": "full"}])",
     R"(/layers/0/padding: expected "valid" or "same", got "full")"},
    {"unknown key", R"([{"id": "c", "type": "Conv2D", "shape_in": [28, 28, 1], "filter": 4}])",
     R"(/layers/0/filter: unknown key "filter" in a Conv2D layer)"},
    {"missing filters", R"([{"id": "c", "type": "Conv2D", "shape_in": [28, 28, 1], "kernel_size": 3}])",
     R"(/layers/0: missing required key "filters" for a Conv2D layer)"},
    {"kernel larger than the image",
     R"([{"id": "c", "type": "Conv2D", "shape_in": [2, 392, 1], "filters": 4, "kernel_size": 3}])",
     R"(/layers/0/kernel_size: the kernel (3) is larger than the input (2) with padding "valid")"},
    {"unknown type", R"([{"id": "c", "type": "Conv3D"}])",
     R"(/layers/0/type: unknown layer type "Conv3D" (available: AvgPool2D, BatchNorm, Conv1D)"},
    {"no type", R"([{"id": "c"}])", R"(/layers/0: missing required key "type")"},
    {"Dense without units", R"([{"id": "d", "type": "Dense"}])",
     R"(/layers/0: missing required key "units" for a Dense layer)"},
    {"zero size in shape_in", R"([{"id": "d", "type": "Dense", "units": 2, "shape_in": [28, 0]}])",
     "/layers/0/shape_in/1: expected an integer >= 1, got 0"},
    {"shape_in that does not match the connection",
     R"([{"id": "d", "type": "Dense", "units": 2, "shape_in": [10]}])",
     "/connections/0: connection \"c0\" (img -> d): without a transform, the pre value (784 dims) "
     "must match the post (10 dims)"},
    {"Dropout rate 1", R"([{"id": "d", "type": "Dropout", "rate": 1}])",
     "/layers/0/rate: expected a number in [0"},
    {"Neurons without a type", R"([{"id": "n", "type": "Neurons"}])",
     R"(/layers/0: missing required key "neuron_type")"},
    {"Neurons of an unknown type",
     R"([{"id": "n", "type": "Neurons", "neuron_type": {"type": "LFI"}}])",
     R"(/layers/0/neuron_type/type: unknown neuron type "LFI")"},
    {"Neurons of a size that does not match shape_in",
     R"([{"id": "n", "type": "Neurons", "neuron_type": "LIF", "size": 5, "shape_in": [784]}])",
     "/layers/0/size: size 5 does not match shape_in (784 values)"},
    {"BatchNorm axis out of range",
     R"([{"id": "b", "type": "BatchNorm", "shape_in": [784], "axis": 1}])",
     "/layers/0/axis: expected an axis of shape_in (-1 to 0), got 1"},
    {"duplicate id", R"([{"id": "img", "type": "Flatten"}])",
     R"(/layers/0/id: duplicate id "img" (already used by /nodes/0))"},
};

json with_layers(const char* layers) {
  json spec = {{"format", "snn-network/1"},
               {"nodes", json::array({{{"id", "img"}, {"size_out", 784}}})},
               {"layers", json::parse(layers)}};
  const auto first = spec["layers"][0].value("id", std::string("x"));
  spec["connections"] = json::array({{{"pre", "img"}, {"post", first}, {"synapse", nullptr}}});
  return spec;
}

}  // namespace

TEST_CASE("specs with layers load, save and load again to the same spec", "[layers][spec]") {
  const auto spec = json::parse(kAllLayers);
  auto net = snn::network_from_json(spec);
  const json first = snn::network_to_json(*net);
  const json second = snn::network_to_json(*snn::network_from_json(first));
  CHECK(first.dump() == second.dump());

  // Layers are written as layers, in the order given, with every default filled in.
  REQUIRE(first.contains("layers"));
  const auto& L = first["layers"];
  std::vector<std::string> ids;
  for (const auto& l : L) ids.push_back(l["id"]);
  CHECK(ids == std::vector<std::string>{"c1", "n1", "bn", "mp", "ap", "c0", "fl", "dr", "d"});
  CHECK(first["nodes"].size() == 2);  // TensorNodes are not written as nodes ...
  CHECK(first["ensembles"].empty());  // ... nor Neurons layers as ensembles
  CHECK(L[0]["label"] == "first");
  CHECK(L[0]["kernel_size"] == json({3, 3}));
  CHECK(L[0]["strides"] == json({1, 1}));
  CHECK(L[0]["channels_last"] == true);
  CHECK(L[0]["use_bias"] == true);
  CHECK(L[1]["size"] == 128);  // inferred from c1: 8 x 8 x 2
  CHECK(L[1]["neuron_type"]["type"] == "SpikingRectifiedLinear");
  CHECK(L[2]["epsilon"] == 0.001);
  CHECK(L[4]["pool_size"] == json({2, 2}));
  CHECK(L[4]["strides"] == json({1, 1}));
  CHECK(L[5]["trainable"] == false);
  CHECK(L[6]["shape_in"] == json({16}));  // Flatten: inferred flat, from Conv1D's 8 x 2 output
  CHECK(L[8]["shape_in"] == json({16}));
  CHECK(L[8]["seed"] == 11);
  // References to a Neurons layer name it by its id.
  CHECK(first["connections"][1]["post"] == "n1");
  CHECK(first["probes"][1]["target"]["ref"] == "n1");

  // Both loads build the same parameters, and they run.
  auto opts = snn::SimulatorOptions().minibatch_size(2).progress_bar(false);
  snn::Simulator a(net, opts), b(snn::network_from_json(first), opts);
  auto pa = a.module().named_parameters(), pb = b.module().named_parameters();
  REQUIRE(pa.size() == pb.size());
  for (const auto& item : pa) {
    INFO(item.key());
    CHECK(torch::equal(item.value(), pb[item.key()]));
  }
  CHECK(!pa["nodes.c0.weight"].requires_grad());
  auto x = torch::rand({2, 64});
  a.run_steps(5, {{"img", x}});
  b.run_steps(5, {{"img", x}});
  CHECK(torch::equal(a.data("p"), b.data("p")));
}

TEST_CASE("bad layer specs name the JSON path and the reason", "[layers][spec]") {
  for (const auto& c : kBad) {
    INFO(c.what);
    const json spec = with_layers(c.layers);
    try {
      snn::network_from_json(spec);
      FAIL("no error");
    } catch (const snn::SpecError& e) {
      CHECK_THAT(e.what(), Catch::Contains(std::string("<spec>: ") + c.expected));
    }
  }
  // check_network_json lists every problem, and skips what refers to a broken layer.
  auto problems = snn::check_network_json(json::parse(R"JSON({
    "format": "snn-network/1", "nodes": [{"id": "img", "size_out": 784}],
    "layers": [{"id": "a", "type": "Dense"}, {"id": "b", "type": "Flatten", "shape_in": [2, "x"]}],
    "connections": [{"pre": "img", "post": "a"}, {"pre": "a", "post": "b"}]
  })JSON"));
  REQUIRE(problems.size() == 2);
  CHECK_THAT(problems[0], Catch::StartsWith("/layers/0: missing required key \"units\""));
  CHECK_THAT(problems[1], Catch::StartsWith("/layers/1/shape_in/1: expected an integer >= 1"));
}

TEST_CASE("custom layer types registered from C++ load from JSON", "[layers][spec]") {
  snn::register_layer("TestScale", [](const nlohmann::json& j, const std::string& path,
                                      const std::vector<int64_t>& shape_in) {
    snn::check_layer_keys(j, path, "TestScale", {"factor"});
    const double k = j.value("factor", 1.0);
    return snn::TensorNodeOptions().shape_in(shape_in).module(
        std::make_shared<torch::nn::Module>(),
        [k](torch::nn::Module&, const torch::Tensor&, const torch::Tensor& x) { return k * x; });
  });
  auto spec = with_layers(R"([{"id": "s", "type": "TestScale", "factor": 3}])");
  spec["probes"] = json::array({{{"id", "p"}, {"target", "s"}}});
  auto net = snn::network_from_json(spec);
  snn::Simulator sim(net, snn::SimulatorOptions().progress_bar(false));
  auto x = torch::rand({1, 1, 784});
  CHECK(torch::allclose(sim.predict({{"img", x}})["p"], 3 * x));
  // Saved back with its keys as given.
  const auto saved = snn::network_to_json(*net);
  CHECK(saved["layers"][0]["factor"] == 3);
  CHECK(saved["layers"][0]["type"] == "TestScale");
  CHECK_THROWS_WITH(snn::network_from_json(with_layers(R"([{"id": "s", "type": "TestScale", "factr": 3}])")),
                    Catch::Contains("/layers/0/factr: unknown key \"factr\" in a TestScale layer"));
}

TEST_CASE("the convolutional Fashion-MNIST model builds and trains a minibatch",
          "[layers][spec][models]") {
  auto net = snn::load_network(std::string(SNN_SOURCE_DIR) + "/models/fashion_mnist_conv.json");
  CHECK(net->find_node("d")->size_in() == 3200);  // 5 x 5 x 128 after two strided convs
  snn::Simulator sim(net, snn::SimulatorOptions().minibatch_size(4).progress_bar(false));
  sim.compile(snn::CompileOptions()
                  .optimizer(snn::OptimizerOptions().type("Adam").lr(1e-3))
                  .loss("p_out", snn::LossOptions()
                                     .type("sparse_categorical_crossentropy")
                                     .from_logits(true)
                                     .steps("mean")));
  torch::manual_seed(0);
  auto x = torch::rand({4, 784});
  auto y = torch::randint(0, 10, {4}, torch::kLong);
  auto before = sim.module().named_parameters()["nodes.c1.weight"].detach().clone();
  auto history = sim.fit({{"img", x}}, {{"p_out", y}},
                         snn::FitOptions().epochs(1).n_steps(3).progress_bar(false));
  REQUIRE(history.epochs.size() == 1);
  CHECK(std::isfinite(history.epochs[0].values.at("loss")));
  // The first convolution's kernel took a step.
  CHECK(!torch::equal(sim.module().named_parameters()["nodes.c1.weight"], before));
}
