// The built-in layer types, each run from a JSON spec and compared with LibTorch's own ops
// (or loops) applied in the test to the layer's own parameters, in Keras' channels_last
// layout: a flat vector is the row-major (H, W, C) array.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "snn/network.h"
#include "snn/simulator.h"
#include "snn/spec.h"

using nlohmann::json;

namespace {

/// x (n) -> the layer -> probe "p", float64.
snn::NetworkPtr one_layer(const json& layer, int64_t n, uint32_t seed = 1) {
  json spec = {{"format", "snn-network/1"},
               {"seed", seed},
               {"settings", {{"dtype", "float64"}}},
               {"nodes", json::array({{{"id", "x"}, {"size_out", n}}})},
               {"layers", json::array({layer})},
               {"connections", json::array({{{"pre", "x"}, {"post", layer["id"]},
                                             {"synapse", nullptr}}})},
               {"probes", json::array({{{"id", "p"}, {"target", layer["id"]}}})}};
  return snn::network_from_json(spec);
}

snn::SimulatorOptions f64(int64_t minibatch) {
  return snn::SimulatorOptions().minibatch_size(minibatch).progress_bar(false);
}

/// One step of the layer on x (B, n); returns (B, size_out).
torch::Tensor run(snn::Simulator& sim, const torch::Tensor& x) {
  return sim.predict({{"x", x.unsqueeze(1)}}, 1)["p"].select(1, 0);
}

torch::Tensor param(snn::Simulator& sim, const std::string& name) {
  auto params = sim.module().named_parameters();
  REQUIRE(params.contains(name));
  return params[name].detach().clone();
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  return (a - b).abs().max().item<double>();
}

}  // namespace

TEST_CASE("Dense computes x W^T + b, Glorot-initialised from the seed", "[layers][build]") {
  const json layer = {{"id", "d"}, {"type", "Dense"}, {"units", 4}};  // shape_in inferred: [6]
  auto net = one_layer(layer, 6);
  CHECK(net->find_node("d")->size_in() == 6);
  snn::Simulator sim(net, f64(3));
  auto W = param(sim, "nodes.d.weight"), b = param(sim, "nodes.d.bias");
  REQUIRE(W.sizes() == torch::IntArrayRef({4, 6}));
  auto x = torch::randn({3, 6}, torch::kFloat64);
  CHECK(max_diff(run(sim, x), torch::matmul(x, W.t()) + b) < 1e-12);
  // Keras' defaults: Glorot uniform, limit sqrt(6 / (fan_in + fan_out)); zero bias.
  const double limit = std::sqrt(6.0 / (6 + 4));
  CHECK(W.abs().max().item<double>() <= limit);
  CHECK(W.abs().max().item<double>() > 0.5 * limit);
  CHECK(b.abs().max().item<double>() == 0);
  // The same spec builds the same parameters; another seed others.
  snn::Simulator again(one_layer(layer, 6), f64(3));
  CHECK(torch::equal(param(again, "nodes.d.weight"), W));
  json seeded = layer;
  seeded["seed"] = 5;
  snn::Simulator other(one_layer(seeded, 6), f64(3));
  CHECK(!torch::equal(param(other, "nodes.d.weight"), W));

  // On a multi-axis shape_in, Dense maps the last axis (as Keras).
  snn::Simulator multi(
      one_layer({{"id", "d"}, {"type", "Dense"}, {"units", 4}, {"shape_in", {2, 3}}}, 6), f64(3));
  auto W2 = param(multi, "nodes.d.weight"), b2 = param(multi, "nodes.d.bias");
  auto expected = (torch::matmul(x.view({3, 2, 3}), W2.t()) + b2).reshape({3, 8});
  CHECK(max_diff(run(multi, x), expected) < 1e-12);
}

