// The networks library against what each network is meant to compute: exact algebra for the
// circular-convolution transforms, and behaviour in simulation (represent, multiply,
// integrate, oscillate, select the largest input).
#include <torch/torch.h>

// After LibTorch, whose glog would otherwise own CHECK.
#include <catch2/catch.hpp>

#include "snn/errors.h"
#include "snn/networks.h"
#include "snn/simulator.h"

using Catch::Matchers::Contains;

namespace {

constexpr auto kF64 = torch::kFloat64;

snn::SimulatorOptions f32() { return snn::SimulatorOptions().progress_bar(false); }

/// c[k] = sum_j a[j] b[(k - j) mod n], the definition.
torch::Tensor circular_convolution(const torch::Tensor& a, const torch::Tensor& b) {
  const int64_t n = a.size(0);
  auto c = torch::zeros({n}, kF64);
  for (int64_t k = 0; k < n; ++k)
    for (int64_t j = 0; j < n; ++j) c[k] += a[j] * b[(k - j + n) % n];
  return c;
}

/// Mean of a probe's data over the last `n` samples of item 0.
torch::Tensor tail_mean(const torch::Tensor& data, int64_t n) {
  return data[0].slice(0, data.size(1) - n).mean(0).to(kF64);
}

}  // namespace

TEST_CASE("the circular convolution transforms compute a * b exactly", "[networks]") {
  torch::manual_seed(1);
  for (int64_t d : {7, 8, 16}) {
    auto a = torch::randn({d}, kF64), b = torch::randn({d}, kF64);
    auto A = torch::mv(snn::circconv_transform_in(d, 'A', false), a);
    auto B = torch::mv(snn::circconv_transform_in(d, 'B', false), b);
    auto out = snn::circconv_transform_out(d);
    CHECK(out.sizes() == torch::IntArrayRef({d, 4 * (d / 2 + 1)}));
    INFO("d = " << d);
    CHECK(torch::allclose(torch::mv(out, A * B), circular_convolution(a, b), 1e-10, 1e-12));
    // invert_a convolves with the involution a'[k] = a[-k mod d].
    auto inv = torch::empty_like(a);
    for (int64_t k = 0; k < d; ++k) inv[k] = a[(d - k) % d];
    auto Ai = torch::mv(snn::circconv_transform_in(d, 'A', true), a);
    CHECK(torch::allclose(torch::mv(out, Ai * B), circular_convolution(inv, b), 1e-10, 1e-12));
  }
  CHECK_THROWS_AS(snn::circconv_transform_in(4, 'C', false), snn::SpecError);
}

TEST_CASE("an ensemble array represents each slice of its input", "[networks]") {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(2));
  auto stim = net->node(snn::NodeOptions().id("stim").output(std::vector<double>{0.5, -0.3, 0.8, 0.1}));
  auto ea = snn::ensemble_array(*net, snn::EnsembleArrayOptions(200, 2).ens_dimensions(2).id("ea"));
  CHECK(ea.ensembles.size() == 2);
  CHECK(ea.ensembles[1]->id() == "ea_ea_1");
  CHECK(ea.input->size_in() == 4);
  net->connect(stim, ea.input);
  auto squares = ea.add_output("squares", snn::expr("x0^2, x1^2"));
  auto p = net->probe(ea.output, snn::ProbeOptions().synapse(0.02));
  auto ps = net->probe(squares, snn::ProbeOptions().synapse(0.02));
  snn::Simulator sim(net, f32());
  sim.run(0.4);
  auto v = tail_mean(sim.data(p), 100);
  CHECK(torch::allclose(v, torch::tensor({0.5, -0.3, 0.8, 0.1}, kF64), 0, 0.08));
  auto s = tail_mean(sim.data(ps), 100);
  INFO("squares " << s);
  CHECK(torch::allclose(s, torch::tensor({0.25, 0.09, 0.64, 0.01}, kF64), 0, 0.08));
  CHECK_THROWS_WITH(ea.add_output("bad", std::vector<snn::Function>(3)),
                    Contains("expected one function per ensemble (2), got 3"));
}

TEST_CASE("a product network multiplies its inputs", "[networks]") {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(3));
  auto a = net->node(snn::NodeOptions().output(std::vector<double>{0.5, -0.6, 0.9}));
  auto b = net->node(snn::NodeOptions().output(std::vector<double>{0.8, 0.7, -0.4}));
  auto prod = snn::product(*net, snn::ProductOptions(200, 3).id("prod"));
  net->connect(a, prod.input_a);
  net->connect(b, prod.input_b);
  auto p = net->probe(prod.output, snn::ProbeOptions().synapse(0.02));
  snn::Simulator sim(net, f32());
  sim.run(0.4);
  CHECK(torch::allclose(tail_mean(sim.data(p), 100), torch::tensor({0.4, -0.42, -0.36}, kF64), 0,
                        0.06));
}

