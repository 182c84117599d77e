#pragma once
// Helpers shared by the distribution sources (dists.cpp, dists_sphere.cpp, dists_json.cpp)
// and their tests: parameter checks, the quasi-random sequence, the regularised incomplete
// beta function and its inverse. Not part of the public API.
#include <cstdint>
#include <string>

#include <torch/types.h>

#include "snn/rng.h"

namespace snn::dists_detail {

/// A parameter problem: `key` names the offending parameter ("" = the combination),
/// `message` says what was expected and what was found; empty message = fine.
struct Problem {
  std::string key;
  std::string message;
  bool ok() const { return message.empty(); }
};

/// Shortest round-trip text of a number, as JSON writes it (2.0, 0.1, -1e-05).
std::string show_number(double v);

Problem check_uniform(double low, double high, bool integer);
Problem check_gaussian(double mean, double std);
Problem check_hypersphere(double min_magnitude);
Problem check_exponential(double scale, double shift, double high);
Problem check_truncated_normal(double mean, double stddev, double limit);
Problem check_variance_scaling(double scale, const std::string& mode,
                               const std::string& distribution);

/// Throws SpecError("<type>: <message>") when `p` is a problem (API use, no JSON path).
void throw_if(const Problem& p, const std::string& type);

/// Fisher-Yates over the rows of a contiguous (n, ...) float64 tensor, consuming the RNG as
/// numpy's legacy `RandomState.shuffle` does (j = masked draw in [0, i], i from n-1 down).
void shuffle_rows(torch::Tensor& t, Rng& rng);

/// Nengo's QuasirandomSequence (the R_d sequence with a random offset, rows shuffled):
/// shape (n, d), d >= 1.
torch::Tensor quasirandom_sequence(int64_t n, int64_t d, Rng& rng);

/// The regularised incomplete beta function I_x(a, b), a, b > 0, 0 <= x <= 1.
double betainc(double a, double b, double x);
/// Its inverse in x: the z in [0, 1] with I_z(a, b) = p (scipy's betaincinv).
double betaincinv(double a, double b, double p);

}  // namespace snn::dists_detail
