#pragma once
// One pass over the neurons for LIF::step on the CPU when no gradient is wanted.
//
// LIF::step as tensor operations is about twenty element-wise kernels, each allocating
// and streaming a (batch, n) tensor; in spiking inference this is most of a step's time.
// The loop below does the same arithmetic per neuron in registers, and computes expm1
// only for the neurons leaving their refractory period (every other neuron integrates a
// full dt, whose factor is the same for all).
#include <torch/torch.h>

namespace snn::detail {

struct LifConstants {
  double dt, tau_rc, tau_ref, min_voltage, amplitude;
};

/// Whether lif_step_cpu applies: CPU, float32/float64, all three of the same shape and dtype,
/// and no autograd graph to record.
bool lif_step_cpu_applies(const torch::Tensor& J, const torch::Tensor& voltage,
                          const torch::Tensor& refractory_time);

/// Nengo's LIF step (see LIF::step) in one pass. Returns the output; replaces voltage and
/// refractory_time with new tensors (the old ones may be held by probes or the caller).
torch::Tensor lif_step_cpu(const LifConstants& c, const torch::Tensor& J, torch::Tensor& voltage,
                           torch::Tensor& refractory_time);

}  // namespace snn::detail
