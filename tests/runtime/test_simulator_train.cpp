// Simulator::compile / fit / evaluate / check_gradients on small float64 networks whose
// answers are known outside the library: exact linear solutions, SGD steps written out with
// plain torch ops, the NEF's solved decoders, spikes against rates.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>

#include <unistd.h>

#include "snn/errors.h"
#include "snn/network.h"
#include "snn/simulator.h"
#include "snn/tensor_node.h"

namespace {

using snn::CompileOptions;
using snn::FitOptions;
using snn::LossOptions;
using snn::OptimizerOptions;
using Catch::Matchers::Contains;

snn::SimulatorOptions f64(int64_t minibatch = 1) {
  return snn::SimulatorOptions().dtype(torch::kFloat64).minibatch_size(minibatch).progress_bar(
      false);
}

FitOptions quiet() { return FitOptions().progress_bar(false); }

const torch::Tensor& kA() {
  static const auto a =
      torch::tensor({{0.5, -1.0, 2.0}, {1.5, 0.25, -0.75}}, torch::kFloat64);
  return a;
}

/// in (3) -> out (2) through a trainable matrix transform w0, no synapse (or `tau`).
snn::NetworkPtr linear_net(const torch::Tensor& w0, double tau = 0) {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(1));
  auto in = net->node(snn::NodeOptions().id("in").size_out(w0.size(1)));
  auto out = net->node(snn::NodeOptions().id("out").size_in(w0.size(0)));
  auto opts = snn::ConnectionOptions().id("w").transform(w0);
  if (tau > 0)
    opts.synapse(tau);
  else
    opts.synapse(nullptr);
  net->connect(in, out, opts);
  net->probe(out, snn::ProbeOptions().id("p"));
  return net;
}

torch::Tensor trained_weights(snn::Simulator& sim) {
  return sim.module().named_parameters()["connections.w.weights"].detach().clone();
}

/// in (1) -> ens (n neurons) -> out (1): a decoded connection, identity function.
snn::NetworkPtr ensemble_net(snn::NeuronTypePtr type, int64_t n, snn::Function f = {},
                             bool filtered_probe = false) {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(7));
  auto in = net->node(snn::NodeOptions().id("in").size_out(1));
  auto ens = net->ensemble(snn::EnsembleOptions(n, 1).id("ens").neuron_type(std::move(type)));
  auto out = net->node(snn::NodeOptions().id("out").size_in(1));
  net->connect(in, ens, snn::ConnectionOptions().synapse(nullptr));
  auto dec = snn::ConnectionOptions().id("dec").synapse(nullptr);
  if (f) dec.function(f);
  net->connect(ens, out, dec);
  net->probe(out, snn::ProbeOptions().id("p"));
  if (filtered_probe) net->probe(out, snn::ProbeOptions().id("p_filtered").synapse(0.01));
  return net;
}

snn::Function square() {
  return snn::Function::of_x([](const std::vector<double>& x) { return std::vector<double>{x[0] * x[0]}; });
}

CompileOptions mse(OptimizerOptions opt) {
  return CompileOptions().optimizer(std::move(opt)).loss("p", LossOptions().type("mse"));
}

}  // namespace

TEST_CASE("fit learns a linear map exactly", "[train][runtime][fit]") {
  // y = A x has the exact solution W = A (zero loss): plain SGD must get there.
  snn::Simulator sim(linear_net(torch::zeros({2, 3}, torch::kFloat64)), f64(16));
  torch::manual_seed(0);
  auto x = torch::randn({64, 3}, torch::kFloat64);
  auto y = torch::mm(x, kA().t());
  sim.compile(mse(OptimizerOptions().type("SGD").lr(0.5)));
  const double initial = sim.evaluate({{"in", x}}, {{"p", y}})["loss"];
  CHECK(initial == Approx((y * y).mean().item<double>()).epsilon(1e-12));  // W = 0
  auto history = sim.fit({{"in", x}}, {{"p", y}}, quiet().epochs(40).seed(3));
  REQUIRE(history.epochs.size() == 40);
  CHECK(history.epochs.back().values.at("loss") < history.epochs.front().values.at("loss"));
  const double final_loss = sim.evaluate({{"in", x}}, {{"p", y}})["loss"];
  CHECK(final_loss < 1e-3 * initial);
  CHECK(final_loss < 1e-12);
  CHECK(torch::allclose(trained_weights(sim), kA(), 0, 1e-6));
  // The trained simulator's own runs use the trained weights.
  auto pred = sim.predict_on_batch({{"in", x.narrow(0, 0, 16)}}, 1)["p"];
  CHECK(torch::allclose(pred.squeeze(1), y.narrow(0, 0, 16), 0, 1e-6));
}

