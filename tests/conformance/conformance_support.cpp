// Helpers of the conformance tests: see conformance_support.h.
#include "conformance/conformance_support.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include <H5Cpp.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace snn::testing {

namespace fs = std::filesystem;

namespace {

H5::H5File open_read(const std::string& file) {
  H5::Exception::dontPrint();
  return H5::H5File(file, H5F_ACC_RDONLY);
}

std::string format_number(double v) {
  std::ostringstream s;
  s << std::setprecision(10) << v;
  return s.str();
}

/// "sample 5, column 2" or "[5, 2]" for the flat index `flat` of a tensor of `sizes`.
std::string format_index(int64_t flat, c10::IntArrayRef sizes,
                         const std::vector<std::string>& names) {
  std::vector<int64_t> idx(sizes.size());
  for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
    idx[d] = flat % sizes[d];
    flat /= sizes[d];
  }
  std::ostringstream s;
  if (!names.empty() && names.size() == idx.size()) {
    for (size_t d = 0; d < idx.size(); ++d) s << (d ? ", " : "") << names[d] << " " << idx[d];
  } else {
    s << "[";
    for (size_t d = 0; d < idx.size(); ++d) s << (d ? ", " : "") << idx[d];
    s << "]";
  }
  return s.str();
}

std::string shape_string(c10::IntArrayRef sizes) {
  std::ostringstream s;
  s << "(";
  for (size_t i = 0; i < sizes.size(); ++i) s << (i ? ", " : "") << sizes[i];
  if (sizes.size() == 1) s << ",";
  s << ")";
  return s.str();
}

}  // namespace

// ---- HDF5 reading ---------------------------------------------------------------------------

torch::Tensor read_dataset(const std::string& file, const std::string& dataset) {
  H5::H5File f = open_read(file);
  H5::DataSet ds = f.openDataSet(dataset);
  H5::DataSpace space = ds.getSpace();
  const int rank = space.getSimpleExtentNdims();
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0) space.getSimpleExtentDims(dims.data());
  std::vector<int64_t> sizes(dims.begin(), dims.end());
  torch::Tensor t = torch::empty(sizes, torch::kFloat64);
  if (t.numel() > 0) ds.read(t.data_ptr<double>(), H5::PredType::NATIVE_DOUBLE);
  return t;
}

std::vector<int64_t> dataset_shape(const std::string& file, const std::string& dataset) {
  H5::H5File f = open_read(file);
  H5::DataSpace space = f.openDataSet(dataset).getSpace();
  const int rank = space.getSimpleExtentNdims();
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0) space.getSimpleExtentDims(dims.data());
  return {dims.begin(), dims.end()};
}

std::string dataset_type(const std::string& file, const std::string& dataset) {
  H5::H5File f = open_read(file);
  H5::DataSet ds = f.openDataSet(dataset);
  const size_t bits = 8 * ds.getDataType().getSize();
  switch (ds.getTypeClass()) {
    case H5T_FLOAT: return "float" + std::to_string(bits);
    case H5T_INTEGER:
      return (ds.getIntType().getSign() == H5T_SGN_NONE ? "uint" : "int") + std::to_string(bits);
    default: return "other";
  }
}

