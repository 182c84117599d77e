// The decoder solvers beyond LstsqL2, each against an independent computation: the normal
// equations solved directly, numpy-style SVD least squares, the KKT conditions of
// non-negative least squares, and a network that decodes with each solver.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

// After LibTorch, whose glog would otherwise own CHECK.
#include <catch2/catch.hpp>

#include "snn/errors.h"
#include "snn/network.h"
#include "snn/simulator.h"
#include "snn/solvers.h"

using Catch::Matchers::Contains;

namespace {

constexpr auto kF64 = torch::kFloat64;

/// A rate-like activity matrix: non-negative, some neurons silent on some points.
torch::Tensor activities(int64_t m, int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  auto x = torch::linspace(-1, 1, m, kF64).unsqueeze(1);
  auto gain = torch::rand({1, n}, kF64) * 40 + 10;
  auto shift = torch::rand({1, n}, kF64) * 1.6 - 0.8;
  auto sign = torch::where(torch::rand({1, n}, kF64) > 0.5, 1.0, -1.0);
  return torch::clamp_min(gain * (sign * x - shift), 0.0);
}

/// Checks the KKT conditions of min |A x - b| s.t. x >= 0: x >= 0, the gradient
/// g = A^T (A x - b) is >= 0 everywhere and 0 where x > 0.
void check_kkt(const torch::Tensor& A, const torch::Tensor& b, const torch::Tensor& x) {
  auto g = torch::mv(A.t(), torch::mv(A, x) - b);
  const double scale = torch::mv(A.t(), b).abs().max().item<double>();
  CHECK(x.min().item<double>() >= 0.0);
  CHECK(g.min().item<double>() >= -1e-8 * scale);
  auto active = x > 0;
  if (active.any().item<bool>())
    CHECK(g.masked_select(active).abs().max().item<double>() <= 1e-8 * scale);
}

}  // namespace

TEST_CASE("LstsqL2nz regularises each neuron by how often it is active", "[solvers]") {
  auto A = activities(300, 30, 1);
  auto Y = torch::randn({300, 2}, kF64);
  snn::LstsqL2nz solver(0.1);
  auto X = solver.solve(A, Y);
  // sigma_j = 0.1 max|A| sqrt(fraction of points where neuron j fires).
  auto sigma = 0.1 * A.abs().max() * torch::sqrt((A > 0).to(kF64).mean(0));
  auto G = torch::mm(A.t(), A) + torch::diag(300.0 * sigma * sigma);
  auto direct = torch::linalg_solve(G, torch::mm(A.t(), Y));
  CHECK(torch::allclose(X, direct, 1e-8, 1e-10));
  // A neuron that never fires gets the largest sigma and a zero decoder.
  A.select(1, 0).zero_();
  auto Xs = solver.solve(A, Y);
  CHECK(torch::isfinite(Xs).all().item<bool>());
  CHECK(Xs[0].abs().max().item<double>() == 0.0);
}

TEST_CASE("Lstsq is SVD least squares with numpy's rcond cut-off", "[solvers]") {
  torch::manual_seed(2);
  // A = U diag(s) V^T with known singular values; one is below rcond * max(s).
  auto U = std::get<0>(torch::linalg_qr(torch::randn({50, 4}, kF64)));
  auto V = std::get<0>(torch::linalg_qr(torch::randn({4, 4}, kF64)));
  auto s = torch::tensor({10.0, 5.0, 1.0, 0.05}, kF64);
  auto A = torch::mm(U * s, V.t());
  auto Y = torch::randn({50, 3}, kF64);
  auto X = snn::Lstsq(0.01).solve(A, Y);
  // rcond 0.01: 0.05 < 0.1 is dropped.
  auto keep = torch::tensor({1.0 / 10, 1.0 / 5, 1.0, 0.0}, kF64);
  auto expected = torch::mm(V, keep.unsqueeze(1) * torch::mm(U.t(), Y));
  CHECK(torch::allclose(X, expected, 1e-9, 1e-12));
  // rcond 0 keeps it: the plain least-squares solution (full column rank).
  auto full = snn::Lstsq(0.0).solve(A, Y);
  auto normal = torch::linalg_solve(torch::mm(A.t(), A), torch::mm(A.t(), Y));
  CHECK(torch::allclose(full, normal, 1e-6, 1e-9));
}

