#pragma once
// SimModule: the compiled network as a torch::nn::Module. Its parameters are the trainable
// values (ensemble biases and scaled encoders, connection weights); `forward` unrolls n
// simulation steps for a minibatch, in Nengo's step order, and returns every probe's samples.
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "build/model.h"
#include "compile/plan.h"
#include "runtime/filter.h"
#include "snn/simulator.h"

namespace snn::detail {

/// Everything that changes from step to step, for one minibatch.
struct SimState {
  int64_t step = 0;
  int64_t batch = 0;
  std::vector<NeuronState> blocks;
  std::vector<torch::Tensor> conn_out, conn_x;    // per connection: delivered value, filter state
  std::vector<torch::Tensor> probe_out, probe_x;  // per probe: likewise for probe synapses
  SimState clone() const;
};

class SimModuleImpl : public torch::nn::Module {
 public:
  SimModuleImpl(std::shared_ptr<const Model> model, std::shared_ptr<const Plan> plan,
                torch::Dtype dtype, torch::Device device, bool trainable_default);

  SimState initial_state(int64_t batch) const;
  /// Runs `n_steps` from `state` (updated in place). `inputs` maps node ids to
  /// (batch, n_steps, size) tensors. Returns, per probe (in Model::probes order), the samples
  /// recorded in this call: (batch, n_samples, size).
  std::vector<torch::Tensor> forward(SimState& state, const Inputs& inputs, int64_t n_steps);

  /// Puts the built values back into the parameters.
  void restore_parameters();

  const torch::Tensor& bias(size_t e) const { return bias_[e]; }
  const torch::Tensor& scaled_encoders(size_t e) const { return enc_[e]; }
  const torch::Tensor& gain(size_t e) const { return gain_[e]; }
  const torch::Tensor& weights(size_t c) const { return weights_[c]; }
  torch::Dtype dtype() const { return dtype_; }
  torch::Device device() const { return device_; }

 private:
  struct Step;
  std::shared_ptr<const Model> model_;
  std::shared_ptr<const Plan> plan_;
  torch::Dtype dtype_;
  torch::Device device_;
  torch::TensorOptions opts_;
  std::vector<torch::Tensor> bias_, enc_, gain_, weights_;
  std::vector<torch::Tensor> node_const_;       // (1, size) for constant nodes
  std::vector<torch::Tensor> conn_pre_idx_, conn_post_idx_, conn_post_gain_;
  std::vector<torch::Tensor> probe_idx_, probe_dec_;
  std::vector<std::unique_ptr<FilterKernel>> conn_filter_, probe_filter_;
};
TORCH_MODULE(SimModule);

}  // namespace snn::detail
