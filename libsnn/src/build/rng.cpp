// snn::Rng: MT19937 read exactly as numpy's legacy RandomState, so that a seed gives the
// same parameters as Nengo would draw from np.random.RandomState(seed).
#include "snn/rng.h"

#include <cmath>
#include <string>

#include "snn/errors.h"

namespace snn {

namespace {
constexpr int kN = 624;
constexpr int kM = 397;
constexpr uint32_t kMatrixA = 0x9908b0dfU;
constexpr uint32_t kUpperMask = 0x80000000U;
constexpr uint32_t kLowerMask = 0x7fffffffU;

/// The smallest all-ones bit mask covering `max` (numpy's gen_mask).
uint64_t covering_mask(uint64_t max) {
  uint64_t mask = max;
  mask |= mask >> 1;
  mask |= mask >> 2;
  mask |= mask >> 4;
  mask |= mask >> 8;
  mask |= mask >> 16;
  mask |= mask >> 32;
  return mask;
}
}  // namespace

Rng::Rng(uint32_t seed) {
  // init_genrand: numpy's RandomState(int) seeds the state this way (not init_by_array).
  mt_[0] = seed;
  for (int i = 1; i < kN; ++i)
    mt_[i] = 1812433253U * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + static_cast<uint32_t>(i);
  index_ = kN;
}

uint32_t Rng::next_u32() {
  if (index_ >= kN) {
    // Regenerate the whole block at once (the reference "genrand_int32" twist).
    int k = 0;
    for (; k < kN - kM; ++k) {
      uint32_t y = (mt_[k] & kUpperMask) | (mt_[k + 1] & kLowerMask);
      mt_[k] = mt_[k + kM] ^ (y >> 1) ^ ((y & 1U) ? kMatrixA : 0U);
    }
    for (; k < kN - 1; ++k) {
      uint32_t y = (mt_[k] & kUpperMask) | (mt_[k + 1] & kLowerMask);
      mt_[k] = mt_[k + (kM - kN)] ^ (y >> 1) ^ ((y & 1U) ? kMatrixA : 0U);
    }
    uint32_t y = (mt_[kN - 1] & kUpperMask) | (mt_[0] & kLowerMask);
    mt_[kN - 1] = mt_[kM - 1] ^ (y >> 1) ^ ((y & 1U) ? kMatrixA : 0U);
    index_ = 0;
  }
  uint32_t y = mt_[index_++];
  // Tempering.
  y ^= (y >> 11);
  y ^= (y << 7) & 0x9d2c5680U;
  y ^= (y << 15) & 0xefc60000U;
  y ^= (y >> 18);
  return y;
}

double Rng::uniform() {
  // 27 + 26 bits, the order matters: the first draw is the high part.
  const uint32_t a = next_u32() >> 5;
  const uint32_t b = next_u32() >> 6;
  return (a * 67108864.0 + b) / 9007199254740992.0;
}

double Rng::normal() {
  // numpy's legacy_gauss: polar Box-Muller; returns f*x2 now and caches f*x1 for next time.
  if (has_gauss_) {
    has_gauss_ = false;
    const double cached = gauss_;
    gauss_ = 0.0;
    return cached;
  }
  double x1, x2, r2;
  do {
    x1 = 2.0 * uniform() - 1.0;
    x2 = 2.0 * uniform() - 1.0;
    r2 = x1 * x1 + x2 * x2;
  } while (r2 >= 1.0 || r2 == 0.0);
  const double f = std::sqrt(-2.0 * std::log(r2) / r2);
  gauss_ = f * x1;
  has_gauss_ = true;
  return f * x2;
}

int64_t Rng::randint(int64_t high) {
  if (high < 1)
    throw Error("Rng::randint: expected high >= 1, got " + std::to_string(high));
  // numpy's legacy randint (int64, masked rejection) on the range [0, high - 1].
  const uint64_t max = static_cast<uint64_t>(high) - 1;
  if (max == 0) return 0;  // numpy draws nothing for a single-value range
  if (max <= 0xffffffffULL) {
    if (max == 0xffffffffULL) return static_cast<int64_t>(next_u32());
    const uint32_t mask = static_cast<uint32_t>(covering_mask(max));
    uint32_t v;
    while ((v = (next_u32() & mask)) > max) {
    }
    return static_cast<int64_t>(v);
  }
  // Wider ranges: numpy's MT19937 next_uint64 is (first draw << 32) | second draw.
  const uint64_t mask = covering_mask(max);
  uint64_t v;
  do {
    const uint64_t hi = next_u32();
    const uint64_t lo = next_u32();
    v = ((hi << 32) | lo) & mask;
  } while (v > max);
  return static_cast<int64_t>(v);
}

}  // namespace snn
