// Synapse discretisation and the LstsqL2 solver against closed forms and direct solves.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "snn/errors.h"
#include "snn/solvers.h"
#include "snn/synapses.h"


TEST_CASE("Lowpass discretises to a = exp(-dt/tau)", "[synapses]") {
  auto ss = snn::Lowpass(0.005).discretize(0.001);
  REQUIRE(ss.n_states() == 1);
  // y[k] = a y[k-1] + b u: with the state scaled by C, a = A and b = C*B.
  const double a = ss.A.item<double>(), b = ss.C.item<double>() * ss.B.item<double>();
  CHECK(a == Approx(0.8187307530779818).epsilon(1e-14));
  CHECK(b == Approx(0.18126924692201818).epsilon(1e-12));
  CHECK(ss.D == 0.0);
}

TEST_CASE("Alpha filter ZOH matches the matrix exponential in closed form", "[synapses]") {
  const double tau = 0.005, dt = 0.001;
  auto ss = snn::Alpha(tau).discretize(dt);
  REQUIRE(ss.n_states() == 2);
  // Continuous A = [[-2/tau, -1/tau^2], [1, 0]] has a double eigenvalue -1/tau:
  // exp(A dt) = e^{-dt/tau} (I + (A + I/tau) dt).
  const double e = std::exp(-dt / tau);
  CHECK(ss.A[0][0].item<double>() == Approx(e * (1 - dt / tau)).epsilon(1e-12));
  CHECK(ss.A[0][1].item<double>() == Approx(e * (-dt / (tau * tau))).epsilon(1e-12));
  CHECK(ss.A[1][0].item<double>() == Approx(e * dt).epsilon(1e-12));
  CHECK(ss.A[1][1].item<double>() == Approx(e * (1 + dt / tau)).epsilon(1e-12));
  // The DC gain of the discrete filter equals the analog one (1).
  auto I = torch::eye(2, torch::kFloat64);
  auto x = torch::linalg_solve(I - ss.A, ss.B.unsqueeze(1));
  CHECK(torch::dot(ss.C, x.squeeze(1)).item<double>() == Approx(1.0).epsilon(1e-12));
}

TEST_CASE("LinearFilter with a direct term and digital filters", "[synapses]") {
  auto ss = snn::LinearFilter({0.003, 1}, {0.01, 1}).discretize(0.001);
  CHECK(ss.D == Approx(0.3));
  auto dig = snn::LinearFilter({0.2}, {1, -0.8}, false).discretize(0.001);
  REQUIRE(dig.n_states() == 1);
  CHECK(dig.A.item<double>() == Approx(0.8));
  CHECK(dig.C.item<double>() * dig.B.item<double>() == Approx(0.2));
  CHECK_THROWS_AS(snn::Lowpass(-0.1), snn::SpecError);
  CHECK_THROWS_AS(snn::LinearFilter({1, 2, 3}, {1, 1}), snn::SpecError);
}

TEST_CASE("LstsqL2 equals the regularised normal equations", "[solvers]") {
  torch::manual_seed(3);
  for (int64_t m : {200, 20}) {  // primal (m >= n) and dual (m < n) forms
    const int64_t n = 40;
    auto A = torch::rand({m, n}, torch::kFloat64) * 100;
    auto Y = torch::randn({m, 2}, torch::kFloat64);
    snn::LstsqL2 solver(0.1);
    auto X = solver.solve(A, Y);
    const double sigma = 0.1 * A.max().item<double>();
    auto G = torch::mm(A.t(), A) + static_cast<double>(m) * sigma * sigma * torch::eye(n, torch::kFloat64);
    auto direct = torch::linalg_solve(G, torch::mm(A.t(), Y));
    INFO("m = " << m);
    CHECK(torch::allclose(X, direct, 1e-8, 1e-10));
  }
}
