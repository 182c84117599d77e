// Convolution and Sparse transforms: shapes, checks, kernel sampling and the spec form.
// The runtime side (applying them to values) lives in runtime/transform_ops.cpp.
#include "snn/transforms.h"

#include <algorithm>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "io/json_util.h"
#include "snn/errors.h"

namespace snn {

namespace {

using json_util::child;
using json_util::is_integer;
using json_util::show;
using nlohmann::json;

std::string list_str(const std::vector<int64_t>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + (v.size() == 1 ? ",)" : ")");
}

int64_t product(const std::vector<int64_t>& v) {
  int64_t p = 1;
  for (auto x : v) p *= x;
  return p;
}

/// Rejects keys outside `allowed`, naming the first unknown one.
void check_keys(const json& j, const std::string& path, const std::vector<std::string>& allowed,
                const std::string& what) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (std::find(allowed.begin(), allowed.end(), it.key()) != allowed.end()) continue;
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    throw SpecError(child(path, it.key()) + ": unknown field of a " + what + " (expected " +
                    list + ")");
  }
}

const json* field(const json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

int64_t read_int(const json& v, const std::string& path, int64_t low) {
  if (!is_integer(v)) throw SpecError(path + ": expected an integer, got " + show(v));
  const auto x = v.get<int64_t>();
  if (x < low) throw SpecError(path + ": expected an integer >= " + std::to_string(low) +
                               ", got " + std::to_string(x));
  return x;
}

std::vector<int64_t> read_ints(const json& v, const std::string& path, int64_t low) {
  if (!v.is_array()) throw SpecError(path + ": expected a list of integers, got " + show(v));
  std::vector<int64_t> out;
  for (size_t i = 0; i < v.size(); ++i) out.push_back(read_int(v[i], child(path, i), low));
  return out;
}

/// An init in spec form: a distribution object, a number or nested lists.
Init read_init(const json& v, const std::string& path) {
  if (v.is_object()) return Init(distribution_from_json(v, path));
  std::string error;
  auto t = json_util::tensor_from_json(v, error);
  if (!t.defined()) throw SpecError(path + ": " + error);
  return Init(t);
}

void check_type(const json& j, const std::string& path, const char* type) {
  if (!j.is_object()) throw SpecError(path + ": expected a " + std::string(type) +
                                      " transform object, got " + show(j));
  const json* t = field(j, "type");
  if (!t || !t->is_string() || t->get<std::string>() != type)
    throw SpecError(child(path, "type") + ": expected \"" + type + "\", got " +
                    (t ? show(*t) : std::string("nothing")));
}

}  // namespace

// ---- Convolution ---------------------------------------------------------------------------

int64_t Convolution::in_channels() const {
  if (input_shape_.empty()) return 0;
  return channels_last_ ? input_shape_.back() : input_shape_.front();
}

std::vector<int64_t> Convolution::spatial_in() const {
  if (input_shape_.empty()) return {};
  return channels_last_ ? std::vector<int64_t>(input_shape_.begin(), input_shape_.end() - 1)
                        : std::vector<int64_t>(input_shape_.begin() + 1, input_shape_.end());
}

std::vector<int64_t> Convolution::effective_strides() const {
  const auto d = static_cast<size_t>(std::max<int64_t>(dimensions(), 0));
  if (strides_.size() != d && !strides_.empty() &&
      std::all_of(strides_.begin(), strides_.end(), [](int64_t s) { return s == 1; }))
    return std::vector<int64_t>(d, 1);
  return strides_;
}

std::vector<int64_t> Convolution::spatial_out() const {
  const auto in = spatial_in();
  const auto st = effective_strides();
  std::vector<int64_t> out;
  for (size_t i = 0; i < in.size() && i < kernel_size_.size() && i < st.size(); ++i) {
    // Nengo: ceil((in - k + 1) / s) for "valid", ceil(in / s) for "same".
    const int64_t span = padding_ == "same" ? in[i] : in[i] - kernel_size_[i] + 1;
    out.push_back(span <= 0 ? 0 : (span + st[i] - 1) / st[i]);
  }
  return out;
}

std::vector<int64_t> Convolution::output_shape() const {
  auto s = spatial_out();
  if (channels_last_) s.push_back(n_filters_);
  else s.insert(s.begin(), n_filters_);
  return s;
}

std::vector<int64_t> Convolution::kernel_shape() const {
  auto k = kernel_size_;
  k.push_back(in_channels());
  k.push_back(n_filters_);
  return k;
}

std::vector<std::pair<int64_t, int64_t>> Convolution::pads() const {
  const auto in = spatial_in();
  const auto out = spatial_out();
  const auto st = effective_strides();
  std::vector<std::pair<int64_t, int64_t>> p;
  for (size_t i = 0; i < out.size(); ++i) {
    if (padding_ != "same") {
      p.emplace_back(0, 0);
      continue;
    }
    // TensorFlow's rule (Nengo's calc_pad): the odd cell goes at the end.
    const int64_t total = std::max<int64_t>((out[i] - 1) * st[i] + kernel_size_[i] - in[i], 0);
    p.emplace_back(total / 2, total - total / 2);
  }
  return p;
}

