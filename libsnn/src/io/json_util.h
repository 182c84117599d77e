#pragma once
// Private helpers shared by the spec loader and saver: JSON pointer paths, short renderings of
// offending values for messages, and tensors <-> nested JSON lists.
#include <string>

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include "snn/dists.h"

namespace snn::json_util {

/// `path` + "/" + key, escaped as a JSON pointer (RFC 6901: "~" -> "~0", "/" -> "~1").
std::string child(const std::string& path, const std::string& key);
/// `path` + "/" + index.
std::string child(const std::string& path, size_t index);

/// A compact rendering of a value for "got ..." in messages, cut to about `max_len` chars.
std::string show(const nlohmann::json& j, size_t max_len = 60);

/// The path of the first value nested deeper than `max_depth` levels, or "" if none is.
std::string too_deep(const nlohmann::json& root, size_t max_depth);

/// Whether `j` is an integer (booleans are not; 3.0 is not either, the spec wants integers).
bool is_integer(const nlohmann::json& j);

/// A number or a rectangular nested list of numbers as a float64 CPU tensor (a number gives a
/// 0-d tensor, `[]` a (0,) tensor). Returns an undefined tensor and sets `error` otherwise.
torch::Tensor tensor_from_json(const nlohmann::json& j, std::string& error);

/// A tensor as a number (0-d) or nested lists of numbers, in float64.
nlohmann::json tensor_to_json(const torch::Tensor& t);

/// An Init in spec form: null when empty, the distribution's spec, or the literal.
nlohmann::json init_to_json(const Init& init);

}  // namespace snn::json_util
