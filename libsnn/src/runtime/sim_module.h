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

/// Calls a C++/expression function for every minibatch item of x (batch, d) at time t (on
/// the CPU, in float64); `who` names the object in errors.
torch::Tensor call_function(const Function& f, double t, const torch::Tensor& x, int64_t batch,
                            int64_t size_out, const std::string& who,
                            const torch::TensorOptions& opts);
/// Whether a node is a function of time only (its outputs can be tabulated ahead).
bool time_only(const Node& n);

/// Everything that changes from step to step, for one minibatch.
struct SimState {
  int64_t step = 0;
  int64_t batch = 0;
  /// Seeds the processes that have no seed of their own (Nengo's simulator seed: the build
  /// seed + 1 unless Simulator::reset was given one).
  uint32_t process_seed = 0;
  /// Steps the processes ran before `step` 0 (a reset that kept them going): they read
  /// their sequences at process_steps + step.
  int64_t process_steps = 0;
  std::vector<NeuronState> blocks;
  /// Per connection with a synapse: the value its post receives next step (before a neurons
  /// post's gain), and the filter state.
  std::vector<torch::Tensor> conn_out, conn_x;
  std::vector<torch::Tensor> probe_out, probe_x;  // per probe: likewise for probe synapses
  /// Per learning rule (Model::learning_rules): the change made so far to its target,
  /// (batch,) + the target's shape (weights or scaled encoders), so each item learns on its
  /// own and the module's parameters stay the starting point (gradients reach them); and
  /// three filter states each (pre, post, theta synapse; undefined when unused).
  std::vector<torch::Tensor> learned, learn_x;
  SimState clone() const;
};

/// How neurons run while the module is in training mode (torch::nn::Module::train()).
enum class TrainingMode {
  Rate,     // spiking types run as their rate twins (NengoDL's default)
  Spiking,  // real spikes forward, the rate twin's derivative backward (straight-through)
};

struct SimModuleOptions {
  bool trainable_default = true;
  double lif_smoothing = 0.0;
  TrainingMode training_mode = TrainingMode::Rate;
  bool layered = true;  // use the all-steps-at-once executor for feed-forward networks
  bool train_synapses = true;  // settings.train_synapses: false drops synapses in training
};

class SimModuleImpl : public torch::nn::Module {
 public:
  SimModuleImpl(std::shared_ptr<const Model> model, std::shared_ptr<const Plan> plan,
                torch::Dtype dtype, torch::Device device, SimModuleOptions options);

  /// The state to start from, for the neuron types of the current mode (training or not).
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
  /// TensorNode i's module (null for other nodes).
  const std::shared_ptr<torch::nn::Module>& node_module(size_t i) const { return node_module_[i]; }
  torch::Dtype dtype() const { return dtype_; }
  torch::Device device() const { return device_; }
  const Model& model() const { return *model_; }
  const Plan& plan() const { return *plan_; }
  const SimModuleOptions& options() const { return sim_options_; }
  /// Whether forward() will take the layered path.
  bool layered() const { return sim_options_.layered && plan_->feed_forward; }
  /// Whether this forward pass skips synapse filtering (training with train_synapses off).
  bool synapses_off() const { return is_training() && !sim_options_.train_synapses; }

