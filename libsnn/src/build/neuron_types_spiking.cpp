// RegularSpiking, StochasticSpiking and PoissonSpiking: rate types made spiking (Nengo's
// RatesToSpikesNeuronType family), with a reproducible hash generator kept in the neuron
// state (NeuronType::step has no RNG argument, and the state is what travels with a
// minibatch, is cloned by predict and restored by reset).
#include <cmath>
#include <set>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "build/neuron_types_spiking_internal.h"
#include "snn/errors.h"
#include "snn/neurons_spiking.h"

namespace snn {

namespace {

constexpr int64_t kMask32 = int64_t{0xFFFFFFFF};
/// Keys are integers below 2^24, exact in float32 state tensors.
constexpr double kKeyRange = 16777216.0;

/// (x * c) mod 2^32 for x, c < 2^32 held in int64, without signed overflow: split x into
/// 16-bit halves so that every partial product stays below 2^48.
torch::Tensor mul32(const torch::Tensor& x, int64_t c) {
  auto lo = x.bitwise_and(0xFFFF);
  auto hi = x.__rshift__(16);
  return (lo * c + (hi * c).bitwise_and(0xFFFF).__lshift__(16)).bitwise_and(kMask32);
}

/// The "lowbias32" integer hash on int64 tensors holding 32-bit words.
torch::Tensor hash32(torch::Tensor x) {
  x = x.bitwise_and(kMask32);
  x = x.bitwise_xor(x.__rshift__(16));
  x = mul32(x, int64_t{0x7feb352d});
  x = x.bitwise_xor(x.__rshift__(15));
  x = mul32(x, int64_t{0x846ca68b});
  return x.bitwise_xor(x.__rshift__(16));
}

/// One uniform in (0, 1) per element of J (float64), from the state's key and counter, the
/// minibatch item (first axis of a 2-D J) and the neuron (last axis); advances the counter.
torch::Tensor hash_uniform(const torch::Tensor& J, NeuronState& state, const std::string& who) {
  auto key_it = state.find("rng_key");
  auto step_it = state.find("rng_step");
  TORCH_CHECK(key_it != state.end() && step_it != state.end(), who,
              ": state lacks rng_key/rng_step");
  const auto opts = torch::TensorOptions().dtype(torch::kLong).device(J.device());
  auto key = key_it->second.detach().to(torch::kLong);
  auto counter = step_it->second.detach().to(torch::kLong);
  auto neuron = torch::arange(J.size(-1), opts);
  torch::Tensor item = torch::zeros({1}, opts);
  if (J.dim() >= 2) {
    std::vector<int64_t> shape(static_cast<size_t>(J.dim()), 1);
    shape[0] = J.size(0);
    item = torch::arange(J.size(0), opts).view(shape);
  }
  auto where = hash32(hash32(item + int64_t{0x1234567}).bitwise_xor(neuron));
  auto h = hash32(hash32(key + hash32(counter + int64_t{0x2545F491})).bitwise_xor(where));
  step_it->second = step_it->second + 1;
  return (h.to(torch::kFloat64) + 0.5) / 4294967296.0;
}

/// The rate twin of a wrapper with amplitude != 1: amplitude times the base type.
class ScaledRate : public NeuronType {
 public:
  ScaledRate(NeuronTypePtr base, double amplitude) : base_(std::move(base)), amplitude_(amplitude) {}
  std::string type() const override { return "ScaledRate"; }
  bool negative() const override { return base_->negative(); }
  nlohmann::json params() const override {
    return {{"base_type", base_->to_json()}, {"amplitude", amplitude_}};
  }
  torch::Tensor rates(const torch::Tensor& J) const override {
    return base_->rates(J) * amplitude_;
  }
  std::vector<std::pair<std::string, Init>> default_state() const override {
    return base_->default_state();
  }
  torch::Tensor step(double dt, const torch::Tensor& J, NeuronState& state) const override {
    return base_->step(dt, J, state) * amplitude_;
  }
  std::pair<torch::Tensor, torch::Tensor> gain_bias(const torch::Tensor& max_rates,
                                                    const torch::Tensor& intercepts) const override {
    return base_->gain_bias(max_rates, intercepts);
  }
  std::pair<torch::Tensor, torch::Tensor> max_rates_intercepts(
      const torch::Tensor& gain, const torch::Tensor& bias) const override {
    return base_->max_rates_intercepts(gain, bias);
  }

