#pragma once
// Helpers of the conformance tests (and of the other HDF5-reading tests): reading datasets
// and attributes with HDF5's C++ API, and comparing arrays by the rules of
// shared/conformance/README.md with messages that say where and by how much they differ.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/types.h>

namespace snn::testing {

// ---- HDF5 reading ---------------------------------------------------------------------------

/// A dataset of any float or integer type as a float64 tensor of its shape (0-d for scalars).
torch::Tensor read_dataset(const std::string& file, const std::string& dataset);
/// The dataset's shape.
std::vector<int64_t> dataset_shape(const std::string& file, const std::string& dataset);
/// "float32", "float64", "int64", ... of a dataset.
std::string dataset_type(const std::string& file, const std::string& dataset);
bool has_object(const std::string& file, const std::string& path);
/// Names of the members of a group (empty when the group does not exist).
std::vector<std::string> list_group(const std::string& file, const std::string& group);
/// Root attributes.
bool has_attribute(const std::string& file, const std::string& name);
std::string read_string_attribute(const std::string& file, const std::string& name);
double read_double_attribute(const std::string& file, const std::string& name);
int64_t read_int_attribute(const std::string& file, const std::string& name);

/// Writes `values` as a float32/float64/int64 dataset (creating groups on the way) into `file`
/// (created when absent): for building test data files.
void write_dataset(const std::string& file, const std::string& dataset,
                   const torch::Tensor& values);

// ---- comparisons ----------------------------------------------------------------------------

/// One tolerance rule of a scenario's meta.json.
struct Tolerance {
  bool spike_count = false;
  double atol = 0.0;
  double rtol = 0.0;
  double max_mismatch_fraction = 0.0;
  double spike_count_diff = 0.0;
};
/// `{"atol", "rtol", "max_mismatch_fraction"?}` or `{"spike_count_diff"}`.
Tolerance parse_tolerance(const nlohmann::json& j);

/// The outcome of one comparison: `ok`, a one-line summary with the worst error, and the
/// first few mismatches in detail.
struct Comparison {
  bool ok = true;
  std::string summary;
  std::vector<std::string> details;
  /// Largest |got - expected| (or count difference) seen.
  double worst = 0.0;
};

/// Elementwise |got - expected| <= atol + rtol |expected| with at most `allowed_mismatches`
/// misses; any NaN/inf fails. `index_names` label the dimensions in messages
/// ({"sample", "column"}); shapes must match.
Comparison compare_close(const torch::Tensor& expected, const torch::Tensor& got, double atol,
                         double rtol, int64_t allowed_mismatches,
                         const std::vector<std::string>& index_names = {});

/// A probe's samples (n_samples, size) against the expected ones by the rule `tol`: close
/// values (max_mismatch_fraction of n_samples*size may miss) or per-neuron spike counts
/// (sum(value) * dt).
Comparison compare_probe(const torch::Tensor& expected, const torch::Tensor& got,
                         const Tolerance& tol, double dt);

// ---- files ---------------------------------------------------------------------------------

/// A fresh folder under the system's temp folder, removed with its contents at scope exit.
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  /// path()/name.
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  /// Names of the entries of the folder, sorted.
  std::vector<std::string> entries() const;

 private:
  std::string path_;
};

// ---- scenarios ------------------------------------------------------------------------------

/// shared/conformance (SNN_SHARED_DIR "/conformance").
std::string conformance_dir();
/// Sub-folders of conformance_dir() holding a network.json, sorted.
std::vector<std::string> scenario_names();

}  // namespace snn::testing