 private:
  std::vector<torch::Tensor> forward_steps(SimState& state, const Inputs& inputs, int64_t n_steps);
  std::vector<torch::Tensor> forward_layered(SimState& state, const Inputs& inputs,
                                             int64_t n_steps);
  /// The neuron type block `bi` runs as in the current mode.
  const NeuronType& active_type(size_t bi) const;
  /// One step of block `bi` in the current mode (straight-through spikes when training in
  /// spiking mode).
  torch::Tensor step_block(size_t bi, double dt, const torch::Tensor& J, NeuronState& st) const;
  /// Learning rules (learning_rules_step.cpp): kernels and indices, made once.
  void init_learning();
  /// Connection `ci`'s weights as used this step: the parameter, or (batch, post, pre) with
  /// what its learning rule has changed so far.
  torch::Tensor current_weights(size_t ci, const SimState& state) const;
  /// Ensemble `e`'s scaled encoders likewise ((batch, n, d) when Voja changes them).
  torch::Tensor current_encoders(size_t e, const SimState& state) const;
  /// What one rule computed in a step: its delta and the signals Nengo lets one probe
  /// ((batch, size); undefined where the rule has none).
  struct RuleStep {
    torch::Tensor delta, error, pre_filtered, post_filtered, theta;
  };
  /// The end of a step: every rule computes its delta (per rule, shaped like
  /// state.learned) from this step's neuron outputs `ens_out`, its error accumulator `error`
  /// and, for Voja, its connection's output `conn_value`, advancing its filters. All rules
  /// read what the others learned up to the last step, as in Nengo, where every delta
  /// reaches its target in the next step: the caller adds the deltas to state.learned after
  /// the probes have read them.
  std::vector<RuleStep> learning_deltas(SimState& state, const std::vector<torch::Tensor>& ens_out,
                                        const std::vector<torch::Tensor>& error,
                                        const std::vector<torch::Tensor>& conn_value) const;
  std::vector<int64_t> conn_rule_;                  // per connection: its rule, or -1
  std::vector<std::vector<size_t>> ens_enc_rules_;  // per ensemble: rules changing its encoders
  std::vector<std::unique_ptr<FilterKernel>> learn_filter_;  // 3 per rule: pre, post, theta
  std::vector<torch::Tensor> learn_pre_idx_, learn_post_idx_;  // per rule; undefined: all
  /// Makes and registers the modules of TensorNodes (tensor_nodes.cpp).
  void init_tensor_nodes();
  /// Applies TensorNode `i` to x (N, size_in) at time t; returns (N, size_out).
  torch::Tensor tensor_forward(size_t i, double t, const torch::Tensor& x) const;
  /// Node outputs that do not depend on the step's inputs: data, time-only functions and
  /// processes.
  std::vector<torch::Tensor> node_tables(const SimState& state, const Inputs& inputs,
                                         int64_t n_steps) const;
  /// Per ensemble, its noise for the steps of this call ((batch, n_steps, n_neurons) or
  /// (n_steps, n_neurons), in the module's dtype); undefined for ensembles without noise.
  std::vector<torch::Tensor> noise_tables(const SimState& state, int64_t n_steps) const;

  SimModuleOptions sim_options_;
  std::vector<NeuronTypePtr> rate_twin_;  // per block
  std::shared_ptr<const Model> model_;
  std::shared_ptr<const Plan> plan_;
  torch::Dtype dtype_;
  torch::Device device_;
  torch::TensorOptions opts_;
  std::vector<torch::Tensor> bias_, enc_, gain_, weights_;
  std::vector<torch::Tensor> node_const_;       // (1, size) for constant nodes
  std::vector<std::shared_ptr<torch::nn::Module>> node_module_;  // TensorNodes' modules
  std::vector<std::vector<torch::Tensor>> node_initial_;  // their values as built, for reset
  std::vector<torch::Tensor> conn_pre_idx_, conn_post_idx_, conn_post_gain_;
  /// Whether probe `bp` reads a connection's output that a synapse filters: a probe synapse
  /// then sees it before the connection's synapse updates it (Nengo's operator order), i.e.
  /// the value the post receives this step.
  bool reads_before_synapse(const BuiltProbe& bp) const {
    const auto& t = bp.probe->target();
    return t.kind == ObjRef::Kind::Connection && bp.probe->options().attr() == "output" &&
           conn_filter_[model_->connection_index.at(t.connection.get())] != nullptr;
  }
  /// A connection's pre object's whole output (Nengo's connection "input" probe): its node's
  /// output or its ensemble's neuron activities, from either executor's per-object values.
  const torch::Tensor& pre_output(const Connection& c, const std::vector<torch::Tensor>& node_out,
                                  const std::vector<torch::Tensor>& ens_out) const {
    const auto& pre = c.pre();
    return pre.kind == ObjRef::Kind::Node ? node_out[model_->node_index.at(pre.node.get())]
                                          : ens_out[model_->ensemble_index.at(pre.ensemble.get())];
  }
  /// What connection `ci` adds to its post: `x` times the post neurons' gains when the post
  /// is an ensemble's neurons (applied after the synapse, as Nengo), else `x`.
  torch::Tensor with_post_gain(size_t ci, const torch::Tensor& x) const {
    return conn_post_gain_[ci].defined() ? x * conn_post_gain_[ci] : x;
  }
  /// Convolution / Sparse connections (transform_ops.cpp): the decoders applied before the
  /// transform when decoded, and the Sparse indices; undefined elsewhere.
  std::vector<torch::Tensor> conn_dec_, conn_sparse_rows_, conn_sparse_cols_;
  void init_structured_transforms();
  /// Applies connection `ci`'s Convolution or Sparse transform to x (..., size_mid).
  torch::Tensor structured_transform(size_t ci, const torch::Tensor& x) const;
  std::vector<torch::Tensor> probe_idx_, probe_dec_;
  std::vector<std::unique_ptr<FilterKernel>> conn_filter_, probe_filter_;
};
TORCH_MODULE(SimModule);

}  // namespace snn::detail
