#pragma once
/// \file neurons.h
/// Neuron types with Nengo's equations. A neuron type knows its rate function, its step
/// function (for spiking types), its state variables, how to turn max_rates/intercepts into
/// gain/bias and back, and its differentiable stand-in for training.
///
///     auto lif = snn::LIF(snn::LIFOptions().tau_rc(0.02).tau_ref(0.002));
///     torch::Tensor r = lif.rates(J);           // Hz
///
/// All functions work on tensors of any shape, float32 or float64, on any device; the build
/// calls them in float64.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/arg.h>
#include <torch/types.h>

#include "snn/dists.h"

namespace snn {

/// The state of a group of neurons: name -> tensor shaped like J.
using NeuronState = std::map<std::string, torch::Tensor>;

class NeuronType;
using NeuronTypePtr = std::shared_ptr<const NeuronType>;

/// Neuron types are shared immutable objects: create them with std::make_shared.
class NeuronType : public std::enable_shared_from_this<NeuronType> {
 public:
  virtual ~NeuronType() = default;

  /// The spec's type name ("LIF", ...).
  virtual std::string type() const = 0;
  /// Whether the output is spikes (amplitude/dt per spike) rather than a rate.
  virtual bool spiking() const { return false; }
  /// Whether outputs can be negative (affects nothing in the build; documented for users).
  virtual bool negative() const { return false; }

  /// The parameters in spec form, without `type` and `initial_state`.
  virtual nlohmann::json params() const = 0;
  /// Spec form: `{"type": ..., params..., "initial_state": {...}}`.
  nlohmann::json to_json() const;
  /// A key that is equal for neuron types that can be simulated together in one block.
  std::string block_key() const;

  /// Firing rate (Hz, times amplitude) for input current J.
  virtual torch::Tensor rates(const torch::Tensor& J) const = 0;

  /// The state variables and their default initial values (Nengo's `state` dict order).
  virtual std::vector<std::pair<std::string, Init>> default_state() const { return {}; }
  /// Advances one step of `dt` seconds with input current J; replaces the entries of `state`
  /// with new tensors (functional, so autograd can see through it) and returns the output.
  /// Rate types return rates(J).
  virtual torch::Tensor step(double dt, const torch::Tensor& J, NeuronState& state) const {
    (void)dt;
    (void)state;
    return rates(J);
  }

  /// gain and bias that give `max_rates` (Hz) at x = 1 and threshold at x = `intercepts`.
  virtual std::pair<torch::Tensor, torch::Tensor> gain_bias(const torch::Tensor& max_rates,
                                                            const torch::Tensor& intercepts) const;
  /// The inverse of gain_bias.
  virtual std::pair<torch::Tensor, torch::Tensor> max_rates_intercepts(
      const torch::Tensor& gain, const torch::Tensor& bias) const;

  /// The differentiable type used in training mode (NengoDL's swap: LIF -> LIFRate or
  /// SoftLIFRate(lif_smoothing), SpikingRectifiedLinear -> RectifiedLinear, SpikingLeakyReLU ->
  /// LeakyReLU); rate types return themselves.
  virtual NeuronTypePtr rate_twin(double lif_smoothing) const;