 private:
  NeuronTypePtr base_;
  double amplitude_;
};

std::vector<std::pair<std::string, Init>> rng_state() {
  return {{"rng_key", Init(Uniform(0.0, kKeyRange, true))}, {"rng_step", Init(0.0)}};
}

}  // namespace

// ---------------------------------------------------------------------------- RatesToSpikes --
RatesToSpikes::RatesToSpikes(NeuronTypePtr base_type, double amplitude)
    : base_(std::move(base_type)), amplitude_(amplitude) {
  if (!base_) throw SpecError("spiking wrapper: expected a base_type, got none");
  if (!(amplitude > 0) || !std::isfinite(amplitude))
    throw SpecError("spiking wrapper: expected amplitude > 0, got " + std::to_string(amplitude));
}

nlohmann::json RatesToSpikes::params() const {
  return {{"base_type", base_->to_json()}, {"amplitude", amplitude_}};
}

std::vector<std::pair<std::string, Init>> RatesToSpikes::default_state() const {
  auto out = own_state();
  std::set<std::string> names;
  for (const auto& [name, init] : out) names.insert(name);
  for (const auto& [name, init] : base_->default_state()) {
    if (!names.insert(name).second)
      throw SpecError(type() + ": the base type " + base_->type() +
                      " has a state variable named like the wrapper's (\"" + name + "\")");
    // A start value set on the base type itself counts as its default here.
    auto it = base_->initial_state.find(name);
    out.emplace_back(name, it != base_->initial_state.end() ? it->second : init);
  }
  out.emplace_back("rate_out", Init(0.0));
  return out;
}

NeuronTypePtr RatesToSpikes::rate_twin(double lif_smoothing) const {
  auto base = base_->rate_twin(lif_smoothing);
  if (amplitude_ == 1.0) return base;
  return std::make_shared<ScaledRate>(base, amplitude_);
}

torch::Tensor RatesToSpikes::base_rate(double dt, const torch::Tensor& J, NeuronState& state) const {
  auto r = base_->step(dt, J, state);
  state["rate_out"] = r;
  return r;
}

// ---------------------------------------------------------------------------- RegularSpiking --
std::vector<std::pair<std::string, Init>> RegularSpiking::own_state() const {
  return {{"voltage", Init(Uniform(0.0, 1.0))}};
}

torch::Tensor RegularSpiking::step(double dt, const torch::Tensor& J, NeuronState& state) const {
  auto r = base_rate(dt, J, state);
  auto v = state.at("voltage") + dt * r;
  auto n = torch::floor(v);
  state["voltage"] = v - n;
  return n * (amplitude() / dt);
}

// ------------------------------------------------------------------------- StochasticSpiking --
std::vector<std::pair<std::string, Init>> StochasticSpiking::own_state() const { return rng_state(); }

torch::Tensor StochasticSpiking::step(double dt, const torch::Tensor& J, NeuronState& state) const {
  auto r = base_rate(dt, J, state).detach();
  auto u = hash_uniform(J, state, type());
  auto x = (negative() ? r.abs() : r).to(torch::kFloat64) * dt;
  auto q = torch::floor(x);
  auto n = q + (u < x - q).to(torch::kFloat64);
  if (negative()) n = n * torch::sign(r).to(torch::kFloat64);
  return (n * (amplitude() / dt)).to(J.scalar_type());
}

// ---------------------------------------------------------------------------- PoissonSpiking --
std::vector<std::pair<std::string, Init>> PoissonSpiking::own_state() const { return rng_state(); }

torch::Tensor PoissonSpiking::step(double dt, const torch::Tensor& J, NeuronState& state) const {
  auto r = base_rate(dt, J, state).detach();
  auto u = hash_uniform(J, state, type());
  auto lam = (negative() ? r.abs() : r).to(torch::kFloat64).clamp_min(0.0) * dt;
  // Inversion: n = #{k >= 0 : F(k) < u}, F the Poisson CDF, for means up to kSmall.
  constexpr double kSmall = 30.0;
  auto small = torch::where(lam <= kSmall, lam, torch::zeros_like(lam));
  const double max_lam = small.numel() ? small.max().item<double>() : 0.0;
  const auto iterations = static_cast<int64_t>(std::ceil(max_lam + 10.0 * std::sqrt(max_lam) + 12.0));
  auto p = torch::exp(-small);
  auto F = p.clone();
  auto n = torch::zeros_like(small);
  for (int64_t k = 0; k < iterations; ++k) {
    n = n + (F < u).to(torch::kFloat64);
    p = p * small / static_cast<double>(k + 1);
    F = F + p;
  }
  // Larger means: the normal approximation, through the same uniform.
  auto z = std::sqrt(2.0) * torch::erfinv(2.0 * u - 1.0);
  auto big = torch::clamp_min(torch::floor(lam + torch::sqrt(lam) * z + 0.5), 0.0);
  n = torch::where(lam <= kSmall, n, big);
  if (negative()) n = n * torch::sign(r).to(torch::kFloat64);
  return (n * (amplitude() / dt)).to(J.scalar_type());
}

// ------------------------------------------------------------------------------------ JSON --
namespace detail {

NeuronTypePtr rates_to_spikes_from_json(const std::string& type, const nlohmann::json& j,
                                        const std::string& path) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    const auto& k = it.key();
    if (k != "type" && k != "initial_state" && k != "base_type" && k != "amplitude")
      throw SpecError(path + ": unknown parameter \"" + k + "\" for " + type +
                      " (expected base_type, amplitude)");
  }
  if (!j.contains("base_type") || j["base_type"].is_null())
    throw SpecError(path + ": " + type + " needs a \"base_type\" (a rate neuron type)");
  auto base = neuron_type_from_json(j["base_type"], path + "/base_type");
  // Nengo: the base type gives rates; a spiking one would be made to spike twice over.
  if (base && base->spiking())
    throw SpecError(path + "/base_type: " + type + " needs a rate neuron type, got the spiking " +
                    base->type());
  double amplitude = 1.0;
  if (j.contains("amplitude")) {
    const auto& a = j["amplitude"];
    if (!a.is_number()) throw SpecError(path + "/amplitude: expected a number, got " + a.dump());
    amplitude = a.get<double>();
    if (!(amplitude > 0))
      throw SpecError(path + "/amplitude: expected amplitude > 0, got " + a.dump());
  }
  NeuronTypePtr made;
  if (type == "RegularSpiking") made = std::make_shared<RegularSpiking>(base, amplitude);
  else if (type == "StochasticSpiking") made = std::make_shared<StochasticSpiking>(base, amplitude);
  else if (type == "PoissonSpiking") made = std::make_shared<PoissonSpiking>(base, amplitude);
  else throw SpecError(path + ": not a spiking wrapper type: " + type);
  try {
    made->default_state();  // state name clashes with the base type
  } catch (const SpecError& e) {
    throw SpecError(path + "/base_type: " + e.what());
  }
  return made;
}

}  // namespace detail

}  // namespace snn
