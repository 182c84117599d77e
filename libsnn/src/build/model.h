#pragma once
// The result of building a Network: every parameter sampled and solved, in float64 on the
// CPU. The compiler turns this into the SimModule; the simulator keeps it for sim.data().
#include <map>
#include <optional>
#include <vector>

#include <torch/types.h>

#include "snn/network.h"

namespace snn::detail {

struct BuiltEnsemble {
  EnsemblePtr ensemble;
  NeuronTypePtr neuron_type;
  torch::Tensor gain, bias, encoders, scaled_encoders, eval_points, max_rates, intercepts;
  NeuronState initial_state;  // each (n_neurons,)
  uint32_t seed = 0;
};

struct BuiltConnection {
  ConnectionPtr connection;
  std::vector<int64_t> pre_index, post_index;  // resolved slices
  bool pre_full = true, post_full = true;      // slices that select everything in order
  bool decoded = false;                        // from an ensemble's decoded value
  torch::Tensor weights;   // undefined: identity; 0-d, 1-d (elementwise) or 2-d [post][pre]
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

struct Model {
  double dt = 0.001;
  uint32_t seed = 0;  // the network seed used (drawn when the network has none)
  std::vector<NodePtr> nodes;
  std::vector<uint32_t> node_seed;  // per node (TensorNodes make their modules from it)
  std::vector<BuiltEnsemble> ensembles;
  std::vector<BuiltConnection> connections;
  std::vector<BuiltProbe> probes;
  std::map<const Ensemble*, size_t> ensemble_index;
  std::map<const Connection*, size_t> connection_index;
  std::map<const Node*, size_t> node_index;
};

/// Builds every object of the network tree. Throws BuildError naming the object at fault.
Model build_model(const Network& network, double dt, std::optional<uint32_t> seed);

/// Nengo's default number of eval points: max(clip(500 d, 750, 2500), 2 n_neurons).
int64_t default_n_eval_points(int64_t n_neurons, int64_t dimensions);

}  // namespace snn::detail
