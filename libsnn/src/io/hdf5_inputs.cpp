// Input data files (shared/spec/tools.md): every dataset under /inputs feeds the node of the
// same id, shaped (N, n_steps, size_out) or (N, size_out).
#include <filesystem>

#include <H5Cpp.h>
#include <torch/torch.h>

#include "snn/errors.h"
#include "snn/io.h"

namespace snn {

namespace {

std::string type_description(const H5::DataSet& ds) {
  switch (ds.getTypeClass()) {
    case H5T_INTEGER:
      return "integer (" + std::to_string(8 * ds.getDataType().getSize()) + "-bit)";
    case H5T_FLOAT:
      return "float (" + std::to_string(8 * ds.getDataType().getSize()) + "-bit)";
    case H5T_STRING:
      return "string";
    case H5T_COMPOUND:
      return "compound";
    case H5T_ENUM:
      return "enum";
    default:
      return "a non-numeric type";
  }
}

/// Reads one /inputs dataset as float32 or float64, keeping the file's precision so a
/// float64 run sees exactly what was stored.
torch::Tensor read_input_dataset(const H5::Group& inputs, const std::string& name,
                                 const std::string& where) {
  H5::DataSet ds = inputs.openDataSet(name);
  if (ds.getTypeClass() != H5T_FLOAT) {
    throw DataError(where + ": expected float32 or float64 data, got " + type_description(ds));
  }
  const size_t bytes = ds.getDataType().getSize();
  if (bytes != 4 && bytes != 8) {
    throw DataError(where + ": expected float32 or float64 data, got float (" +
                    std::to_string(8 * bytes) + "-bit)");
  }
  H5::DataSpace space = ds.getSpace();
  const int rank = space.getSimpleExtentNdims();
  if (rank != 2 && rank != 3) {
    throw DataError(where + ": expected shape (N, n_steps, size) or (N, size), got rank " +
                    std::to_string(rank));
  }
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  space.getSimpleExtentDims(dims.data());
  std::vector<int64_t> sizes(dims.begin(), dims.end());
  if (sizes[0] == 0) throw DataError(where + ": expected at least one item (N >= 1), got N = 0");
  if (rank == 3 && sizes[1] == 0)
    throw DataError(where + ": expected at least one step (n_steps >= 1), got shape (" +
                    std::to_string(sizes[0]) + ", 0, " + std::to_string(sizes[2]) + ")");
  const bool f32 = bytes == 4;
  torch::Tensor t = torch::empty(sizes, f32 ? torch::kFloat32 : torch::kFloat64);
  if (t.numel() > 0) {
    ds.read(t.data_ptr(), f32 ? H5::PredType::NATIVE_FLOAT : H5::PredType::NATIVE_DOUBLE);
  }
  return t;
}

}  // namespace

Inputs read_inputs(const std::string& path) {
  H5::Exception::dontPrint();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw DataError(path + ": no such file");
  if (std::filesystem::is_directory(path, ec)) {
    throw DataError(path + ": expected an HDF5 data file, got a directory");
  }

  std::string where = path;
  try {
    if (!H5::H5File::isHdf5(path)) throw DataError(path + ": not an HDF5 file");
    H5::H5File file(path, H5F_ACC_RDONLY);
    if (H5Lexists(file.getId(), "inputs", H5P_DEFAULT) <= 0 ||
        file.childObjType("inputs") != H5O_TYPE_GROUP) {
      throw DataError(path + ": no /inputs group (expected /inputs/<node_id> datasets)");
    }
    H5::Group inputs = file.openGroup("inputs");
    Inputs result;
    const hsize_t n = inputs.getNumObjs();
    for (hsize_t i = 0; i < n; ++i) {
      const std::string name = inputs.getObjnameByIdx(i);
      where = path + ": /inputs/" + name;
      if (inputs.childObjType(name) != H5O_TYPE_DATASET) {
        throw DataError(where + ": expected a dataset, got a group or other object");
      }
      result.emplace(name, read_input_dataset(inputs, name, where));
    }
    return result;
  } catch (const H5::Exception& e) {
    throw DataError(where + ": cannot read the data file: " + e.getDetailMsg());
  }
}

}  // namespace snn
