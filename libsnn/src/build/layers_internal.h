#pragma once
// Helpers of the built-in layer types (layers_*.cpp): reading their parameters with JSON
// paths in errors, Keras' output sizes and padding, and the seeded Glorot initialisation.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "snn/layers.h"

namespace snn::detail {

/// The built-in layer factories, by type name (called once by the registry).
void add_dense_conv_layers(std::map<std::string, LayerFactory>& factories);
void add_pool_norm_layers(std::map<std::string, LayerFactory>& factories);
/// Keras activation functions as a layer (convert/activation_layer.cpp).
void add_activation_layers(std::map<std::string, LayerFactory>& factories);

/// Typed reads of a layer's parameters; `path` is the layer's JSON path.
struct LayerParams {
  const nlohmann::json& j;
  std::string path;
  std::string type;

  std::string at(const std::string& key) const { return path + "/" + key; }
  [[noreturn]] void fail(const std::string& key, const std::string& reason) const;
  /// An integer >= lo; `fallback` when absent (required when no fallback).
  int64_t integer(const std::string& key, std::optional<int64_t> fallback, int64_t lo = 1) const;
  /// An integer or a list of `rank` integers (each >= lo); `fallback` when absent or null.
  std::vector<int64_t> sizes(const std::string& key, size_t rank,
                             std::optional<std::vector<int64_t>> fallback, int64_t lo = 1) const;
  bool boolean(const std::string& key, bool fallback) const;
  double number(const std::string& key, double fallback, double lo, double hi, bool lo_open,
                bool hi_open) const;
  std::string choice(const std::string& key, const std::string& fallback,
                     const std::vector<std::string>& options) const;
  /// Checks that shape_in has `rank` sizes (`what` describes them, e.g. "[H, W, C]").
  void shape_rank(const std::vector<int64_t>& shape_in, size_t rank, const std::string& what) const;
};

/// Output length of a convolution or pool along one axis, Keras' rules: valid
/// floor((n - k) / s) + 1, same ceil(n / s).
int64_t conv_out(int64_t n, int64_t k, int64_t s, bool same);
/// Keras/TensorFlow "same" padding before and after along one axis.
std::pair<int64_t, int64_t> same_pad(int64_t n, int64_t k, int64_t s);

/// Glorot (Xavier) uniform values, drawn in order from a seeded numpy-compatible RNG:
/// U(-l, l) with l = sqrt(6 / (fan_in + fan_out)), shaped `shape` (float32).
torch::Tensor glorot_uniform(const std::vector<int64_t>& shape, int64_t fan_in, int64_t fan_out,
                             uint32_t seed);

}  // namespace snn::detail
