// Sampling and spec form of the distributions in snn/dists.h, and Init. Each sample() draws
// from the Rng in the same order and with the same arithmetic as Nengo / NengoDL do with a
// numpy RandomState, so a seed gives Nengo's numbers.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "build/dists_internal.h"
#include "snn/dists.h"
#include "snn/errors.h"

namespace snn {

using nlohmann::json;

namespace dists_detail {

std::string show_number(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  // Whole numbers as the user most likely wrote them ("2", not "2.0").
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<int64_t>(v));
  return json(v).dump();
}

Problem check_uniform(double low, double high, bool integer) {
  if (!std::isfinite(low)) return {"low", "expected a finite number, got " + show_number(low)};
  if (!std::isfinite(high)) return {"high", "expected a finite number, got " + show_number(high)};
  if (low > high)
    return {"", "expected low <= high, got low=" + show_number(low) +
                    ", high=" + show_number(high)};
  if (integer) {
    // Integer sampling is numpy's randint(low, high): whole bounds and a non-empty range.
    if (low != std::floor(low) || std::fabs(low) > 9.0e15)
      return {"low", "expected an integer (integer is true), got " + show_number(low)};
    if (high != std::floor(high) || std::fabs(high) > 9.0e15)
      return {"high", "expected an integer (integer is true), got " + show_number(high)};
    if (!(low < high))
      return {"", "expected low < high for integer sampling, got low=" + show_number(low) +
                      ", high=" + show_number(high)};
  }
  return {};
}

Problem check_gaussian(double mean, double std) {
  if (!std::isfinite(mean)) return {"mean", "expected a finite number, got " + show_number(mean)};
  // Nengo requires std > 0 (a zero std is rejected there too).
  if (!(std > 0) || !std::isfinite(std))
    return {"std", "expected std > 0, got " + show_number(std)};
  return {};
}

Problem check_hypersphere(double min_magnitude) {
  if (!(min_magnitude >= 0 && min_magnitude < 1))
    return {"min_magnitude",
            "expected 0 <= min_magnitude < 1, got " + show_number(min_magnitude)};
  return {};
}

Problem check_exponential(double scale, double shift, double high) {
  if (!(scale > 0) || !std::isfinite(scale))
    return {"scale", "expected scale > 0, got " + show_number(scale)};
  if (!std::isfinite(shift)) return {"shift", "expected a finite number, got " + show_number(shift)};
  if (std::isnan(high) || !(high > shift))
    return {"high", "expected high > shift (" + show_number(shift) + "), got " + show_number(high)};
  return {};
}

Problem check_truncated_normal(double mean, double stddev, double limit) {
  if (!std::isfinite(mean)) return {"mean", "expected a finite number, got " + show_number(mean)};
  if (!(stddev >= 0) || !std::isfinite(stddev))
    return {"stddev", "expected stddev >= 0, got " + show_number(stddev)};
  // limit == 0 only makes sense when every sample equals the mean (stddev 0).
  if (std::isnan(limit) || limit < 0 || (limit == 0 && stddev > 0))
    return {"limit", "expected limit > 0, got " + show_number(limit)};
  return {};
}

Problem check_variance_scaling(double scale, const std::string& mode,
                               const std::string& distribution) {
  if (!(scale >= 0) || !std::isfinite(scale))
    return {"scale", "expected scale >= 0, got " + show_number(scale)};
  if (mode != "fan_in" && mode != "fan_out" && mode != "fan_avg")
    return {"mode", "expected one of \"fan_in\", \"fan_out\", \"fan_avg\", got " + json(mode).dump()};
  if (distribution != "uniform" && distribution != "normal")
    return {"distribution",
            "expected one of \"uniform\", \"normal\", got " + json(distribution).dump()};
  return {};
}

void throw_if(const Problem& p, const std::string& type) {
  if (p.ok()) return;
  throw SpecError(type + (p.key.empty() ? "" : " " + p.key) + ": " + p.message);
}

}  // namespace dists_detail

