#pragma once
// The result of building a Network: every parameter sampled and solved, in float64 on the
// CPU. The compiler turns this into the SimModule; the simulator keeps it for sim.data().
#include <map>
#include <optional>
#include <vector>

#include <torch/types.h>

#include "snn/network.h"
#include "snn/transforms.h"

namespace snn::detail {

struct BuiltEnsemble {
  EnsemblePtr ensemble;
  NeuronTypePtr neuron_type;
  torch::Tensor gain, bias, encoders, scaled_encoders, eval_points, max_rates, intercepts;
  NeuronState initial_state;  // each (n_neurons,)
  uint32_t seed = 0;
  /// Nengo's Direct mode: no neurons, the represented value passes straight through.
  bool direct() const { return is_direct(neuron_type); }
  /// The width of its "neurons" in the runtime: n_neurons, or dimensions for Direct mode,
  /// whose identity "neurons" carry the represented value.
  int64_t units() const { return direct() ? ensemble->dimensions() : ensemble->n_neurons(); }
};

struct BuiltConnection {
  ConnectionPtr connection;
  std::vector<int64_t> pre_index, post_index;  // resolved slices
  bool pre_full = true, post_full = true;      // slices that select everything in order
  bool decoded = false;                        // from an ensemble's decoded value
  /// A weight solver's connection (solver weights=true): `weights` is (n_post, n_pre) and
  /// feeds the post ensemble's neuron input currents, all of them (post_index: every neuron).
  bool to_post_neurons = false;
  torch::Tensor weights;   // undefined: identity; 0-d, 1-d (elementwise) or 2-d [post][pre]
  /// A Convolution or Sparse transform (snn/transforms.h): then `weights` holds its kernel
  /// (kernel_shape) or its values (n_indices,), applied after the decoders when decoded.
  std::shared_ptr<const Convolution> conv;
  std::shared_ptr<const Sparse> sparse;
  std::vector<int64_t> sparse_rows, sparse_cols;  // the Sparse indices, split
  torch::Tensor decoders;  // (size_mid, n_neurons) when decoded
  torch::Tensor eval_points;
  std::optional<StateSpace> filter;  // none: no synapse
  uint32_t seed = 0;
};

struct BuiltProbe {
  ProbePtr probe;
  std::vector<int64_t> index;
  bool full = true;
  torch::Tensor decoders;  // (size, n_neurons) for a probe on an ensemble's decoded value
  std::optional<StateSpace> filter;
  double period = 1.0;  // record step n when n % period < 1
};

/// An online learning rule on one connection (build/learning_rules.cpp): what it reads and
/// the constants of its update (runtime/learning_rules_step.cpp).
struct BuiltLearningRule {
  enum class Kind { PES, BCM, Oja, Voja };
  LearningRulePtr rule;
  Kind kind = Kind::PES;
  size_t connection = 0;  // index into Model::connections
  static constexpr size_t kNone = static_cast<size_t>(-1);
  size_t pre_ensemble = kNone, post_ensemble = kNone;  // indices into Model::ensembles
  double alpha = 0.0;  // learning_rate * dt (PES: -learning_rate * dt / n_pre)
  double beta = 0.0;   // Oja's forgetting rate
  std::optional<StateSpace> pre_filter, post_filter, theta_filter;  // none: unfiltered
  std::vector<int64_t> pre_index;  // PES from sliced neurons: the pre neurons it reads
  bool pre_full = true;
  bool to_neurons = false;          // PES onto neurons: error projected by scaled encoders
  std::vector<int64_t> post_index;  // ... of these post neurons
  bool post_full = true;
  int64_t error_size = 0;  // dimensions of the error (Voja: 1, the learning signal)
};

struct Model {
  double dt = 0.001;
  uint32_t seed = 0;  // the network seed used (drawn when the network has none)
  std::vector<NodePtr> nodes;
  std::vector<uint32_t> node_seed;  // per node (TensorNodes make their modules from it)
  std::vector<BuiltEnsemble> ensembles;
  std::vector<BuiltConnection> connections;
  std::vector<BuiltProbe> probes;
  std::vector<BuiltLearningRule> learning_rules;
  std::map<const Connection*, size_t> learning_rule_index;  // learning connection -> rule
  std::map<const Ensemble*, size_t> ensemble_index;
  std::map<const Connection*, size_t> connection_index;
  std::map<const Node*, size_t> node_index;
};

/// Builds every object of the network tree. Throws BuildError naming the object at fault.
Model build_model(const Network& network, double dt, std::optional<uint32_t> seed);

/// Builds the learning rules of every connection that has one (after the connections);
/// throws BuildError naming the connection.
void build_learning_rules(Model& model);

/// Nengo's default number of eval points: max(clip(500 d, 750, 2500), 2 n_neurons).
int64_t default_n_eval_points(int64_t n_neurons, int64_t dimensions);

}  // namespace snn::detail
