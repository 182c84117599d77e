// Convolution as torch conv1d/conv2d on (N, C, spatial...) views of the flat values, with
// TensorFlow's asymmetric "same" padding done explicitly (torch's own "same" pads
// symmetrically and refuses strides); Sparse as a gather, scale and index_add, so that the
// gradient reaches every value.
#include "runtime/transform_ops.h"

#include "runtime/sim_module.h"

namespace snn::detail {

torch::Tensor apply_convolution(const Convolution& conv, const torch::Tensor& kernel,
                                const torch::Tensor& x) {
  const auto lead = x.sizes().slice(0, x.dim() - 1).vec();
  const int64_t d = conv.dimensions();
  auto spatial = conv.spatial_in();
  const int64_t C = conv.in_channels();
  std::vector<int64_t> shape = {-1};
  auto v = x.reshape({-1, conv.size_in()});
  if (conv.channels_last()) {
    shape.insert(shape.end(), spatial.begin(), spatial.end());
    shape.push_back(C);
    v = v.reshape(shape);
    v = d == 1 ? v.permute({0, 2, 1}) : v.permute({0, 3, 1, 2});
  } else {
    shape.push_back(C);
    shape.insert(shape.end(), spatial.begin(), spatial.end());
    v = v.reshape(shape);
  }
  const auto pads = conv.pads();
  bool padded = false;
  std::vector<int64_t> pad;  // constant_pad_nd wants the last dimension first
  for (int64_t i = d - 1; i >= 0; --i) {
    pad.push_back(pads[i].first);
    pad.push_back(pads[i].second);
    padded = padded || pads[i].first || pads[i].second;
  }
  if (padded) v = torch::constant_pad_nd(v, pad, 0.0);
  // Nengo's (k..., in, filters) -> torch's (filters, in, k...).
  auto w = d == 1 ? kernel.permute({2, 1, 0}) : kernel.permute({3, 2, 0, 1});
  const auto st = conv.effective_strides();
  auto y = d == 1 ? torch::conv1d(v, w, {}, st) : torch::conv2d(v, w, {}, st);
  if (conv.channels_last()) y = d == 1 ? y.permute({0, 2, 1}) : y.permute({0, 2, 3, 1});
  auto out_shape = lead;
  out_shape.push_back(conv.size_out());
  return y.reshape(out_shape);
}

torch::Tensor apply_sparse(int64_t n_rows, const torch::Tensor& rows, const torch::Tensor& cols,
                           const torch::Tensor& values, const torch::Tensor& x) {
  auto terms = x.index_select(-1, cols) * values;
  auto shape = x.sizes().vec();
  shape.back() = n_rows;
  return torch::zeros(shape, x.options()).index_add(x.dim() - 1, rows, terms);
}

}  // namespace snn::detail

// ---- SimModule's use of them ---------------------------------------------------------------

namespace snn::detail {

void SimModuleImpl::init_structured_transforms() {
  for (const auto& bc : model_->connections) {
    const bool structured = bc.conv || bc.sparse;
    conn_dec_.push_back(structured && bc.decoded ? bc.decoders.to(opts_) : torch::Tensor());
    auto idx = [&](const std::vector<int64_t>& v) {
      return bc.sparse ? torch::tensor(v, torch::kLong).to(device_) : torch::Tensor();
    };
    conn_sparse_rows_.push_back(idx(bc.sparse_rows));
    conn_sparse_cols_.push_back(idx(bc.sparse_cols));
  }
}

torch::Tensor SimModuleImpl::structured_transform(size_t ci, const torch::Tensor& x) const {
  const auto& bc = model_->connections[ci];
  if (bc.conv) return apply_convolution(*bc.conv, weights_[ci], x);
  return apply_sparse(bc.sparse->rows(), conn_sparse_rows_[ci], conn_sparse_cols_[ci],
                      weights_[ci], x);
}

}  // namespace snn::detail
