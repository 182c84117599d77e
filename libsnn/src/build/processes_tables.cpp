// Tables of process outputs for the simulator: one draw per minibatch item (or one shared
// table for deterministic processes), seeded from the simulator seed and the object, and
// indexed by step so that consecutive calls continue the same signal.
#include <algorithm>

#include <torch/torch.h>

#include "build/processes_internal.h"
#include "snn/errors.h"

namespace snn::detail {

namespace {

/// Chris Wellons' "lowbias32" integer hash: a bijection of 32-bit words with good avalanche.
uint32_t hash32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

}  // namespace

uint32_t mix_seed(uint32_t a, uint32_t b) {
  // b == 0 keeps a, so block 0 of a WhiteNoise draws from the seed itself.
  if (b == 0) return a;
  return hash32(a ^ hash32(b * 0x9e3779b9U + 0x632be5abU));
}

int64_t noise_block_steps(int64_t size) {
  return std::clamp<int64_t>((int64_t{1} << 20) / std::max<int64_t>(size, 1), 16, 4096);
}

uint32_t process_item_seed(const Process& p, uint32_t sim_seed, uint32_t object_seed,
                           int64_t item) {
  if (p.seed()) return *p.seed();
  return hash32(hash32(sim_seed ^ 0x5bd1e995U) ^ hash32(object_seed + 0x27d4eb2fU) ^
                hash32(static_cast<uint32_t>(item) * 0x165667b1U + 1U));
}

torch::Tensor process_table(const Process& p, uint32_t sim_seed, uint32_t object_seed,
                            int64_t batch, int64_t first_step, int64_t n_steps, int64_t size,
                            double dt) {
  if (!p.random()) return p.sample(size, dt, first_step, n_steps, 0);
  std::vector<torch::Tensor> items;
  items.reserve(static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b)
    items.push_back(
        p.sample(size, dt, first_step, n_steps, process_item_seed(p, sim_seed, object_seed, b)));
  return torch::stack(items, 0);
}

void check_process(const Process& p, double dt, int64_t size, const std::string& who) {
  try {
    p.check(dt);
  } catch (const SpecError& e) {
    throw BuildError(who + ": " + e.what());
  }
  if (p.size_in() != 0)
    throw BuildError(who + ": " + p.type() + " takes an input, which is not supported here");
  if (p.fixed_size() && p.default_size_out() != size)
    throw BuildError(who + ": " + p.type() + " gives " + std::to_string(p.default_size_out()) +
                     " values per step, expected " + std::to_string(size));
}

}  // namespace snn::detail