  /// Start values of state variables, overriding default_state(): a number, a per-neuron
  /// list or a distribution per variable name.
  std::map<std::string, Init> initial_state;
};

// ------------------------------------------------------------------------------------------
struct LIFRateOptions {
  TORCH_ARG(double, tau_rc) = 0.02;
  TORCH_ARG(double, tau_ref) = 0.002;
  TORCH_ARG(double, amplitude) = 1.0;
};

/// Rate of a leaky integrate-and-fire neuron: r = amplitude / (tau_ref + tau_rc log1p(1/(J-1)))
/// for J > 1, else 0.
class LIFRate : public NeuronType {
 public:
  explicit LIFRate(LIFRateOptions o = {}) : options(o) {}
  std::string type() const override { return "LIFRate"; }
  nlohmann::json params() const override;
  torch::Tensor rates(const torch::Tensor& J) const override;
  std::pair<torch::Tensor, torch::Tensor> gain_bias(const torch::Tensor& max_rates,
                                                    const torch::Tensor& intercepts) const override;
  std::pair<torch::Tensor, torch::Tensor> max_rates_intercepts(
      const torch::Tensor& gain, const torch::Tensor& bias) const override;
  LIFRateOptions options;
};

struct LIFOptions {
  TORCH_ARG(double, tau_rc) = 0.02;
  TORCH_ARG(double, tau_ref) = 0.002;
  TORCH_ARG(double, min_voltage) = 0.0;
  TORCH_ARG(double, amplitude) = 1.0;
};

/// Spiking leaky integrate-and-fire neuron, stepped with Nengo's exact solution for constant
/// input within a step and sub-step spike times carried into the refractory period.
/// State: voltage (default U(0, 1)), refractory_time (0).
class LIF : public NeuronType {
 public:
  explicit LIF(LIFOptions o = {}) : options(o) {}
  std::string type() const override { return "LIF"; }
  bool spiking() const override { return true; }
  nlohmann::json params() const override;
  torch::Tensor rates(const torch::Tensor& J) const override;
  std::vector<std::pair<std::string, Init>> default_state() const override;
  torch::Tensor step(double dt, const torch::Tensor& J, NeuronState& state) const override;
  std::pair<torch::Tensor, torch::Tensor> gain_bias(const torch::Tensor& max_rates,
                                                    const torch::Tensor& intercepts) const override;
  std::pair<torch::Tensor, torch::Tensor> max_rates_intercepts(
      const torch::Tensor& gain, const torch::Tensor& bias) const override;
  NeuronTypePtr rate_twin(double lif_smoothing) const override;
  LIFOptions options;
};

struct SoftLIFRateOptions {
  TORCH_ARG(double, sigma) = 1.0;
  TORCH_ARG(double, tau_rc) = 0.02;
  TORCH_ARG(double, tau_ref) = 0.002;
  TORCH_ARG(double, amplitude) = 1.0;
};

/// NengoDL's smoothed LIF rate: j = J - 1, z = sigma softplus(j / sigma),
/// r = amplitude / (tau_ref + tau_rc log1p(1/z)). Differentiable everywhere.
class SoftLIFRate : public NeuronType {
 public:
  explicit SoftLIFRate(SoftLIFRateOptions o = {}) : options(o) {}
  std::string type() const override { return "SoftLIFRate"; }
  nlohmann::json params() const override;
  torch::Tensor rates(const torch::Tensor& J) const override;
  std::pair<torch::Tensor, torch::Tensor> gain_bias(const torch::Tensor& max_rates,
                                                    const torch::Tensor& intercepts) const override;
  std::pair<torch::Tensor, torch::Tensor> max_rates_intercepts(
      const torch::Tensor& gain, const torch::Tensor& bias) const override;
  SoftLIFRateOptions options;
};

struct RectifiedLinearOptions {
  TORCH_ARG(double, amplitude) = 1.0;
};

/// r = amplitude * max(J, 0).
class RectifiedLinear : public NeuronType {
 public:
  explicit RectifiedLinear(RectifiedLinearOptions o = {}) : options(o) {}
  std::string type() const override { return "RectifiedLinear"; }
  nlohmann::json params() const override;
  torch::Tensor rates(const torch::Tensor& J) const override;
  std::pair<torch::Tensor, torch::Tensor> gain_bias(const torch::Tensor& max_rates,
                                                    const torch::Tensor& intercepts) const override;
  std::pair<torch::Tensor, torch::Tensor> max_rates_intercepts(
      const torch::Tensor& gain, const torch::Tensor& bias) const override;
  RectifiedLinearOptions options;
};

/// Integrate max(J, 0) and emit floor(v) spikes of amplitude/dt each step (several per step
/// are possible). State: voltage (default U(0, 1)).
class SpikingRectifiedLinear : public RectifiedLinear {
 public:
  explicit SpikingRectifiedLinear(RectifiedLinearOptions o = {}) : RectifiedLinear(o) {}
  std::string type() const override { return "SpikingRectifiedLinear"; }
  bool spiking() const override { return true; }
  std::vector<std::pair<std::string, Init>> default_state() const override;
  torch::Tensor step(double dt, const torch::Tensor& J, NeuronState& state) const override;
  NeuronTypePtr rate_twin(double lif_smoothing) const override;
};

struct LeakyReLUOptions {
  /// The slope for J < 0 (Keras' LeakyReLU alpha; NengoDL's default 0.3).
  TORCH_ARG(double, negative_slope) = 0.3;
  TORCH_ARG(double, amplitude) = 1.0;
};

/// NengoDL's LeakyReLU: r = amplitude * (J if J >= 0 else negative_slope * J). Gain and bias
/// are RectifiedLinear's (the slope below threshold does not move the threshold).
class LeakyReLU : public RectifiedLinear {
 public:
  explicit LeakyReLU(LeakyReLUOptions o = {})
      : RectifiedLinear(RectifiedLinearOptions().amplitude(o.amplitude())), leaky(o) {}
  std::string type() const override { return "LeakyReLU"; }
  bool negative() const override { return leaky.negative_slope() != 0.0; }
  nlohmann::json params() const override;
  torch::Tensor rates(const torch::Tensor& J) const override;
  LeakyReLUOptions leaky;
};

/// NengoDL's SpikingLeakyReLU: integrate the LeakyReLU rate (amplitude aside) and emit
/// trunc(v) spikes of amplitude/dt each step, so negative input gives negative spikes.
/// State: voltage (default U(0, 1)).
class SpikingLeakyReLU : public LeakyReLU {
 public:
  explicit SpikingLeakyReLU(LeakyReLUOptions o = {}) : LeakyReLU(o) {}
  std::string type() const override { return "SpikingLeakyReLU"; }
  bool spiking() const override { return true; }
  std::vector<std::pair<std::string, Init>> default_state() const override;
  torch::Tensor step(double dt, const torch::Tensor& J, NeuronState& state) const override;
  NeuronTypePtr rate_twin(double lif_smoothing) const override;
};

struct SigmoidOptions {
  TORCH_ARG(double, tau_ref) = 0.0025;
};

/// r = (1/tau_ref) / (1 + exp(-J)).
class Sigmoid : public NeuronType {
 public:
  explicit Sigmoid(SigmoidOptions o = {}) : options(o) {}
  std::string type() const override { return "Sigmoid"; }
  nlohmann::json params() const override;
  torch::Tensor rates(const torch::Tensor& J) const override;
  std::pair<torch::Tensor, torch::Tensor> gain_bias(const torch::Tensor& max_rates,
                                                    const torch::Tensor& intercepts) const override;
  std::pair<torch::Tensor, torch::Tensor> max_rates_intercepts(
      const torch::Tensor& gain, const torch::Tensor& bias) const override;
  SigmoidOptions options;
};

using TanhOptions = SigmoidOptions;

/// r = tanh(J) / tau_ref (may be negative).
class Tanh : public NeuronType {
 public:
  explicit Tanh(TanhOptions o = {}) : options(o) {}
  std::string type() const override { return "Tanh"; }
  bool negative() const override { return true; }
  nlohmann::json params() const override;
  torch::Tensor rates(const torch::Tensor& J) const override;
  std::pair<torch::Tensor, torch::Tensor> gain_bias(const torch::Tensor& max_rates,
                                                    const torch::Tensor& intercepts) const override;
  std::pair<torch::Tensor, torch::Tensor> max_rates_intercepts(
      const torch::Tensor& gain, const torch::Tensor& bias) const override;
  TanhOptions options;
};

/// Nengo's Direct mode: the ensemble computes its functions exactly, with no neurons. Its
/// output is its input (the represented value, same step); connections from it apply their
/// function to that value as a Node's do. It has no gain, bias, max_rates or intercepts, and
/// nothing to train; `.neurons`, noise, learning rules and weight solvers are errors.
class Direct : public NeuronType {
 public:
  std::string type() const override { return "Direct"; }
  bool negative() const override { return true; }
  nlohmann::json params() const override;
  torch::Tensor rates(const torch::Tensor& J) const override { return J; }
  /// Throws BuildError: a Direct ensemble has no neurons to tune.
  std::pair<torch::Tensor, torch::Tensor> gain_bias(const torch::Tensor& max_rates,
                                                    const torch::Tensor& intercepts) const override;
  std::pair<torch::Tensor, torch::Tensor> max_rates_intercepts(
      const torch::Tensor& gain, const torch::Tensor& bias) const override;
};

/// Whether `type` is Direct mode (no neurons).
bool is_direct(const NeuronTypePtr& type);

struct AdaptiveLIFOptions {
  TORCH_ARG(double, tau_n) = 1.0;
  TORCH_ARG(double, inc_n) = 0.01;
  TORCH_ARG(double, tau_rc) = 0.02;
  TORCH_ARG(double, tau_ref) = 0.002;
  TORCH_ARG(double, min_voltage) = 0.0;
  TORCH_ARG(double, amplitude) = 1.0;
};

/// LIFRate with an adaptation current n: r = LIFRate(J - n), n += (dt/tau_n)(inc_n r - n).
/// State: adaptation (0). Rates, gain and bias are LIFRate's (without adaptation).
class AdaptiveLIFRate : public LIFRate {
 public:
  explicit AdaptiveLIFRate(AdaptiveLIFOptions o = {});
  std::string type() const override { return "AdaptiveLIFRate"; }
  nlohmann::json params() const override;
  std::vector<std::pair<std::string, Init>> default_state() const override;
  torch::Tensor step(double dt, const torch::Tensor& J, NeuronState& state) const override;
  AdaptiveLIFOptions adaptive;
};

/// Spiking LIF with an adaptation current: out = LIF(J - n), n += (dt/tau_n)(inc_n out - n).
/// State: voltage (U(0, 1)), refractory_time (0), adaptation (0).
class AdaptiveLIF : public LIF {
 public:
  explicit AdaptiveLIF(AdaptiveLIFOptions o = {});
  std::string type() const override { return "AdaptiveLIF"; }
  nlohmann::json params() const override;
  std::vector<std::pair<std::string, Init>> default_state() const override;
  torch::Tensor step(double dt, const torch::Tensor& J, NeuronState& state) const override;
  NeuronTypePtr rate_twin(double lif_smoothing) const override;
  AdaptiveLIFOptions adaptive;
};

struct IzhikevichOptions {
  TORCH_ARG(double, tau_recovery) = 0.02;
  TORCH_ARG(double, coupling) = 0.2;
  TORCH_ARG(double, reset_voltage) = -65.0;
  TORCH_ARG(double, reset_recovery) = 8.0;
};

/// Izhikevich's two-variable model (v in mV, time constants in s):
/// v += dt 1000 (0.04 v^2 + 5 v + 140 - u + J); spike when v >= 30, then v = reset_voltage;
/// u += dt 1000 tau_recovery (coupling v - u), and u += reset_recovery on a spike.
/// State: voltage (U(0, 1) as Nengo), recovery (0). Rates are found by simulation and
/// gain/bias by Nengo's generic search over input currents.
class Izhikevich : public NeuronType {
 public:
  explicit Izhikevich(IzhikevichOptions o = {}) : options(o) {}
  std::string type() const override { return "Izhikevich"; }
  bool spiking() const override { return true; }
  nlohmann::json params() const override;
  torch::Tensor rates(const torch::Tensor& J) const override;
  std::vector<std::pair<std::string, Init>> default_state() const override;
  torch::Tensor step(double dt, const torch::Tensor& J, NeuronState& state) const override;
  std::pair<torch::Tensor, torch::Tensor> gain_bias(const torch::Tensor& max_rates,
                                                    const torch::Tensor& intercepts) const override;
  std::pair<torch::Tensor, torch::Tensor> max_rates_intercepts(
      const torch::Tensor& gain, const torch::Tensor& bias) const override;
  IzhikevichOptions options;
};

// ------------------------------------------------------------------------------------------
/// Builds a neuron type from its spec form `{"type": "LIF", "tau_rc": 0.02, ...}` (including
/// `initial_state`). Unknown types or parameters throw SpecError naming `path`.
NeuronTypePtr neuron_type_from_json(const nlohmann::json& j, const std::string& path = "");

/// Registers a neuron type by name so that specs can use it. `factory` receives the spec
/// object (parameters) and the JSON path for error messages.
using NeuronFactory =
    std::function<NeuronTypePtr(const nlohmann::json& params, const std::string& path)>;
void register_neuron_type(const std::string& name, NeuronFactory factory);
/// Names of all registered neuron types.
std::vector<std::string> neuron_type_names();

}  // namespace snn
