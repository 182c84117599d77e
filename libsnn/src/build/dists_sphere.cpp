// ScatteredHypersphere (Nengo's default for encoders and eval points) and what it rests on:
// the quasi-random R_d sequence, the spherical coordinate transform and the inverse of the
// regularised incomplete beta function.
//
// Nengo's default method "sct-approx" reads betaincinv(k/2, 1/2, .) from a tabulated
// interpolation; we compute it to full double precision instead, i.e. we reproduce Nengo's
// exact method "sct". With the same seed our points equal Nengo's "sct" points to ~1e-12 and
// its default "sct-approx" points to within that table's interpolation error.
#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "build/dists_internal.h"
#include "snn/dists.h"
#include "snn/errors.h"

namespace snn {

namespace dists_detail {

namespace {

/// The continued fraction of I_x(a, b) (DLMF 8.17.22), evaluated by the modified Lentz
/// method; converges fast for x < (a + 1) / (a + b + 2).
double beta_continued_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  constexpr double kEps = 1e-16;
  auto guard = [](double v) { return std::fabs(v) < kTiny ? kTiny : v; };
  double c = 1.0;
  double dinv = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0));
  double h = dinv;
  for (int m = 1; m <= 10000; ++m) {
    const double md = m;
    // Even term d_{2m}, then odd term d_{2m+1}.
    const double even = md * (b - md) * x / ((a + 2 * md - 1.0) * (a + 2 * md));
    dinv = 1.0 / guard(1.0 + even * dinv);
    c = guard(1.0 + even / c);
    h *= dinv * c;
    const double odd = -(a + md) * (a + b + md) * x / ((a + 2 * md) * (a + 2 * md + 1.0));
    dinv = 1.0 / guard(1.0 + odd * dinv);
    c = guard(1.0 + odd / c);
    const double step = dinv * c;
    h *= step;
    if (std::fabs(step - 1.0) < kEps) break;
  }
  return h;
}

double log_beta(double a, double b) { return std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b); }

}  // namespace

double betainc(double a, double b, double x) {
  if (!(x > 0)) return 0.0;
  if (!(x < 1)) return 1.0;
  const double log_front = a * std::log(x) + b * std::log1p(-x) - log_beta(a, b);
  const double front = std::exp(log_front);
  // Use the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where the fraction converges slowly.
  if (x < (a + 1.0) / (a + b + 2.0)) return front * beta_continued_fraction(a, b, x) / a;
  return 1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b;
}

double betaincinv(double a, double b, double p) {
  if (!(p > 0)) return 0.0;
  if (!(p < 1)) return 1.0;
  const double lb = log_beta(a, b);
  // Start from the tail asymptotes I ~ z^a / (a B) near 0 and 1 - I ~ (1-z)^b / (b B) near 1.
  double z = std::exp((std::log(p) + std::log(a) + lb) / a);
  if (!(z > 0 && z < 1)) z = -std::expm1((std::log1p(-p) + std::log(b) + lb) / b);
  if (!(z > 0 && z < 1)) z = 0.5;
  // Newton's method kept inside a shrinking bracket [lo, hi] (bisection when it leaves it),
  // so it converges to relative precision even for tiny z.
  double lo = 0.0, hi = 1.0;
  for (int it = 0; it < 1000; ++it) {
    const double f = betainc(a, b, z) - p;
    if (f == 0) return z;
    (f < 0 ? lo : hi) = z;
    const double density = std::exp((a - 1.0) * std::log(z) + (b - 1.0) * std::log1p(-z) - lb);
    constexpr double kEps = std::numeric_limits<double>::epsilon();
    double next = z - f / density;
    const bool newton = next > lo && next < hi;
    if (!newton) next = 0.5 * (lo + hi);
    // A small Newton step means z is already accurate (quadratic convergence); a small
    // bisection step does not, so then only a collapsed bracket ends the search.
    if ((newton && std::fabs(next - z) <= kEps * next) || hi - lo <= kEps * hi) return next;
    z = next;
  }
  return z;
}

void shuffle_rows(torch::Tensor& t, Rng& rng) {
  const int64_t n = t.size(0);
  if (n < 2) return;
  const int64_t width = t.numel() / n;
  double* p = t.data_ptr<double>();
  for (int64_t i = n - 1; i >= 1; --i) {
    // numpy's random_interval(i) is exactly a masked randint on [0, i].
    const int64_t j = rng.randint(i + 1);
    if (j == i) continue;
    std::swap_ranges(p + i * width, p + (i + 1) * width, p + j * width);
  }
}

namespace {
/// The real root > 1 of x^(d+1) = x + 1 (the generalised golden ratio of the R_d sequence),
/// found by Newton's method from 1 with Nengo's tolerance, so alpha is bit-identical.
double generalised_golden_ratio(int64_t d) {
  double x = 1.0;
  for (int i = 0; i < 100; ++i) {
    const double dx = (std::pow(x, static_cast<double>(d + 1)) - x - 1.0) /
                      ((d + 1) * std::pow(x, static_cast<double>(d)) - 1.0);
    x -= dx;
    if (std::fabs(dx) < 1e-10) return x;
  }
  throw SpecError("QuasirandomSequence: the golden-ratio iteration did not converge for d=" +
                  std::to_string(d));
}
}  // namespace

