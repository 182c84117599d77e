#pragma once
/// \file dists.h
/// Distributions (Nengo's `nengo.dists` and NengoDL's initialisers) and `Init`, a value given
/// either literally or as a distribution, wherever Nengo accepts both.
///
///     auto enc = snn::Init(snn::UniformHypersphere(true));     // sampled at build time
///     auto gains = snn::Init(std::vector<double>{1.0, 2.0});   // literal
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/types.h>

#include "snn/rng.h"

namespace snn {

/// A distribution sampled at build time, always in float64 on the CPU.
class Distribution {
 public:
  virtual ~Distribution() = default;
  /// `n` samples; with `d == 0` the result has shape (n,), else (n, d).
  virtual torch::Tensor sample(int64_t n, int64_t d, Rng& rng) const = 0;
  /// The spec's `type` name ("Uniform", ...).
  virtual std::string type() const = 0;
  /// The spec form: `{"type": ..., parameters...}`.
  virtual nlohmann::json to_json() const = 0;
};
using DistributionPtr = std::shared_ptr<const Distribution>;

/// U(low, high); with `integer`, integers in [low, high).
class Uniform : public Distribution {
 public:
  Uniform(double low, double high, bool integer = false) : low(low), high(high), integer(integer) {}
  torch::Tensor sample(int64_t n, int64_t d, Rng& rng) const override;
  std::string type() const override { return "Uniform"; }
  nlohmann::json to_json() const override;
  double low, high;
  bool integer;
};

/// N(mean, std^2).
class Gaussian : public Distribution {
 public:
  Gaussian(double mean, double std) : mean(mean), std(std) {}
  torch::Tensor sample(int64_t n, int64_t d, Rng& rng) const override;
  std::string type() const override { return "Gaussian"; }
  nlohmann::json to_json() const override;
  double mean, std;
};

/// Picks among `options` (rows of a (k,) or (k, d) tensor) with optional `weights`.
class Choice : public Distribution {
 public:
  explicit Choice(torch::Tensor options, std::vector<double> weights = {});
  explicit Choice(std::vector<double> options, std::vector<double> weights = {});
  torch::Tensor sample(int64_t n, int64_t d, Rng& rng) const override;
  std::string type() const override { return "Choice"; }
  nlohmann::json to_json() const override;
  torch::Tensor options;
  std::vector<double> weights;
};

/// Uniform on the unit sphere (`surface`) or in the unit ball (radius >= min_magnitude).
class UniformHypersphere : public Distribution {
 public:
  explicit UniformHypersphere(bool surface = false, double min_magnitude = 0.0)
      : surface(surface), min_magnitude(min_magnitude) {}
  torch::Tensor sample(int64_t n, int64_t d, Rng& rng) const override;
  std::string type() const override { return "UniformHypersphere"; }
  nlohmann::json to_json() const override;
  bool surface;
  double min_magnitude;
};

/// Nengo's default for encoders and eval points: quasi-random points spread evenly over the
/// sphere or ball (the spherical-coordinate transform of a Rd sequence), randomly rotated.
class ScatteredHypersphere : public Distribution {
 public:
  explicit ScatteredHypersphere(bool surface = false, double min_magnitude = 0.0)
      : surface(surface), min_magnitude(min_magnitude) {}
  torch::Tensor sample(int64_t n, int64_t d, Rng& rng) const override;
  std::string type() const override { return "ScatteredHypersphere"; }
  nlohmann::json to_json() const override;
  bool surface;
  double min_magnitude;
};

/// shift + Exponential(scale), truncated at `high`.
class Exponential : public Distribution {
 public:
  Exponential(double scale, double shift = 0.0, double high = INFINITY)
      : scale(scale), shift(shift), high(high) {}
  torch::Tensor sample(int64_t n, int64_t d, Rng& rng) const override;
  std::string type() const override { return "Exponential"; }
  nlohmann::json to_json() const override;
  double scale, shift, high;
};

/// NengoDL's TruncatedNormal: N(mean, stddev^2) with outliers beyond `limit` resampled
/// (default limit 2*stddev).
class TruncatedNormal : public Distribution {
 public:
  explicit TruncatedNormal(double mean = 0.0, double stddev = 1.0, double limit = -1.0)
      : mean(mean), stddev(stddev), limit(limit < 0 ? 2.0 * stddev : limit) {}
  torch::Tensor sample(int64_t n, int64_t d, Rng& rng) const override;
  std::string type() const override { return "TruncatedNormal"; }
  nlohmann::json to_json() const override;
  double mean, stddev, limit;
};

/// NengoDL's VarianceScaling: for shape (n, d), fan_out = n, fan_in = d; s = scale / fan;
/// "uniform": U(+-sqrt(3 s)); "normal": TruncatedNormal(stddev = sqrt(s)).
class VarianceScaling : public Distribution {
 public:
  explicit VarianceScaling(double scale = 1.0, std::string mode = "fan_avg",
                           std::string distribution = "uniform");
  torch::Tensor sample(int64_t n, int64_t d, Rng& rng) const override;
  std::string type() const override { return "VarianceScaling"; }
  nlohmann::json to_json() const override;
  double scale;
  std::string mode, distribution;
};

/// Glorot: VarianceScaling(scale, "fan_avg", distribution).
class Glorot : public VarianceScaling {
 public:
  explicit Glorot(double scale = 1.0, std::string distribution = "uniform")
      : VarianceScaling(scale, "fan_avg", std::move(distribution)) {}
  std::string type() const override { return "Glorot"; }
  nlohmann::json to_json() const override;
};

/// He: VarianceScaling(scale^2, "fan_in", distribution).
class He : public VarianceScaling {
 public:
  explicit He(double scale = 1.0, std::string distribution = "normal")
      : VarianceScaling(scale * scale, "fan_in", std::move(distribution)), he_scale(scale) {}
  std::string type() const override { return "He"; }
  nlohmann::json to_json() const override;
  double he_scale;
};

/// A value given literally (a tensor, converted to float64) or as a distribution; empty means
/// "use the default".
class Init {
 public:
  Init() = default;
  Init(double v);                                        // NOLINT: implicit by design
  Init(std::vector<double> v);                           // NOLINT
  Init(const std::vector<std::vector<double>>& v);       // NOLINT
  Init(torch::Tensor v);                                 // NOLINT
  Init(DistributionPtr d) : dist_(std::move(d)) {}       // NOLINT
  template <class D, class = std::enable_if_t<std::is_base_of_v<Distribution, D>>>
  Init(const D& d) : dist_(std::make_shared<D>(d)) {}    // NOLINT

  bool empty() const { return !literal_.defined() && !dist_; }
  bool is_distribution() const { return static_cast<bool>(dist_); }
  const torch::Tensor& literal() const { return literal_; }
  const DistributionPtr& distribution() const { return dist_; }

  /// The literal as given, or `dist.sample(n, d, rng)`.
  torch::Tensor get(int64_t n, int64_t d, Rng& rng) const;

 private:
  torch::Tensor literal_;
  DistributionPtr dist_;
};

/// A distribution from its spec form (`{"type": "Uniform", "low": 0, "high": 1}`); throws
/// SpecError naming `path` on unknown types or bad parameters.
DistributionPtr distribution_from_json(const nlohmann::json& j, const std::string& path = "");

}  // namespace snn
