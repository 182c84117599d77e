// Data files (shared/spec/tools.md): every dataset under /inputs and /targets.
#include <filesystem>

#include <H5Cpp.h>
#include <torch/torch.h>

#include "data/hdf5_dataset.h"
#include "snn/errors.h"

namespace snn::detail {

namespace {

torch::Tensor read_array(const H5::DataSet& ds, const std::string& where) {
  H5::DataSpace space = ds.getSpace();
  const int rank = space.getSimpleExtentNdims();
  if (rank < 1 || rank > 3)
    throw DataError(where + ": expected rank 1 to 3 (N, [steps,] size), got rank " +
                    std::to_string(rank));
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  space.getSimpleExtentDims(dims.data());
  std::vector<int64_t> sizes(dims.begin(), dims.end());
  if (rank == 3 && sizes[1] == 0)  // items without steps: nothing would run
    throw DataError(where + ": expected at least one step (n_steps >= 1), got shape (" +
                    std::to_string(sizes[0]) + ", 0, " + std::to_string(sizes[2]) + ")");
  torch::Tensor t;
  switch (ds.getTypeClass()) {
    case H5T_FLOAT: {
      const bool f64 = ds.getDataType().getSize() == 8;
      t = torch::empty(sizes, f64 ? torch::kFloat64 : torch::kFloat32);
      if (t.numel() > 0)
        ds.read(t.data_ptr(), f64 ? H5::PredType::NATIVE_DOUBLE : H5::PredType::NATIVE_FLOAT);
      break;
    }
    case H5T_INTEGER:
      t = torch::empty(sizes, torch::kInt64);
      if (t.numel() > 0) ds.read(t.data_ptr(), H5::PredType::NATIVE_INT64);
      break;
    default:
      throw DataError(where + ": expected numbers (float or integer data)");
  }
  return t;
}

void read_group(const H5::H5File& file, const std::string& group, const std::string& path,
                std::map<std::string, torch::Tensor>& arrays) {
  if (!file.nameExists(group)) return;
  H5::Group g = file.openGroup(group);
  for (hsize_t i = 0; i < g.getNumObjs(); ++i) {
    const std::string name = g.getObjnameByIdx(i);
    if (g.getObjTypeByIdx(i) != H5G_DATASET) continue;
    const std::string where = path + ": /" + group + "/" + name;
    auto t = read_array(g.openDataSet(name), where);
    if (group == "inputs" && !t.is_floating_point())
      throw DataError(where + ": input data must be float32 or float64");
    arrays[group + "/" + name] = t;
  }
}

}  // namespace

std::map<std::string, torch::Tensor> read_hdf5_arrays(const std::string& path) {
  if (!std::filesystem::exists(path)) throw DataError(path + ": no such data file");
  H5::Exception::dontPrint();
  std::map<std::string, torch::Tensor> arrays;
  try {
    if (!H5::H5File::isHdf5(path)) throw DataError(path + ": not an HDF5 file");
    H5::H5File file(path, H5F_ACC_RDONLY);
    if (!file.nameExists("inputs"))
      throw DataError(path + ": no /inputs group (expected /inputs/<node_id> datasets)");
    read_group(file, "inputs", path, arrays);
    read_group(file, "targets", path, arrays);
  } catch (const H5::Exception& e) {
    throw DataError(path + ": cannot read: " + e.getDetailMsg());
  }
  return arrays;
}

}  // namespace snn::detail
