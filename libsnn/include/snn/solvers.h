#pragma once
/// \file solvers.h
/// Decoder solvers (Nengo's `nengo.solvers`). Solving happens at build time in float64: given
/// the activities A (m eval points, n neurons) and the targets Y (m, d), a solver returns
/// decoders X (n, d) with A X ~ Y.
///
///     auto c = net->connect(a, b, snn::ConnectionOptions()
///                                     .function(snn::expr("x0^2"))
///                                     .solver(std::make_shared<snn::LstsqL2nz>(0.05)));
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>
#include <torch/types.h>

#include "snn/rng.h"

namespace snn {

class Solver {
 public:
  virtual ~Solver() = default;
  virtual std::string type() const = 0;
  virtual nlohmann::json to_json() const = 0;
  /// Whether the solver produces full neuron-to-neuron weights (Nengo's `weights=True`):
  /// the connection (ensemble -> ensemble) then feeds the post neurons' input currents
  /// through one (n_post, n_pre) matrix.
  virtual bool weights() const { return false; }
  /// With weights(): whether those weights are the decoders composed with the transform and
  /// the post's scaled encoders (true, the least-squares solvers, linear in the targets), or
  /// solved directly against the targets mapped through them (false: Nnls*, whose
  /// non-negativity applies to the weights, and NoSolver, whose values are the weights).
  virtual bool compositional() const { return true; }
  /// Decoders X (n_neurons, d) such that A X ~ Y, for activities A (m, n_neurons) and
  /// targets Y (m, d).
  virtual torch::Tensor solve(const torch::Tensor& A, const torch::Tensor& Y) const = 0;
  /// The same with the connection's random generator, for solvers that draw (LstsqNoise);
  /// the build calls this one. Deterministic solvers ignore `rng`.
  virtual torch::Tensor solve(const torch::Tensor& A, const torch::Tensor& Y, Rng& rng) const {
    (void)rng;
    return solve(A, Y);
  }
};
using SolverPtr = std::shared_ptr<const Solver>;

/// Least squares with L2 regularisation, Nengo's default: sigma = reg * max(A),
/// (A^T A + m sigma^2 I) X = A^T Y (or the equivalent dual form when m < n).
class LstsqL2 : public Solver {
 public:
  explicit LstsqL2(double reg = 0.1, bool weights = false) : reg(reg), weights_(weights) {}
  using Solver::solve;
  std::string type() const override { return "LstsqL2"; }
  nlohmann::json to_json() const override;
  bool weights() const override { return weights_; }
  torch::Tensor solve(const torch::Tensor& A, const torch::Tensor& Y) const override;
  double reg;

 private:
  bool weights_;
};

/// LstsqL2 with a regulariser per neuron that scales with how often the neuron is active
/// on the eval points: sigma_j = reg * max|A| * sqrt(mean_i(A_ij != 0)) (silent neurons get
/// the largest sigma), (A^T A + m diag(sigma^2)) X = A^T Y.
class LstsqL2nz : public LstsqL2 {
 public:
  explicit LstsqL2nz(double reg = 0.1, bool weights = false) : LstsqL2(reg, weights) {}
  using Solver::solve;
  std::string type() const override { return "LstsqL2nz"; }
  nlohmann::json to_json() const override;
  torch::Tensor solve(const torch::Tensor& A, const torch::Tensor& Y) const override;
};

/// Unregularised least squares by SVD, as numpy's lstsq: singular values below
/// rcond * max(s) are treated as zero.
class Lstsq : public Solver {
 public:
  explicit Lstsq(double rcond = 0.01, bool weights = false) : rcond(rcond), weights_(weights) {}
  using Solver::solve;
  std::string type() const override { return "Lstsq"; }
  nlohmann::json to_json() const override;
  bool weights() const override { return weights_; }
  torch::Tensor solve(const torch::Tensor& A, const torch::Tensor& Y) const override;
  double rcond;

 private:
  bool weights_;
};

/// Least squares on noisy activities: A + N with N ~ Normal(0, (noise * max|A|)^2) drawn
/// row by row from the connection's generator (`multiplicative`: A + A * N, N ~ Normal(0,
/// noise^2), Nengo's LstsqMultNoise), then the normal equations without regularisation.
class LstsqNoise : public Solver {
 public:
  explicit LstsqNoise(double noise = 0.1, bool multiplicative = false, bool weights = false)
      : noise(noise), multiplicative(multiplicative), weights_(weights) {}
  std::string type() const override { return multiplicative ? "LstsqMultNoise" : "LstsqNoise"; }
  nlohmann::json to_json() const override;
  bool weights() const override { return weights_; }
  /// Draws from Rng(0); the build passes the connection's generator instead.
  torch::Tensor solve(const torch::Tensor& A, const torch::Tensor& Y) const override;
  torch::Tensor solve(const torch::Tensor& A, const torch::Tensor& Y, Rng& rng) const override;
  double noise;
  bool multiplicative;

 private:
  bool weights_;
};

/// Non-negative least squares (Lawson-Hanson active set, column by column): X >= 0
/// minimising |A X - Y|. With `reg` > 0 (Nengo's NnlsL2) it solves the regularised normal
/// equations (A^T A + m sigma^2 I) X = A^T max(Y, 0) under X >= 0, sigma = reg * max(A);
/// `nonzero` (NnlsL2nz) scales sigma per neuron as LstsqL2nz does (silent neurons: 1).
class Nnls : public Solver {
 public:
  /// `reg` unset: plain Nnls; set: NnlsL2 (or NnlsL2nz with `nonzero`).
  explicit Nnls(std::optional<double> reg = std::nullopt, bool nonzero = false,
                bool weights = false)
      : reg(reg), nonzero(nonzero), weights_(weights) {}
  using Solver::solve;
  std::string type() const override;
  nlohmann::json to_json() const override;
  bool weights() const override { return weights_; }
  bool compositional() const override { return false; }
  torch::Tensor solve(const torch::Tensor& A, const torch::Tensor& Y) const override;
  std::optional<double> reg;
  bool nonzero;

 private:
  bool weights_;
};

/// Given decoders, no solving (Nengo's NoSolver): `values` (n_neurons, d) or 0-d (one value
/// for all), or zeros when undefined; with `weights`, the transposed weights (n_pre, n_post). The build checks the shape against the connection.
class NoSolver : public Solver {
 public:
  explicit NoSolver(torch::Tensor values = {}, bool weights = false)
      : values(std::move(values)), weights_(weights) {}
  using Solver::solve;
  std::string type() const override { return "NoSolver"; }
  nlohmann::json to_json() const override;
  bool weights() const override { return weights_; }
  bool compositional() const override { return false; }
  torch::Tensor solve(const torch::Tensor& A, const torch::Tensor& Y) const override;
  torch::Tensor values;

 private:
  bool weights_;
};

/// One column of non-negative least squares: x >= 0 minimising |A x - b| (A (m, n), b (m,)),
/// float64. Throws BuildError if the active-set iteration does not converge.
torch::Tensor nnls(const torch::Tensor& A, const torch::Tensor& b);

/// A solver from its spec form (`{"type": "LstsqL2", "reg": 0.1}`, types LstsqL2, LstsqL2nz,
/// Lstsq, LstsqNoise, LstsqMultNoise, Nnls, NnlsL2, NnlsL2nz, NoSolver); throws SpecError
/// naming `path`.
SolverPtr solver_from_json(const nlohmann::json& j, const std::string& path = "");

}  // namespace snn