int64_t Convolution::size_in() const { return product(input_shape_); }
int64_t Convolution::size_out() const { return product(output_shape()); }

void Convolution::validate(const std::string& who) const {
  const std::string w = who + ": Convolution: ";
  if (n_filters_ < 1) throw SpecError(w + "n_filters must be >= 1, got " + std::to_string(n_filters_));
  if (input_shape_.size() != 2 && input_shape_.size() != 3)
    throw SpecError(w + "input_shape must be (spatial..., channels) with 1 or 2 spatial "
                        "dimensions, got " + list_str(input_shape_));
  for (auto s : input_shape_)
    if (s < 1) throw SpecError(w + "input_shape entries must be >= 1, got " + list_str(input_shape_));
  const auto d = static_cast<size_t>(dimensions());
  if (kernel_size_.size() != d)
    throw SpecError(w + "kernel_size " + list_str(kernel_size_) + " must have one entry per "
                        "spatial dimension (" + std::to_string(d) + ")");
  for (auto k : kernel_size_)
    if (k < 1) throw SpecError(w + "kernel_size entries must be >= 1, got " + list_str(kernel_size_));
  const auto st = effective_strides();
  if (st.size() != d)
    throw SpecError(w + "strides " + list_str(strides_) + " must have one entry per spatial "
                        "dimension (" + std::to_string(d) + ")");
  for (auto s : st)
    if (s < 1) throw SpecError(w + "strides must be >= 1, got " + list_str(strides_));
  if (padding_ != "valid" && padding_ != "same")
    throw SpecError(w + "padding must be \"valid\" or \"same\", got \"" + padding_ + "\"");
  const auto in = spatial_in();
  for (size_t i = 0; i < d; ++i)
    if (padding_ == "valid" && kernel_size_[i] > in[i])
      throw SpecError(w + "kernel_size " + list_str(kernel_size_) + " is larger than the input " +
                      list_str(in) + " with \"valid\" padding: the output would be empty");
  if (init_.empty()) throw SpecError(w + "init is missing");
  if (!init_.is_distribution()) {
    const auto ks = kernel_shape();
    if (init_.literal().sizes().vec() != ks)
      throw SpecError(w + "the kernel (init) must have shape kernel_size + (in_channels, "
                          "n_filters) = " + list_str(ks) + ", got " +
                      list_str(init_.literal().sizes().vec()));
  }
}

torch::Tensor Convolution::sample(Rng& rng) const {
  const auto ks = kernel_shape();
  if (!init_.is_distribution()) return init_.literal().to(torch::kFloat64).contiguous().clone();
  std::vector<torch::Tensor> taps;
  for (int64_t i = 0; i < product(kernel_size_); ++i)
    taps.push_back(init_.get(in_channels(), n_filters_, rng).to(torch::kFloat64)
                       .reshape({in_channels(), n_filters_}));
  return torch::stack(taps).reshape(ks).contiguous();
}

nlohmann::json Convolution::to_json() const {
  return {{"type", "Convolution"},
          {"n_filters", n_filters_},
          {"input_shape", input_shape_},
          {"kernel_size", kernel_size_},
          {"strides", effective_strides()},
          {"padding", padding_},
          {"channels_last", channels_last_},
          {"init", json_util::init_to_json(init_)}};
}

Convolution Convolution::from_json(const nlohmann::json& j, const std::string& path) {
  check_type(j, path, "Convolution");
  check_keys(j, path,
             {"type", "n_filters", "input_shape", "kernel_size", "strides", "padding",
              "channels_last", "init"},
             "Convolution transform");
  const json* nf = field(j, "n_filters");
  if (!nf) throw SpecError(child(path, "n_filters") + ": missing (the number of filters)");
  const json* is = field(j, "input_shape");
  if (!is) throw SpecError(child(path, "input_shape") + ": missing");
  Convolution c(read_int(*nf, child(path, "n_filters"), 1),
                read_ints(*is, child(path, "input_shape"), 1));
  const auto d = static_cast<size_t>(std::max<int64_t>(c.dimensions(), 0));
  if (c.input_shape().size() != 2 && c.input_shape().size() != 3)
    throw SpecError(child(path, "input_shape") + ": expected (spatial..., channels) with 1 or 2 "
                    "spatial dimensions, got " + show(*is));
  // Defaults follow Nengo's (3 per dim, stride 1), sized to the input's spatial dims.
  c.kernel_size(std::vector<int64_t>(d, 3)).strides(std::vector<int64_t>(d, 1));
  if (const json* v = field(j, "kernel_size")) c.kernel_size(read_ints(*v, child(path, "kernel_size"), 1));
  if (const json* v = field(j, "strides")) c.strides(read_ints(*v, child(path, "strides"), 1));
  if (const json* v = field(j, "padding")) {
    if (!v->is_string() || (*v != "valid" && *v != "same"))
      throw SpecError(child(path, "padding") + ": expected \"valid\" or \"same\", got " + show(*v));
    c.padding(v->get<std::string>());
  }
  if (const json* v = field(j, "channels_last")) {
    if (!v->is_boolean())
      throw SpecError(child(path, "channels_last") + ": expected true or false, got " + show(*v));
    c.channels_last(v->get<bool>());
  }
  if (const json* v = field(j, "init")) c.init(read_init(*v, child(path, "init")));
  if (c.kernel_size().size() != d)
    throw SpecError(child(path, "kernel_size") + ": expected " + std::to_string(d) +
                    " entries (one per spatial dimension), got " + show(j["kernel_size"]));
  if (c.effective_strides().size() != d)
    throw SpecError(child(path, "strides") + ": expected " + std::to_string(d) +
                    " entries (one per spatial dimension), got " + show(j["strides"]));
  try {
    c.validate("Convolution");
  } catch (const SpecError& e) {
    const std::string what = e.what();
    const std::string key = what.find("init") != std::string::npos ? "init" : "";
    throw SpecError((key.empty() ? path : child(path, key)) + ": " + what);
  }
  return c;
}

