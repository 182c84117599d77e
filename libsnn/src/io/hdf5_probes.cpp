// Probe output files (shared/spec/tools.md): /probes/<id>, /trange, /probe_trange/<id> and
// the root attributes, written to a temporary name in the same folder and renamed into place
// so a crash or an error never leaves a half-written file behind.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <H5Cpp.h>
#include <torch/torch.h>

#include "snn/errors.h"
#include "io/output_path.h"
#include "snn/io.h"

namespace snn {

/// Writes `data` (probe id -> (N, n_samples, size)) with the time axis and attributes of
/// `sim`; for data gathered in several runs of the same length (snn-run's minibatches).
/// Not in io.h yet (proposed there); snn-run declares it itself until then.
void write_probes(const Simulator& sim, const ProbeData& data, const std::string& path,
                  torch::Dtype dtype);

namespace {

/// A variable-length UTF-8 string type, which h5py reads back as `str`.
H5::StrType utf8_string_type() {
  H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
  type.setCset(H5T_CSET_UTF8);
  return type;
}

void write_string_attr(H5::H5File& file, const char* name, const std::string& value) {
  H5::StrType type = utf8_string_type();
  H5::Attribute attr = file.createAttribute(name, type, H5::DataSpace(H5S_SCALAR));
  attr.write(type, value);
}

void write_double_attr(H5::H5File& file, const char* name, double value) {
  H5::Attribute attr =
      file.createAttribute(name, H5::PredType::IEEE_F64LE, H5::DataSpace(H5S_SCALAR));
  attr.write(H5::PredType::NATIVE_DOUBLE, &value);
}

void write_int_attr(H5::H5File& file, const char* name, int64_t value) {
  H5::Attribute attr =
      file.createAttribute(name, H5::PredType::STD_I64LE, H5::DataSpace(H5S_SCALAR));
  attr.write(H5::PredType::NATIVE_INT64, &value);
}

/// Writes a float32 or float64 dataset holding `values` (any shape, converted on the CPU).
void write_tensor(H5::Group& group, const std::string& name, const torch::Tensor& values,
                  torch::Dtype dtype) {
  torch::Tensor t = values.detach().to(torch::kCPU, dtype).contiguous();
  std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
  H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
  const bool f32 = dtype == torch::kFloat32;
  H5::DataSet ds =
      group.createDataSet(name, f32 ? H5::PredType::IEEE_F32LE : H5::PredType::IEEE_F64LE, space);
  if (t.numel() > 0) {
    ds.write(t.data_ptr(), f32 ? H5::PredType::NATIVE_FLOAT : H5::PredType::NATIVE_DOUBLE);
  }
}

/// (N, n_samples, ...) -> (N, n_samples, size): a weights probe's (rows, cols) is flattened
/// row-major.
torch::Tensor as_probe_layout(const torch::Tensor& t, const std::string& id,
                              const std::string& path) {
  if (t.dim() == 3) return t;
  if (t.dim() > 3) return t.reshape({t.size(0), t.size(1), -1});
  throw DataError(path + ": probe \"" + id +
                  "\": expected data of rank >= 3 (N, n_samples, size), got rank " +
                  std::to_string(t.dim()));
}

std::string dtype_name(torch::Dtype dtype) {
  return dtype == torch::kFloat64 ? "float64" : dtype == torch::kFloat32 ? "float32" : "other";
}

/// Probe ids become dataset names; a '/' would silently create nested groups instead.
void check_dataset_name(const std::string& id, const std::string& path) {
  if (id.empty() || id.find('/') != std::string::npos || id == "." || id == "..") {
    throw DataError(path + ": probe id \"" + id +
                    "\" cannot be an HDF5 dataset name (expected a non-empty name without '/')");
  }
}

template <class GetData>
void write_file(const Simulator& sim, const std::string& path, torch::Dtype dtype,
                const GetData& get_data) {
  if (dtype != torch::kFloat32 && dtype != torch::kFloat64) {
    throw DataError(path + ": expected probe dtype float32 or float64, got " +
                    std::string(c10::toString(dtype)));
  }
  // HDF5 prints its own error stack to stderr by default; our messages say it in one line.
  H5::Exception::dontPrint();

  const std::string target = detail::output_target<DataError>(path, "probe file");
  const std::string tmp = target + ".tmp." + std::to_string(::getpid());
  auto folder_problem = [&](std::string detail) {
    // Say what the common failure means rather than the failing call.
    const auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty() && !std::filesystem::is_directory(parent))
      detail = "folder " + parent.string() + " does not exist";
    return DataError(path + ": cannot write the probe file: " + detail);
  };
  // The file is made in memory (HDF5's core driver) and written out by us: HDF5 writing to
  // disk itself reports a full disk from destructors and at process exit, past any catch.
  std::string image;
  try {
    H5::FileAccPropList in_memory;
    in_memory.setCore(1 << 20, false);
    H5::H5File file(tmp, H5F_ACC_TRUNC, H5::FileCreatPropList::DEFAULT, in_memory);
    {
      const Network& net = sim.network();
      H5::Group probes = file.createGroup("/probes");
      std::optional<H5::Group> probe_trange;
      for (const ProbePtr& probe : net.all_probes()) {
        check_dataset_name(probe->id(), path);
        write_tensor(probes, probe->id(), as_probe_layout(get_data(probe), probe->id(), path),
                     dtype);
        if (auto every = probe->options().sample_every()) {
          if (!probe_trange) probe_trange = file.createGroup("/probe_trange");
          write_tensor(*probe_trange, probe->id(), sim.trange(*every), torch::kFloat64);
        }
      }
      H5::Group root = file.openGroup("/");
      write_tensor(root, "trange", sim.trange(), torch::kFloat64);

      write_string_attr(file, "label", net.label());
      write_double_attr(file, "dt", sim.dt());
      write_int_attr(file, "n_steps", sim.n_steps());
      if (auto seed = net.seed()) write_int_attr(file, "seed", static_cast<int64_t>(*seed));
      write_string_attr(file, "dtype", dtype_name(sim.dtype()));
      write_int_attr(file, "minibatch_size", sim.minibatch_size());
      write_string_attr(file, "library", "libsnn");
      write_string_attr(file, "version", version());
    }
    file.flush(H5F_SCOPE_GLOBAL);
    const ssize_t size = H5Fget_file_image(file.getId(), nullptr, 0);
    if (size <= 0) throw DataError(path + ": cannot write the probe file: no file image");
    image.resize(static_cast<size_t>(size));
    if (H5Fget_file_image(file.getId(), image.data(), image.size()) != size)
      throw DataError(path + ": cannot write the probe file: no file image");
    file.close();
  } catch (const H5::Exception& e) {
    throw folder_problem(e.getDetailMsg());
  }
  if (auto failed = detail::write_atomically(target, image)) {
    if (!failed->replacing) throw folder_problem(failed->reason);
    throw DataError(path + ": cannot write the probe file: " + failed->reason);
  }
}

}  // namespace

void write_probes(const Simulator& sim, const std::string& path, torch::Dtype dtype) {
  write_file(sim, path, dtype, [&](const ProbePtr& probe) { return sim.data(probe); });
}

void write_probes(const Simulator& sim, const ProbeData& data, const std::string& path,
                  torch::Dtype dtype) {
  write_file(sim, path, dtype, [&](const ProbePtr& probe) {
    auto it = data.find(probe->id());
    if (it == data.end()) {
      throw DataError(path + ": no data for probe \"" + probe->id() + "\"");
    }
    return it->second;
  });
}

}  // namespace snn