TEST_CASE("Conv2D on channels_last input equals torch::conv2d on the permuted image",
          "[layers][build]") {
  SECTION("valid padding, strides (2, 1), bias") {
    const json layer = {{"id", "c"},           {"type", "Conv2D"},       {"shape_in", {5, 6, 2}},
                        {"filters", 3},        {"kernel_size", {3, 2}}, {"strides", {2, 1}}};
    snn::Simulator sim(one_layer(layer, 60), f64(2));
    auto W = param(sim, "nodes.c.weight"), b = param(sim, "nodes.c.bias");
    REQUIRE(W.sizes() == torch::IntArrayRef({3, 2, 3, 2}));
    {
      torch::NoGradGuard g;  // a non-zero bias, to see it used
      sim.module().named_parameters()["nodes.c.bias"].copy_(torch::tensor({0.1, -0.2, 0.3}));
      b = param(sim, "nodes.c.bias");
    }
    auto x = torch::randn({2, 60}, torch::kFloat64);
    auto img = x.view({2, 5, 6, 2}).permute({0, 3, 1, 2});  // HWC -> CHW
    auto ref = torch::conv2d(img, W, b, {2, 1}).permute({0, 2, 3, 1}).reshape({2, -1});
    CHECK(ref.size(1) == 2 * 5 * 3);  // (5-3)/2+1 = 2 rows, (6-2)+1 = 5 columns, 3 filters
    CHECK(max_diff(run(sim, x), ref) < 1e-12);
  }
  SECTION("same padding with stride 2 pads as TensorFlow (the odd pixel after)") {
    // 6 x 6, kernel 3, stride 2: 3 x 3 outputs need (3-1)*2 + 3 = 7 rows: 0 before, 1 after.
    const json layer = {{"id", "c"},    {"type", "Conv2D"},  {"shape_in", {6, 6, 1}},
                        {"filters", 2}, {"kernel_size", 3}, {"strides", 2},
                        {"padding", "same"}};
    snn::Simulator sim(one_layer(layer, 36), f64(2));
    auto W = param(sim, "nodes.c.weight"), b = param(sim, "nodes.c.bias");
    auto x = torch::randn({2, 36}, torch::kFloat64);
    auto img = torch::constant_pad_nd(x.view({2, 6, 6, 1}).permute({0, 3, 1, 2}), {0, 1, 0, 1});
    auto ref = torch::conv2d(img, W, b, 2).permute({0, 2, 3, 1}).reshape({2, -1});
    CHECK(ref.size(1) == 3 * 3 * 2);
    CHECK(max_diff(run(sim, x), ref) < 1e-12);
  }
  SECTION("channels_last false takes (C, H, W)") {
    const json layer = {{"id", "c"},    {"type", "Conv2D"},  {"shape_in", {2, 4, 4}},
                        {"filters", 3}, {"kernel_size", 3}, {"channels_last", false},
                        {"use_bias", false}};
    snn::Simulator sim(one_layer(layer, 32), f64(2));
    CHECK(!sim.module().named_parameters().contains("nodes.c.bias"));
    auto W = param(sim, "nodes.c.weight");
    auto x = torch::randn({2, 32}, torch::kFloat64);
    auto ref = torch::conv2d(x.view({2, 2, 4, 4}), W).reshape({2, -1});
    CHECK(max_diff(run(sim, x), ref) < 1e-12);
  }
}

TEST_CASE("Conv1D on (L, C) equals torch::conv1d", "[layers][build]") {
  const json layer = {{"id", "c"}, {"type", "Conv1D"}, {"shape_in", {7, 2}}, {"filters", 3},
                      {"kernel_size", 3}};
  snn::Simulator sim(one_layer(layer, 14), f64(2));
  auto W = param(sim, "nodes.c.weight"), b = param(sim, "nodes.c.bias");
  auto x = torch::randn({2, 14}, torch::kFloat64);
  auto ref = torch::conv1d(x.view({2, 7, 2}).permute({0, 2, 1}), W, b).permute({0, 2, 1});
  CHECK(max_diff(run(sim, x), ref.reshape({2, -1})) < 1e-12);
}

