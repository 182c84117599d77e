// Where tensors live. The CUDA cases compare a CUDA simulator with a CPU one on the same
// network in float64 (the CPU side is checked against Nengo elsewhere) and skip, passing,
// on machines without CUDA. They cover what the layered LIF case in test_step_order.cpp does
// not: the step loop with a learning rule, TensorNodes, fit with data already on the GPU, and
// resuming training from a checkpoint.
#include <catch2/catch.hpp>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "conformance/conformance_support.h"
#include "snn/learning_rules.h"
#include "snn/network.h"
#include "snn/simulator.h"
#include "snn/tensor_node.h"

namespace {

using snn::CompileOptions;
using snn::FitOptions;
using snn::LossOptions;
using snn::OptimizerOptions;

snn::SimulatorOptions f64(torch::Device device = torch::kCPU, int64_t minibatch = 1) {
  return snn::SimulatorOptions()
      .dtype(torch::kFloat64)
      .minibatch_size(minibatch)
      .device(device)
      .progress_bar(false);
}

bool have_cuda() {
  if (torch::cuda::is_available()) return true;
  WARN("CUDA not available: skipped");
  return false;
}

/// stim -> LIF ensemble -[PES, recurrent]-> itself, probed filtered: only the step loop runs
/// learning rules.
snn::NetworkPtr learning_network() {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(5));
  auto stim = net->node(snn::NodeOptions().id("stim").output(snn::Function::of_t([](double t) {
    return std::vector<double>{std::sin(10.0 * t)};
  })));
  auto a = net->ensemble(snn::EnsembleOptions(40, 1).id("a"));
  auto b = net->ensemble(snn::EnsembleOptions(40, 1).id("b"));
  net->connect(stim, a);
  auto learn = net->connect(
      a, b, snn::ConnectionOptions().id("learn").learning_rule(snn::PES::make(snn::PESOptions())));
  net->connect(b, snn::ObjRef::learning_rule(learn));
  net->connect(stim, snn::ObjRef::learning_rule(learn), snn::ConnectionOptions().transform(-1.0));
  net->probe(b, snn::ProbeOptions().id("p").synapse(0.01));
  return net;
}

/// in (3) -> Dense TensorNode (3 -> 2) -> out, for training.
snn::NetworkPtr dense_network() {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(2));
  auto in = net->node(snn::NodeOptions().id("in").size_out(3));
  torch::manual_seed(0);
  auto d = snn::tensor_node(
      *net, snn::TensorNodeOptions().id("d").shape_in({3}).module(torch::nn::Linear(3, 2)));
  net->connect(in, d, snn::ConnectionOptions().synapse(nullptr));
  net->probe(d, snn::ProbeOptions().id("p"));
  return net;
}

std::pair<torch::Tensor, torch::Tensor> regression_data() {
  auto g = torch::arange(48, torch::kFloat64).reshape({16, 1, 3}) / 48.0;
  auto x = torch::sin(3.0 * g);
  auto A = torch::tensor({{0.5, -1.0, 2.0}, {1.5, 0.25, -0.75}}, torch::kFloat64);
  return {x, torch::matmul(x, A.t())};
}

torch::Tensor weights_of(snn::Simulator& sim) {
  return sim.module().named_parameters()["nodes.d.weight"].detach().to(torch::kCPU);
}

}  // namespace

TEST_CASE("a TensorNode whose module is float64 gets a float64 trial call", "[devices]") {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(1));
  auto in = net->node(snn::NodeOptions().id("in").size_out(3));
  torch::nn::Linear lin(3, 2);
  lin->to(torch::kFloat64);
  // No shape_out: the node learns it by calling the module once on zeros of its own dtype.
  auto d = snn::tensor_node(*net, snn::TensorNodeOptions().id("d").shape_in({3}).module(lin));
  CHECK(d->size_out() == 2);
  net->connect(in, d, snn::ConnectionOptions().synapse(nullptr));
  auto p = net->probe(d);
  snn::Simulator sim(net, f64());
  auto x = torch::tensor({0.5, -1.0, 2.0}, torch::kFloat64).reshape({1, 1, 3});
  sim.run_steps(1, {{"in", x}});
  auto expected = torch::matmul(x, lin->weight.t()) + lin->bias;
  CHECK(torch::allclose(sim.data(p), expected, 1e-12, 1e-12));
}

TEST_CASE("CUDA matches CPU in the step loop with a learning rule", "[devices][cuda]") {
  if (!have_cuda()) return;
  auto net = learning_network();
  snn::Simulator cpu(net, f64());
  snn::Simulator gpu(net, f64(torch::kCUDA));
  cpu.run_steps(300);
  gpu.run_steps(300);
  CHECK(torch::allclose(cpu.data("p"), gpu.data("p"), 1e-8, 1e-8));
}

TEST_CASE("CUDA runs TensorNodes and trains them like the CPU", "[devices][cuda]") {
  if (!have_cuda()) return;
  auto [x, y] = regression_data();
  auto fit = [&](torch::Device device, bool data_on_device) {
    snn::Simulator sim(dense_network(), f64(device, 4));
    sim.compile(CompileOptions()
                    .optimizer(OptimizerOptions().type("Adam").lr(0.05))
                    .loss("p", LossOptions().type("mse")));
    auto xs = data_on_device ? x.to(device) : x;
    auto ys = data_on_device ? y.to(device) : y;
    sim.fit({{"in", xs}}, {{"p", ys}}, FitOptions().epochs(3).shuffle(false).progress_bar(false));
    return weights_of(sim);
  };
  const auto on_cpu = fit(torch::kCPU, false);
  CHECK(torch::allclose(fit(torch::kCUDA, false), on_cpu, 1e-9, 1e-9));
  CHECK(torch::allclose(fit(torch::kCUDA, true), on_cpu, 1e-9, 1e-9));  // CUDA inputs
}

TEST_CASE("CUDA resumes training from a checkpoint with its optimizer state",
          "[devices][cuda]") {
  if (!have_cuda()) return;
  snn::testing::TempDir dir("cuda_resume");
  auto [x, y] = regression_data();
  const auto compile = CompileOptions()
                           .optimizer(OptimizerOptions().type("Adam").lr(0.05))
                           .loss("p", LossOptions().type("mse"));
  const auto epoch = FitOptions().epochs(1).shuffle(false).progress_bar(false);

  snn::Simulator straight(dense_network(), f64(torch::kCUDA, 4));
  straight.compile(compile);
  straight.fit({{"in", x}}, {{"p", y}}, FitOptions(epoch).epochs(2));

  snn::Simulator first(dense_network(), f64(torch::kCUDA, 4));
  first.compile(compile);
  first.fit({{"in", x}}, {{"p", y}}, epoch);
  first.save_params(dir.file("ckpt.pt"), 1);
  snn::Simulator resumed(dense_network(), f64(torch::kCUDA, 4));
  resumed.compile(compile);
  CHECK(resumed.load_params(dir.file("ckpt.pt"), /*training_state=*/true) == 1);
  resumed.fit({{"in", x}}, {{"p", y}}, epoch);  // Adam's moments must be on the GPU
  CHECK(torch::allclose(weights_of(resumed), weights_of(straight), 1e-9, 1e-9));
}
