#pragma once
/// \file checkpoint.h
/// What a checkpoint (Simulator::save_params, snn-train's checkpoint.pt) says about itself,
/// without loading its parameters: which spec it was saved from (the spec's content hash),
/// the epoch, whether it holds an optimizer state or a simulation state. Loading checks
/// parameter names and shapes only, so a checkpoint of a structurally equal spec with, say,
/// another seed loads; comparing the hashes tells the two apart.
#include <cstdint>
#include <string>

#include "snn/network.h"

namespace snn {

struct CheckpointInfo {
  /// FNV-1a of the saved spec (without label and train block); "none" for networks with
  /// C++ callables, which have no spec form.
  std::string spec_hash;
  std::string library_version;
  int64_t epoch = -1;  // -1: a parameters-only checkpoint
  bool has_optimizer = false;
  bool has_state = false;  // saved with include_state
};

/// Reads the header of a checkpoint. Throws DataError naming the file when it is missing or
/// not a libsnn checkpoint.
CheckpointInfo read_checkpoint_info(const std::string& path);

/// The content hash save_params stores for `network`: equal for specs that build the same
/// parameters (label and train block aside).
std::string spec_hash(const Network& network);

/// One line for a checkpoint saved from another spec than `network`'s, empty when they
/// agree (or when either has no hash): "<path>: saved from another spec (content hash A, this
/// spec B); its parameters fit by name and shape, ...".
std::string checkpoint_spec_mismatch(const std::string& path, const Network& network);

}  // namespace snn
