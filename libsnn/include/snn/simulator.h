#pragma once
/// \file simulator.h
/// The Simulator: builds a Network (NEF parameters, seeded), compiles it into a
/// `torch::nn::Module` that runs T steps for a minibatch, and keeps its state and probe data
/// between calls, as NengoDL's Simulator.
///
///     snn::Simulator sim(net, snn::SimulatorOptions().minibatch_size(4));
///     sim.run(1.0);                        // 1000 steps of 1 ms
///     torch::Tensor y = sim.data(probe);   // (4, 1000, d)
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <torch/arg.h>
#include <torch/types.h>

#include "snn/network.h"
#include "snn/training.h"

namespace torch::nn {
class Module;
}

namespace snn {

/// Node id -> data, shaped (batch, steps, size_out) or (batch, size_out) (same every step).
using Inputs = std::map<std::string, torch::Tensor>;
/// Probe id -> data shaped (batch, n_samples, size).
using ProbeData = std::map<std::string, torch::Tensor>;

struct SimulatorOptions {
  /// 0: the network's dt.
  TORCH_ARG(double, dt) = 0.0;
  /// Unset: the network seed (+1 for the simulator's own RNG, as Nengo).
  TORCH_ARG(std::optional<uint32_t>, seed);
  TORCH_ARG(int64_t, minibatch_size) = 1;
  TORCH_ARG(torch::Device, device) = torch::kCPU;
  /// Unset: the network's `dtype` setting (float32 unless changed).
  TORCH_ARG(std::optional<torch::Dtype>, dtype);
  /// Show a progress bar on stderr for long runs (only when stderr is a terminal).
  TORCH_ARG(bool, progress_bar) = true;
  /// Feed-forward networks run layer by layer over all steps at once (matrix products over
  /// (batch, steps), input currents of constant inputs computed once). false forces the
  /// step-by-step loop everywhere; both give the same numbers.
  TORCH_ARG(bool, layered) = true;
};

/// What Simulator::reset restores besides the neuron and synapse state and the time
/// (NengoDL's reset arguments).
struct ResetOptions {
  /// Trainable parameters back to their built values.
  TORCH_ARG(bool, include_trainable) = true;
  /// Probe data cleared.
  TORCH_ARG(bool, include_probes) = true;
  /// Processes (noise, white signals) restart their sequences; false: they go on from where
  /// they were, as if time had not been reset.
  TORCH_ARG(bool, include_processes) = true;
};

/// What Simulator::save_params writes besides the parameters and the spec's content hash.
struct SaveParamsOptions {
  /// >= 0: a training checkpoint, with the optimizer state and this epoch (--resume).
  TORCH_ARG(int64_t, epoch) = -1;
  /// NengoDL's include_state: also the simulation state (neuron and synapse state, learned
  /// changes, the time and where processes are), so that a simulator loading it goes on
  /// where this one stopped. Probe data is not part of it.
  TORCH_ARG(bool, include_state) = false;
};

/// What Simulator::load_params restores besides the parameters.
struct LoadParamsOptions {
  /// The optimizer state (compile first): a training checkpoint.
  TORCH_ARG(bool, training_state) = false;
  /// The simulation state (the checkpoint must hold one, saved with the same minibatch
  /// size): the simulator goes on from there, its time included. Probe data stays this
  /// simulator's, so trange() then covers more steps than data() holds.
  TORCH_ARG(bool, include_state) = false;
};

/// The result of Simulator::check_gradients: the largest difference between autograd and
/// central finite differences, over every trainable parameter.
struct GradientCheck {
  double max_abs_error = 0.0;
  double max_rel_error = 0.0;
  std::string worst_parameter;
  bool passed = false;  // NengoDL's tolerances: atol 1e-5, rtol 1e-3 (float64)
};

/// NengoDL's form of Simulator::check_gradients: the probes' outputs against the input
/// nodes' data, in training mode, from the initial state.
struct GradientCheckOptions {
  /// Data for input nodes, (minibatch, n_steps, size) each; empty: zeros for every input
  /// placeholder (Node without output), over `n_steps`.
  TORCH_ARG(Inputs, inputs);
  /// Steps when `inputs` is empty (NengoDL: 2).
  TORCH_ARG(int64_t, n_steps) = 2;
  /// Probes to check; empty: every probe.
  TORCH_ARG(std::vector<ProbePtr>, outputs);
  /// An entry fails when |analytic - numeric| >= atol + rtol |numeric| (NengoDL's rule).
  TORCH_ARG(double, atol) = 1e-5;
  TORCH_ARG(double, rtol) = 1e-3;
  /// Step of the central differences.
  TORCH_ARG(double, epsilon) = 1e-6;
};

/// The Jacobians of one probe's output: per input node, (input elements, output elements)
/// as tf.test.compute_gradient lays them out, from autograd and from central differences.
struct ProbeGradients {
  std::map<std::string, torch::Tensor> analytic, numeric;
};

/// What the build made of an ensemble (float64, CPU; live values after training). A Direct
/// ensemble has identity encoders and eval points; its gain, bias, max_rates and intercepts
/// are undefined tensors (Nengo's None).
struct EnsembleData {
  torch::Tensor gain, bias, encoders, scaled_encoders, eval_points, max_rates, intercepts;
};

/// What the build made of a connection: `weights` = transform x decoders for a decoded
/// connection, else the transform (0-d scalar, 1-d elementwise, 2-d matrix, undefined for
/// identity); `decoders` (size_mid, n_neurons) when decoded.
struct ConnectionData {
  torch::Tensor weights, decoders, eval_points;
};

class Simulator {
 public:
  Simulator(NetworkPtr network, SimulatorOptions options = {});
  ~Simulator();
  Simulator(Simulator&&) noexcept;
  Simulator& operator=(Simulator&&) noexcept;

