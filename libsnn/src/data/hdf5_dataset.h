#pragma once
// Reading the arrays of an HDF5 data file (needs HDF5; see data/dataset.cpp).
#include <map>
#include <string>

#include <torch/types.h>

namespace snn::detail {

/// Every dataset under /inputs and /targets, named "inputs/<id>" / "targets/<id>".
std::map<std::string, torch::Tensor> read_hdf5_arrays(const std::string& path);

}  // namespace snn::detail