namespace {

using dists_detail::throw_if;

/// An empty (n,) or (n, d) float64 CPU tensor to fill in row-major order.
torch::Tensor new_samples(int64_t n, int64_t d) {
  if (n < 0 || d < 0)
    throw SpecError("sample: expected n >= 0 and d >= 0, got n=" + std::to_string(n) +
                    ", d=" + std::to_string(d));
  auto opts = torch::TensorOptions().dtype(torch::kFloat64).device(torch::kCPU);
  return d == 0 ? torch::empty({n}, opts) : torch::empty({n, d}, opts);
}

void require_positive_d(int64_t d, const std::string& type) {
  if (d < 1)
    throw SpecError(type + ": expected a dimensionality d >= 1 (points are vectors), got " +
                    std::to_string(d));
}

/// N(mean, stddev^2) with values farther than `limit` from the mean redrawn, in NengoDL's
/// order: first all samples, then repeated passes redrawing the outliers in row-major order.
torch::Tensor truncated_normal(int64_t n, int64_t d, double mean, double stddev, double limit,
                               Rng& rng) {
  auto out = new_samples(n, d);
  double* x = out.data_ptr<double>();
  const int64_t count = out.numel();
  for (int64_t i = 0; i < count; ++i) x[i] = rng.normal(mean, stddev);
  std::vector<int64_t> outliers;
  for (;;) {
    outliers.clear();
    for (int64_t i = 0; i < count; ++i)
      if (std::fabs(x[i] - mean) > limit) outliers.push_back(i);
    if (outliers.empty()) break;
    for (int64_t i : outliers) x[i] = rng.normal(mean, stddev);
  }
  return out;
}

json tensor_to_json(const torch::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kFloat64).contiguous();
  const double* p = c.data_ptr<double>();
  if (c.dim() == 0) return json(p[0]);
  if (c.dim() == 1) return json(std::vector<double>(p, p + c.size(0)));
  json rows = json::array();
  const int64_t cols = c.size(1);
  for (int64_t i = 0; i < c.size(0); ++i)
    rows.push_back(std::vector<double>(p + i * cols, p + (i + 1) * cols));
  return rows;
}

}  // namespace

// ---- Uniform -------------------------------------------------------------------------------

torch::Tensor Uniform::sample(int64_t n, int64_t d, Rng& rng) const {
  throw_if(dists_detail::check_uniform(low, high, integer), "Uniform");
  auto out = new_samples(n, d);
  double* x = out.data_ptr<double>();
  const int64_t count = out.numel();
  if (integer) {
    // numpy's randint(low, high, size): masked rejection on [0, high - low - 1], plus low.
    const auto lo = static_cast<int64_t>(low);
    const auto span = static_cast<int64_t>(high) - lo;
    for (int64_t i = 0; i < count; ++i) x[i] = static_cast<double>(lo + rng.randint(span));
  } else {
    for (int64_t i = 0; i < count; ++i) x[i] = rng.uniform(low, high);
  }
  return out;
}

json Uniform::to_json() const {
  json j = {{"type", type()}, {"low", low}, {"high", high}};
  if (integer) j["integer"] = true;
  return j;
}

// ---- Gaussian ------------------------------------------------------------------------------

torch::Tensor Gaussian::sample(int64_t n, int64_t d, Rng& rng) const {
  throw_if(dists_detail::check_gaussian(mean, std), "Gaussian");
  auto out = new_samples(n, d);
  double* x = out.data_ptr<double>();
  for (int64_t i = 0; i < out.numel(); ++i) x[i] = rng.normal(mean, std);
  return out;
}

json Gaussian::to_json() const { return {{"type", type()}, {"mean", mean}, {"std", std}}; }

// ---- Choice --------------------------------------------------------------------------------

namespace {
void check_choice(const torch::Tensor& options, const std::vector<double>& weights) {
  if (!options.defined() || options.dim() < 1 || options.dim() > 2 || options.size(0) == 0)
    throw SpecError("Choice: expected options as a non-empty (k,) or (k, d) tensor, got " +
                    (options.defined() ? std::to_string(options.dim()) + "-d tensor of " +
                                             std::to_string(options.numel()) + " values"
                                       : std::string("none")));
  if (weights.empty()) return;
  const auto k = static_cast<size_t>(options.size(0));
  if (weights.size() != k)
    throw SpecError("Choice: expected " + std::to_string(k) + " weights (one per option), got " +
                    std::to_string(weights.size()));
  double total = 0;
  for (size_t i = 0; i < k; ++i) {
    if (!(weights[i] >= 0) || !std::isfinite(weights[i]))
      throw SpecError("Choice: expected weights >= 0, got " +
                      dists_detail::show_number(weights[i]) + " at index " + std::to_string(i));
    total += weights[i];
  }
  if (!(total > 0)) throw SpecError("Choice: expected weights with a positive sum, got 0");
}
}  // namespace