TEST_CASE("one fit step is the SGD step computed by hand", "[train][runtime][fit]") {
  torch::manual_seed(1);
  auto w0 = torch::randn({2, 3}, torch::kFloat64);
  auto x = torch::randn({4, 3}, torch::kFloat64), y = torch::randn({4, 2}, torch::kFloat64);
  snn::Simulator sim(linear_net(w0), f64(4));
  const double lr = 0.1;
  sim.compile(mse(OptimizerOptions().type("SGD").lr(lr)));
  sim.fit({{"in", x}}, {{"p", y}}, quiet().shuffle(false));
  // mse = mean over 4 x 2 of (x W^T - y)^2: dW = 2/8 (x W^T - y)^T x.
  auto grad = torch::mm((torch::mm(x, w0.t()) - y).t(), x) * (2.0 / 8.0);
  CHECK(torch::allclose(trained_weights(sim), w0 - lr * grad, 0, 1e-14));
}

TEST_CASE("fit on a loss no parameter reaches says why", "[train][runtime][fit]") {
  // A loss on a probe of a constant node beside the trainable map: no trainable value
  // affects it (LibTorch's own words would be "element 0 of tensors does not require grad").
  auto net = linear_net(torch::ones({2, 3}, torch::kFloat64));
  auto c = net->node(snn::NodeOptions().id("c").output(torch::ones({2}, torch::kFloat64)));
  net->probe(c, snn::ProbeOptions().id("q").synapse(nullptr));
  snn::Simulator sim(net, f64(4));
  sim.compile(snn::CompileOptions()
                  .optimizer(OptimizerOptions().type("SGD").lr(0.1))
                  .loss("q", LossOptions()));
  auto x = torch::ones({4, 3}, torch::kFloat64), y = torch::zeros({4, 2}, torch::kFloat64);
  CHECK_THROWS_WITH(sim.fit({{"in", x}}, {{"q", y}}, quiet()),
                    Catch::Matchers::StartsWith(
                        "fit: the loss does not depend on any trainable parameter over 1 step"));
  // The same data on the trained probe trains.
  sim.compile(snn::CompileOptions()
                  .optimizer(OptimizerOptions().type("SGD").lr(0.1))
                  .loss("p", LossOptions()));
  CHECK_NOTHROW(sim.fit({{"in", x}}, {{"p", y}}, quiet()));
}

TEST_CASE("fit trains an ensemble to the NEF's solution of another function",
          "[train][runtime][fit]") {
  // Rate neurons, one step per item: the loss is a smooth function of decoders, encoders
  // and biases. The network starts with decoders for x; the NEF's decoders for x^2 (solved
  // from the same tuning curves) set the bar the trained network has to reach.
  auto type = std::make_shared<snn::LIFRate>();
  const int64_t n = 30;
  torch::manual_seed(2);
  auto x = torch::rand({128, 1}, torch::kFloat64) * 2 - 1;
  auto y = x * x;
  snn::Simulator nef(ensemble_net(type, n, square()), f64(32));
  nef.compile(mse(OptimizerOptions()));
  const double nef_loss = nef.evaluate({{"in", x}}, {{"p", y}})["loss"];

  snn::Simulator sim(ensemble_net(type, n), f64(32));
  sim.compile(mse(OptimizerOptions().type("Adam").lr(1e-2).schedule("cosine")));
  const double initial = sim.evaluate({{"in", x}}, {{"p", y}})["loss"];
  REQUIRE(initial > 100 * nef_loss);
  sim.fit({{"in", x}}, {{"p", y}}, quiet().epochs(1000));
  const double final_loss = sim.evaluate({{"in", x}}, {{"p", y}})["loss"];
  INFO("initial " << initial << ", NEF " << nef_loss << ", trained " << final_loss);
  CHECK(final_loss < nef_loss);  // training also moves encoders and biases: it beats the NEF
}

