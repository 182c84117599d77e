#pragma once
// The JSON reader of the spiking wrappers, for the neuron type registry.
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "snn/neurons.h"

namespace snn::detail {

/// `type` is RegularSpiking, StochasticSpiking or PoissonSpiking; `j` holds `base_type` (a
/// neuron type spec, required) and `amplitude` (> 0, default 1). Throws SpecError naming
/// `path`.
NeuronTypePtr rates_to_spikes_from_json(const std::string& type, const nlohmann::json& j,
                                        const std::string& path);

}  // namespace snn::detail
