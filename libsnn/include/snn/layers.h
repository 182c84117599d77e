#pragma once
/// \file layers.h
/// Layer types for the spec's `layers` list (shared/spec/network-json.md): each registered
/// name turns a layer object into a TensorNode. The built-ins register themselves: Dense,
/// Conv1D, Conv2D, AvgPool2D, MaxPool2D, Flatten, BatchNorm, Dropout (`Neurons` layers are
/// ensembles and are read by the loader itself). C++ users add their own:
///
///     snn::register_layer("Scale", [](const nlohmann::json& j, const std::string& path,
///                                     const std::vector<int64_t>& shape_in) {
///       snn::check_layer_keys(j, path, "Scale", {"factor"});
///       const double k = j.value("factor", 1.0);
///       return snn::TensorNodeOptions().shape_in(shape_in).module(
///           std::make_shared<torch::nn::Module>(),
///           [k](torch::nn::Module&, const torch::Tensor&, const torch::Tensor& x) { return k * x; });
///     });
///
/// Layout conventions are Keras': a channels_last image travels as the row-major flat
/// vector of its (H, W, C) array; Dense applies to the last axis of shape_in.
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "snn/tensor_node.h"

namespace snn {

/// Reads one layer object. `spec` is the whole object: `id`, `type`, `label`, `shape_in`,
/// `trainable` and `seed` are the loader's, every other key the factory's (check them with
/// check_layer_keys). `shape_in` is the given shape, or the inferred one ([n], the size of
/// what connects in), or empty when neither is known. Returns the node's options (shape_in,
/// maker, forward, and layer_spec: the layer's own keys with every default written out, so
/// that the layer saves back whole). Throws SpecError "<path>/<key>: <reason>".
using LayerFactory = std::function<TensorNodeOptions(
    const nlohmann::json& spec, const std::string& path, const std::vector<int64_t>& shape_in)>;

/// Registers (or replaces) a layer type.
void register_layer(const std::string& type, LayerFactory factory);
/// Names of all registered layer types (plus "Neurons").
std::vector<std::string> layer_type_names();
/// Runs the factory of `spec["type"]`; throws SpecError at "<path>/type" for unknown types.
TensorNodeOptions layer_from_json(const nlohmann::json& spec, const std::string& path,
                                  const std::vector<int64_t>& shape_in);
/// Rejects keys that are neither the loader's nor in `allowed`, naming the first at its path.
void check_layer_keys(const nlohmann::json& spec, const std::string& path,
                      const std::string& type, const std::vector<std::string>& allowed);

}  // namespace snn