TEST_CASE("check_gradients passes on a float64 network with every kind of parameter",
          "[train][runtime][gradients]") {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(5));
  net->settings().lif_smoothing(0.1);  // SoftLIFRate in training: smooth everywhere
  auto in = net->node(snn::NodeOptions().id("in").size_out(2));
  auto a = net->ensemble(snn::EnsembleOptions(8, 2).id("a"));
  auto b = net->ensemble(snn::EnsembleOptions(6, 1).id("b"));
  auto out = net->node(snn::NodeOptions().id("out").size_in(1));
  torch::manual_seed(3);
  net->connect(in, a, snn::ConnectionOptions().id("in_a").synapse(nullptr).transform(
                          torch::eye(2, torch::kFloat64) + 0.1 * torch::randn({2, 2}, torch::kFloat64)));
  net->connect(a, b, snn::ConnectionOptions().id("a_b").synapse(0.005).function(
                         snn::Function::of_x([](const std::vector<double>& v) {
                           return std::vector<double>{v[0] * v[1]};
                         })));
  net->connect(b, out, snn::ConnectionOptions().id("b_out").synapse(nullptr));
  net->connect(a->neurons(), b->neurons(),
               snn::ConnectionOptions().id("nn").synapse(0.002).transform(
                   1e-3 * torch::randn({6, 8}, torch::kFloat64)));
  net->probe(out, snn::ProbeOptions().id("p"));
  snn::Simulator sim(net, f64(2));
  sim.compile(mse(OptimizerOptions()));
  auto x = torch::rand({2, 6, 2}, torch::kFloat64) - 0.5;
  auto y = torch::rand({2, 6, 1}, torch::kFloat64);
  auto check = sim.check_gradients({{"in", x}}, {{"p", y}});
  INFO("max abs error " << check.max_abs_error << " at " << check.worst_parameter);
  CHECK(check.passed);
  // Every kind of trainable parameter took part.
  std::set<std::string> names;
  for (const auto& p : sim.module().named_parameters()) names.insert(p.key());
  for (const char* name : {"ensembles.a.bias", "ensembles.a.scaled_encoders", "ensembles.b.bias",
                           "connections.in_a.weights", "connections.a_b.weights",
                           "connections.nn.weights", "connections.b_out.weights"})
    CHECK(names.count(name) == 1);
}

TEST_CASE("check_gradients reports the surrogate gradient of spikes as wrong",
          "[train][runtime][gradients]") {
  // In spiking training mode autograd sees the rate twin's derivative, not the (piecewise
  // constant) derivative of the spiking loss that finite differences measure.
  auto net = ensemble_net(std::make_shared<snn::LIF>(), 10);
  net->settings().training_mode("spiking").lif_smoothing(0.1);
  snn::Simulator sim(net, f64(1));
  sim.compile(mse(OptimizerOptions()));
  auto x = torch::linspace(-1, 1, 20, torch::kFloat64).reshape({1, 20, 1});
  auto check = sim.check_gradients({{"in", x}}, {{"p", x * 0.5}});
  CHECK_FALSE(check.passed);
  CHECK(check.max_abs_error > 1e-3);
  CHECK_THAT(check.worst_parameter, Catch::Matchers::StartsWith("ensembles.ens."));
  // The same network trained as rates (SoftLIFRate) has true gradients.
  auto rate_net = ensemble_net(std::make_shared<snn::LIF>(), 10);
  rate_net->settings().lif_smoothing(0.1);
  snn::Simulator rate(rate_net, f64(1));
  rate.compile(mse(OptimizerOptions()));
  CHECK(rate.check_gradients({{"in", x}}, {{"p", x * 0.5}}).passed);
}

TEST_CASE("check_gradients needs a float64 simulator", "[train][runtime][gradients]") {
  snn::Simulator sim(linear_net(torch::zeros({2, 3})),
                     snn::SimulatorOptions().dtype(torch::kFloat32).progress_bar(false));
  sim.compile(mse(OptimizerOptions()));
  CHECK_THROWS_WITH(sim.check_gradients({{"in", torch::zeros({1, 3})}}, {{"p", torch::zeros({1, 2})}}),
                    Catch::Matchers::Contains("float64"));
}

namespace {

/// y = 2x forward, but a backward that claims 3: a bug check_gradients must find.
struct WrongDouble : torch::autograd::Function<WrongDouble> {
  static torch::Tensor forward(torch::autograd::AutogradContext*, torch::Tensor x) { return 2 * x; }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext*,
                                                 torch::autograd::variable_list g) {
    return {3 * g[0]};
  }
};
struct WrongTwiceImpl : torch::nn::Module {
  torch::Tensor forward(torch::Tensor x) { return WrongDouble::apply(x); }
};
TORCH_MODULE(WrongTwice);

}  // namespace