  /// Runs round(seconds / dt) steps. `data` feeds input nodes.
  void run(double seconds, const Inputs& data = {});
  /// Runs n steps; probe data is appended to what earlier runs recorded.
  void run_steps(int64_t n, const Inputs& data = {});
  /// One step.
  void step(const Inputs& data = {});
  /// Back to the state right after the build: neuron and synapse state, time, and (as
  /// `options` say, all by default) probe data, trainable parameters and processes. A seed
  /// changes the simulator seed (processes) only.
  void reset(std::optional<uint32_t> seed = std::nullopt, ResetOptions options = {});
  /// Resets neuron/synapse state and time, keeping parameters (and, unless
  /// `include_probes`, the probe data). reset without trainables and with `include_probes`.
  void soft_reset(bool include_probes = false);

  /// Runs `n_steps` (default: the data's steps) without changing the simulator's state and
  /// returns every probe's data for this run. The batch may be any multiple of the
  /// minibatch size.
  ProbeData predict(const Inputs& inputs, int64_t n_steps = -1);

  /// Time of every step so far (starting at dt), or of the steps a probe with
  /// `sample_every` records.
  torch::Tensor trange(std::optional<double> sample_every = std::nullopt) const;
  /// Probe data recorded since the last reset: (batch, n_samples, size), float64 on the CPU.
  torch::Tensor data(const ProbePtr& probe) const;
  torch::Tensor data(const std::string& probe_id) const;
  EnsembleData data(const EnsemblePtr& ensemble) const;
  ConnectionData data(const ConnectionPtr& connection) const;

  // ---- Training (NengoDL's Keras-style API) ------------------------------------------------
  /// Sets the optimizer, the loss per probe and the metrics used by fit / evaluate.
  void compile(CompileOptions options);
  /// Trains the compiled losses. Inputs (N, steps, size) or (N, size); targets as `Targets`.
  /// Spiking neurons run as their rate twins (settings.training_mode "rate") or through
  /// their spikes with surrogate gradients ("spiking"). Data are split into minibatches of
  /// the simulator's minibatch size (the last one may be smaller), each run from the
  /// simulator's current state (NengoDL's stateful=False), which is left unchanged.
  History fit(const Inputs& x, const Targets& y, FitOptions options = {});
  /// Loss and metrics of the compiled losses on data, in inference mode (spikes):
  /// "loss", "<probe>_loss", "<probe>_accuracy".
  std::map<std::string, double> evaluate(const Inputs& x, const Targets& y,
                                         int64_t n_steps = -1);
  /// predict() for exactly one minibatch.
  ProbeData predict_on_batch(const Inputs& x, int64_t n_steps = -1);
  /// The optimizer set by compile (nullptr before).
  torch::optim::Optimizer* optimizer();

