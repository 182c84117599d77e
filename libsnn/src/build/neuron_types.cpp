// Neuron types: Nengo's rate and step equations, gain/bias conversions and rate twins.
// Every function is written with tensor ops only, so it runs on any device and dtype and is
// differentiable where the math is (the rate functions); masks use torch::where so that
// gradients never meet a NaN from the branch that is not taken.
#include <torch/torch.h>

#include "snn/errors.h"
#include "snn/neurons.h"
#include "build/lif_step_kernel.h"
#include "train/autograd.h"

namespace snn {

namespace {
torch::Tensor full_like_t(const torch::Tensor& ref, double v) { return torch::full_like(ref, v); }
}  // namespace

// ---------------------------------------------------------------------------- base class --
std::pair<torch::Tensor, torch::Tensor> NeuronType::gain_bias(const torch::Tensor&,
                                                              const torch::Tensor&) const {
  throw BuildError(type() + " neurons cannot derive gain and bias from max_rates and "
                            "intercepts; give gain and bias explicitly");
}

std::pair<torch::Tensor, torch::Tensor> NeuronType::max_rates_intercepts(
    const torch::Tensor& gain, const torch::Tensor&) const {
  // Types without an analytic inverse report NaN rather than a wrong number.
  return {full_like_t(gain, NAN), full_like_t(gain, NAN)};
}

NeuronTypePtr NeuronType::rate_twin(double) const { return shared_from_this(); }

// ------------------------------------------------------------------------------- LIFRate --
namespace {
/// amplitude / (tau_ref + tau_rc log1p(1/(J-1))) for J > 1, else 0 (with its analytic
/// derivative for training).
torch::Tensor lif_rate(const torch::Tensor& J, double tau_rc, double tau_ref, double amplitude) {
  return detail::lif_rate_fn(J, tau_rc, tau_ref, amplitude);
}

std::pair<torch::Tensor, torch::Tensor> lif_gain_bias(const torch::Tensor& max_rates,
                                                      const torch::Tensor& intercepts,
                                                      double tau_rc, double tau_ref) {
  if ((max_rates >= 1.0 / tau_ref).any().item<bool>())
    throw BuildError("max_rates must be below 1/tau_ref = " + std::to_string(1.0 / tau_ref) +
                     " Hz, got up to " + std::to_string(max_rates.max().item<double>()));
  auto x = 1.0 / (1.0 - torch::exp((tau_ref - 1.0 / max_rates) / tau_rc));
  auto gain = (1.0 - x) / (intercepts - 1.0);
  auto bias = 1.0 - gain * intercepts;
  return {gain, bias};
}

std::pair<torch::Tensor, torch::Tensor> lif_max_rates_intercepts(const torch::Tensor& gain,
                                                                 const torch::Tensor& bias,
                                                                 double tau_rc, double tau_ref) {
  auto intercepts = (1.0 - bias) / gain;
  auto max_rates = 1.0 / (tau_ref - tau_rc * torch::log1p(1.0 / (gain * (intercepts - 1.0) - 1.0)));
  return {max_rates, intercepts};
}
}  // namespace

nlohmann::json LIFRate::params() const {
  return {{"tau_rc", options.tau_rc()}, {"tau_ref", options.tau_ref()},
          {"amplitude", options.amplitude()}};
}
torch::Tensor LIFRate::rates(const torch::Tensor& J) const {
  return lif_rate(J, options.tau_rc(), options.tau_ref(), options.amplitude());
}
std::pair<torch::Tensor, torch::Tensor> LIFRate::gain_bias(const torch::Tensor& m,
                                                           const torch::Tensor& i) const {
  return lif_gain_bias(m, i, options.tau_rc(), options.tau_ref());
}
std::pair<torch::Tensor, torch::Tensor> LIFRate::max_rates_intercepts(const torch::Tensor& g,
                                                                      const torch::Tensor& b) const {
  return lif_max_rates_intercepts(g, b, options.tau_rc(), options.tau_ref());
}

// ----------------------------------------------------------------------------------- LIF --
nlohmann::json LIF::params() const {
  return {{"tau_rc", options.tau_rc()}, {"tau_ref", options.tau_ref()},
          {"min_voltage", options.min_voltage()}, {"amplitude", options.amplitude()}};
}
torch::Tensor LIF::rates(const torch::Tensor& J) const {
  return lif_rate(J, options.tau_rc(), options.tau_ref(), options.amplitude());
}
std::vector<std::pair<std::string, Init>> LIF::default_state() const {
  return {{"voltage", Init(Uniform(0.0, 1.0))}, {"refractory_time", Init(0.0)}};
}
torch::Tensor LIF::step(double dt, const torch::Tensor& J, NeuronState& state) const {
  const double tau_rc = options.tau_rc(), tau_ref = options.tau_ref();
  auto& voltage = state.at("voltage");
  auto& refractory_time = state.at("refractory_time");
  if (detail::lif_step_cpu_applies(J, voltage, refractory_time))
    return detail::lif_step_cpu({dt, tau_rc, tau_ref, options.min_voltage(), options.amplitude()},
                                J, voltage, refractory_time);
  auto v = voltage;
  auto ref = refractory_time - dt;
  // The part of this step that is not refractory, then the exact solution of
  // dv/dt = (J - v)/tau_rc over that part.
  auto delta_t = torch::clamp(dt - ref, 0.0, dt);
  v = v - (J - v) * torch::expm1(-delta_t / tau_rc);
  auto spiked = v > 1.0;
  auto out = spiked.to(J.scalar_type()) * (options.amplitude() / dt);
  // Time of the threshold crossing within the step, so the overshoot goes into refractory.
  auto denom = torch::where(spiked, J - 1.0, torch::ones_like(J));
  auto over = torch::where(spiked, (v - 1.0) / denom, torch::zeros_like(v));
  auto t_spike = dt + tau_rc * torch::log1p(-over);
  v = torch::where(v < options.min_voltage(), torch::full_like(v, options.min_voltage()), v);
  v = torch::where(spiked, torch::zeros_like(v), v);
  ref = torch::where(spiked, tau_ref + t_spike, ref);
  state["voltage"] = v;
  state["refractory_time"] = ref;
  return out;
}
std::pair<torch::Tensor, torch::Tensor> LIF::gain_bias(const torch::Tensor& m,
                                                       const torch::Tensor& i) const {
  return lif_gain_bias(m, i, options.tau_rc(), options.tau_ref());
}
std::pair<torch::Tensor, torch::Tensor> LIF::max_rates_intercepts(const torch::Tensor& g,
                                                                  const torch::Tensor& b) const {
  return lif_max_rates_intercepts(g, b, options.tau_rc(), options.tau_ref());
}
NeuronTypePtr LIF::rate_twin(double lif_smoothing) const {
  if (lif_smoothing > 0)
    return std::make_shared<SoftLIFRate>(SoftLIFRateOptions()
                                             .sigma(lif_smoothing)
                                             .tau_rc(options.tau_rc())
                                             .tau_ref(options.tau_ref())
                                             .amplitude(options.amplitude()));
  return std::make_shared<LIFRate>(LIFRateOptions()
                                       .tau_rc(options.tau_rc())
                                       .tau_ref(options.tau_ref())
                                       .amplitude(options.amplitude()));
}

// --------------------------------------------------------------------------- SoftLIFRate --
nlohmann::json SoftLIFRate::params() const {
  return {{"sigma", options.sigma()}, {"tau_rc", options.tau_rc()},
          {"tau_ref", options.tau_ref()}, {"amplitude", options.amplitude()}};
}
torch::Tensor SoftLIFRate::rates(const torch::Tensor& J) const {
  return detail::soft_lif_rate_fn(J, options.sigma(), options.tau_rc(), options.tau_ref(),
                          options.amplitude());
}
std::pair<torch::Tensor, torch::Tensor> SoftLIFRate::gain_bias(const torch::Tensor& m,
                                                               const torch::Tensor& i) const {
  return lif_gain_bias(m, i, options.tau_rc(), options.tau_ref());
}
std::pair<torch::Tensor, torch::Tensor> SoftLIFRate::max_rates_intercepts(
    const torch::Tensor& g, const torch::Tensor& b) const {
  return lif_max_rates_intercepts(g, b, options.tau_rc(), options.tau_ref());
}

// ----------------------------------------------------------------------- RectifiedLinear --
nlohmann::json RectifiedLinear::params() const { return {{"amplitude", options.amplitude()}}; }
torch::Tensor RectifiedLinear::rates(const torch::Tensor& J) const {
  return options.amplitude() * torch::relu(J);
}
std::pair<torch::Tensor, torch::Tensor> RectifiedLinear::gain_bias(
    const torch::Tensor& max_rates, const torch::Tensor& intercepts) const {
  auto gain = max_rates / (1.0 - intercepts);
  return {gain, -intercepts * gain};
}
std::pair<torch::Tensor, torch::Tensor> RectifiedLinear::max_rates_intercepts(
    const torch::Tensor& gain, const torch::Tensor& bias) const {
  auto intercepts = -bias / gain;
  return {gain * (1.0 - intercepts), intercepts};
}

std::vector<std::pair<std::string, Init>> SpikingRectifiedLinear::default_state() const {
  return {{"voltage", Init(Uniform(0.0, 1.0))}};
}
torch::Tensor SpikingRectifiedLinear::step(double dt, const torch::Tensor& J,
                                           NeuronState& state) const {
  auto v = state.at("voltage") + torch::relu(J) * dt;
  auto n = torch::floor(v);
  state["voltage"] = v - n;
  return n * (options.amplitude() / dt);
}
NeuronTypePtr SpikingRectifiedLinear::rate_twin(double) const {
  return std::make_shared<RectifiedLinear>(options);
}

// ----------------------------------------------------------------------------- LeakyReLU --
nlohmann::json LeakyReLU::params() const {
  return {{"negative_slope", leaky.negative_slope()}, {"amplitude", leaky.amplitude()}};
}
torch::Tensor LeakyReLU::rates(const torch::Tensor& J) const {
  return leaky.amplitude() * torch::where(J < 0, leaky.negative_slope() * J, J);
}

std::vector<std::pair<std::string, Init>> SpikingLeakyReLU::default_state() const {
  return {{"voltage", Init(Uniform(0.0, 1.0))}};
}
torch::Tensor SpikingLeakyReLU::step(double dt, const torch::Tensor& J, NeuronState& state) const {
  auto v = state.at("voltage") + torch::where(J < 0, leaky.negative_slope() * J, J) * dt;
  auto n = torch::trunc(v);  // toward zero: negative voltage gives negative spikes
  state["voltage"] = v - n;
  return n * (leaky.amplitude() / dt);
}
NeuronTypePtr SpikingLeakyReLU::rate_twin(double) const {
  return std::make_shared<LeakyReLU>(leaky);
}

// ------------------------------------------------------------------------------- Sigmoid --
nlohmann::json Sigmoid::params() const { return {{"tau_ref", options.tau_ref()}}; }
torch::Tensor Sigmoid::rates(const torch::Tensor& J) const {
  return torch::sigmoid(J) / options.tau_ref();
}
std::pair<torch::Tensor, torch::Tensor> Sigmoid::gain_bias(const torch::Tensor& max_rates,
                                                           const torch::Tensor& intercepts) const {
  if ((max_rates * options.tau_ref() >= 1.0).any().item<bool>())
    throw BuildError("Sigmoid max_rates must be below 1/tau_ref = " +
                     std::to_string(1.0 / options.tau_ref()) + " Hz");
  auto inv = -torch::log(1.0 / (options.tau_ref() * max_rates) - 1.0);
  auto gain = inv / (1.0 - intercepts);
  return {gain, inv - gain};
}
std::pair<torch::Tensor, torch::Tensor> Sigmoid::max_rates_intercepts(
    const torch::Tensor& gain, const torch::Tensor& bias) const {
  auto inv = gain + bias;
  return {(1.0 / options.tau_ref()) / (1.0 + torch::exp(-inv)), 1.0 - inv / gain};
}

// -------------------------------------------------------------------------------- Direct --
nlohmann::json Direct::params() const { return nlohmann::json::object(); }
std::pair<torch::Tensor, torch::Tensor> Direct::gain_bias(const torch::Tensor&,
                                                          const torch::Tensor&) const {
  throw BuildError("Direct neurons have no gain and bias (the ensemble has no neurons)");
}
std::pair<torch::Tensor, torch::Tensor> Direct::max_rates_intercepts(const torch::Tensor&,
                                                                     const torch::Tensor&) const {
  throw BuildError("Direct neurons have no max_rates and intercepts (the ensemble has no neurons)");
}
bool is_direct(const NeuronTypePtr& type) {
  return type && dynamic_cast<const Direct*>(type.get()) != nullptr;
}

// ---------------------------------------------------------------------------------- Tanh --
nlohmann::json Tanh::params() const { return {{"tau_ref", options.tau_ref()}}; }
torch::Tensor Tanh::rates(const torch::Tensor& J) const {
  return torch::tanh(J) / options.tau_ref();
}
std::pair<torch::Tensor, torch::Tensor> Tanh::gain_bias(const torch::Tensor& max_rates,
                                                        const torch::Tensor& intercepts) const {
  if ((max_rates * options.tau_ref() >= 1.0).any().item<bool>())
    throw BuildError("Tanh max_rates must be below 1/tau_ref = " +
                     std::to_string(1.0 / options.tau_ref()) + " Hz");
  auto inv = torch::atanh(max_rates * options.tau_ref());
  auto gain = inv / (1.0 - intercepts);
  return {gain, -gain * intercepts};
}
std::pair<torch::Tensor, torch::Tensor> Tanh::max_rates_intercepts(const torch::Tensor& gain,
                                                                   const torch::Tensor& bias) const {
  auto intercepts = -bias / gain;
  return {torch::tanh(gain + bias) / options.tau_ref(), intercepts};
}

}  // namespace snn