torch::Tensor quasirandom_sequence(int64_t n, int64_t d, Rng& rng) {
  if (d < 1) throw SpecError("QuasirandomSequence: expected d >= 1, got " + std::to_string(d));
  std::vector<double> offset(static_cast<size_t>(d));
  for (auto& o : offset) o = rng.uniform();  // rng.uniform(0, 1, size=d)
  auto z = torch::empty({n, d}, torch::TensorOptions().dtype(torch::kFloat64));
  double* p = z.data_ptr<double>();
  if (d == 1) {
    // Evenly tiled points: offset + i/n (mod 1).
    const double step = 1.0 / static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) p[i] = std::fmod(offset[0] + step * static_cast<double>(i), 1.0);
  } else {
    const double phi_inv = 1.0 / generalised_golden_ratio(d);
    std::vector<double> alpha(static_cast<size_t>(d));
    for (int64_t j = 0; j < d; ++j) alpha[j] = std::pow(phi_inv, static_cast<double>(j + 1));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < d; ++j)
        p[i * d + j] = std::fmod(offset[j] + static_cast<double>(i + 1) * alpha[j], 1.0);
  }
  shuffle_rows(z, rng);
  return z;
}

}  // namespace dists_detail

namespace {

/// Inverse CDF of the j-th spherical angle (in units of pi) with `dims` angles left:
/// reflect into [0, 0.5], z^2 = betaincinv(dims/2, 1/2, 2y), x = asin(z)/pi, reflect back.
double spherical_coordinate(int64_t dims, double y) {
  const double y_reflect = y < 0.5 ? y : 1.0 - y;
  const double z_sq = dists_detail::betaincinv(static_cast<double>(dims) / 2.0, 0.5, 2.0 * y_reflect);
  const double x = std::asin(std::sqrt(z_sq)) / M_PI;
  return y < 0.5 ? x : 1.0 - x;
}

/// A random orthogonal (d, d) matrix as Nengo draws it: U V^T from the SVD of a standard
/// normal matrix (the product is unique, so the SVD's sign conventions do not matter).
torch::Tensor random_orthogonal(int64_t d, Rng& rng) {
  auto m = torch::empty({d, d}, torch::TensorOptions().dtype(torch::kFloat64));
  double* p = m.data_ptr<double>();
  for (int64_t i = 0; i < d * d; ++i) p[i] = rng.normal();
  auto usv = torch::linalg_svd(m, /*full_matrices=*/true);
  return torch::matmul(std::get<0>(usv), std::get<2>(usv));
}

}  // namespace

torch::Tensor ScatteredHypersphere::sample(int64_t n, int64_t d, Rng& rng) const {
  dists_detail::throw_if(dists_detail::check_hypersphere(min_magnitude), "ScatteredHypersphere");
  if (d < 1)
    throw SpecError("ScatteredHypersphere: expected a dimensionality d >= 1 (points are "
                    "vectors), got " + std::to_string(d));
  if (n < 0) throw SpecError("ScatteredHypersphere: expected n >= 0, got " + std::to_string(n));
  using dists_detail::quasirandom_sequence;

  if (d == 1) {
    if (surface) return torch::sign(quasirandom_sequence(n, 1, rng) - 0.5);
    // Half the points on each side of 0, each half evenly tiled, then mixed.
    const int64_t half = n / 2;
    auto pos = quasirandom_sequence(half, 1, rng);
    auto neg = quasirandom_sequence(n - half, 1, rng);
    if (min_magnitude > 0) {
      for (auto* s : {&pos, &neg}) {
        s->mul_(1.0 - min_magnitude);
        s->add_(min_magnitude);
      }
    }
    auto out = torch::cat({pos, -neg}, 0).contiguous();
    dists_detail::shuffle_rows(out, rng);
    return out;
  }

  // Angles (d - 1 columns) and, for the ball, a radius column.
  torch::Tensor cube = quasirandom_sequence(n, surface ? d - 1 : d, rng);
  std::vector<double> radius;
  const double* q = cube.data_ptr<double>();
  const int64_t qcols = cube.size(1);
  if (!surface) {
    radius.resize(static_cast<size_t>(n));
    const double min_d = std::pow(min_magnitude, static_cast<double>(d));
    for (int64_t i = 0; i < n; ++i) {
      double r = q[i * qcols + d - 1];
      if (min_magnitude != 0) r = r * (1.0 - min_d) + min_d;
      radius[i] = std::pow(r, 1.0 / static_cast<double>(d));
    }
  }

  // Spherical coordinate transform (Fang & Wang 1.5.2/1.5.3): with angles c_j (the last one
  // spanning a full turn), x_0 = cos c_0, x_k = sin c_0 ... sin c_{k-1} cos c_k,
  // x_{d-1} = sin c_0 ... sin c_{d-2}.
  const int64_t angles = d - 1;
  auto mapped = torch::empty({n, d}, torch::TensorOptions().dtype(torch::kFloat64));
  double* out = mapped.data_ptr<double>();
  std::vector<double> s(static_cast<size_t>(angles)), c(static_cast<size_t>(angles));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < angles; ++j) {
      const double coord = spherical_coordinate(angles - j, q[i * qcols + j]);
      const double mult = j == angles - 1 ? 2.0 : 1.0;
      s[j] = std::sin(mult * M_PI * coord);
      c[j] = std::cos(mult * M_PI * coord);
    }
    double* row = out + i * d;
    row[0] = 1.0;
    double prod = 1.0;
    for (int64_t k = 1; k < d; ++k) row[k] = (prod *= s[k - 1]);
    for (int64_t k = 0; k < angles; ++k) row[k] *= c[k];
    if (!surface)
      for (int64_t k = 0; k < d; ++k) row[k] *= radius[i];
  }
  return torch::matmul(mapped, random_orthogonal(d, rng)).contiguous();
}

nlohmann::json ScatteredHypersphere::to_json() const {
  return {{"type", type()}, {"surface", surface}, {"min_magnitude", min_magnitude}};
}

}  // namespace snn
