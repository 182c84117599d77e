// Adaptive LIF types and the Izhikevich neuron, with Nengo's update order.
#include <torch/torch.h>

#include "snn/errors.h"
#include "snn/neurons.h"

namespace snn {

namespace {
LIFRateOptions rate_part(const AdaptiveLIFOptions& o) {
  return LIFRateOptions().tau_rc(o.tau_rc()).tau_ref(o.tau_ref()).amplitude(o.amplitude());
}
LIFOptions spiking_part(const AdaptiveLIFOptions& o) {
  return LIFOptions()
      .tau_rc(o.tau_rc())
      .tau_ref(o.tau_ref())
      .min_voltage(o.min_voltage())
      .amplitude(o.amplitude());
}
/// n += (dt / tau_n) (inc_n out - n), after the neuron update that used J - n.
torch::Tensor adapt(double dt, const AdaptiveLIFOptions& o, const torch::Tensor& n,
                    const torch::Tensor& out) {
  return n + (dt / o.tau_n()) * (o.inc_n() * out - n);
}
}  // namespace

AdaptiveLIFRate::AdaptiveLIFRate(AdaptiveLIFOptions o) : LIFRate(rate_part(o)), adaptive(o) {}
nlohmann::json AdaptiveLIFRate::params() const {
  return {{"tau_n", adaptive.tau_n()}, {"inc_n", adaptive.inc_n()}, {"tau_rc", adaptive.tau_rc()},
          {"tau_ref", adaptive.tau_ref()}, {"amplitude", adaptive.amplitude()}};
}
std::vector<std::pair<std::string, Init>> AdaptiveLIFRate::default_state() const {
  return {{"adaptation", Init(0.0)}};
}
torch::Tensor AdaptiveLIFRate::step(double dt, const torch::Tensor& J, NeuronState& state) const {
  const auto& n = state.at("adaptation");
  auto out = rates(J - n);
  state["adaptation"] = adapt(dt, adaptive, n, out);
  return out;
}

AdaptiveLIF::AdaptiveLIF(AdaptiveLIFOptions o) : LIF(spiking_part(o)), adaptive(o) {}
nlohmann::json AdaptiveLIF::params() const {
  return {{"tau_n", adaptive.tau_n()},       {"inc_n", adaptive.inc_n()},
          {"tau_rc", adaptive.tau_rc()},     {"tau_ref", adaptive.tau_ref()},
          {"min_voltage", adaptive.min_voltage()}, {"amplitude", adaptive.amplitude()}};
}
std::vector<std::pair<std::string, Init>> AdaptiveLIF::default_state() const {
  auto s = LIF::default_state();
  s.emplace_back("adaptation", Init(0.0));
  return s;
}
torch::Tensor AdaptiveLIF::step(double dt, const torch::Tensor& J, NeuronState& state) const {
  auto n = state.at("adaptation");
  auto out = LIF::step(dt, J - n, state);
  state["adaptation"] = adapt(dt, adaptive, n, out);
  return out;
}
NeuronTypePtr AdaptiveLIF::rate_twin(double) const {
  return std::make_shared<AdaptiveLIFRate>(adaptive);
}

// ---------------------------------------------------------------------------- Izhikevich --
nlohmann::json Izhikevich::params() const {
  return {{"tau_recovery", options.tau_recovery()},
          {"coupling", options.coupling()},
          {"reset_voltage", options.reset_voltage()},
          {"reset_recovery", options.reset_recovery()}};
}
std::vector<std::pair<std::string, Init>> Izhikevich::default_state() const {
  return {{"voltage", Init(Uniform(0.0, 1.0))}, {"recovery", Init(0.0)}};
}
torch::Tensor Izhikevich::step(double dt, const torch::Tensor& J_, NeuronState& state) const {
  // Very negative currents make the quadratic unstable; Nengo clips at -30.
  auto J = torch::clamp_min(J_, -30.0);
  auto v = state.at("voltage"), u = state.at("recovery");
  v = v + (0.04 * v * v + 5.0 * v + 140.0 - u + J) * (1000.0 * dt);
  auto spiked = v >= 30.0;
  auto out = spiked.to(J.scalar_type()) / dt;
  v = torch::where(spiked, torch::full_like(v, options.reset_voltage()), v);
  u = u + (options.tau_recovery() * (options.coupling() * v - u)) * (1000.0 * dt);
  u = torch::where(spiked, u + options.reset_recovery(), u);
  state["voltage"] = v;
  state["recovery"] = u;
  return out;
}
torch::Tensor Izhikevich::rates(const torch::Tensor& J) const {
  // As Nengo: simulate from v = u = 0 at dt = 1 ms, discard the first 1 ms, average 1 s.
  const double dt = 0.001;
  auto Jd = J.detach();
  NeuronState s{{"voltage", torch::zeros_like(Jd)}, {"recovery", torch::zeros_like(Jd)}};
  step(dt, Jd, s);
  auto total = torch::zeros_like(Jd);
  for (int k = 0; k < 1000; ++k) total = total + step(dt, Jd, s);
  return total / 1000.0;
}
std::pair<torch::Tensor, torch::Tensor> Izhikevich::gain_bias(const torch::Tensor& max_rates,
                                                              const torch::Tensor& intercepts) const {
  // Nengo's generic search: the threshold current J_thr (last J with rate <= 0) and a current
  // range reaching the largest max rate, then gain/bias from interpolating rate(J).
  const double top = max_rates.max().item<double>();
  double Jr = 10.0;
  torch::Tensor Js, r;
  for (int i = 0; i < 10; ++i) {
    Js = torch::linspace(-Jr, Jr, 101, torch::kFloat64);
    r = rates(Js);
    if (r[-1].item<double>() >= top) break;
    Jr *= 2.0;
  }
  if (r[-1].item<double>() < top)
    throw BuildError("Izhikevich: cannot reach max rate " + std::to_string(top) + " Hz");
  auto silent = (r <= 0).nonzero();
  const double J_thr = silent.numel() ? Js[silent[-1][0]].item<double>() : -Jr;
  const int64_t above = (r >= top).nonzero()[0][0].item<int64_t>();
  const double J_max = Js[above].item<double>();
  auto Jf = torch::linspace(J_thr, J_max, 101, torch::kFloat64);
  auto rf = rates(Jf);
  // J_top = interp(max_rates, rf, Jf): rf is non-decreasing.
  auto mr = max_rates.to(torch::kFloat64).contiguous();
  auto J_top = torch::empty_like(mr);
  for (int64_t i = 0; i < mr.numel(); ++i) {
    const double want = mr[i].item<double>();
    int64_t k = 1;
    while (k < 100 && rf[k].item<double>() < want) ++k;
    const double r0 = rf[k - 1].item<double>(), r1 = rf[k].item<double>();
    const double j0 = Jf[k - 1].item<double>(), j1 = Jf[k].item<double>();
    J_top[i] = r1 > r0 ? j0 + (want - r0) * (j1 - j0) / (r1 - r0) : j1;
  }
  auto gain = (J_thr - J_top) / (intercepts - 1.0);
  return {gain, J_top - gain};
}
std::pair<torch::Tensor, torch::Tensor> Izhikevich::max_rates_intercepts(
    const torch::Tensor& gain, const torch::Tensor& bias) const {
  // Generic inverse: the rate at x = 1, and the last x on a grid where the neuron is silent.
  auto max_rates = rates(gain + bias);
  auto x = torch::linspace(-1.0, 1.0, 101, torch::kFloat64);
  auto r = rates(gain.unsqueeze(1) * x.unsqueeze(0) + bias.unsqueeze(1));
  auto intercepts = torch::empty_like(gain);
  for (int64_t i = 0; i < gain.numel(); ++i) {
    auto firing = (r[i] > 0).nonzero();
    const int64_t first = firing.numel() ? firing[0][0].item<int64_t>() : 0;
    intercepts[i] = x[std::max<int64_t>(first - 1, 0)];
  }
  return {max_rates, intercepts};
}

}  // namespace snn
