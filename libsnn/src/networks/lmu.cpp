// The Legendre Memory Unit: its zero-order-hold matrices, the native network and the
// sequence module (snn/lmu.h).
#include "snn/lmu.h"

#include <torch/torch.h>

#include <cmath>

#include "networks/networks_internal.h"
#include "snn/dists.h"
#include "snn/errors.h"
#include "snn/rng.h"
#include "snn/tensor_node.h"

namespace snn {

namespace {

void check(const LMUOptions& o, double dt) {
  const std::string who = "LMU \"" + o.id() + "\": ";
  if (o.units() < 1) throw SpecError(who + "expected units >= 1, got " + std::to_string(o.units()));
  if (o.order() < 1) throw SpecError(who + "expected order >= 1, got " + std::to_string(o.order()));
  if (o.input_dimensions() < 1)
    throw SpecError(who + "expected input_dimensions >= 1, got " +
                    std::to_string(o.input_dimensions()));
  if (!(o.theta() > 0) || !std::isfinite(o.theta()))
    throw SpecError(who + "expected theta > 0 (seconds), got " + std::to_string(o.theta()));
  if (!(dt > 0)) throw SpecError(who + "expected dt > 0, got " + std::to_string(dt));
}

/// exp(M) in float64 by scaling and squaring with a 20-term Taylor series: accurate to
/// rounding (LibTorch 1.13's matrix_exp is off by ~1e-10 relative on small inputs).
torch::Tensor expm(const torch::Tensor& M) {
  const double norm = M.abs().sum(0).max().item<double>();
  const int squarings = norm > 0.5 ? static_cast<int>(std::ceil(std::log2(norm / 0.5))) : 0;
  auto X = M / std::pow(2.0, squarings);
  auto term = torch::eye(M.size(0), M.options());
  auto E = term.clone();
  for (int k = 1; k <= 20; ++k) {
    term = torch::mm(term, X) / static_cast<double>(k);
    E = E + term;
  }
  for (int s = 0; s < squarings; ++s) E = torch::mm(E, E);
  return E;
}

}  // namespace

std::pair<torch::Tensor, torch::Tensor> lmu_matrices(int64_t order, double theta, double dt) {
  const auto f64 = torch::kFloat64;
  auto A = torch::empty({order, order}, f64);
  auto B = torch::empty({order, 1}, f64);
  auto a = A.accessor<double, 2>();
  auto b = B.accessor<double, 2>();
  for (int64_t i = 0; i < order; ++i) {
    const double r = (2.0 * static_cast<double>(i) + 1.0) / theta;
    for (int64_t j = 0; j < order; ++j)
      a[i][j] = r * (i < j ? -1.0 : ((i - j + 1) % 2 == 0 ? 1.0 : -1.0));
    b[i][0] = r * (i % 2 == 0 ? 1.0 : -1.0);
  }
  // Zero-order hold: exp([[A, B], [0, 0]] dt) = [[Ad, Bd], [0, I]].
  auto M = torch::zeros({order + 1, order + 1}, f64);
  M.narrow(0, 0, order).narrow(1, 0, order).copy_(A * dt);
  M.narrow(0, 0, order).narrow(1, order, 1).copy_(B * dt);
  auto E = expm(M);
  return {E.narrow(0, 0, order).narrow(1, 0, order).contiguous(),
          E.narrow(0, 0, order).narrow(1, order, 1).contiguous()};
}

LMU lmu(Network& parent, LMUOptions o) {
  check(o, parent.dt());
  auto [A, B] = lmu_matrices(o.order(), o.theta(), parent.dt());
  const int64_t d = o.input_dimensions();
  LMU l;
  l.network = detail::sub_network(parent, o.id(), o.label(), o.seed());
  Network& net = *l.network;
  using detail::part_id;
  l.input = net.node(NodeOptions().id(part_id(net, "input")).size_in(d));
  auto u = net.node(NodeOptions().id(part_id(net, "u")).size_in(1));
  l.memory = net.node(NodeOptions().id(part_id(net, "memory")).size_in(o.order()));
  l.hidden = tensor_node(net, TensorNodeOptions()
                                  .id(part_id(net, "hidden"))
                                  .shape_in({o.units()})
                                  .module(torch::nn::Tanh()));
  const auto none = ConnectionOptions().synapse(nullptr);
  // Lowpass(0) is a pure one-step delay: the connections that read the previous step.
  const auto delayed = ConnectionOptions().synapse(std::make_shared<Lowpass>(0.0));
  net.connect(l.input, u, ConnectionOptions(none).transform(torch::ones({1, d}, torch::kFloat64)));
  net.connect(l.memory, l.memory, ConnectionOptions(delayed).transform(A).trainable(false));
  net.connect(u, l.memory, ConnectionOptions(none).transform(B).trainable(false));
  l.input_to_hidden = net.connect(l.input, l.hidden, ConnectionOptions(none).transform(Glorot()));
  l.hidden_to_hidden =
      net.connect(l.hidden, l.hidden, ConnectionOptions(delayed).transform(Glorot()));
  l.memory_to_hidden = net.connect(l.memory, l.hidden, ConnectionOptions(none).transform(Glorot()));
  return l;
}

LMUCellImpl::LMUCellImpl(LMUOptions options_, double dt_) : options(std::move(options_)), dt(dt_) {
  check(options, dt);
  reset();
}

void LMUCellImpl::reset() {
  auto [a, b] = lmu_matrices(options.order(), options.theta(), dt);
  // Kept in float64 and cast to the input's dtype in forward, so a module moved to float64
  // has the exact matrices, not float32 ones widened.
  A = register_buffer("A", a);
  B = register_buffer("B", b);
  Rng rng(options.seed().value_or(0));
  auto glorot = [&](int64_t rows, int64_t cols) {
    return Glorot().sample(rows, cols, rng).to(torch::kFloat32);
  };
  W_x = register_parameter("W_x", glorot(options.units(), options.input_dimensions()));
  W_h = register_parameter("W_h", glorot(options.units(), options.units()));
  W_m = register_parameter("W_m", glorot(options.units(), options.order()));
}

torch::Tensor LMUCellImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 3 && x.size(2) == options.input_dimensions(),
              "LMUCell: expected input (batch, steps, ", options.input_dimensions(), "), got ",
              x.sizes());
  const int64_t batch = x.size(0), steps = x.size(1);
  const auto Ax = A.to(x.options()), Bx = B.to(x.options());
  auto m = torch::zeros({batch, options.order()}, x.options());
  auto h = torch::zeros({batch, options.units()}, x.options());
  // Input projections need no recurrence: one product over every step.
  auto drive = torch::matmul(x, W_x.t());
  auto u = x.sum(2, /*keepdim=*/true);
  std::vector<torch::Tensor> hs;
  hs.reserve(static_cast<size_t>(steps));
  for (int64_t t = 0; t < steps; ++t) {
    m = torch::matmul(m, Ax.t()) + torch::matmul(u.select(1, t), Bx.t());
    h = torch::tanh(drive.select(1, t) + torch::matmul(h, W_h.t()) + torch::matmul(m, W_m.t()));
    hs.push_back(h);
  }
  return torch::stack(hs, 1);
}

}  // namespace snn
