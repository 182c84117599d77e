#pragma once
// NengoDL's benchmark networks (nengo_dl/benchmarks.py), built natively: the same structure,
// sizes and ensemble settings.
#include <cstdint>
#include <string>

#include "snn/network.h"

namespace bench {

struct NetworkArgs {
  std::string name;
  int64_t dimensions = 128;
  int64_t neurons_per_d = 64;
  std::string neuron_type = "RectifiedLinear";
  int64_t n_ensembles = 50;              // random_network
  int64_t connections_per_ensemble = 5;  // random_network
};

/// The network `args.name` (integrator, cconv, basal_ganglia, pes, random_network) with its probe
/// "p"; throws std::invalid_argument for an unknown name.
snn::NetworkPtr build_benchmark(const NetworkArgs& args);

}  // namespace bench
