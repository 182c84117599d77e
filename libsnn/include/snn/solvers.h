#pragma once
/// \file solvers.h
/// Decoder solvers (Nengo's `nengo.solvers`). Solving happens at build time in float64.
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>
#include <torch/types.h>

namespace snn {

class Solver {
 public:
  virtual ~Solver() = default;
  virtual std::string type() const = 0;
  virtual nlohmann::json to_json() const = 0;
  /// Whether the solver produces full neuron-to-neuron weights (Nengo's `weights=True`).
  virtual bool weights() const { return false; }
  /// Decoders X (n_neurons, d) such that A X ~ Y, for activities A (m, n_neurons) and
  /// targets Y (m, d).
  virtual torch::Tensor solve(const torch::Tensor& A, const torch::Tensor& Y) const = 0;
};
using SolverPtr = std::shared_ptr<const Solver>;

/// Least squares with L2 regularisation, Nengo's default: sigma = reg * max(A),
/// (A^T A + m sigma^2 I) X = A^T Y (or the equivalent dual form when m < n).
class LstsqL2 : public Solver {
 public:
  explicit LstsqL2(double reg = 0.1, bool weights = false) : reg(reg), weights_(weights) {}
  std::string type() const override { return "LstsqL2"; }
  nlohmann::json to_json() const override;
  bool weights() const override { return weights_; }
  torch::Tensor solve(const torch::Tensor& A, const torch::Tensor& Y) const override;
  double reg;

 private:
  bool weights_;
};

/// A solver from its spec form; throws SpecError naming `path`.
SolverPtr solver_from_json(const nlohmann::json& j, const std::string& path = "");

}  // namespace snn
