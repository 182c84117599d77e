// Decoder solvers. LstsqL2 follows Nengo's Cholesky path exactly: the regulariser is
// m * (reg * max(A))^2, and the dual (m x m) system is used when there are fewer eval points
// than neurons (only for a single sigma: per-neuron sigmas need the primal form).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "snn/errors.h"
#include "snn/solvers.h"

namespace snn {

namespace {

constexpr auto kF64 = torch::kFloat64;

/// Solves (A^T A + m diag(sigma^2)) X = A^T Y by Cholesky; `sigma` is a 0-d or (n,) tensor.
/// The dual form A^T (A A^T + m sigma^2 I)^-1 Y is used when m < n and sigma is a scalar.
torch::Tensor cholesky_solve_l2(const torch::Tensor& A, const torch::Tensor& Y,
                                const torch::Tensor& sigma) {
  const int64_t m = A.size(0), n = A.size(1);
  const bool dual = m < n && sigma.dim() == 0;
  auto G = dual ? torch::mm(A, A.t()) : torch::mm(A.t(), A);
  auto b = dual ? Y : torch::mm(A.t(), Y);
  G.diagonal().add_(static_cast<double>(m) * sigma * sigma);
  auto L = torch::linalg_cholesky(G);
  auto x = torch::cholesky_solve(b, L);
  return dual ? torch::mm(A.t(), x) : x;
}

/// sigma_j = base * sqrt(fraction of eval points on which neuron j is active); neurons that
/// are never active get `silent` (they contribute nothing, but the system must stay regular).
torch::Tensor nonzero_sigma(const torch::Tensor& A, double base, std::optional<double> silent) {
  auto sigma = base * torch::sqrt((A.abs() > 0).to(kF64).mean(0));
  const double fill = silent ? *silent : sigma.max().item<double>();
  return torch::where(sigma == 0, torch::full_like(sigma, fill), sigma);
}

// Solves run on the CPU in double, whatever device the values came from.
torch::Tensor as_f64(const torch::Tensor& t) { return t.to(torch::kCPU, kF64).contiguous(); }

}  // namespace

// ---- LstsqL2 / LstsqL2nz -------------------------------------------------------------------

nlohmann::json LstsqL2::to_json() const {
  return {{"type", "LstsqL2"}, {"reg", reg}, {"weights", weights_}};
}

torch::Tensor LstsqL2::solve(const torch::Tensor& A_, const torch::Tensor& Y_) const {
  auto A = as_f64(A_);
  const double sigma = reg * A.max().item<double>();
  return cholesky_solve_l2(A, as_f64(Y_), torch::tensor(sigma, kF64));
}

nlohmann::json LstsqL2nz::to_json() const {
  return {{"type", "LstsqL2nz"}, {"reg", reg}, {"weights", weights()}};
}

torch::Tensor LstsqL2nz::solve(const torch::Tensor& A_, const torch::Tensor& Y_) const {
  auto A = as_f64(A_);
  auto sigma = nonzero_sigma(A, reg * A.abs().max().item<double>(), std::nullopt);
  return cholesky_solve_l2(A, as_f64(Y_), sigma);
}

// ---- Lstsq ---------------------------------------------------------------------------------

nlohmann::json Lstsq::to_json() const {
  return {{"type", "Lstsq"}, {"rcond", rcond}, {"weights", weights_}};
}

torch::Tensor Lstsq::solve(const torch::Tensor& A_, const torch::Tensor& Y_) const {
  auto A = as_f64(A_);
  auto Y = as_f64(Y_);
  // The minimum-norm solution through the thin SVD, dropping s_i < rcond * s_max as numpy's
  // lstsq (gelsd) does.
  auto [U, s, Vh] = torch::linalg_svd(A, /*full_matrices=*/false);
  const double cut = rcond * s.max().item<double>();
  auto inv = torch::where(s > cut, 1.0 / s, torch::zeros_like(s));
  return torch::mm(Vh.t(), inv.unsqueeze(1) * torch::mm(U.t(), Y));
}

// ---- LstsqNoise / LstsqMultNoise -----------------------------------------------------------

nlohmann::json LstsqNoise::to_json() const {
  return {{"type", type()}, {"noise", noise}, {"weights", weights_}};
}

torch::Tensor LstsqNoise::solve(const torch::Tensor& A, const torch::Tensor& Y) const {
  Rng rng(0);
  return solve(A, Y, rng);
}

torch::Tensor LstsqNoise::solve(const torch::Tensor& A_, const torch::Tensor& Y_, Rng& rng) const {
  auto A = as_f64(A_).clone();
  const double scale = multiplicative ? noise : noise * A.abs().max().item<double>();
  // Row-major draws, as numpy's rng.normal(size=A.shape).
  auto N = torch::empty_like(A);
  double* p = N.data_ptr<double>();
  for (int64_t i = 0; i < N.numel(); ++i) p[i] = rng.normal(0.0, scale);
  A = multiplicative ? A + N * A : A + N;
  return cholesky_solve_l2(A, as_f64(Y_), torch::tensor(0.0, kF64));
}

// ---- Nnls / NnlsL2 / NnlsL2nz --------------------------------------------------------------

torch::Tensor nnls(const torch::Tensor& A_, const torch::Tensor& b_) {
  // Lawson & Hanson (1974), "Solving Least Squares Problems", ch. 23: grow a passive set P of
  // positive coefficients one at a time (the one with the largest negative gradient), solve
  // the unconstrained problem on P, and step back to the boundary whenever that solution
  // leaves the feasible region.
  auto A = as_f64(A_);
  auto b = as_f64(b_).reshape({-1, 1});
  const int64_t m = A.size(0), n = A.size(1);
  const double tol = 10.0 * std::numeric_limits<double>::epsilon() *
                     A.abs().sum(0).max().item<double>() * static_cast<double>(std::max(m, n));
  std::vector<double> x(n, 0.0);
  std::vector<bool> passive(n, false);
  auto x_tensor = [&] { return torch::tensor(x, kF64).reshape({n, 1}); };
  auto solve_passive = [&](std::vector<int64_t>& idx) {
    idx.clear();
    for (int64_t j = 0; j < n; ++j)
      if (passive[j]) idx.push_back(j);
    auto cols = A.index_select(1, torch::tensor(idx, torch::kLong));
    auto z = std::get<0>(torch::linalg_lstsq(cols, b, c10::nullopt, std::string("gelsd")));
    return std::vector<double>(z.data_ptr<double>(), z.data_ptr<double>() + z.numel());
  };
  const int64_t max_iter = 10 * n + 100;
  int64_t iter = 0;
  // A coefficient whose own unconstrained value comes out <= 0 right after it enters (round-off
  // on a nearly dependent column) would enter again at once: it is blocked until x changes.
  std::vector<bool> blocked(n, false);
  while (true) {
    auto w = torch::mm(A.t(), b - torch::mm(A, x_tensor())).reshape({n});
    const double* wp = w.data_ptr<double>();
    int64_t best = -1;
    double best_w = tol;
    for (int64_t j = 0; j < n; ++j)
      if (!passive[j] && !blocked[j] && wp[j] > best_w) best_w = wp[j], best = j;
    if (best < 0) break;  // KKT holds: every zero coefficient has a non-negative gradient
    passive[best] = true;
    bool entered = true;
    while (true) {
      if (++iter > max_iter)
        throw BuildError("Nnls: the active-set iteration did not converge in " +
                         std::to_string(max_iter) + " steps");
      std::vector<int64_t> idx;
      const std::vector<double> z = solve_passive(idx);
      if (entered) {
        entered = false;
        const size_t k = std::find(idx.begin(), idx.end(), best) - idx.begin();
        if (z[k] <= 0) {
          passive[best] = false;
          blocked[best] = true;
          break;
        }
      }
      bool feasible = true;
      for (double v : z) feasible = feasible && v > 0;
      if (feasible) {
        std::fill(x.begin(), x.end(), 0.0);
        for (size_t k = 0; k < idx.size(); ++k) x[idx[k]] = z[k];
        std::fill(blocked.begin(), blocked.end(), false);
        break;
      }
      // Step from x towards z as far as feasibility allows, and drop what hits zero.
      // (`tol` above is on the gradient's scale, not the coefficients': the coefficient that
      // limits the step is set to exactly zero, others leave only when they are <= 0.)
      double alpha = std::numeric_limits<double>::infinity();
      size_t limit = 0;
      for (size_t k = 0; k < idx.size(); ++k) {
        if (z[k] > 0) continue;
        const double a = x[idx[k]] / (x[idx[k]] - z[k]);
        if (a < alpha) alpha = a, limit = k;
      }
      for (size_t k = 0; k < idx.size(); ++k) {
        const int64_t j = idx[k];
        x[j] = k == limit ? 0.0 : x[j] + alpha * (z[k] - x[j]);
        if (x[j] <= 0) {
          x[j] = 0.0;
          passive[j] = false;
        }
      }
    }
  }
  return torch::tensor(x, kF64);
}

std::string Nnls::type() const {
  if (!reg) return "Nnls";
  return nonzero ? "NnlsL2nz" : "NnlsL2";
}

nlohmann::json Nnls::to_json() const {
  nlohmann::json j = {{"type", type()}, {"weights", weights_}};
  if (reg) j["reg"] = *reg;
  return j;
}

torch::Tensor Nnls::solve(const torch::Tensor& A_, const torch::Tensor& Y_) const {
  auto A = as_f64(A_);
  auto Y = as_f64(Y_);
  if (Y.dim() == 1) Y = Y.unsqueeze(1);
  const int64_t m = A.size(0), n = A.size(1);
  torch::Tensor system = A, rhs = Y;
  if (reg) {
    // The regularised normal equations, with the targets clipped at zero as Nengo does.
    const double base = *reg * A.max().item<double>();
    auto sigma = nonzero ? nonzero_sigma(A, base, 1.0) : torch::tensor(base, kF64);
    system = torch::mm(A.t(), A);
    system.diagonal().add_(static_cast<double>(m) * sigma * sigma);
    rhs = torch::mm(A.t(), torch::clamp_min(Y, 0.0));
  }
  auto X = torch::zeros({n, Y.size(1)}, kF64);
  for (int64_t i = 0; i < Y.size(1); ++i) X.select(1, i).copy_(nnls(system, rhs.select(1, i)));
  return X;
}

// ---- NoSolver ------------------------------------------------------------------------------

nlohmann::json NoSolver::to_json() const {
  nlohmann::json j = {{"type", "NoSolver"}, {"weights", weights_}};
  if (!values.defined()) {
    j["values"] = nullptr;
    return j;
  }
  auto v = as_f64(values);
  if (v.dim() == 0) {  // one value for every decoder
    j["values"] = v.item<double>();
    return j;
  }
  nlohmann::json rows = nlohmann::json::array();
  for (int64_t i = 0; i < v.size(0); ++i) {
    nlohmann::json row = nlohmann::json::array();
    for (int64_t k = 0; k < v.size(1); ++k) row.push_back(v[i][k].item<double>());
    rows.push_back(std::move(row));
  }
  j["values"] = std::move(rows);
  return j;
}

torch::Tensor NoSolver::solve(const torch::Tensor& A, const torch::Tensor& Y) const {
  const int64_t n = A.size(1), d = Y.dim() == 1 ? 1 : Y.size(1);
  if (!values.defined()) return torch::zeros({n, d}, kF64);
  if (values.dim() == 0) return as_f64(values).expand({n, d}).clone();
  if (values.dim() != 2 || values.size(0) != n || values.size(1) != d)
    throw BuildError("NoSolver: expected values of shape (" + std::to_string(n) + ", " +
                     std::to_string(d) + ") (n_neurons, size of the decoded value), got " +
                     c10::str(values.sizes()));
  return as_f64(values);
}

// ---- the spec form -------------------------------------------------------------------------

SolverPtr solver_from_json(const nlohmann::json& j, const std::string& path) {
  const std::string where = path.empty() ? "solver" : path;
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    throw SpecError(where + ": expected an object with a \"type\", got " + j.dump());
  const auto type = j["type"].get<std::string>();
  struct Kind {
    const char* name;
    const char* number;  // the numeric key, or nullptr
    double default_value;
  };
  static const Kind kinds[] = {
      {"LstsqL2", "reg", 0.1},     {"LstsqL2nz", "reg", 0.1},      {"Lstsq", "rcond", 0.01},
      {"LstsqNoise", "noise", 0.1}, {"LstsqMultNoise", "noise", 0.1}, {"Nnls", nullptr, 0.0},
      {"NnlsL2", "reg", 0.1},      {"NnlsL2nz", "reg", 0.1},       {"NoSolver", nullptr, 0.0},
  };
  const Kind* kind = nullptr;
  std::string known;
  for (const auto& k : kinds) {
    known += std::string(known.empty() ? "" : ", ") + k.name;
    if (type == k.name) kind = &k;
  }
  if (!kind) throw SpecError(where + "/type: unknown solver \"" + type + "\" (available: " + known + ")");

  double number = kind->default_value;
  bool weights = false;
  torch::Tensor values;
  const std::string expected = std::string(kind->number ? std::string(kind->number) + ", " : "") +
                               (type == "NoSolver" ? "values, " : "") + "weights";
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const auto& v = it.value();
    if (key == "type") continue;
    if (kind->number && key == kind->number) {
      if (!v.is_number() || !(v.get<double>() >= 0))
        throw SpecError(where + "/" + key + ": expected a number >= 0, got " + v.dump());
      number = v.get<double>();
    } else if (key == "weights") {
      if (!v.is_boolean())
        throw SpecError(where + "/weights: expected true or false, got " + v.dump());
      weights = v.get<bool>();
    } else if (type == "NoSolver" && key == "values") {
      if (v.is_null()) continue;
      const std::string at = where + "/values";
      if (v.is_number()) {  // the same value for every decoder (NengoDL's benchmarks: ones)
        values = torch::tensor(v.get<double>(), kF64);
        continue;
      }
      if (!v.is_array() || v.empty() || !v[0].is_array() || v[0].empty())
        throw SpecError(at + ": expected a matrix [n_neurons][dimensions], a number or null, got " +
                        v.dump().substr(0, 80));
      const size_t cols = v[0].size();
      std::vector<double> flat;
      for (size_t r = 0; r < v.size(); ++r) {
        if (!v[r].is_array() || v[r].size() != cols)
          throw SpecError(at + "/" + std::to_string(r) + ": expected a row of " +
                          std::to_string(cols) + " numbers");
        for (size_t c = 0; c < cols; ++c) {
          if (!v[r][c].is_number())
            throw SpecError(at + "/" + std::to_string(r) + "/" + std::to_string(c) +
                            ": expected a number, got " + v[r][c].dump());
          flat.push_back(v[r][c].get<double>());
        }
      }
      values = torch::tensor(flat, kF64).reshape({static_cast<int64_t>(v.size()),
                                                  static_cast<int64_t>(cols)});
    } else {
      throw SpecError(where + ": unknown key \"" + key + "\" for " + type + " (expected " +
                      expected + ")");
    }
  }
  if (type == "LstsqL2") return std::make_shared<LstsqL2>(number, weights);
  if (type == "LstsqL2nz") return std::make_shared<LstsqL2nz>(number, weights);
  if (type == "Lstsq") return std::make_shared<Lstsq>(number, weights);
  if (type == "LstsqNoise") return std::make_shared<LstsqNoise>(number, false, weights);
  if (type == "LstsqMultNoise") return std::make_shared<LstsqNoise>(number, true, weights);
  if (type == "Nnls") return std::make_shared<Nnls>(std::nullopt, false, weights);
  if (type == "NnlsL2") return std::make_shared<Nnls>(number, false, weights);
  if (type == "NnlsL2nz") return std::make_shared<Nnls>(number, true, weights);
  return std::make_shared<NoSolver>(values, weights);
}

}  // namespace snn
