#pragma once
/// \file neurons_spiking.h
/// Nengo's wrappers that turn any rate neuron type into a spiking one: RegularSpiking,
/// StochasticSpiking and PoissonSpiking. The base type computes a rate r from the input
/// current (its state, if any, advancing as usual), and the wrapper turns r into spikes of
/// amplitude/dt each. Tuning curves, gain and bias are the base type's; the rate twin used
/// for training is the base type times amplitude (NengoDL's choice).
///
///     auto t = std::make_shared<snn::PoissonSpiking>(std::make_shared<snn::LIFRate>());
///     net->ensemble(snn::EnsembleOptions(100, 1).neuron_type(t));
///
/// Spec form: `{"type": "PoissonSpiking", "base_type": {"type": "LIFRate"}, "amplitude": 1}`.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "snn/neurons.h"

namespace snn {

/// The common part of the three wrappers (Nengo's RatesToSpikesNeuronType).
class RatesToSpikes : public NeuronType {
 public:
  /// Throws SpecError when base_type is missing, amplitude <= 0 or the base type's state
  /// names clash with the wrapper's.
  RatesToSpikes(NeuronTypePtr base_type, double amplitude);

  bool spiking() const override { return true; }
  bool negative() const override { return base_->negative(); }
  /// `{"base_type": {...}, "amplitude": a}`.
  nlohmann::json params() const override;
  /// The base type's rates (without this wrapper's amplitude, as Nengo).
  torch::Tensor rates(const torch::Tensor& J) const override { return base_->rates(J); }
  /// The wrapper's own state, then the base type's, then `rate_out` (the base type's output
  /// in the last step, probeable as in Nengo).
  std::vector<std::pair<std::string, Init>> default_state() const override;
  std::pair<torch::Tensor, torch::Tensor> gain_bias(const torch::Tensor& max_rates,
                                                    const torch::Tensor& intercepts) const override {
    return base_->gain_bias(max_rates, intercepts);
  }
  std::pair<torch::Tensor, torch::Tensor> max_rates_intercepts(
      const torch::Tensor& gain, const torch::Tensor& bias) const override {
    return base_->max_rates_intercepts(gain, bias);
  }
  /// amplitude * base rate (the base type itself when amplitude is 1).
  NeuronTypePtr rate_twin(double lif_smoothing) const override;

  const NeuronTypePtr& base_type() const { return base_; }
  double amplitude() const { return amplitude_; }

 protected:
  /// State variables of the wrapper itself (not the base type's).
  virtual std::vector<std::pair<std::string, Init>> own_state() const = 0;
  /// Advances the base type one step: its rate for current J (stored as `rate_out`).
  torch::Tensor base_rate(double dt, const torch::Tensor& J, NeuronState& state) const;

 private:
  NeuronTypePtr base_;
  double amplitude_;
};

/// Regular spike intervals (Nengo's RegularSpiking): with r the base rate,
/// v += dt r; n = floor(v); out = amplitude/dt n; v -= n. State: voltage (U(0, 1)).
class RegularSpiking : public RatesToSpikes {
 public:
  explicit RegularSpiking(NeuronTypePtr base_type, double amplitude = 1.0)
      : RatesToSpikes(std::move(base_type), amplitude) {}
  std::string type() const override { return "RegularSpiking"; }
  torch::Tensor step(double dt, const torch::Tensor& J, NeuronState& state) const override;

 protected:
  std::vector<std::pair<std::string, Init>> own_state() const override;
};

/// Stochastic rounding (Nengo's StochasticSpiking): with q + f = dt |r| (integer and
/// fractional parts), q + 1 spikes with probability f, else q; out = amplitude/dt n sign(r)
/// (the sign only for base types with negative rates).
///
/// Random numbers come from a counter-based hash of (per-neuron key, step counter, minibatch
/// item, neuron index) computed with tensor ops, so they are reproducible on every device:
/// the same seed gives the same spikes, and every minibatch item gets its own. The state
/// holds the key (`rng_key`, drawn per neuron from the ensemble seed like any initial state)
/// and the counter (`rng_step`), so a reset starts the same sequence over.
class StochasticSpiking : public RatesToSpikes {
 public:
  explicit StochasticSpiking(NeuronTypePtr base_type, double amplitude = 1.0)
      : RatesToSpikes(std::move(base_type), amplitude) {}
  std::string type() const override { return "StochasticSpiking"; }
  torch::Tensor step(double dt, const torch::Tensor& J, NeuronState& state) const override;

 protected:
  std::vector<std::pair<std::string, Init>> own_state() const override;
};

/// Poisson spike counts (Nengo's PoissonSpiking): n ~ Poisson(dt |r|) each step,
/// out = amplitude/dt n sign(r) (the sign only for base types with negative rates). Drawn by
/// inverting the Poisson CDF at one uniform from the same hash generator as
/// StochasticSpiking (state `rng_key`, `rng_step`); means above 30 per step use the normal
/// approximation, rounded.
class PoissonSpiking : public RatesToSpikes {
 public:
  explicit PoissonSpiking(NeuronTypePtr base_type, double amplitude = 1.0)
      : RatesToSpikes(std::move(base_type), amplitude) {}
  std::string type() const override { return "PoissonSpiking"; }
  torch::Tensor step(double dt, const torch::Tensor& J, NeuronState& state) const override;

 protected:
  std::vector<std::pair<std::string, Init>> own_state() const override;
};

}  // namespace snn