  /// Writes every parameter and buffer (by stable names such as `ensembles.ens.bias`) and
  /// the spec's content hash to `path`, atomically. With `epoch` >= 0 the optimizer state
  /// and the epoch are stored too (a training checkpoint that --resume can continue).
  void save_params(const std::string& path, int64_t epoch = -1) const;
  void save_params(const std::string& path, SaveParamsOptions options) const;
  /// Loads what save_params wrote. Throws DataError naming the first parameter that is
  /// missing or has another shape, and changes nothing then. With `training_state`, also
  /// restores the optimizer state (compile first). Returns the stored epoch (0 when none).
  int64_t load_params(const std::string& path, bool training_state = false);
  int64_t load_params(const std::string& path, LoadParamsOptions options);
  /// Compares autograd with central finite differences for the compiled loss on (x, y),
  /// in float64 (the simulator must be float64).
  GradientCheck check_gradients(const Inputs& x, const Targets& y, int64_t n_steps = -1,
                                double epsilon = 1e-6);
  /// NengoDL's check_gradients: every entry of d(probe output)/d(input data) from autograd
  /// against central differences (float64 simulator). Throws SimulationError naming the
  /// probe, the input and the worst entry when one differs (or is NaN); returns the
  /// Jacobians by probe id. Runs from the initial state and leaves the simulator's state
  /// alone. Costs two runs per input element and one backward pass per output element:
  /// meant for small checks, e.g. of a custom TensorNode's backward.
  std::map<std::string, ProbeGradients> check_gradients(GradientCheckOptions options = {});

  // ---- NengoDL's parameter transfer ----------------------------------------------------
  /// NengoDL's get_nengo_params for an ensemble: its options with the trained values as
  /// Nengo build inputs: encoders = scaled_encoders * radius / gain (normalize_encoders
  /// false), the built gain (connections to the neurons use it; training leaves it alone),
  /// the trained bias, and max_rates/intercepts back at their defaults (unused once gain and
  /// bias are given). An ensemble made from them, in any network, builds these parameters.
  EnsembleOptions get_nengo_params(const EnsemblePtr& ensemble) const;
  /// NengoDL's get_nengo_params for a connection, with the trained weights W: from an
  /// ensemble (decoded), the pre stays and the options take NengoDL's NoSolver form:
  /// solver NoSolver(W^T), a function returning zeros of the post's size (only its size
  /// matters: NoSolver ignores the targets) and an identity transform; any other connection
  /// with weights gets transform W; one without (identity) comes back unchanged.
  ConnectionOptions get_nengo_params(const ConnectionPtr& connection) const;
  /// NengoDL's freeze_params: writes get_nengo_params back into the objects (set_options),
  /// so a Simulator built from them afterwards starts from the trained values. A network:
  /// every ensemble and connection in its tree; probes of ensembles' decoded values also keep
  /// this simulator's decoders (NoSolver), since a rebuild would solve them for the trained
  /// tuning curves; so a new simulator of the network reproduces this one's outputs.
  /// An ensemble frozen alone pins its probes' decoders too, but connections from it that
  /// are not frozen are solved anew. Throws SpecError for objects of another network.
  void freeze_params(const NetworkPtr& network);
  void freeze_params(const EnsemblePtr& ensemble);
  void freeze_params(const ConnectionPtr& connection);

  int64_t n_steps() const;
  double time() const;
  double dt() const;
  int64_t minibatch_size() const;
  torch::Dtype dtype() const;
  torch::Device device() const;
  const Network& network() const;
  /// The compiled module: its parameters are the trainable values.
  torch::nn::Module& module();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace snn