Choice::Choice(torch::Tensor options_, std::vector<double> weights_)
    : options(options_.defined()
                  ? options_.to(torch::kCPU, torch::kFloat64).contiguous().clone()
                  : options_),
      weights(std::move(weights_)) {
  check_choice(options, weights);
}

Choice::Choice(std::vector<double> options_, std::vector<double> weights_)
    : Choice(torch::tensor(options_, torch::TensorOptions().dtype(torch::kFloat64)),
             std::move(weights_)) {}

torch::Tensor Choice::sample(int64_t n, int64_t d, Rng& rng) const {
  check_choice(options, weights);
  const int64_t k = options.size(0);
  const int64_t dims = options.dim() == 1 ? 0 : options.size(1);
  // Nengo rejects a d that differs from the options' row length; we also let 1-D options
  // serve d == 1 (each option a 1-vector), which Nengo would reject.
  if (d != 0 && dims != d && !(dims == 0 && d == 1))
    throw SpecError("Choice: expected options with rows of length " + std::to_string(d) +
                    ", got " + (dims == 0 ? std::string("scalar options")
                                          : "rows of length " + std::to_string(dims)));
  if (n < 0) throw SpecError("Choice: expected n >= 0, got " + std::to_string(n));

  // p = weights / sum, cumulative sum in order; index = first i with cumsum[i] >= u
  // (numpy's searchsorted(cumsum(p), rng.rand(n)), side "left").
  std::vector<double> cum(static_cast<size_t>(k));
  if (weights.empty()) {
    double acc = 0;
    for (int64_t i = 0; i < k; ++i) cum[i] = (acc += 1.0 / static_cast<double>(k));
  } else {
    double total = 0;
    for (double w : weights) total += w;
    double acc = 0;
    for (int64_t i = 0; i < k; ++i) cum[i] = (acc += weights[i] / total);
  }
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double u = rng.uniform();
    auto it = std::lower_bound(cum.begin(), cum.end(), u);
    // Rounding can leave the last cumulative sum just below 1; such a u picks the last option.
    idx[i] = std::min<int64_t>(it - cum.begin(), k - 1);
  }
  auto picked = options.index_select(0, torch::tensor(idx, torch::kLong));
  // With d == 0 and 2-D options the whole rows come back, (n, dims), as in Nengo.
  if (dims == 0 && d == 1) picked = picked.reshape({n, 1});
  return picked.contiguous();
}

json Choice::to_json() const {
  json j = {{"type", type()}, {"options", tensor_to_json(options)}};
  if (!weights.empty()) j["weights"] = weights;
  return j;
}

// ---- UniformHypersphere --------------------------------------------------------------------

torch::Tensor UniformHypersphere::sample(int64_t n, int64_t d, Rng& rng) const {
  throw_if(dists_detail::check_hypersphere(min_magnitude), "UniformHypersphere");
  require_positive_d(d, "UniformHypersphere");
  auto out = new_samples(n, d);
  double* x = out.data_ptr<double>();
  // Nengo: randn(n, d) rows normalised; for the ball, then one U(m^d, 1)^(1/d) per row.
  for (int64_t i = 0; i < n * d; ++i) x[i] = rng.normal();
  for (int64_t i = 0; i < n; ++i) {
    double* row = x + i * d;
    double sq = 0;
    for (int64_t j = 0; j < d; ++j) sq += row[j] * row[j];
    const double norm = std::sqrt(sq);
    for (int64_t j = 0; j < d; ++j) row[j] /= norm;
  }
  if (surface) return out;
  const double low = std::pow(min_magnitude, static_cast<double>(d));
  const double inv_d = 1.0 / static_cast<double>(d);
  for (int64_t i = 0; i < n; ++i) {
    const double r = std::pow(rng.uniform(low, 1.0), inv_d);
    for (int64_t j = 0; j < d; ++j) x[i * d + j] *= r;
  }
  return out;
}

json UniformHypersphere::to_json() const {
  return {{"type", type()}, {"surface", surface}, {"min_magnitude", min_magnitude}};
}

// ---- Exponential ---------------------------------------------------------------------------

torch::Tensor Exponential::sample(int64_t n, int64_t d, Rng& rng) const {
  throw_if(dists_detail::check_exponential(scale, shift, high), "Exponential");
  auto out = new_samples(n, d);
  double* x = out.data_ptr<double>();
  // Values at or above `high` are clipped to just below it, as Nengo does.
  const double top = std::nextafter(high, -std::numeric_limits<double>::infinity());
  for (int64_t i = 0; i < out.numel(); ++i) {
    // numpy's legacy exponential: scale * -log(1 - U).
    const double v = scale * -std::log(1.0 - rng.uniform()) + shift;
    x[i] = std::min(std::max(v, shift), top);
  }
  return out;
}