// ---- Sparse --------------------------------------------------------------------------------

void Sparse::validate(const std::string& who) const {
  const std::string w = who + ": Sparse: ";
  if (rows_ < 1 || cols_ < 1)
    throw SpecError(w + "shape must be (rows, cols) >= 1, got (" + std::to_string(rows_) + ", " +
                    std::to_string(cols_) + ")");
  for (size_t i = 0; i < indices_.size(); ++i) {
    const auto [r, c] = indices_[i];
    if (r < 0 || r >= rows_ || c < 0 || c >= cols_)
      throw SpecError(w + "index " + std::to_string(i) + " [" + std::to_string(r) + ", " +
                      std::to_string(c) + "] is outside the (" + std::to_string(rows_) + ", " +
                      std::to_string(cols_) + ") matrix");
  }
  if (init_.empty()) throw SpecError(w + "init is missing");
  if (!init_.is_distribution()) {
    const auto& t = init_.literal();
    const auto n = static_cast<int64_t>(indices_.size());
    if (!(t.dim() == 0 || (t.dim() == 1 && t.size(0) == n)))
      throw SpecError(w + "init must be a scalar or one value per index (" + std::to_string(n) +
                      "), got shape " + list_str(t.sizes().vec()));
  }
}

torch::Tensor Sparse::sample(Rng& rng) const {
  const auto n = static_cast<int64_t>(indices_.size());
  torch::Tensor v = init_.get(n, 0, rng).to(torch::kFloat64);
  if (v.dim() == 0) v = v.expand({n});
  return v.reshape({n}).contiguous().clone();
}

nlohmann::json Sparse::to_json() const {
  json idx = json::array();
  for (const auto& [r, c] : indices_) idx.push_back({r, c});
  return {{"type", "Sparse"},
          {"shape", {rows_, cols_}},
          {"indices", idx},
          {"init", json_util::init_to_json(init_)}};
}

Sparse Sparse::from_json(const nlohmann::json& j, const std::string& path) {
  check_type(j, path, "Sparse");
  check_keys(j, path, {"type", "shape", "indices", "init"}, "Sparse transform");
  const json* sh = field(j, "shape");
  if (!sh) throw SpecError(child(path, "shape") + ": missing ([rows, cols])");
  auto shape = read_ints(*sh, child(path, "shape"), 1);
  if (shape.size() != 2)
    throw SpecError(child(path, "shape") + ": expected [rows, cols], got " + show(*sh));
  const json* ix = field(j, "indices");
  if (!ix) throw SpecError(child(path, "indices") + ": missing ([[row, col], ...])");
  if (!ix->is_array())
    throw SpecError(child(path, "indices") + ": expected a list of [row, col] pairs, got " +
                    show(*ix));
  std::vector<std::pair<int64_t, int64_t>> indices;
  for (size_t i = 0; i < ix->size(); ++i) {
    const auto p = child(child(path, "indices"), i);
    auto rc = read_ints((*ix)[i], p, 0);
    if (rc.size() != 2) throw SpecError(p + ": expected [row, col], got " + show((*ix)[i]));
    if (rc[0] >= shape[0] || rc[1] >= shape[1])
      throw SpecError(p + ": [" + std::to_string(rc[0]) + ", " + std::to_string(rc[1]) +
                      "] is outside the (" + std::to_string(shape[0]) + ", " +
                      std::to_string(shape[1]) + ") matrix");
    indices.emplace_back(rc[0], rc[1]);
  }
  Sparse s(shape[0], shape[1], std::move(indices));
  if (const json* v = field(j, "init")) s.init(read_init(*v, child(path, "init")));
  try {
    s.validate("Sparse");
  } catch (const SpecError& e) {
    throw SpecError(child(path, "init") + ": " + e.what());
  }
  return s;
}

}  // namespace snn
