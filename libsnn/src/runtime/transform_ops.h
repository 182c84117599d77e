#pragma once
// Applying Convolution and Sparse transforms to flat values (runtime side of
// snn/transforms.h), shared by the step loop and the layered executor.
#include <torch/torch.h>

#include "snn/transforms.h"

namespace snn::detail {

/// x: (..., conv.size_in()) flat values; kernel: conv.kernel_shape() (Nengo's layout
/// kernel_size + (in_channels, n_filters)). Returns (..., conv.size_out()).
torch::Tensor apply_convolution(const Convolution& conv, const torch::Tensor& kernel,
                                const torch::Tensor& x);

/// x: (..., cols); rows/cols: the indices as long tensors (n,), values (n,). Returns
/// (..., rows) with out[r] = sum over i with rows[i] == r of values[i] * x[cols[i]].
torch::Tensor apply_sparse(int64_t n_rows, const torch::Tensor& rows, const torch::Tensor& cols,
                           const torch::Tensor& values, const torch::Tensor& x);

}  // namespace snn::detail