json Exponential::to_json() const {
  json j = {{"type", type()}, {"scale", scale}, {"shift", shift}};
  if (std::isfinite(high)) j["high"] = high;  // JSON has no infinity: absent means none
  return j;
}

// ---- TruncatedNormal -----------------------------------------------------------------------

torch::Tensor TruncatedNormal::sample(int64_t n, int64_t d, Rng& rng) const {
  throw_if(dists_detail::check_truncated_normal(mean, stddev, limit), "TruncatedNormal");
  return truncated_normal(n, d, mean, stddev, limit, rng);
}

json TruncatedNormal::to_json() const {
  return {{"type", type()}, {"mean", mean}, {"stddev", stddev}, {"limit", limit}};
}

// ---- VarianceScaling, Glorot, He -----------------------------------------------------------

VarianceScaling::VarianceScaling(double scale, std::string mode, std::string distribution)
    : scale(scale), mode(std::move(mode)), distribution(std::move(distribution)) {
  throw_if(dists_detail::check_variance_scaling(this->scale, this->mode, this->distribution),
           "VarianceScaling");
}

torch::Tensor VarianceScaling::sample(int64_t n, int64_t d, Rng& rng) const {
  throw_if(dists_detail::check_variance_scaling(scale, mode, distribution), type());
  // NengoDL: fan_out is the number of rows, fan_in the row length (1 for a vector).
  const double fan_out = static_cast<double>(n);
  const double fan_in = d == 0 ? 1.0 : static_cast<double>(d);
  double s = scale;
  if (mode == "fan_in")
    s /= fan_in;
  else if (mode == "fan_out")
    s /= fan_out;
  else
    s /= (fan_in + fan_out) / 2;
  if (distribution == "uniform") {
    const double limit = std::sqrt(3.0 * s);
    auto out = new_samples(n, d);
    double* x = out.data_ptr<double>();
    for (int64_t i = 0; i < out.numel(); ++i) x[i] = rng.uniform(-limit, limit);
    return out;
  }
  const double stddev = std::sqrt(s);
  return truncated_normal(n, d, 0.0, stddev, 2.0 * stddev, rng);
}

json VarianceScaling::to_json() const {
  return {{"type", type()}, {"scale", scale}, {"mode", mode}, {"distribution", distribution}};
}

json Glorot::to_json() const {
  return {{"type", type()}, {"scale", scale}, {"distribution", distribution}};
}

json He::to_json() const {
  return {{"type", type()}, {"scale", he_scale}, {"distribution", distribution}};
}

// ---- Init ----------------------------------------------------------------------------------

namespace {
torch::TensorOptions f64() { return torch::TensorOptions().dtype(torch::kFloat64); }
}  // namespace

Init::Init(double v) : literal_(torch::scalar_tensor(v, f64())) {}

Init::Init(std::vector<double> v)
    : literal_(torch::tensor(v, f64()).reshape({static_cast<int64_t>(v.size())})) {}

Init::Init(const std::vector<std::vector<double>>& v) {
  const auto rows = static_cast<int64_t>(v.size());
  const auto cols = v.empty() ? int64_t{0} : static_cast<int64_t>(v[0].size());
  literal_ = torch::empty({rows, cols}, f64());
  double* p = literal_.data_ptr<double>();
  for (int64_t i = 0; i < rows; ++i) {
    if (static_cast<int64_t>(v[i].size()) != cols)
      throw SpecError("Init: expected a rectangular matrix, got row " + std::to_string(i) +
                      " with " + std::to_string(v[i].size()) + " values where row 0 has " +
                      std::to_string(cols));
    std::copy(v[i].begin(), v[i].end(), p + i * cols);
  }
}

Init::Init(torch::Tensor v) {
  // A private float64 CPU copy: later changes to the caller's tensor do not leak in.
  if (v.defined()) literal_ = v.detach().to(torch::kCPU, torch::kFloat64).contiguous().clone();
}

torch::Tensor Init::get(int64_t n, int64_t d, Rng& rng) const {
  if (dist_) return dist_->sample(n, d, rng);
  if (!literal_.defined())
    throw SpecError("Init::get: no value given (neither a literal nor a distribution)");
  // A copy, so a caller that edits the result in place cannot change this Init.
  return literal_.clone();
}

}  // namespace snn