TEST_CASE("check_gradients by inputs: a linear map's Jacobian is its transform",
          "[train][runtime][gradients]") {
  // in (2) -> out (3) through W, no synapse: out[b, t] = W in[b, t], so the Jacobian (input
  // entries x output entries) holds W^T where item and step agree, zeros elsewhere.
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(1));
  auto in = net->node(snn::NodeOptions().id("in").size_out(2));
  auto out = net->node(snn::NodeOptions().id("out").size_in(3));
  auto W = torch::tensor({{1.0, -2.0}, {0.5, 3.0}, {-1.5, 0.25}}, torch::kFloat64);
  net->connect(in, out, snn::ConnectionOptions().synapse(nullptr).transform(W));
  net->probe(out, snn::ProbeOptions().id("p"));
  snn::Simulator sim(net, f64(2));
  const auto grads = sim.check_gradients(snn::GradientCheckOptions().n_steps(3));
  auto expect = torch::zeros({2 * 3 * 2, 2 * 3 * 3}, torch::kFloat64);
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t t = 0; t < 3; ++t)
      expect.narrow(0, (b * 3 + t) * 2, 2).narrow(1, (b * 3 + t) * 3, 3).copy_(W.t());
  const auto& g = grads.at("p");
  CHECK(torch::allclose(g.analytic.at("in"), expect, 0, 1e-12));
  CHECK(torch::allclose(g.numeric.at("in"), expect, 0, 1e-8));
  CHECK(sim.n_steps() == 0);  // the simulator's own state is left alone
}

TEST_CASE("check_gradients by inputs passes through neurons, synapses and a TensorNode, and "
          "finds a wrong backward",
          "[train][runtime][gradients]") {
  auto make = [](bool wrong) {
    auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(5));
    net->settings().lif_smoothing(0.1);  // SoftLIFRate in training: smooth everywhere
    auto in = net->node(snn::NodeOptions().id("in").size_out(2));
    auto a = net->ensemble(snn::EnsembleOptions(8, 2).id("a"));
    net->connect(in, a, snn::ConnectionOptions().synapse(nullptr));
    snn::NodePtr layer;
    if (wrong) {
      layer = snn::tensor_node(*net, snn::TensorNodeOptions().id("layer").shape_in({2}).module(
                                         WrongTwice()));
    } else {
      torch::manual_seed(2);
      layer = snn::tensor_node(*net, snn::TensorNodeOptions().id("layer").shape_in({2}).module(
                                         torch::nn::Linear(torch::nn::LinearOptions(2, 2).bias(true))));
    }
    net->connect(a, layer, snn::ConnectionOptions().synapse(0.005));
    net->probe(layer, snn::ProbeOptions().id("p").synapse(0.01));
    net->probe(a, snn::ProbeOptions().id("decoded"));
    return net;
  };
  snn::Simulator sim(make(false), f64(1));
  torch::manual_seed(9);
  auto x = torch::rand({1, 5, 2}, torch::kFloat64) - 0.5;
  const auto grads = sim.check_gradients(snn::GradientCheckOptions().inputs({{"in", x}}));
  REQUIRE(grads.count("p") == 1);
  REQUIRE(grads.count("decoded") == 1);
  const auto& j = grads.at("p").analytic.at("in");  // (5 steps x 2, 5 steps x 2)
  REQUIRE(j.sizes() == torch::IntArrayRef({10, 10}));
  // Causal: no output step depends on a later input step; and the input does reach it.
  for (int64_t ti = 0; ti < 5; ++ti)
    for (int64_t to = 0; to < ti; ++to)
      CHECK(j.narrow(0, ti * 2, 2).narrow(1, to * 2, 2).abs().max().item<double>() == 0.0);
  CHECK(j.abs().max().item<double>() > 1e-3);
  // Only the chosen probe when asked.
  auto p = sim.network().find_probe("p");
  CHECK(sim.check_gradients(snn::GradientCheckOptions().inputs({{"in", x}}).outputs({p})).size() == 1);

  snn::Simulator bad(make(true), f64(1));
  CHECK_THROWS_AS(bad.check_gradients(snn::GradientCheckOptions().inputs({{"in", x}})),
                  snn::SimulationError);
  CHECK_THROWS_WITH(bad.check_gradients(snn::GradientCheckOptions().inputs({{"in", x}})),
                    Catch::Matchers::Contains("d(probe \"p\")/d(input \"in\")") &&
                        Catch::Matchers::Contains("differs"));
  // The probe before the wrong layer still passes alone.
  CHECK_NOTHROW(bad.check_gradients(snn::GradientCheckOptions().inputs({{"in", x}}).outputs(
      {bad.network().find_probe("decoded")})));
}