TEST_CASE("AvgPool2D and MaxPool2D pool channels_last images", "[layers][build]") {
  auto x = torch::randn({2, 4 * 6 * 3}, torch::kFloat64);
  auto img = x.view({2, 4, 6, 3}).permute({0, 3, 1, 2});
  for (const char* type : {"AvgPool2D", "MaxPool2D"}) {
    INFO(type);
    const json layer = {{"id", "pool"}, {"type", type}, {"shape_in", {4, 6, 3}}, {"pool_size", 2}};
    snn::Simulator sim(one_layer(layer, 72), f64(2));
    auto ref = std::string(type) == "AvgPool2D" ? torch::avg_pool2d(img, 2) : torch::max_pool2d(img, 2);
    CHECK(max_diff(run(sim, x), ref.permute({0, 2, 3, 1}).reshape({2, -1})) < 1e-12);
  }
  // "same" on 5 x 5 with 2 x 2 pools: windows [0,1], [2,3], [4] per axis; the average is
  // over the pixels inside the image, the maximum ignores the padding (values all < 0).
  auto y = torch::rand({1, 25}, torch::kFloat64) - 2.0;
  auto a = y.view({5, 5});
  torch::Tensor avg = torch::empty({3, 3}, torch::kFloat64), mx = torch::empty({3, 3}, torch::kFloat64);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      double sum = 0, best = -1e300;
      int count = 0;
      for (int r = 2 * i; r < std::min(2 * i + 2, 5); ++r)
        for (int c = 2 * j; c < std::min(2 * j + 2, 5); ++c) {
          sum += a[r][c].item<double>();
          best = std::max(best, a[r][c].item<double>());
          ++count;
        }
      avg[i][j] = sum / count;
      mx[i][j] = best;
    }
  for (const char* type : {"AvgPool2D", "MaxPool2D"}) {
    INFO(type);
    const json layer = {{"id", "pool"},       {"type", type},       {"shape_in", {5, 5, 1}},
                        {"pool_size", 2},     {"padding", "same"}};
    snn::Simulator sim(one_layer(layer, 25), f64(1));
    auto ref = std::string(type) == "AvgPool2D" ? avg : mx;
    CHECK(max_diff(run(sim, y), ref.reshape({1, 9})) < 1e-12);
  }
}

TEST_CASE("Flatten leaves the flat vector as it is", "[layers][build]") {
  snn::Simulator sim(one_layer({{"id", "f"}, {"type", "Flatten"}, {"shape_in", {2, 3, 2}}}, 12),
                     f64(2));
  auto x = torch::randn({2, 12}, torch::kFloat64);
  CHECK(torch::equal(run(sim, x), x));
}

TEST_CASE("BatchNorm uses batch statistics in training and running ones in inference",
          "[layers][build]") {
  const json layer = {{"id", "bn"},        {"type", "BatchNorm"}, {"shape_in", {3, 4}},
                      {"momentum", 0.9},   {"epsilon", 0.001}};
  snn::Simulator sim(one_layer(layer, 12), f64(8));
  auto x = torch::rand({8, 12}, torch::kFloat64) * 3 + 1;
  auto xs = x.view({8, 3, 4});  // channels on the last axis; statistics over 8 x 3 values
  auto mean = xs.mean(torch::IntArrayRef{0, 1});
  auto var = (xs - mean).pow(2).mean(torch::IntArrayRef{0, 1});
  sim.module().train(true);
  auto y = run(sim, x);
  sim.module().train(false);
  CHECK(max_diff(y, ((xs - mean) / torch::sqrt(var + 0.001)).reshape({8, 12})) < 1e-9);
  // Keras' momentum 0.9: running = 0.9 running + 0.1 batch (the variance unbiased, n = 24).
  auto buffers = sim.module().named_buffers();
  auto rm = buffers["nodes.bn.running_mean"], rv = buffers["nodes.bn.running_var"];
  CHECK(max_diff(rm, 0.1 * mean) < 1e-12);
  CHECK(max_diff(rv, 0.9 + 0.1 * var * 24.0 / 23.0) < 1e-12);
  auto z = run(sim, x);
  CHECK(max_diff(z, ((xs - rm) / torch::sqrt(rv + 0.001)).reshape({8, 12})) < 1e-9);
  CHECK(torch::equal(sim.module().named_buffers()["nodes.bn.running_mean"], rm));  // unchanged
}

