#pragma once
/// \file rng.h
/// The one random number generator of libsnn: a Mersenne Twister seeded and read exactly as
/// numpy's legacy `RandomState(seed)` (init_genrand, 53-bit doubles, polar Box-Muller with a
/// cached second value), so a given seed yields the same parameters on every run, platform
/// and device. All parameter sampling happens on the CPU in double precision.
#include <array>
#include <cstdint>

namespace snn {

class Rng {
 public:
  /// Seeds as numpy's `RandomState(seed)` for 0 <= seed < 2^32.
  explicit Rng(uint32_t seed = 0);

  /// 32 random bits.
  uint32_t next_u32();
  /// Uniform double in [0, 1) with 53 bits (numpy's random_sample).
  double uniform();
  /// Uniform double in [low, high).
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  /// Standard normal deviate (numpy's legacy gauss).
  double normal();
  double normal(double mean, double std) { return mean + std * normal(); }
  /// Integer in [0, high) by masked rejection, as numpy's legacy randint (high <= 2^32).
  int64_t randint(int64_t high);
  /// A fresh seed for a child object, as Nengo draws `randint(2**31 - 1)`.
  uint32_t child_seed() { return static_cast<uint32_t>(randint(2147483647LL)); }

 private:
  std::array<uint32_t, 624> mt_{};
  int index_ = 624;
  bool has_gauss_ = false;
  double gauss_ = 0.0;
};

}  // namespace snn