TEST_CASE("check_gradients by inputs needs inputs to differentiate by",
          "[train][runtime][gradients]") {
  auto net = std::make_shared<snn::Network>();
  auto c = net->node(snn::NodeOptions().id("c").output(1.0));
  net->probe(c, snn::ProbeOptions().id("p"));
  snn::Simulator sim(net, f64(1));
  CHECK_THROWS_WITH(sim.check_gradients(), Catch::Matchers::Contains("no input nodes"));
  snn::Simulator f32(linear_net(torch::zeros({2, 3})),
                     snn::SimulatorOptions().dtype(torch::kFloat32).progress_bar(false));
  CHECK_THROWS_WITH(f32.check_gradients(), Catch::Matchers::Contains("float64"));
}

TEST_CASE("regularize's axis counts over a weights probe's (rows, cols), as NengoDL",
          "[train][runtime][losses]") {
  auto net = std::make_shared<snn::Network>();
  auto in = net->node(snn::NodeOptions().id("in").size_out(3));
  auto out = net->node(snn::NodeOptions().id("out").size_in(2));
  auto W = torch::tensor({{3.0, 0.0, -1.0}, {4.0, 2.0, 0.0}}, torch::kFloat64);
  auto c = net->connect(in, out, snn::ConnectionOptions().synapse(nullptr).transform(W));
  net->probe(snn::ObjRef(c), snn::ProbeOptions().id("w").attr("weights"));
  auto loss_with = [&](int64_t axis) {
    snn::Simulator sim(net, f64(2));
    sim.compile(CompileOptions().loss("w", LossOptions().type("regularize").axis(axis)));
    return sim.evaluate({{"in", torch::zeros({2, 4, 3}, torch::kFloat64)}}, {}).at("loss");
  };
  // Column norms 5, 2, 1 (axis 0, over the 2 rows); row norms sqrt(10), sqrt(20) (axis 1);
  // the whole matrix sqrt(30) (no axis).
  CHECK(loss_with(0) == Approx((5.0 + 2.0 + 1.0) / 3).epsilon(1e-12));
  CHECK(loss_with(1) == Approx((std::sqrt(10.0) + std::sqrt(20.0)) / 2).epsilon(1e-12));
  CHECK(loss_with(-1) == Approx(std::sqrt(30.0)).epsilon(1e-12));
  CHECK_THROWS_WITH(loss_with(2), Catch::Matchers::Contains("\"w\"") &&
                                      Catch::Matchers::Contains("has 2 axes"));
}

TEST_CASE("a net trained as rates gives the same mean output with spikes",
          "[train][runtime][fit]") {
  const int64_t n = 40, N = 8;
  auto net = ensemble_net(std::make_shared<snn::LIF>(), n, {}, true);
  snn::Simulator sim(net, f64(N));
  torch::manual_seed(4);
  auto x = torch::rand({64, 1}, torch::kFloat64) * 2 - 1;
  sim.compile(mse(OptimizerOptions().lr(2e-3)));
  sim.fit({{"in", x}}, {{"p", x * x}}, quiet().epochs(30));
  auto points = torch::linspace(-0.9, 0.9, N, torch::kFloat64).unsqueeze(1);
  // The rate output: the module in training mode runs the rate twin (LIFRate).
  sim.module().train(true);
  auto rate = sim.predict({{"in", points}}, 1)["p"].select(1, 0);
  sim.module().train(false);
  // The spiking output over 1 s, filtered, averaged after the filter's transient.
  auto spikes = sim.predict({{"in", points}}, 1000)["p_filtered"];
  auto mean = spikes.narrow(1, 200, 800).mean(1);
  INFO("rate " << rate.flatten() << "\nspiking " << mean.flatten());
  CHECK((mean - rate).abs().max().item<double>() < 0.03);
  // And the training did something: the rate output is near x^2, not x.
  CHECK((rate - points * points).abs().max().item<double>() < 0.1);
}

