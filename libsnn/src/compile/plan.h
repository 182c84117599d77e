#pragma once
// The execution plan of one simulation step. Objects (nodes and ensembles) are ordered by
// "level": the length of the longest chain of synapse-free connections leading to them, so
// everything an object needs within a step is computed at a lower level. Ensembles of one
// level with the same neuron type (and parameters) form one block, updated by a single call
// of the neuron step.
#include <vector>

#include "build/model.h"

namespace snn::detail {

struct NeuronBlock {
  NeuronTypePtr neuron_type;
  std::vector<size_t> ensembles;  // indices into Model::ensembles
  std::vector<int64_t> offsets;   // start of each ensemble's neurons in the block
  int64_t n_neurons = 0;
};

struct Plan {
  std::vector<std::vector<size_t>> level_nodes;   // node indices per level
  std::vector<std::vector<size_t>> level_blocks;  // block indices per level
  std::vector<NeuronBlock> blocks;
  std::vector<size_t> ensemble_block;     // block of each ensemble
  std::vector<int64_t> ensemble_offset;   // offset of each ensemble in its block
  std::vector<std::vector<size_t>> node_outgoing;      // connections leaving each node
  std::vector<std::vector<size_t>> ensemble_outgoing;  // connections leaving each ensemble
  /// No cycle at all (synapses included): levels follow every connection, so each level can
  /// be computed for all steps at once.
  bool feed_forward = false;
};

/// Orders the model for simulation; throws BuildError naming the objects of a cycle that
/// contains no synapse.
Plan make_plan(const Model& model);

}  // namespace snn::detail
