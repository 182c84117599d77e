#pragma once
/// \file lmu.h
/// The Legendre Memory Unit (Voelker, Kajic and Eliasmith 2019), as in NengoDL's LMU example:
/// a linear memory m of `order` Legendre coefficients of the input's last `theta` seconds,
/// whose continuous dynamics theta dm/dt = A m + B u are discretised with a zero-order hold,
/// and a tanh hidden state h fed by the input, its own previous value and the memory:
///
///     u_t = sum(x_t)                  m_t = Ad m_{t-1} + Bd u_t
///     h_t = tanh(W_x x_t + W_h h_{t-1} + W_m m_t)
///
/// Two forms compute the same thing. `snn::lmu(net, options)` adds it as a native network
/// (Nodes, a tanh TensorNode and Connections: A and B fixed, the three W trainable, Glorot
/// initialised), to connect to and simulate like any other. `snn::LMUCell` is a LibTorch
/// module that runs a whole sequence (batch, steps, input_dimensions) at once, for plain
/// LibTorch code or inside a larger module.
///
///     auto cell = snn::lmu(*net, snn::LMUOptions(212, 256, 0.784, 1).id("lmu"));
///     net->connect(pixels, cell.input, snn::ConnectionOptions().synapse(nullptr));
///     net->connect(cell.hidden, out, snn::ConnectionOptions().synapse(nullptr));
#include <cstdint>
#include <string>
#include <utility>

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "snn/network.h"

namespace snn {

/// The LMU's discrete state-space matrices for step `dt` (seconds; theta in seconds):
/// A (order, order) and B (order, 1), float64, from the zero-order hold of
/// A_c[i][j] = (2i + 1) / theta * (i < j ? -1 : (-1)^(i - j + 1)), B_c[i] = (2i + 1) / theta * (-1)^i.
/// NengoDL's example measures theta in steps with dt = 1: the same matrices as theta * dt here.
std::pair<torch::Tensor, torch::Tensor> lmu_matrices(int64_t order, double theta, double dt);

struct LMUOptions {
  LMUOptions(int64_t units, int64_t order, double theta, int64_t input_dimensions)
      : units_(units), order_(order), theta_(theta), input_dimensions_(input_dimensions) {}
  TORCH_ARG(std::string, id);
  TORCH_ARG(std::string, label) = "LMU";
  TORCH_ARG(int64_t, units);             // size of the hidden state h
  TORCH_ARG(int64_t, order);             // Legendre coefficients in the memory m
  TORCH_ARG(double, theta);              // the memory's window, seconds
  TORCH_ARG(int64_t, input_dimensions);  // size of the input x
  TORCH_ARG(std::optional<uint32_t>, seed);
};

/// The native network's ports.
struct LMU {
  NetworkPtr network;
  NodePtr input;   // x (size input_dimensions)
  NodePtr memory;  // m (size order)
  NodePtr hidden;  // h (size units): the output
  /// The trainable connections x -> h, h -> h (one step late), m -> h.
  ConnectionPtr input_to_hidden, hidden_to_hidden, memory_to_hidden;
};

/// Adds the LMU to `parent` as a child network (discretised with parent.dt()); throws
/// SpecError naming it for non-positive sizes or theta.
LMU lmu(Network& parent, LMUOptions options);

/// The LMU as one LibTorch module over sequences: forward(x (batch, steps, input_dimensions))
/// returns h (batch, steps, units), starting from zero state. `dt` is the step in seconds.
class LMUCellImpl : public torch::nn::Cloneable<LMUCellImpl> {
 public:
  LMUCellImpl(LMUOptions options, double dt);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  LMUOptions options;
  double dt;
  torch::Tensor A, B;                   // buffers (order, order), (order, 1), float64
  torch::Tensor W_x, W_h, W_m;          // parameters (units, input_d), (units, units), (units, order)
};
TORCH_MODULE(LMUCell);

}  // namespace snn
