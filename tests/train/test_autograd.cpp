// The custom autograd functions of the LIF rate curves: forward values against the rate
// formulas evaluated here in plain double arithmetic, backward against central finite
// differences of the forward and against the analytic derivative, in float64, over currents
// below, near and above the threshold.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "train/autograd.h"

namespace {

constexpr double kTauRc = 0.02, kTauRef = 0.002;
// gradcheck's tolerances (|analytic - numeric| <= atol + rtol |numeric|) and step.
constexpr double kAtol = 1e-5, kRtol = 1e-3, kEps = 1e-6;

double lif_rate(double J, double amp) {
  if (J <= 1.0) return 0.0;
  return amp / (kTauRef + kTauRc * std::log1p(1.0 / (J - 1.0)));
}

/// sigma softplus((J-1)/sigma), overflow-free: softplus(x) = max(x, 0) + log1p(exp(-|x|)).
double soft_z(double J, double sigma) {
  const double x = (J - 1.0) / sigma;
  return sigma * (std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))));
}

double soft_lif_rate(double J, double sigma, double amp) {
  return amp / (kTauRef + kTauRc * std::log1p(1.0 / soft_z(J, sigma)));
}

/// dr/dJ = amp tau_rc / denom^2 * sigmoid(x) / (z (z + 1)).
double soft_lif_derivative(double J, double sigma, double amp) {
  const double z = soft_z(J, sigma), x = (J - 1.0) / sigma;
  const double denom = kTauRef + kTauRc * std::log1p(1.0 / z);
  const double sig = 1.0 / (1.0 + std::exp(-x));
  return amp * kTauRc / (denom * denom) * sig / (z * (z + 1.0));
}

torch::Tensor f64(const std::vector<double>& v) { return torch::tensor(v, torch::kFloat64); }

/// Autograd's dr/dJ for every element (the functions are elementwise).
std::vector<double> autograd_derivative(const std::function<torch::Tensor(torch::Tensor)>& f,
                                        const std::vector<double>& currents) {
  auto J = f64(currents).requires_grad_(true);
  f(J).sum().backward();
  auto g = J.grad();
  return std::vector<double>(g.data_ptr<double>(), g.data_ptr<double>() + g.numel());
}

/// Central differences of the function itself, one element at a time.
double numeric_derivative(const std::function<torch::Tensor(torch::Tensor)>& f, double J) {
  const double up = f(f64({J + kEps})).item<double>();
  const double down = f(f64({J - kEps})).item<double>();
  return (up - down) / (2 * kEps);
}

void check_close(double analytic, double numeric, const std::string& what) {
  INFO(what << ": autograd " << analytic << ", finite differences " << numeric);
  CHECK(std::isfinite(analytic));
  CHECK(std::abs(analytic - numeric) <= kAtol + kRtol * std::abs(numeric));
}

}  // namespace

TEST_CASE("lif_rate_fn gives the LIF rate formula and its derivative", "[train][autograd]") {
  const double amp = GENERATE(1.0, 0.5);
  auto f = [amp](torch::Tensor J) { return snn::detail::lif_rate_fn(J, kTauRc, kTauRef, amp); };
  // Below, at and just above threshold, and far above (where the rate saturates at 1/tau_ref).
  const std::vector<double> currents = {-3.0, 0.0,  0.5,  0.999, 1.0,  1.001, 1.01, 1.1,
                                        1.5,  2.0,  3.0,  10.0,  50.0, 500.0};
  auto r = f(f64(currents));
  for (size_t i = 0; i < currents.size(); ++i) {
    INFO("J = " << currents[i]);
    CHECK(r[i].item<double>() == Approx(lif_rate(currents[i], amp)).epsilon(1e-12).margin(0));
  }
  const auto grad = autograd_derivative(f, currents);
  for (size_t i = 0; i < currents.size(); ++i) {
    const double J = currents[i];
    if (J <= 1.0) {
      // No current below threshold changes the rate; the kink itself must not give NaN.
      INFO("J = " << J);
      CHECK(grad[i] == 0.0);
      continue;
    }
    check_close(grad[i], numeric_derivative(f, J), "J = " + std::to_string(J));
  }
}

TEST_CASE("lif_rate_fn multiplies the incoming gradient elementwise", "[train][autograd]") {
  const std::vector<double> currents = {0.5, 1.2, 2.0, 4.0};
  const std::vector<double> weights = {3.0, -2.0, 0.25, 7.0};
  auto J = f64(currents).requires_grad_(true);
  auto r = snn::detail::lif_rate_fn(J, kTauRc, kTauRef, 1.0);
  (r * f64(weights)).sum().backward();
  auto f = [](torch::Tensor x) { return snn::detail::lif_rate_fn(x, kTauRc, kTauRef, 1.0); };
  for (size_t i = 0; i < currents.size(); ++i)
    check_close(J.grad()[i].item<double>(), weights[i] * numeric_derivative(f, currents[i]),
                "J = " + std::to_string(currents[i]));
}

TEST_CASE("soft_lif_rate_fn gives the SoftLIFRate formula and its derivative",
          "[train][autograd]") {
  const double sigma = GENERATE(0.02, 0.1, 1.0);
  const double amp = 1.0;
  auto f = [sigma](torch::Tensor J) {
    return snn::detail::soft_lif_rate_fn(J, sigma, kTauRc, kTauRef, 1.0);
  };
  // Far below threshold ((J-1)/sigma down to -200, where the implementation switches to the
  // log asymptote), near it, and above; none within kEps of the asymptote's switch point.
  std::vector<double> currents = {-3.0, -1.0, 0.0, 0.5, 0.9, 0.99, 1.0, 1.01, 1.1, 1.5, 2.0,
                                  5.0,  20.0, 100.0};
  for (double x : {-30.0, -21.0, -19.0, -5.0, 5.0}) currents.push_back(1.0 + x * sigma);
  auto r = f(f64(currents));
  const auto grad = autograd_derivative(f, currents);
  for (size_t i = 0; i < currents.size(); ++i) {
    const double J = currents[i];
    INFO("sigma = " << sigma << ", J = " << J);
    // The asymptote below (J-1)/sigma = -20 drops a term of relative size ~exp(-20).
    CHECK(r[i].item<double>() == Approx(soft_lif_rate(J, sigma, amp)).epsilon(1e-9).margin(0));
    CHECK(grad[i] == Approx(soft_lif_derivative(J, sigma, amp)).epsilon(1e-7).margin(1e-12));
    check_close(grad[i], numeric_derivative(f, J),
                "sigma " + std::to_string(sigma) + ", J = " + std::to_string(J));
  }
}

TEST_CASE("soft_lif_rate_fn approaches lif_rate_fn as sigma goes to zero", "[train][autograd]") {
  // Above threshold sigma softplus((J-1)/sigma) -> J - 1 (exponentially fast): the
  // smoothing only matters within a few sigma of J = 1. (Below, the soft rate decays only
  // as 1 / (tau_rc (1-J)/sigma), so it is not compared there.)
  auto J = f64({1.05, 1.5, 2.0, 5.0});
  auto hard = snn::detail::lif_rate_fn(J, kTauRc, kTauRef, 1.0);
  auto soft = snn::detail::soft_lif_rate_fn(J, 1e-3, kTauRc, kTauRef, 1.0);
  CHECK(torch::allclose(soft, hard, 1e-12, 0));
  auto below = snn::detail::soft_lif_rate_fn(f64({0.5}), 1e-3, kTauRc, kTauRef, 1.0);
  CHECK(below.item<double>() == Approx(1.0 / (kTauRef + kTauRc * (500 - std::log(1e-3)))));
}
