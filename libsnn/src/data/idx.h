#pragma once
// IDX files (the MNIST family's format), plain or gzip-compressed.
#include <string>

#include <torch/types.h>

namespace snn::detail {

/// Reads an IDX file of unsigned bytes: images (magic 0x803, (N, rows, cols)) or labels
/// (0x801, (N,)); returns uint8 with the file's shape. Throws DataError naming the file.
torch::Tensor read_idx_u8(const std::string& path, int expected_rank);

}  // namespace snn::detail
