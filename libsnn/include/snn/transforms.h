#pragma once
/// \file transforms.h
/// Connection transforms beyond scalars, vectors and dense matrices: Nengo's `Convolution`
/// (an n-D convolution of the flat pre value viewed as an image) and `Sparse` (a matrix given
/// by its non-zero entries). Set them on a connection with ConnectionOptions::convolution /
/// ConnectionOptions::sparse instead of `transform`.
///
///     auto conv = std::make_shared<snn::Convolution>(
///         snn::Convolution(32, {28, 28, 1}).kernel_size({3, 3}).padding("same"));
///     net->connect(img, layer1.neurons(), snn::ConnectionOptions().convolution(conv));
#include <cstdint>
#include <utility>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/arg.h>
#include <torch/types.h>

#include "snn/dists.h"

namespace snn {

/// Nengo's `nengo.Convolution` (groups 1, no dilation). Values travel as flat vectors: the
/// pre value (after the function, and after the decoders for a connection from an ensemble)
/// is viewed as `input_shape` (spatial dims then channels when channels_last, else channels
/// first, row-major), the output is the flat `output_shape()` in the same layout. Like
/// Nengo and TensorFlow this is a cross-correlation (the kernel is not flipped).
///
/// Output size per spatial dim: "valid" ceil((in - k + 1) / stride), "same" ceil(in / stride),
/// "same" padding zero-pads max((out - 1) * stride + k - in, 0) cells, half (rounded down)
/// before and the rest after.
///
/// The built kernel is the connection's trainable weights (parameter
/// `connections.<id>.weights`, shape kernel_shape()); a "weights" probe reads it flattened,
/// and Simulator::freeze_params writes it back as a literal `init`.
struct Convolution {
  Convolution(int64_t n_filters, std::vector<int64_t> input_shape)
      : n_filters_(n_filters), input_shape_(std::move(input_shape)) {}
  TORCH_ARG(int64_t, n_filters);
  TORCH_ARG(std::vector<int64_t>, input_shape);
  /// One entry per spatial dimension (1 or 2 of them).
  TORCH_ARG(std::vector<int64_t>, kernel_size) = std::vector<int64_t>{3, 3};
  TORCH_ARG(std::vector<int64_t>, strides) = std::vector<int64_t>{1, 1};
  /// "valid" or "same" (TensorFlow's rule: an odd extra row/column of padding at the end).
  TORCH_ARG(std::string, padding) = "valid";
  TORCH_ARG(bool, channels_last) = true;
  /// The kernel, shape kernel_size + (in_channels, n_filters) as in Nengo: a distribution
  /// (sampled at build time) or literal values.
  TORCH_ARG(Init, init) = Init(Uniform(-1.0, 1.0));

 public:
  int64_t dimensions() const { return static_cast<int64_t>(input_shape_.size()) - 1; }
  int64_t in_channels() const;
  std::vector<int64_t> spatial_in() const;
  std::vector<int64_t> spatial_out() const;
  /// The output's shape in the same layout as input_shape.
  std::vector<int64_t> output_shape() const;
  std::vector<int64_t> kernel_shape() const;
  int64_t size_in() const;
  int64_t size_out() const;
  /// The strides, one per spatial dimension (the 2-D default {1, 1} reads as {1} in 1-D).
  std::vector<int64_t> effective_strides() const;
  /// Per spatial dimension, the zero padding (before, after); zeros for "valid".
  std::vector<std::pair<int64_t, int64_t>> pads() const;
  /// Throws SpecError (prefixed with `who`) when the options do not describe a convolution.
  void validate(const std::string& who) const;
  /// The kernel, float64 with shape kernel_shape(): a literal init as given, or a
  /// distribution sampled as Nengo does (one (in_channels, n_filters) draw per kernel tap,
  /// so that variance-scaling distributions see the right fan-in).
  torch::Tensor sample(Rng& rng) const;
  /// Spec form: {"type": "Convolution", "n_filters", "input_shape", ...}.
  nlohmann::json to_json() const;
  /// Throws SpecError "<path>/<field>: <reason>" on a malformed spec.
  static Convolution from_json(const nlohmann::json& j, const std::string& path);
};

/// Nengo's `nengo.Sparse`: a (rows, cols) = (size_out, size_in) matrix whose non-zeros sit
/// at `indices` ([row, col] pairs); `init` gives their values (a scalar for all of them, one
/// value per index, or a distribution sampled once per index). Repeated indices add up.
/// The values are the connection's trainable weights (shape (n_indices,)).
struct Sparse {
  /// [row, col] pairs (a type alias: TORCH_ARG takes no commas).
  using Indices = std::vector<std::pair<int64_t, int64_t>>;
  Sparse(int64_t rows, int64_t cols, Indices indices)
      : rows_(rows), cols_(cols), indices_(std::move(indices)) {}
  TORCH_ARG(int64_t, rows);
  TORCH_ARG(int64_t, cols);
  TORCH_ARG(Indices, indices);
  TORCH_ARG(Init, init) = Init(1.0);

 public:
  int64_t size_in() const { return cols_; }
  int64_t size_out() const { return rows_; }
  void validate(const std::string& who) const;
  /// The values, float64 with shape (n_indices,).
  torch::Tensor sample(Rng& rng) const;
  /// Spec form: {"type": "Sparse", "shape": [rows, cols], "indices": [[r, c], ...], "init"}.
  nlohmann::json to_json() const;
  static Sparse from_json(const nlohmann::json& j, const std::string& path);
};

}  // namespace snn
