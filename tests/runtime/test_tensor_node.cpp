// TensorNode (C++ API) and the Layer shortcut: outputs against torch ops on the node's own
// parameters, shape handling, time, training, recurrent use, checkpoints.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>

#include <unistd.h>

#include "snn/errors.h"
#include "snn/network.h"
#include "snn/simulator.h"
#include "snn/tensor_node.h"

namespace {

snn::SimulatorOptions f64(int64_t minibatch = 1) {
  return snn::SimulatorOptions().dtype(torch::kFloat64).minibatch_size(minibatch).progress_bar(
      false);
}

torch::Tensor param(snn::Simulator& sim, const std::string& name) {
  auto params = sim.module().named_parameters();
  REQUIRE(params.contains(name));
  return params[name].detach().clone();
}

/// x (3) -> d (a LibTorch Linear 3 -> 2) -> probe "p".
snn::NetworkPtr linear_net(torch::nn::Linear lin) {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(2));
  auto x = net->node(snn::NodeOptions().id("x").size_out(3));
  auto d = snn::tensor_node(*net, snn::TensorNodeOptions().id("d").shape_in({3}).module(lin));
  net->connect(x, d, snn::ConnectionOptions().synapse(nullptr));
  net->probe(d, snn::ProbeOptions().id("p"));
  return net;
}

}  // namespace

TEST_CASE("a TensorNode applies its module within the step", "[layers][runtime]") {
  torch::manual_seed(1);
  torch::nn::Linear lin(3, 2);
  auto net = linear_net(lin);
  auto d = net->find_node("d");
  CHECK(d->kind() == snn::Node::Kind::Tensor);
  CHECK(d->size_in() == 3);
  CHECK(d->size_out() == 2);  // inferred by the trial call

  for (bool layered : {true, false}) {
    INFO("layered " << layered);
    snn::Simulator sim(net, f64(4).layered(layered));
    auto W = param(sim, "nodes.d.weight"), b = param(sim, "nodes.d.bias");
    // The simulator's copy starts from the module's values ...
    CHECK(torch::allclose(W, lin->weight.detach().to(torch::kFloat64)));
    auto x = torch::rand({4, 5, 3}, torch::kFloat64);
    auto y = sim.predict({{"x", x}})["p"];
    REQUIRE(y.sizes() == torch::IntArrayRef({4, 5, 2}));
    // ... and its output is x W^T + b at every step, with no delay.
    auto expected = torch::matmul(x, W.t()) + b;
    CHECK((y - expected).abs().max().item<double>() < 1e-12);
    // ... but is a copy: changing it leaves the user's module alone.
    {
      torch::NoGradGuard g;
      sim.module().named_parameters()["nodes.d.weight"].fill_(3.0);
    }
    CHECK(!torch::allclose(lin->weight.detach(), torch::full_like(lin->weight, 3.0)));
    // reset() restores the built values.
    sim.reset();
    CHECK(torch::equal(param(sim, "nodes.d.weight"), W));
  }
}

TEST_CASE("a TensorNode sees (batch,) + shape_in and may use t", "[layers][runtime]") {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(0));
  auto x = net->node(snn::NodeOptions().id("x").size_out(6));
  // Sums over the first axis of a (2, 3) view: column sums of the row-major matrix.
  auto colsum = snn::tensor_node(
      *net, snn::TensorNodeOptions().id("colsum").shape_in({2, 3}).module(
                std::make_shared<torch::nn::Module>(),
                [](torch::nn::Module&, const torch::Tensor&, const torch::Tensor& v) {
                  if (v.dim() != 3 || v.size(1) != 2 || v.size(2) != 3)
                    throw std::runtime_error("wrong view " + c10::str(v.sizes()));
                  return v.sum(1);
                }));
  CHECK(colsum->size_out() == 3);
  auto clock = snn::tensor_node(
      *net, snn::TensorNodeOptions().id("clock").shape_in({1}).pass_time(true).module(
                std::make_shared<torch::nn::Module>(),
                [](torch::nn::Module&, const torch::Tensor& t, const torch::Tensor& v) {
                  return v + t;
                }));
  net->connect(x, colsum, snn::ConnectionOptions().synapse(nullptr));
  net->connect((*x)[snn::Slice::indices({0})], clock, snn::ConnectionOptions().synapse(nullptr));
  net->probe(colsum, snn::ProbeOptions().id("p_sum"));
  net->probe(clock, snn::ProbeOptions().id("p_clock"));
  auto data = torch::rand({2, 4, 6}, torch::kFloat64);
  auto v = data.reshape({2, 4, 2, 3});
  auto t = torch::arange(1, 5, torch::kFloat64) * 0.001;
  for (bool layered : {true, false}) {
    INFO("layered " << layered);
    snn::Simulator sim(net, f64(2).layered(layered));
    auto out = sim.predict({{"x", data}});
    CHECK((out["p_sum"] - (v.select(2, 0) + v.select(2, 1))).abs().max().item<double>() < 1e-12);
    auto expected_clock = data.narrow(2, 0, 1) + t.reshape({1, 4, 1});
    CHECK((out["p_clock"] - expected_clock).abs().max().item<double>() < 1e-12);
  }
}