TEST_CASE("truncated BPTT steps the optimizer per segment with the state cut",
          "[train][runtime][truncation]") {
  // in -> out through W and a Lowpass synapse: out_k = y_{k-1} with
  // y_k = a y_{k-1} + (1 - a) W x_k (the synapse delays by one step), out_1 = 0.
  // With truncation 3 of 6 steps, segment 1 trains on out_1..3 (W0), then segment 2 on
  // out_4..6: out_4 = y_3 came from segment 1 (no gradient), y_4, y_5 use W1.
  const double tau = 0.01, dt = 0.001, lr = 0.5;
  const double a = std::exp(-dt / tau);
  torch::manual_seed(5);
  auto w0 = torch::randn({1, 2}, torch::kFloat64);
  auto x = torch::randn({1, 6, 2}, torch::kFloat64), t = torch::randn({1, 6, 1}, torch::kFloat64);
  auto reference = [&](int64_t truncation) {
    auto W = w0.clone();
    torch::Tensor y = torch::zeros({1}, torch::kFloat64);  // filter state, carried over
    for (int64_t t0 = 0; t0 < 6; t0 += truncation) {
      auto Wv = W.clone().requires_grad_(true);
      auto yk = y.detach();
      std::vector<torch::Tensor> outs;
      for (int64_t k = t0; k < t0 + truncation; ++k) {
        outs.push_back(yk);  // what the node sees at step k: the previous filter output
        yk = a * yk + (1 - a) * torch::mv(Wv, x[0][k]);
      }
      auto seg = torch::stack(outs).squeeze(-1);
      auto loss = (seg - t[0].narrow(0, t0, truncation).squeeze(1)).pow(2).mean();
      auto g = torch::autograd::grad({loss}, {Wv}, {}, false, false, true)[0];
      if (g.defined()) W = W - lr * g;
      y = yk.detach();
    }
    return W;
  };
  for (int64_t truncation : {3, 2, 6}) {
    snn::Simulator sim(linear_net(w0, tau), f64(1));
    sim.compile(mse(OptimizerOptions().type("SGD").lr(lr)));
    sim.fit({{"in", x}}, {{"p", t}}, quiet().truncation(truncation).shuffle(false));
    INFO("truncation " << truncation);
    CHECK(torch::allclose(trained_weights(sim), reference(truncation), 1e-10, 1e-12));
  }
  // No truncation is one segment.
  snn::Simulator whole(linear_net(w0, tau), f64(1));
  whole.compile(mse(OptimizerOptions().type("SGD").lr(lr)));
  whole.fit({{"in", x}}, {{"p", t}}, quiet().shuffle(false));
  CHECK(torch::allclose(trained_weights(whole), reference(6), 1e-10, 1e-12));
}

TEST_CASE("truncated BPTT: a loss on the last step only sees the end of the sequence",
          "[train][runtime][truncation]") {
  // With an "all" loss on one probe and a "last" loss on another, the intermediate segments
  // must train the "all" loss only: the last step of a segment is not the sequence's.
  torch::manual_seed(6);
  auto w0 = torch::randn({1, 2}, torch::kFloat64);
  auto x = torch::randn({1, 4, 2}, torch::kFloat64), t = torch::randn({1, 4, 1}, torch::kFloat64);
  auto net = linear_net(w0);
  net->probe(net->find_node("out"), snn::ProbeOptions().id("p_last"));
  const double lr = 0.2;
  snn::Simulator sim(net, f64(1));
  sim.compile(CompileOptions()
                  .optimizer(OptimizerOptions().type("SGD").lr(lr))
                  .loss("p", LossOptions().type("mse"))
                  .loss("p_last", LossOptions().type("mse").steps("last")));
  sim.fit({{"in", x}}, {{"p", t}, {"p_last", t}}, quiet().truncation(2).shuffle(false));
  // By hand (no synapse: out_k = W x_k): segment 1 = mse on steps 1, 2; segment 2 = mse on
  // steps 3, 4 plus mse on step 4.
  auto W = w0.clone();
  for (int64_t t0 : {0, 2}) {
    auto Wv = W.clone().requires_grad_(true);
    auto seg = torch::mm(x[0].narrow(0, t0, 2), Wv.t());
    auto loss = (seg - t[0].narrow(0, t0, 2)).pow(2).mean();
    if (t0 == 2) loss = loss + (seg[1] - t[0][3]).pow(2).mean();
    W = W - lr * torch::autograd::grad({loss}, {Wv})[0];
  }
  CHECK(torch::allclose(trained_weights(sim), W, 1e-12, 1e-14));
}

