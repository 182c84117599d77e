// Dataset: named arrays with one item count, from built-in sources or data files, with the
// checks that make bad data fail before training starts.
#include <cstdlib>

#include <torch/torch.h>

#include "data/idx.h"
#include "snn/data.h"
#include "snn/errors.h"
#ifdef SNN_HAVE_HDF5
#include "data/hdf5_dataset.h"
#endif

namespace snn {

namespace {

Dataset fashion_mnist(const std::string& source, const std::string& split) {
  const char* env = std::getenv("SNN_FASHION_MNIST_DIR");
  const std::string dir = env && *env ? env : "/usr/share/datasets/fashion-mnist";
  const std::string prefix = split == "train" ? "train" : "t10k";
  const std::string images_path = dir + "/" + prefix + "-images-idx3-ubyte.gz";
  const std::string labels_path = dir + "/" + prefix + "-labels-idx1-ubyte.gz";
  for (const auto& p : {images_path, labels_path})
    if (!std::filesystem::exists(p))
      throw DataError(source + ": " + p + " not found (install the dataset-fashion-mnist package)");
  auto images = detail::read_idx_u8(images_path, 3);
  auto labels = detail::read_idx_u8(labels_path, 1);
  if (images.size(0) != labels.size(0))
    throw DataError(source + ": " + std::to_string(images.size(0)) + " images but " +
                    std::to_string(labels.size(0)) + " labels");
  if (images.size(1) * images.size(2) != 784)
    throw DataError(source + ": expected 28x28 images, got " + std::to_string(images.size(1)) +
                    "x" + std::to_string(images.size(2)));
  Dataset d;
  d.source = source;
  d.arrays["images"] = images.reshape({images.size(0), 784}).to(torch::kFloat32).div_(255.0f);
  d.arrays["labels"] = labels.to(torch::kLong);
  return d;
}

}  // namespace

int64_t Dataset::size() const { return arrays.empty() ? 0 : arrays.begin()->second.size(0); }

const torch::Tensor& Dataset::at(const std::string& name) const {
  auto it = arrays.find(name);
  if (it == arrays.end()) {
    std::string names;
    for (const auto& [k, v] : arrays) names += (names.empty() ? "" : ", ") + k;
    throw DataError(source + ": no dataset \"" + name + "\" (has: " +
                    (names.empty() ? "none" : names) + ")");
  }
  return it->second;
}

Dataset Dataset::subset(const torch::Tensor& index) const {
  Dataset d;
  d.source = source;
  for (const auto& [k, v] : arrays) d.arrays[k] = v.index_select(0, index);
  return d;
}

Dataset load_dataset(const std::string& source, int64_t limit) {
  Dataset d;
  if (source == "fashion-mnist:train" || source == "fashion-mnist:test") {
    d = fashion_mnist(source, source.substr(source.find(':') + 1));
  } else if (source.rfind("fashion-mnist", 0) == 0) {
    throw DataError(source + ": unknown built-in dataset (fashion-mnist:train or fashion-mnist:test)");
  } else {
#ifdef SNN_HAVE_HDF5
    d.source = source;
    d.arrays = detail::read_hdf5_arrays(source);
#else
    throw DataError(source + ": reading HDF5 data files needs HDF5 support, not in this build");
#endif
  }
  int64_t n = -1;
  std::string first;
  for (const auto& [k, v] : d.arrays) {
    if (n >= 0 && v.size(0) != n)
      throw DataError(source + ": \"" + k + "\" has " + std::to_string(v.size(0)) + " items, \"" +
                      first + "\" has " + std::to_string(n));
    if (n < 0) {
      n = v.size(0);
      first = k;
    }
  }
  if (n == 0) throw DataError(source + ": the data have 0 items");
  for (const auto& [k, v] : d.arrays)
    if (v.is_floating_point()) check_finite(v, source + ": \"" + k + "\"");
  if (limit > 0 && limit < d.size())
    for (auto& [k, v] : d.arrays) v = v.narrow(0, 0, limit).clone();
  return d;
}

void check_labels(const torch::Tensor& labels, int64_t n_classes, const std::string& where) {
  if (labels.is_floating_point()) throw DataError(where + ": expected integer labels");
  auto bad = torch::nonzero((labels < 0) | (labels >= n_classes));
  if (bad.size(0) > 0) {
    const int64_t i = bad[0][0].item<int64_t>();
    throw DataError(where + ": label " + std::to_string(labels.flatten()[i].item<int64_t>()) +
                    " at item " + std::to_string(i) + " is outside [0, " +
                    std::to_string(n_classes) + ")");
  }
}

void check_finite(const torch::Tensor& x, const std::string& where) {
  if (!x.is_floating_point() || x.numel() == 0) return;
  auto bad = torch::nonzero(~torch::isfinite(x.reshape({x.size(0), -1})).all(1));
  if (bad.size(0) > 0)
    throw DataError(where + ": non-finite value (NaN or inf) at item " +
                    std::to_string(bad[0][0].item<int64_t>()));
}

}  // namespace snn