TEST_CASE("TensorNode option errors name the node", "[layers][runtime]") {
  auto net = std::make_shared<snn::Network>();
  CHECK_THROWS_WITH(snn::tensor_node(*net, snn::TensorNodeOptions().id("n").shape_in({3})),
                    Catch::Contains("tensor node \"n\": needs a module"));
  CHECK_THROWS_WITH(
      snn::tensor_node(*net, snn::TensorNodeOptions().id("n").shape_in({4}).module(
                                 torch::nn::Linear(3, 2))),
      Catch::Contains("tensor node \"n\": the trial call on zeros of shape (1, 4) failed"));
  CHECK_THROWS_WITH(
      snn::tensor_node(*net, snn::TensorNodeOptions().id("n").shape_in({3}).shape_out({5}).module(
                                 torch::nn::Linear(3, 2))),
      Catch::Contains("shape_out is (5,) but the module returns (2,)"));
}

TEST_CASE("trainable=false TensorNodes are not trained", "[layers][runtime]") {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(0));
  auto x = net->node(snn::NodeOptions().id("x").size_out(3));
  auto frozen = snn::tensor_node(
      *net, snn::TensorNodeOptions().id("f").shape_in({3}).trainable(false).module(
                torch::nn::Linear(3, 3)));
  auto free = snn::tensor_node(
      *net, snn::TensorNodeOptions().id("g").shape_in({3}).module(torch::nn::Linear(3, 1)));
  net->connect(x, frozen, snn::ConnectionOptions().synapse(nullptr).trainable(false));
  net->connect(frozen, free, snn::ConnectionOptions().synapse(nullptr).trainable(false));
  net->probe(free, snn::ProbeOptions().id("p"));
  snn::Simulator sim(net, f64(4));
  auto params = sim.module().named_parameters();
  CHECK(!params["nodes.f.weight"].requires_grad());
  CHECK(!params["nodes.f.bias"].requires_grad());
  CHECK(params["nodes.g.weight"].requires_grad());
  auto before = param(sim, "nodes.f.weight");
  sim.compile(snn::CompileOptions()
                  .optimizer(snn::OptimizerOptions().type("SGD").lr(0.1))
                  .loss("p", snn::LossOptions()));
  auto xs = torch::rand({8, 3}, torch::kFloat64);
  sim.fit({{"x", xs}}, {{"p", torch::ones({8, 1}, torch::kFloat64)}},
          snn::FitOptions().epochs(3).progress_bar(false));
  CHECK(torch::equal(param(sim, "nodes.f.weight"), before));
}

TEST_CASE("a Dense TensorNode learns a linear map, its gradients match finite differences",
          "[layers][runtime][train]") {
  const auto A = torch::tensor({{0.5, -1.0, 2.0}, {1.5, 0.25, -0.75}}, torch::kFloat64);
  const auto c = torch::tensor({0.1, -0.2}, torch::kFloat64);
  torch::manual_seed(3);
  auto net = linear_net(torch::nn::Linear(3, 2));
  snn::Simulator sim(net, f64(16));
  sim.compile(snn::CompileOptions()
                  .optimizer(snn::OptimizerOptions().type("SGD").lr(0.5))
                  .loss("p", snn::LossOptions().type("mse")));
  auto x = torch::rand({64, 3}, torch::kFloat64) * 2 - 1;
  auto y = torch::matmul(x, A.t()) + c;

  auto check = sim.check_gradients({{"x", x.narrow(0, 0, 16)}}, {{"p", y.narrow(0, 0, 16)}}, 1);
  INFO("max abs error " << check.max_abs_error << " at " << check.worst_parameter);
  CHECK(check.passed);

  const double first = sim.evaluate({{"x", x}}, {{"p", y}}, 1).at("loss");
  sim.fit({{"x", x}}, {{"p", y}}, snn::FitOptions().epochs(150).n_steps(1).progress_bar(false));
  const double last = sim.evaluate({{"x", x}}, {{"p", y}}, 1).at("loss");
  // The exact solution (W = A, b = c) has zero loss; plain gradient descent on this convex
  // problem converges to it geometrically.
  CHECK(first > 0.1);
  CHECK(last < 1e-4);
  CHECK((param(sim, "nodes.d.weight") - A).abs().max().item<double>() < 0.01);
  CHECK((param(sim, "nodes.d.bias") - c).abs().max().item<double>() < 0.01);
}

