// Decoder solvers. LstsqL2 follows Nengo's Cholesky path exactly: the regulariser is
// m * (reg * max(A))^2, and the dual (m x m) system is used when there are fewer eval points
// than neurons.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "snn/errors.h"
#include "snn/solvers.h"

namespace snn {

nlohmann::json LstsqL2::to_json() const {
  return {{"type", "LstsqL2"}, {"reg", reg}, {"weights", weights_}};
}

torch::Tensor LstsqL2::solve(const torch::Tensor& A_, const torch::Tensor& Y_) const {
  auto A = A_.to(torch::kFloat64);
  auto Y = Y_.to(torch::kFloat64);
  const int64_t m = A.size(0), n = A.size(1);
  const double sigma = reg * A.max().item<double>();
  const bool dual = m < n;
  auto G = dual ? torch::mm(A, A.t()) : torch::mm(A.t(), A);
  auto b = dual ? Y : torch::mm(A.t(), Y);
  G.diagonal().add_(static_cast<double>(m) * sigma * sigma);
  auto L = torch::linalg_cholesky(G);
  auto x = torch::cholesky_solve(b, L);
  return dual ? torch::mm(A.t(), x) : x;
}

SolverPtr solver_from_json(const nlohmann::json& j, const std::string& path) {
  const std::string where = path.empty() ? "solver" : path;
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    throw SpecError(where + ": expected an object with a \"type\", got " + j.dump());
  const auto type = j["type"].get<std::string>();
  if (type != "LstsqL2")
    throw SpecError(where + "/type: unknown solver \"" + type + "\" (available: LstsqL2)");
  double reg = 0.1;
  bool weights = false;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "type") continue;
    if (it.key() == "reg") {
      if (!it.value().is_number() || it.value().get<double>() < 0)
        throw SpecError(where + "/reg: expected a number >= 0, got " + it.value().dump());
      reg = it.value().get<double>();
    } else if (it.key() == "weights") {
      if (!it.value().is_boolean())
        throw SpecError(where + "/weights: expected true or false, got " + it.value().dump());
      weights = it.value().get<bool>();
    } else {
      throw SpecError(where + ": unknown key \"" + it.key() + "\" for LstsqL2 (expected reg, weights)");
    }
  }
  return std::make_shared<LstsqL2>(reg, weights);
}

}  // namespace snn