TEST_CASE("shuffling is deterministic in the fit seed", "[train][runtime][fit]") {
  torch::manual_seed(7);
  auto w0 = torch::randn({2, 3}, torch::kFloat64);
  auto x = torch::randn({16, 3}, torch::kFloat64), y = torch::randn({16, 2}, torch::kFloat64);
  auto train = [&](uint64_t seed, bool shuffle) {
    snn::Simulator sim(linear_net(w0), f64(4));
    sim.compile(mse(OptimizerOptions().type("SGD").lr(0.2)));
    sim.fit({{"in", x}}, {{"p", y}}, quiet().epochs(2).seed(seed).shuffle(shuffle));
    return trained_weights(sim);
  };
  const auto a = train(1, true), b = train(1, true), c = train(2, true), d = train(1, false);
  CHECK(torch::equal(a, b));
  // Sequential SGD steps depend on the minibatch order.
  CHECK((a - c).abs().max().item<double>() > 1e-6);
  CHECK((a - d).abs().max().item<double>() > 1e-6);
  CHECK(torch::equal(d, train(2, false)));  // no shuffling: the seed does not matter
}

TEST_CASE("fit 1 epoch, save, load into a new simulator and fit on equals fit 2 epochs",
          "[train][runtime][fit][checkpoint]") {
  torch::manual_seed(8);
  auto x = torch::rand({24, 1}, torch::kFloat64) * 2 - 1;
  auto y = x * x;
  const auto compile = CompileOptions()
                           .optimizer(OptimizerOptions().type("Adam").lr(5e-3).schedule("step").gamma(0.5))
                           .loss("p", LossOptions().type("mse"));
  const auto fit = quiet().epochs(2).seed(9);
  auto params = [](snn::Simulator& sim) {
    std::map<std::string, torch::Tensor> out;
    for (const auto& p : sim.module().named_parameters()) out[p.key()] = p.value().detach().clone();
    return out;
  };
  auto make = [] { return snn::Simulator(ensemble_net(std::make_shared<snn::LIFRate>(), 12), f64(8)); };

  auto straight = make();
  straight.compile(compile);
  straight.fit({{"in", x}}, {{"p", y}}, fit);

  const std::string path = (std::filesystem::temp_directory_path() /
                            ("snn_test_resume_" + std::to_string(::getpid()) + ".pt"))
                               .string();
  {
    auto first = make();
    first.compile(compile);
    first.fit({{"in", x}}, {{"p", y}}, FitOptions(fit).epochs(1));
    first.save_params(path, 1);
  }
  auto resumed = make();
  resumed.compile(compile);
  CHECK(resumed.load_params(path, true) == 1);
  auto history = resumed.fit({{"in", x}}, {{"p", y}}, FitOptions(fit).initial_epoch(1));
  std::remove(path.c_str());
  REQUIRE(history.epochs.size() == 1);
  CHECK(history.epochs[0].epoch == 2);
  const auto want = params(straight), got = params(resumed);
  REQUIRE(want.size() == got.size());
  for (const auto& [name, value] : want) {
    INFO(name);
    CHECK(torch::allclose(got.at(name), value, 1e-12, 1e-14));
  }
  // Without the optimizer state (Adam's moments) the continuation differs.
  auto fresh = make();
  fresh.compile(compile);
  {
    auto first = make();
    first.compile(compile);
    first.fit({{"in", x}}, {{"p", y}}, FitOptions(fit).epochs(1));
    first.save_params(path, 1);
  }
  fresh.load_params(path, false);
  fresh.fit({{"in", x}}, {{"p", y}}, FitOptions(fit).initial_epoch(1));
  std::remove(path.c_str());
  CHECK_FALSE(torch::allclose(params(fresh).at("ensembles.ens.bias"),
                              want.at("ensembles.ens.bias"), 1e-12, 1e-14));
}

TEST_CASE("a custom loss trains by its own gradient, computed by hand", "[train][runtime][fit]") {
  torch::manual_seed(2);
  auto w0 = torch::randn({2, 3}, torch::kFloat64);
  auto x = torch::randn({4, 3}, torch::kFloat64), y = torch::randn({4, 2}, torch::kFloat64);
  snn::Simulator sim(linear_net(w0), f64(4));
  std::vector<int64_t> out_shape, target_shape;
  // L = sum((out - y)^4) / 4, weighted by 0.5: not a loss libsnn knows.
  auto quartic = [&](const torch::Tensor& out, const torch::Tensor& t) {
    out_shape = out.sizes().vec();
    target_shape = t.sizes().vec();
    return (out.squeeze(1) - t).pow(4).sum() / 4.0;
  };
  const double lr = 0.1;
  sim.compile(CompileOptions()
                  .optimizer(OptimizerOptions().type("SGD").lr(lr))
                  .loss("p", LossOptions().function(quartic).steps("last").weight(0.5)));
  sim.fit({{"in", x}}, {{"p", y}}, quiet().shuffle(false));
  CHECK(out_shape == std::vector<int64_t>{4, 1, 2});  // (batch, the last sample, size)
  CHECK(target_shape == std::vector<int64_t>{4, 2});  // as given to fit
  // dL/dout = (out - y)^3, so dW = 0.5 ((x W^T - y)^3)^T x.
  auto grad = 0.5 * torch::mm((torch::mm(x, w0.t()) - y).pow(3).t(), x);
  CHECK(torch::allclose(trained_weights(sim), w0 - lr * grad, 0, 1e-13));
}