TEST_CASE("a TensorNode inside a recurrent loop runs as a node function would",
          "[layers][runtime]") {
  // s = x + 0.5 * (s filtered), once through a TensorNode and once through a Node function.
  auto make = [](bool tensor) {
    auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(0));
    auto x = net->node(snn::NodeOptions().id("x").output(1.0));
    auto s = net->node(snn::NodeOptions().id("s").size_in(1));
    snn::NodePtr half;
    if (tensor) {
      half = snn::tensor_node(
          *net, snn::TensorNodeOptions().id("half").shape_in({1}).module(
                    std::make_shared<torch::nn::Module>(),
                    [](torch::nn::Module&, const torch::Tensor&, const torch::Tensor& v) {
                      return 0.5 * v;
                    }));
    } else {
      half = net->node(snn::NodeOptions().id("half").size_in(1).output(
          snn::Function::of_x([](const std::vector<double>& v) {
            return std::vector<double>{0.5 * v[0]};
          })));
    }
    net->connect(x, s, snn::ConnectionOptions().synapse(nullptr));
    net->connect(s, half, snn::ConnectionOptions().synapse(nullptr));
    net->connect(half, s, snn::ConnectionOptions().synapse(0.01));
    net->probe(s, snn::ProbeOptions().id("p"));
    return net;
  };
  snn::Simulator a(make(true), f64()), b(make(false), f64());
  a.run_steps(100);
  b.run_steps(100);
  CHECK((a.data("p") - b.data("p")).abs().max().item<double>() < 1e-12);
  // The loop converges towards x / (1 - 0.5) = 2.
  CHECK(a.data("p")[0][99][0].item<double>() > 1.9);
}

TEST_CASE("Layer makes TensorNodes and neuron layers with their input connection",
          "[layers][runtime]") {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(4));
  auto x = net->node(snn::NodeOptions().id("x").size_out(5));
  auto h = snn::Layer(*net, snn::LIFRate(), "h")(x);
  REQUIRE(h.kind == snn::ObjRef::Kind::Neurons);
  CHECK(h.ensemble->n_neurons() == 5);
  torch::manual_seed(0);
  auto y = snn::Layer(*net, snn::TensorNodeOptions().id("y").module(torch::nn::Linear(5, 2)))(h);
  REQUIRE(y.kind == snn::ObjRef::Kind::Node);
  CHECK(y.node->size_in() == 5);
  CHECK(net->connections().size() == 2);
  net->probe(h, snn::ProbeOptions().id("ph"));
  net->probe(y, snn::ProbeOptions().id("py"));
  snn::Simulator sim(net, f64(2));
  auto J = torch::rand({2, 1, 5}, torch::kFloat64) * 2 + 1.05;  // above threshold
  auto out = sim.predict({{"x", J}});
  // gain 1, bias 0: the neurons' input is x itself; LIFRate's rate (tau_rc 0.02, tau_ref 0.002).
  auto rate = 1.0 / (0.002 + 0.02 * torch::log1p(1.0 / (J - 1.0)));
  CHECK((out["ph"] - rate).abs().max().item<double>() < 1e-9);
  auto W = param(sim, "nodes.y.weight"), b = param(sim, "nodes.y.bias");
  CHECK((out["py"] - (torch::matmul(rate, W.t()) + b)).abs().max().item<double>() < 1e-9);
}

TEST_CASE("checkpoints save and load TensorNode parameters and buffers", "[layers][runtime]") {
  auto make = [] {
    auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(6));
    auto x = net->node(snn::NodeOptions().id("x").size_out(4));
    auto bn = snn::tensor_node(*net, snn::TensorNodeOptions().id("bn").shape_in({4}).module(
                                         torch::nn::BatchNorm1d(4)));
    net->connect(x, bn, snn::ConnectionOptions().synapse(nullptr));
    net->probe(bn, snn::ProbeOptions().id("p"));
    return net;
  };
  const auto path = std::filesystem::temp_directory_path() /
                    ("snn_tn_ckpt_" + std::to_string(::getpid()) + ".pt");
  snn::Simulator a(make(), f64(8));
  {
    torch::NoGradGuard g;
    a.module().named_parameters()["nodes.bn.weight"].copy_(torch::tensor({1.0, 2.0, 3.0, 4.0}));
  }
  a.module().train(true);  // a training pass moves the running statistics
  a.predict({{"x", torch::rand({8, 1, 4}, torch::kFloat64) + 2.0}});
  a.module().train(false);
  auto rm = a.module().named_buffers()["nodes.bn.running_mean"].clone();
  CHECK(rm.min().item<double>() > 0.1);
  a.save_params(path.string());
  snn::Simulator b(make(), f64(8));
  b.load_params(path.string());
  std::filesystem::remove(path);
  CHECK(torch::equal(b.module().named_parameters()["nodes.bn.weight"],
                     a.module().named_parameters()["nodes.bn.weight"]));
  CHECK(torch::equal(b.module().named_buffers()["nodes.bn.running_mean"], rm));
  auto x = torch::rand({8, 1, 4}, torch::kFloat64);
  CHECK(torch::equal(a.predict({{"x", x}})["p"], b.predict({{"x", x}})["p"]));
}