TEST_CASE("Dropout drops only in training", "[layers][build]") {
  snn::Simulator sim(one_layer({{"id", "drop"}, {"type", "Dropout"}, {"rate", 0.5}}, 2000),
                     f64(2));
  auto x = torch::rand({2, 2000}, torch::kFloat64) + 0.5;
  CHECK(torch::equal(run(sim, x), x));
  sim.module().train(true);
  auto y = run(sim, x);
  sim.module().train(false);
  auto dropped = (y == 0);
  // Kept values are scaled by 1 / (1 - rate).
  CHECK(torch::allclose(y.masked_select(~dropped), 2.0 * x.masked_select(~dropped)));
  const double frac = dropped.to(torch::kFloat64).mean().item<double>();
  CHECK(frac > 0.45);
  CHECK(frac < 0.55);
}

TEST_CASE("a Neurons layer is an ensemble with gain 1 and bias 0, named by its id",
          "[layers][build]") {
  auto net = one_layer(
      {{"id", "r"}, {"type", "Neurons"}, {"neuron_type", {{"type", "RectifiedLinear"}}}}, 6);
  auto r = net->find_ensemble("r");
  REQUIRE(r);
  CHECK(r->n_neurons() == 6);  // inferred from x
  snn::Simulator sim(net, f64(2));
  auto x = torch::randn({2, 6}, torch::kFloat64);
  CHECK(max_diff(run(sim, x), torch::relu(x)) < 1e-12);
}

TEST_CASE("a spiking conv net gives the same numbers layered and step by step",
          "[layers][build][layered]") {
  auto spec = json::parse(R"JSON({
    "format": "snn-network/1", "seed": 3, "settings": {"dtype": "float64"},
    "nodes": [{"id": "img", "size_out": 64}],
    "layers": [
      {"id": "c1", "type": "Conv2D", "shape_in": [8, 8, 1], "filters": 4, "kernel_size": 3},
      {"id": "bn", "type": "BatchNorm", "shape_in": [6, 6, 4]},
      {"id": "n1", "type": "Neurons", "neuron_type": {"type": "LIF", "amplitude": 0.01}},
      {"id": "pool", "type": "AvgPool2D", "shape_in": [6, 6, 4]},
      {"id": "drop", "type": "Dropout", "rate": 0.3},
      {"id": "d", "type": "Dense", "units": 3}
    ],
    "connections": [
      {"pre": "img", "post": "c1", "synapse": null},
      {"pre": "c1", "post": "bn", "synapse": null},
      {"pre": "bn", "post": "n1", "transform": 3.0, "synapse": null},
      {"pre": "n1", "post": "pool", "synapse": 0.005},
      {"pre": "pool", "post": "drop", "synapse": null},
      {"pre": "drop", "post": "d", "synapse": null}
    ],
    "probes": [{"id": "p", "target": "d"}, {"id": "p_spk", "target": "n1"}]
  })JSON");
  auto net = snn::network_from_json(spec);
  snn::Simulator layered(net, f64(2).layered(true));
  snn::Simulator steps(net, f64(2).layered(false));
  auto x = torch::rand({2, 64}, torch::kFloat64) * 2;
  for (auto* sim : {&layered, &steps}) sim->run_steps(30, {{"img", x}});
  for (const char* p : {"p", "p_spk"}) {
    INFO(p);
    CHECK(max_diff(layered.data(p), steps.data(p)) < 1e-10);
    CHECK(layered.data(p).abs().max().item<double>() > 0);
  }
}