TEST_CASE("custom metrics log the mean over items of their minibatch values",
          "[train][runtime][fit]") {
  torch::manual_seed(3);
  auto w0 = torch::randn({2, 3}, torch::kFloat64);
  auto x = torch::randn({5, 3}, torch::kFloat64), y = torch::randn({5, 2}, torch::kFloat64);
  snn::Simulator sim(linear_net(w0), f64(2));  // minibatches of 2, 2 and 1 items
  auto max_err = [](const torch::Tensor& out, const torch::Tensor& t) {
    return (out.squeeze(1) - t).abs().max();
  };
  sim.compile(CompileOptions()
                  .optimizer(OptimizerOptions().type("SGD").lr(0.0))
                  .loss("p", LossOptions().type("mse"))
                  .metric("p", "max_err", max_err));
  auto err = (torch::mm(x, w0.t()) - y).abs();
  const double expected = (2 * err.narrow(0, 0, 2).max().item<double>() +
                           2 * err.narrow(0, 2, 2).max().item<double>() +
                           err.narrow(0, 4, 1).max().item<double>()) / 5.0;
  auto logs = sim.evaluate({{"in", x}}, {{"p", y}});
  CHECK(logs.at("p_max_err") == Approx(expected).epsilon(1e-12));
  auto history = sim.fit({{"in", x}}, {{"p", y}},
                         quiet().shuffle(false).validation_inputs({{"in", x}}).validation_targets(
                             {{"p", y}}));
  CHECK(history.epochs.at(0).values.at("p_max_err") == Approx(expected).epsilon(1e-12));
  CHECK(history.epochs.at(0).values.at("val_p_max_err") == Approx(expected).epsilon(1e-12));
}

TEST_CASE("custom losses and metrics fail clearly", "[train][runtime][fit]") {
  snn::Simulator sim(linear_net(torch::zeros({2, 3}, torch::kFloat64)), f64(2));
  auto fn = [](const torch::Tensor& out, const torch::Tensor&) { return out.sum(); };
  auto with_loss = [](LossOptions l) { return CompileOptions().loss("p", std::move(l)); };
  CHECK_THROWS_WITH(sim.compile(with_loss(LossOptions().type("custom"))),
                    Contains("type custom needs a function"));
  CHECK_THROWS_WITH(sim.compile(with_loss(LossOptions().function(fn).type("mse"))),
                    Contains("a function is set, but the type is \"mse\""));
  CHECK_THROWS_WITH(sim.compile(with_loss(LossOptions()).metric("q", "m", fn)),
                    Contains("metric \"m\" on \"q\": the probe has no loss"));
  CHECK_THROWS_WITH(sim.compile(with_loss(LossOptions()).metric("p", "accuracy", fn)),
                    Contains("not \"loss\" or \"accuracy\""));
  CHECK_THROWS_WITH(sim.compile(with_loss(LossOptions()).metric("p", "m", fn).metric("p", "m", fn)),
                    Contains("given twice"));
  // A function that does not return one number is named when it first runs.
  auto x = torch::ones({2, 3}, torch::kFloat64), y = torch::zeros({2, 2}, torch::kFloat64);
  sim.compile(with_loss(LossOptions().function(
      [](const torch::Tensor& out, const torch::Tensor&) { return out; })));
  CHECK_THROWS_WITH(sim.fit({{"in", x}}, {{"p", y}}, quiet()),
                    Contains("loss on probe \"p\": the custom loss: expected a floating-point "
                             "scalar, got Double of shape [2, 1, 2]"));
  sim.compile(with_loss(LossOptions()).metric(
      "p", "m", [](const torch::Tensor& out, const torch::Tensor&) { return out.argmax(); }));
  CHECK_THROWS_WITH(sim.evaluate({{"in", x}}, {{"p", y}}),
                    Contains("metric \"m\" on probe \"p\": expected a floating-point scalar"));
  // Specs cannot name C++ functions.
  CHECK_THROWS_WITH(snn::loss_from_json({{"type", "custom"}}, "/loss"),
                    Contains("/loss/type: a custom loss is a C++ function"));
}
