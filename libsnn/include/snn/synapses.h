#pragma once
/// \file synapses.h
/// Synapses: linear filters given as analog (or digital) transfer functions num(s)/den(s),
/// discretised with zero-order hold as Nengo does.
///
///     auto syn = snn::Lowpass(0.005);           // 1 / (tau s + 1)
///     auto ss = syn.discretize(0.001);          // Ad, Bd, C, D
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/types.h>

namespace snn {

/// A discrete state-space filter: X[k+1] = A X[k] + B u[k], y = C X + D u (float64 tensors;
/// A (n, n), B (n,), C (n,), D scalar). With D == 0 Nengo reads y after the state update
/// (no internal delay); with D != 0 it reads y = C X + D u before it.
struct StateSpace {
  torch::Tensor A, B, C;
  double D = 0.0;
  int64_t n_states() const { return A.defined() ? A.size(0) : 0; }
};

class Synapse {
 public:
  virtual ~Synapse() = default;
  virtual std::string type() const = 0;
  virtual nlohmann::json to_json() const = 0;
  /// The discrete filter for time step `dt`.
  virtual StateSpace discretize(double dt) const = 0;
};
using SynapsePtr = std::shared_ptr<const Synapse>;

/// General linear filter num/den (highest power first). `analog` filters are discretised by
/// zero-order hold; digital ones (analog = false) are used as given, in z.
class LinearFilter : public Synapse {
 public:
  LinearFilter(std::vector<double> num, std::vector<double> den, bool analog = true);
  std::string type() const override { return "LinearFilter"; }
  nlohmann::json to_json() const override;
  StateSpace discretize(double dt) const override;
  std::vector<double> num, den;
  bool analog;
};

/// First-order lowpass 1 / (tau s + 1).
class Lowpass : public LinearFilter {
 public:
  explicit Lowpass(double tau);
  std::string type() const override { return "Lowpass"; }
  nlohmann::json to_json() const override;
  double tau;
};

/// Alpha filter 1 / (tau s + 1)^2.
class Alpha : public LinearFilter {
 public:
  explicit Alpha(double tau);
  std::string type() const override { return "Alpha"; }
  nlohmann::json to_json() const override;
  double tau;
};

/// Nengo's Triangle: a finite impulse response over the last round(t / dt) + 1 steps, taps
/// falling linearly from the current input (n, n-1, ..., 1, normalised to sum to 1). A digital
/// filter, so its shape depends on dt; t = 0 passes the input through.
class Triangle : public Synapse {
 public:
  explicit Triangle(double t);
  std::string type() const override { return "Triangle"; }
  nlohmann::json to_json() const override;
  StateSpace discretize(double dt) const override;
  /// The taps for time step dt, current input first.
  std::vector<double> taps(double dt) const;
  double t;
};

/// A synapse from its spec form: a number (Lowpass tau) or `{"type": ...}`; `null` gives
/// nullptr (no synapse). Throws SpecError naming `path`.
SynapsePtr synapse_from_json(const nlohmann::json& j, const std::string& path = "");
/// The spec form of a synapse (null for nullptr).
nlohmann::json synapse_to_json(const SynapsePtr& s);

}  // namespace snn