TEST_CASE("LstsqNoise solves on activities with drawn noise, reproducibly", "[solvers]") {
  auto A = activities(200, 20, 3);
  auto Y = torch::randn({200, 1}, kF64);
  snn::LstsqNoise solver(0.1);
  snn::Rng r1(7), r2(7), r3(8);
  auto X1 = solver.solve(A, Y, r1);
  auto X2 = solver.solve(A, Y, r2);
  CHECK(torch::equal(X1, X2));
  CHECK_FALSE(torch::allclose(X1, solver.solve(A, Y, r3)));
  // The same noise drawn here, row-major, then the plain normal equations.
  snn::Rng r4(7);
  const double scale = 0.1 * A.abs().max().item<double>();
  auto N = torch::empty_like(A);
  for (int64_t i = 0; i < A.size(0); ++i)
    for (int64_t j = 0; j < A.size(1); ++j) N[i][j] = r4.normal() * scale;
  auto An = A + N;
  auto direct = torch::linalg_solve(torch::mm(An.t(), An), torch::mm(An.t(), Y));
  CHECK(torch::allclose(X1, direct, 1e-7, 1e-10));
  // Multiplicative noise leaves silent entries silent.
  snn::Rng r5(7), r6(7);
  auto Xm = snn::LstsqNoise(0.1, true).solve(A, Y, r5);
  auto M = torch::empty_like(A);
  for (int64_t i = 0; i < A.size(0); ++i)
    for (int64_t j = 0; j < A.size(1); ++j) M[i][j] = r6.normal() * 0.1;
  auto Am = A + A * M;
  CHECK(torch::allclose(Xm, torch::linalg_solve(torch::mm(Am.t(), Am), torch::mm(Am.t(), Y)),
                        1e-7, 1e-10));
}

TEST_CASE("nnls meets the KKT conditions and equals lstsq when that is non-negative",
          "[solvers]") {
  torch::manual_seed(5);
  for (int trial = 0; trial < 5; ++trial) {
    auto A = torch::randn({40, 12}, kF64);
    auto b = torch::randn({40}, kF64);
    INFO("trial " << trial);
    check_kkt(A, b, snn::nnls(A, b));
  }
  // A target made from non-negative coefficients is recovered exactly.
  auto A = torch::rand({30, 6}, kF64);
  auto x = torch::tensor({0.5, 0.0, 2.0, 1.0, 0.0, 0.25}, kF64);
  CHECK(torch::allclose(snn::nnls(A, torch::mv(A, x)), x, 1e-8, 1e-10));
}

TEST_CASE("Nnls, NnlsL2 and NnlsL2nz give non-negative optimal decoders", "[solvers]") {
  auto A = activities(150, 16, 4);
  auto Y = torch::randn({150, 2}, kF64);
  auto X = snn::Nnls().solve(A, Y);
  CHECK(X.sizes() == torch::IntArrayRef({16, 2}));
  for (int64_t d = 0; d < 2; ++d) check_kkt(A, Y.select(1, d), X.select(1, d));

  // NnlsL2: the same conditions on the regularised normal equations with Y clipped at 0.
  const double sigma = 0.1 * A.max().item<double>();
  auto G = torch::mm(A.t(), A) + 150.0 * sigma * sigma * torch::eye(16, kF64);
  auto rhs = torch::mm(A.t(), torch::clamp_min(Y, 0.0));
  auto X2 = snn::Nnls(0.1).solve(A, Y);
  for (int64_t d = 0; d < 2; ++d) check_kkt(G, rhs.select(1, d), X2.select(1, d));

  auto snz = 0.1 * A.max() * torch::sqrt((A > 0).to(kF64).mean(0));
  auto Gnz = torch::mm(A.t(), A) + torch::diag(150.0 * snz * snz);
  auto X3 = snn::Nnls(0.1, true).solve(A, Y);
  for (int64_t d = 0; d < 2; ++d) check_kkt(Gnz, rhs.select(1, d), X3.select(1, d));
}

TEST_CASE("NoSolver passes its values through and checks their shape", "[solvers]") {
  auto A = activities(50, 8, 6);
  auto Y = torch::randn({50, 2}, kF64);
  CHECK(torch::equal(snn::NoSolver().solve(A, Y), torch::zeros({8, 2}, kF64)));
  auto v = torch::randn({8, 2}, kF64);
  CHECK(torch::equal(snn::NoSolver(v).solve(A, Y), v));
  CHECK_THROWS_WITH(snn::NoSolver(torch::randn({8, 3}, kF64)).solve(A, Y),
                    Contains("expected values of shape (8, 2)"));
}

