#include "runtime/filter.h"

namespace snn::detail {

FilterKernel::FilterKernel(const StateSpace& ss, torch::Dtype dtype, torch::Device device)
    : D_(ss.D), ns_(ss.n_states()), opts_(torch::TensorOptions().dtype(dtype).device(device)) {
  if (ns_ == 0) {
    kind_ = Kind::NoX;
  } else if (ns_ == 1 && D_ == 0.0) {
    kind_ = Kind::OneX;
    a_ = ss.A.item<double>();
    b_ = ss.C.item<double>() * ss.B.item<double>();
  } else {
    kind_ = D_ == 0.0 ? Kind::NoD : Kind::General;
    At_ = ss.A.t().contiguous().to(opts_);
    B_ = ss.B.to(opts_);
    C_ = ss.C.to(opts_);
  }
}

torch::Tensor FilterKernel::initial_state(int64_t batch, int64_t size) const {
  switch (kind_) {
    case Kind::NoX: return torch::Tensor();
    case Kind::OneX: return torch::zeros({batch, size}, opts_);
    default: return torch::zeros({batch, size, ns_}, opts_);
  }
}

torch::Tensor FilterKernel::step(torch::Tensor& state, const torch::Tensor& u) const {
  switch (kind_) {
    case Kind::NoX: return D_ * u;
    case Kind::OneX:
      state = a_ * state + b_ * u;
      return state;
    case Kind::NoD:
      state = torch::matmul(state, At_) + u.unsqueeze(-1) * B_;
      return torch::matmul(state, C_);
    case Kind::General: {
      auto y = torch::matmul(state, C_) + D_ * u;
      state = torch::matmul(state, At_) + u.unsqueeze(-1) * B_;
      return y;
    }
  }
  return u;
}

}  // namespace snn::detail
