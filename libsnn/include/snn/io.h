#pragma once
/// \file io.h
/// HDF5 files of shared/spec/tools.md: probe output files and input data files.
#include <map>
#include <string>

#include "snn/simulator.h"

namespace snn {

/// Writes /probes/<id> (N, n_samples, size), /trange, /probe_trange/<id> and the root
/// attributes (label, dt, n_steps, seed, version) of a simulator's recorded data, atomically.
/// `dtype` float32 or float64 for the probe datasets.
void write_probes(const Simulator& sim, const std::string& path,
                  torch::Dtype dtype = torch::kFloat64);

/// Reads /inputs/<node_id> datasets of an HDF5 data file (float32 (N, steps, d) or (N, d)).
/// Throws DataError naming the file and dataset.
Inputs read_inputs(const std::string& path);

/// The library version string.
std::string version();

}  // namespace snn