bool has_object(const std::string& file, const std::string& path) {
  H5::H5File f = open_read(file);
  // Check every level: H5Lexists fails rather than answering for a missing parent.
  std::string prefix;
  std::istringstream parts(path);
  std::string part;
  while (std::getline(parts, part, '/')) {
    if (part.empty()) continue;
    prefix += "/" + part;
    if (H5Lexists(f.getId(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return true;
}

std::vector<std::string> list_group(const std::string& file, const std::string& group) {
  if (!has_object(file, group)) return {};
  H5::H5File f = open_read(file);
  H5::Group g = f.openGroup(group);
  std::vector<std::string> names;
  for (hsize_t i = 0; i < g.getNumObjs(); ++i) names.push_back(g.getObjnameByIdx(i));
  return names;
}

bool has_attribute(const std::string& file, const std::string& name) {
  H5::H5File f = open_read(file);
  return f.attrExists(name);
}

std::string read_string_attribute(const std::string& file, const std::string& name) {
  H5::H5File f = open_read(file);
  H5::Attribute a = f.openAttribute(name);
  std::string value;
  a.read(a.getStrType(), value);
  return value;
}

double read_double_attribute(const std::string& file, const std::string& name) {
  H5::H5File f = open_read(file);
  double v = 0;
  f.openAttribute(name).read(H5::PredType::NATIVE_DOUBLE, &v);
  return v;
}

int64_t read_int_attribute(const std::string& file, const std::string& name) {
  H5::H5File f = open_read(file);
  int64_t v = 0;
  f.openAttribute(name).read(H5::PredType::NATIVE_INT64, &v);
  return v;
}

void write_dataset(const std::string& file, const std::string& dataset,
                   const torch::Tensor& values) {
  H5::Exception::dontPrint();
  H5::H5File f(file, fs::exists(file) ? H5F_ACC_RDWR : H5F_ACC_TRUNC);
  torch::Tensor t = values.contiguous().cpu();
  std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
  H5::DataSpace space(static_cast<int>(dims.size()), dims.data());
  H5::LinkCreatPropList lcpl;
  lcpl.setCreateIntermediateGroup(true);
  const H5::PredType* file_type = &H5::PredType::IEEE_F64LE;
  const H5::PredType* mem_type = &H5::PredType::NATIVE_DOUBLE;
  if (t.scalar_type() == torch::kFloat32) {
    file_type = &H5::PredType::IEEE_F32LE;
    mem_type = &H5::PredType::NATIVE_FLOAT;
  } else if (t.scalar_type() == torch::kInt64) {
    file_type = &H5::PredType::STD_I64LE;
    mem_type = &H5::PredType::NATIVE_INT64;
  } else if (t.scalar_type() == torch::kInt32) {
    file_type = &H5::PredType::STD_I32LE;
    mem_type = &H5::PredType::NATIVE_INT32;
  } else {
    t = t.to(torch::kFloat64);
  }
  H5::DataSet ds = f.createDataSet(dataset, *file_type, space, H5::DSetCreatPropList::DEFAULT,
                                   H5::DSetAccPropList::DEFAULT, lcpl);
  if (t.numel() > 0) ds.write(t.data_ptr(), *mem_type);
}

// ---- comparisons ----------------------------------------------------------------------------

Tolerance parse_tolerance(const nlohmann::json& j) {
  Tolerance tol;
  if (j.contains("spike_count_diff")) {
    tol.spike_count = true;
    tol.spike_count_diff = j.at("spike_count_diff").get<double>();
  } else {
    tol.atol = j.at("atol").get<double>();
    tol.rtol = j.at("rtol").get<double>();
    tol.max_mismatch_fraction = j.value("max_mismatch_fraction", 0.0);
  }
  return tol;
}

Comparison compare_close(const torch::Tensor& expected_in, const torch::Tensor& got_in,
                         double atol, double rtol, int64_t allowed_mismatches,
                         const std::vector<std::string>& index_names) {
  Comparison c;
  torch::Tensor expected = expected_in.to(torch::kCPU, torch::kFloat64).contiguous();
  torch::Tensor got = got_in.to(torch::kCPU, torch::kFloat64).contiguous();
  if (expected.sizes() != got.sizes()) {
    c.ok = false;
    c.summary = "shape " + shape_string(got.sizes()) + ", expected " +
                shape_string(expected.sizes());
    c.worst = INFINITY;
    return c;
  }
  const int64_t n = expected.numel();
  const double* e = expected.data_ptr<double>();
  const double* g = got.data_ptr<double>();
  int64_t misses = 0, non_finite = 0, worst_at = -1;
  double worst = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const bool finite = std::isfinite(g[i]);
    const double err = finite ? std::abs(g[i] - e[i]) : INFINITY;
    const bool miss = !finite || err > atol + rtol * std::abs(e[i]);
    if (!finite) ++non_finite;
    if (err > worst || (worst_at < 0 && miss)) {
      worst = err;
      worst_at = i;
    }
    if (miss) {
      ++misses;
      if (c.details.size() < 5) {
        c.details.push_back(format_index(i, expected.sizes(), index_names) + ": expected " +
                            format_number(e[i]) + ", got " + format_number(g[i]) +
                            " (|err| " + format_number(err) + ", bound " +
                            format_number(atol + rtol * std::abs(e[i])) + ")");
      }
    }
  }
  c.worst = worst;
  c.ok = non_finite == 0 && misses <= allowed_mismatches;
  std::ostringstream s;
  s << "max |err| " << std::setprecision(3) << worst;
  if (worst_at >= 0) {
    s << " at " << format_index(worst_at, expected.sizes(), index_names) << " (expected "
      << format_number(e[worst_at]) << ", got " << format_number(g[worst_at]) << ")";
  }
  s << "; " << misses << " of " << n << " outside atol " << atol << " rtol " << rtol
    << " (allowed " << allowed_mismatches << ")";
  if (non_finite) s << "; " << non_finite << " NaN/inf";
  c.summary = s.str();
  return c;
}

Comparison compare_probe(const torch::Tensor& expected, const torch::Tensor& got,
                         const Tolerance& tol, double dt) {
  if (!tol.spike_count) {
    const auto allowed =
        static_cast<int64_t>(std::floor(tol.max_mismatch_fraction * expected.numel()));
    return compare_close(expected, got, tol.atol, tol.rtol, allowed, {"sample", "column"});
  }
  Comparison c;
  if (expected.sizes() != got.sizes()) {
    c.ok = false;
    c.summary = "shape " + shape_string(got.sizes()) + ", expected " +
                shape_string(expected.sizes());
    c.worst = INFINITY;
    return c;
  }
  torch::Tensor g64 = got.to(torch::kCPU, torch::kFloat64);
  const int64_t non_finite = (~torch::isfinite(g64)).sum().item<int64_t>();
  // A spike of amplitude a is a/dt for one step: sum * dt counts spikes.
  torch::Tensor ce = (expected.to(torch::kFloat64).sum(0) * dt).contiguous();
  torch::Tensor cg = (g64.sum(0) * dt).contiguous();
  const double* e = ce.data_ptr<double>();
  const double* g = cg.data_ptr<double>();
  int64_t worst_at = -1, bad = 0;
  double worst = 0.0;
  for (int64_t i = 0; i < ce.numel(); ++i) {
    const double diff = std::isfinite(g[i]) ? std::abs(g[i] - e[i]) : INFINITY;
    // Counts are integers up to float rounding of sum * dt.
    const bool miss = diff > tol.spike_count_diff + 1e-6;
    if (diff > worst || (worst_at < 0 && miss)) {
      worst = diff;
      worst_at = i;
    }
    if (miss) {
      ++bad;
      if (c.details.size() < 5) {
        c.details.push_back("neuron " + std::to_string(i) + ": expected " + format_number(e[i]) +
                            " spikes, got " + format_number(g[i]));
      }
    }
  }
  c.worst = worst;
  c.ok = bad == 0 && non_finite == 0;
  std::ostringstream s;
  s << "max spike count diff " << std::setprecision(4) << worst;
  if (worst_at >= 0) {
    s << " at neuron " << worst_at << " (expected " << format_number(e[worst_at]) << ", got "
      << format_number(g[worst_at]) << ")";
  }
  s << "; " << bad << " of " << ce.numel() << " neurons off by more than "
    << tol.spike_count_diff << "; total expected " << format_number(ce.sum().item<double>())
    << " got " << format_number(cg.sum().item<double>());
  if (non_finite) s << "; " << non_finite << " NaN/inf";
  c.summary = s.str();
  return c;
}

// ---- files ---------------------------------------------------------------------------------

TempDir::TempDir(const std::string& tag) {
  static int counter = 0;
  const fs::path base = fs::temp_directory_path();
  for (;;) {
    fs::path p = base / ("snn_" + tag + "_" + std::to_string(::getpid()) + "_" +
                         std::to_string(counter++));
    if (fs::create_directory(p)) {
      path_ = p.string();
      return;
    }
  }
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::vector<std::string> TempDir::entries() const {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(path_)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// ---- scenarios ------------------------------------------------------------------------------

std::string conformance_dir() { return std::string(SNN_SHARED_DIR) + "/conformance"; }

std::vector<std::string> scenario_names() {
  std::vector<std::string> names;
  std::error_code ec;
  if (!fs::is_directory(conformance_dir(), ec)) return names;
  for (const auto& entry : fs::directory_iterator(conformance_dir())) {
    if (entry.is_directory() && fs::exists(entry.path() / "network.json")) {
      names.push_back(entry.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace snn::testing
