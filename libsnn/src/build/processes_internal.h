#pragma once
// Private helpers for processes: seed mixing and the (batch, steps, size) tables the
// simulator feeds from a Node(output=process) or an ensemble's noise.
#include <cstdint>
#include <string>

#include <torch/types.h>

#include "snn/processes.h"

namespace snn::detail {

/// A well-mixed 32-bit seed from two words (a bijective integer hash of each, combined), so
/// that nearby inputs (batch items 0, 1, 2, ...) give unrelated generators.
uint32_t mix_seed(uint32_t a, uint32_t b);

/// WhiteNoise draws its samples in blocks of this many steps (fewer for wide outputs, so a
/// block stays around a million values).
int64_t noise_block_steps(int64_t size);

/// The seed of minibatch item `item` of an object: the process's own seed when it has one
/// (every item then sees the same signal, as NengoDL's per-item generators all start from
/// it), else one derived from the simulator's process seed and the object's build seed.
uint32_t process_item_seed(const Process& p, uint32_t sim_seed, uint32_t object_seed,
                           int64_t item);

/// The values of steps first_step+1 ... first_step+n_steps for every minibatch item, float64 on
/// the CPU: (batch, n_steps, size) for random processes, (n_steps, size) for deterministic
/// ones (the same for every item).
torch::Tensor process_table(const Process& p, uint32_t sim_seed, uint32_t object_seed,
                            int64_t batch, int64_t first_step, int64_t n_steps, int64_t size,
                            double dt);

/// Build-time check of a process used by `who` with output `size` at time step dt; throws
/// BuildError naming `who`.
void check_process(const Process& p, double dt, int64_t size, const std::string& who);

}  // namespace snn::detail