TEST_CASE("circular convolution of 16-D unit vectors matches the exact result", "[networks]") {
  torch::manual_seed(4);
  const int64_t d = 16;
  auto a = torch::randn({d}, kF64), b = torch::randn({d}, kF64);
  a /= a.norm();
  b /= b.norm();
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(4));
  auto na = net->node(snn::NodeOptions().output(a));
  auto nb = net->node(snn::NodeOptions().output(b));
  auto cc = snn::circular_convolution(*net, snn::CircularConvolutionOptions(200, d).id("cc"));
  net->connect(na, cc.input_a);
  net->connect(nb, cc.input_b);
  auto p = net->probe(cc.output, snn::ProbeOptions().synapse(0.03));
  snn::Simulator sim(net, f32());
  sim.run(0.3);
  auto exact = circular_convolution(a, b);
  auto got = tail_mean(sim.data(p), 100);
  const double similarity =
      (torch::dot(got, exact) / (got.norm() * exact.norm())).item<double>();
  INFO("similarity " << similarity);
  CHECK(similarity > 0.7);
}

TEST_CASE("an integrator integrates its input", "[networks]") {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(5));
  // 0.8 for 0.5 s, then 0: the integral holds at 0.4.
  auto stim = net->node(snn::NodeOptions().output(
      snn::Function::of_t([](double t) { return std::vector<double>{t <= 0.5 ? 0.8 : 0.0}; })));
  auto in = snn::integrator(*net, snn::IntegratorOptions(0.1, 200, 1).id("int"));
  net->connect(stim, in.input);
  auto p = net->probe(in.ensemble, snn::ProbeOptions().synapse(0.01));
  snn::Simulator sim(net, f32());
  sim.run(0.8);
  auto x = sim.data(p)[0].select(1, 0).to(kF64);
  // The input arrives unfiltered, so while it is on the ensemble holds the integral plus
  // tau * u: 0.8 * 0.25 + 0.1 * 0.8 at t = 0.25.
  CHECK(x[250].item<double>() == Approx(0.28).margin(0.05));
  CHECK(x.slice(0, 600, 800).mean().item<double>() == Approx(0.4).margin(0.1));
}

TEST_CASE("an oscillator rotates at its frequency", "[networks]") {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(6));
  const double hz = 2.0;
  auto kick = net->node(snn::NodeOptions().output(snn::Function::of_t([](double t) {
    return std::vector<double>{t <= 0.1 ? 8.0 : 0.0, 0.0};
  })));
  auto osc = snn::oscillator(*net, snn::OscillatorOptions(0.1, 2 * M_PI * hz, 400).id("osc"));
  net->connect(kick, osc.input);
  auto p = net->probe(osc.ensemble, snn::ProbeOptions().synapse(0.02));
  snn::Simulator sim(net, f32());
  sim.run(2.1);
  // The spectrum of x0 after the kick peaks at `hz` (bins of 0.5 Hz over 2 s).
  auto x = sim.data(p)[0].select(1, 0).slice(0, 100, 2100).to(kF64);
  auto spectrum = torch::fft_rfft(x - x.mean()).abs();
  const int64_t peak = spectrum.argmax().item<int64_t>();
  const double peak_hz = static_cast<double>(peak) / 2.0;
  INFO("peak at " << peak_hz << " Hz");
  CHECK(peak_hz == Approx(hz).margin(0.5));
  CHECK(x.abs().max().item<double>() > 0.3);  // it kept oscillating rather than decaying away
}

TEST_CASE("the basal ganglia and thalamus select the largest input", "[networks]") {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(7));
  auto stim = net->node(snn::NodeOptions().output(std::vector<double>{0.3, 0.8, 0.5, 0.2}));
  auto bg = snn::basal_ganglia(*net, snn::BasalGangliaOptions(4).id("bg"));
  auto th = snn::thalamus(*net, snn::ThalamusOptions(4).id("thal"));
  net->connect(stim, bg.input, snn::ConnectionOptions().synapse(nullptr));
  net->connect(bg.output, th.input);
  auto p_bg = net->probe(bg.output, snn::ProbeOptions().synapse(0.01));
  auto p_th = net->probe(th.output, snn::ProbeOptions().synapse(0.01));
  snn::Simulator sim(net, f32());
  sim.run(0.3);
  auto out = tail_mean(sim.data(p_bg), 100);
  INFO("basal ganglia output " << out);
  // The winner is released (near 0), every other channel is inhibited well below it.
  CHECK(out.argmax().item<int64_t>() == 1);
  for (int64_t i : {0, 2, 3}) CHECK(out[i].item<double>() < out[1].item<double>() - 0.2);
  auto sel = tail_mean(sim.data(p_th), 100);
  INFO("thalamus output " << sel);
  CHECK(sel[1].item<double>() > 0.7);
  for (int64_t i : {0, 2, 3}) CHECK(sel[i].item<double>() < 0.2);
}
