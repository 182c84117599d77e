// Parameter reading, output sizes and initialisation shared by the built-in layers.
#include <cmath>

#include "build/layers_internal.h"
#include "snn/errors.h"
#include "snn/rng.h"

namespace snn::detail {

namespace {

std::string show(const nlohmann::json& j) {
  auto s = j.dump();
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

bool is_int(const nlohmann::json& v) { return v.is_number_integer() || v.is_number_unsigned(); }

std::string list_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace

void LayerParams::fail(const std::string& key, const std::string& reason) const {
  throw SpecError((key.empty() ? path : at(key)) + ": " + reason);
}

int64_t LayerParams::integer(const std::string& key, std::optional<int64_t> fallback,
                             int64_t lo) const {
  auto it = j.find(key);
  if (it == j.end() || (it->is_null() && fallback)) {
    if (!fallback) fail("", "missing required key \"" + key + "\" for a " + type + " layer");
    return *fallback;
  }
  if (!is_int(*it) || it->get<int64_t>() < lo)
    fail(key, "expected an integer >= " + std::to_string(lo) + ", got " + show(*it));
  return it->get<int64_t>();
}

std::vector<int64_t> LayerParams::sizes(const std::string& key, size_t rank,
                                        std::optional<std::vector<int64_t>> fallback,
                                        int64_t lo) const {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (!fallback) fail("", "missing required key \"" + key + "\" for a " + type + " layer");
    return *fallback;
  }
  const std::string want = "an integer >= " + std::to_string(lo) + " or a list of " +
                           std::to_string(rank) + " such integers";
  if (is_int(*it)) {
    if (it->get<int64_t>() < lo) fail(key, "expected " + want + ", got " + show(*it));
    return std::vector<int64_t>(rank, it->get<int64_t>());
  }
  if (!it->is_array() || it->size() != rank) fail(key, "expected " + want + ", got " + show(*it));
  std::vector<int64_t> out;
  for (const auto& v : *it) {
    if (!is_int(v) || v.get<int64_t>() < lo) fail(key, "expected " + want + ", got " + show(*it));
    out.push_back(v.get<int64_t>());
  }
  return out;
}

bool LayerParams::boolean(const std::string& key, bool fallback) const {
  auto it = j.find(key);
  if (it == j.end()) return fallback;
  if (!it->is_boolean()) fail(key, "expected true or false, got " + show(*it));
  return it->get<bool>();
}

double LayerParams::number(const std::string& key, double fallback, double lo, double hi,
                           bool lo_open, bool hi_open) const {
  auto it = j.find(key);
  if (it == j.end()) return fallback;
  const std::string range = std::string(lo_open ? "(" : "[") + nlohmann::json(lo).dump() +
                            ", " + nlohmann::json(hi).dump() + (hi_open ? ")" : "]");
  if (!it->is_number()) fail(key, "expected a number in " + range + ", got " + show(*it));
  const double x = it->get<double>();
  if (!(lo_open ? x > lo : x >= lo) || !(hi_open ? x < hi : x <= hi))
    fail(key, "expected a number in " + range + ", got " + show(*it));
  return x;
}

std::string LayerParams::choice(const std::string& key, const std::string& fallback,
                                const std::vector<std::string>& options) const {
  auto it = j.find(key);
  if (it == j.end()) return fallback;
  std::string names;
  for (const auto& o : options) names += (names.empty() ? "\"" : " or \"") + o + "\"";
  if (!it->is_string()) fail(key, "expected " + names + ", got " + show(*it));
  const auto v = it->get<std::string>();
  if (std::find(options.begin(), options.end(), v) == options.end())
    fail(key, "expected " + names + ", got " + show(*it));
  return v;
}

void LayerParams::shape_rank(const std::vector<int64_t>& shape_in, size_t rank,
                             const std::string& what) const {
  if (shape_in.size() != rank)
    fail("shape_in", "a " + type + " layer views its input as " + what + " (" +
                         std::to_string(rank) + " sizes), got " + list_str(shape_in));
}

int64_t conv_out(int64_t n, int64_t k, int64_t s, bool same) {
  return same ? (n + s - 1) / s : (n - k) / s + 1;
}

std::pair<int64_t, int64_t> same_pad(int64_t n, int64_t k, int64_t s) {
  const int64_t out = (n + s - 1) / s;
  const int64_t total = std::max<int64_t>((out - 1) * s + k - n, 0);
  return {total / 2, total - total / 2};
}

torch::Tensor glorot_uniform(const std::vector<int64_t>& shape, int64_t fan_in, int64_t fan_out,
                             uint32_t seed) {
  const double limit = std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  auto t = torch::empty(shape, torch::kFloat64);
  Rng rng(seed);
  double* p = t.data_ptr<double>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = rng.uniform(-limit, limit);
  return t.to(torch::kFloat32);
}

}  // namespace snn::detail