TEST_CASE("solvers round-trip through their spec form", "[solvers][spec]") {
  const std::vector<nlohmann::json> forms = {
      {{"type", "LstsqL2"}, {"reg", 0.05}, {"weights", false}},
      {{"type", "LstsqL2nz"}, {"reg", 0.2}, {"weights", false}},
      {{"type", "Lstsq"}, {"rcond", 0.001}, {"weights", false}},
      {{"type", "LstsqNoise"}, {"noise", 0.3}, {"weights", false}},
      {{"type", "LstsqMultNoise"}, {"noise", 0.2}, {"weights", false}},
      {{"type", "Nnls"}, {"weights", false}},
      {{"type", "NnlsL2"}, {"reg", 0.1}, {"weights", false}},
      {{"type", "NnlsL2nz"}, {"reg", 0.3}, {"weights", false}},
      {{"type", "NoSolver"}, {"values", {{1.0, 2.0}, {3.0, 4.0}}}, {"weights", false}},
      {{"type", "NoSolver"}, {"values", nullptr}, {"weights", false}},
  };
  for (const auto& f : forms) {
    INFO(f.dump());
    CHECK(snn::solver_from_json(f, "/s")->to_json() == f);
  }
  // Defaults as Nengo's.
  CHECK(snn::solver_from_json({{"type", "Lstsq"}})->to_json()["rcond"] == 0.01);
  CHECK(snn::solver_from_json({{"type", "NnlsL2"}})->to_json()["reg"] == 0.1);

  CHECK_THROWS_WITH(snn::solver_from_json({{"type", "Lstsq"}, {"reg", 0.1}}, "/connections/0/solver"),
                    "/connections/0/solver: unknown key \"reg\" for Lstsq (expected rcond, weights)");
  CHECK_THROWS_WITH(snn::solver_from_json({{"type", "LstsqNoise"}, {"noise", -1}}, "/s"),
                    "/s/noise: expected a number >= 0, got -1");
  CHECK_THROWS_WITH(snn::solver_from_json({{"type", "Magic"}}, "/s"),
                    Contains("/s/type: unknown solver \"Magic\"") && Contains("NnlsL2nz"));
  CHECK_THROWS_WITH(snn::solver_from_json({{"type", "NoSolver"}, {"values", {{1.0}, {2.0, 3.0}}}}, "/s"),
                    "/s/values/1: expected a row of 1 numbers");
}

TEST_CASE("a network decodes a function with every solver", "[solvers][runtime]") {
  const std::vector<snn::SolverPtr> solvers = {
      std::make_shared<snn::LstsqL2nz>(), std::make_shared<snn::Lstsq>(),
      std::make_shared<snn::LstsqNoise>(), std::make_shared<snn::Nnls>(0.1)};
  for (const auto& solver : solvers) {
    INFO(solver->type());
    auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(1));
    auto stim = net->node(snn::NodeOptions().id("stim").output(0.5));
    // With positive encoders every tuning curve rises with x, so the non-negative solvers can
    // only build rising functions: decode the convex, rising f(x) = (x + 1)^2 / 4.
    auto ens = net->ensemble(snn::EnsembleOptions(80, 1)
                                 .id("ens")
                                 .neuron_type(snn::LIFRate())
                                 .encoders(snn::Init(torch::ones({80, 1}, kF64))));
    auto out = net->node(snn::NodeOptions().id("out").size_in(1));
    net->connect(stim, ens, snn::ConnectionOptions().synapse(nullptr));
    net->connect(ens, out,
                 snn::ConnectionOptions()
                     .synapse(nullptr)
                     .solver(solver)
                     .function(snn::Function::of_x([](const std::vector<double>& x) {
                       return std::vector<double>{(x[0] + 1) * (x[0] + 1) / 4};
                     })));
    auto p = net->probe(out);
    snn::Simulator sim(net, snn::SimulatorOptions().dtype(kF64).progress_bar(false));
    sim.run_steps(3);
    CHECK(sim.data(p)[0][2][0].item<double>() == Approx(0.5625).margin(0.03));
    if (solver->type() == "NnlsL2")
      CHECK(sim.data(sim.network().all_connections()[1]).decoders.min().item<double>() >= 0.0);
  }
}
