#pragma once
/// \file data.h
/// Datasets for training and evaluation: named arrays sharing their first dimension (the
/// items), loaded from HDF5 data files (shared/spec/tools.md) or built-in datasets.
///
///     auto train = snn::load_dataset("fashion-mnist:train");   // "images", "labels"
///     auto file = snn::load_dataset("data.h5");                 // "inputs/<id>", "targets/<id>"
#include <map>
#include <string>

#include <torch/types.h>

namespace snn {

/// Named arrays sharing their first dimension N (the items), on the CPU.
struct Dataset {
  /// What was loaded (a built-in name or a file path), for messages.
  std::string source;
  std::map<std::string, torch::Tensor> arrays;

  /// N, the number of items (0 when there are no arrays).
  int64_t size() const;
  /// The array `name`; throws DataError naming the source and the arrays it has.
  const torch::Tensor& at(const std::string& name) const;
  /// The items at `index` (int64) of every array.
  Dataset subset(const torch::Tensor& index) const;
};

/// Loads a built-in dataset or an HDF5 data file:
/// - `fashion-mnist:train`, `fashion-mnist:test`: "images" float32 (N, 784) in [0, 1] and
///   "labels" int64 (N,), from Debian's dataset-fashion-mnist IDX files
///   (/usr/share/datasets/fashion-mnist, or $SNN_FASHION_MNIST_DIR);
/// - an HDF5 file: every dataset under /inputs and /targets as "inputs/<id>" and
///   "targets/<id>" (floats keep float32/float64; integer targets become int64 labels).
/// `limit` > 0 keeps only the first `limit` items. Throws DataError naming the source and
/// the dataset at fault.
Dataset load_dataset(const std::string& source, int64_t limit = 0);

/// Throws DataError "<where>: label L at item I is outside [0, n_classes)" if any label is.
void check_labels(const torch::Tensor& labels, int64_t n_classes, const std::string& where);
/// Throws DataError "<where>: non-finite value at item I" if a float array holds NaN or inf.
void check_finite(const torch::Tensor& x, const std::string& where);

}  // namespace snn
