// distribution_from_json: the spec form of a distribution (network-json.md, "Values that may
// be given as distributions") back to a Distribution, with one-line errors naming the JSON
// path, the parameter, what was expected and what was found.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "build/dists_internal.h"
#include "snn/dists.h"
#include "snn/errors.h"

namespace snn {

using nlohmann::json;

namespace {

const char* const kTypes =
    "Uniform, Gaussian, Choice, UniformHypersphere, ScatteredHypersphere, Exponential, "
    "TruncatedNormal, VarianceScaling, Glorot, He";

/// Compact JSON text of a value for messages: like dump(), but shallow and short, so that a
/// hostile value (huge or nested 10^5 deep) can neither flood a message nor blow the stack.
void show_into(const json& j, int depth, std::string& out) {
  constexpr size_t kMaxChars = 80;
  if (out.size() > kMaxChars) return;
  if (!j.is_structured()) {
    std::string s = j.dump();
    if (s.size() > kMaxChars) s = s.substr(0, kMaxChars) + "...";
    out += s;
    return;
  }
  const bool array = j.is_array();
  out += array ? '[' : '{';
  if (depth >= 3 && !j.empty()) {
    out += "...";
  } else {
    bool first = true;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (out.size() > kMaxChars) {
        out += ",...";
        break;
      }
      if (!first) out += ',';
      first = false;
      if (!array) out += json(it.key()).dump() + ':';
      show_into(*it, depth + 1, out);
    }
  }
  out += array ? ']' : '}';
}

std::string show(const json& j) {
  std::string out;
  show_into(j, 0, out);
  return out;
}

/// Reads the parameters of one distribution object, checking names and types.
class Params {
 public:
  Params(const json& j, std::string path, std::string type, std::vector<std::string> known)
      : j_(j), path_(std::move(path)), type_(std::move(type)), known_(std::move(known)) {
    for (auto it = j_.begin(); it != j_.end(); ++it) {
      if (it.key() == "type") continue;
      if (std::find(known_.begin(), known_.end(), it.key()) == known_.end()) {
        std::string list;
        for (const auto& k : known_) list += (list.empty() ? "" : ", ") + k;
        fail("", "unknown key " + json(it.key()).dump() + " for " + type_ +
                     (known_.empty() ? " (it takes no parameters)" : " (known keys: " + list + ")"));
      }
    }
  }

  /// The JSON path of a parameter ("" = the object itself).
  std::string at(const std::string& key) const {
    if (key.empty()) return path_.empty() ? "/" : path_;
    return path_ + "/" + key;
  }

  [[noreturn]] void fail(const std::string& key, const std::string& message) const {
    throw SpecError(at(key) + ": " + message);
  }

  void check(const dists_detail::Problem& p) const {
    if (!p.ok()) fail(p.key, p.message);
  }

  /// A present, non-null value (null means "use the default", like Python's None).
  const json* find(const std::string& key) const {
    auto it = j_.find(key);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }

  const json& required(const std::string& key) const {
    auto it = j_.find(key);
    if (it == j_.end()) fail("", "missing \"" + key + "\" for " + type_);
    return *it;
  }

  double number(const std::string& key, const json& v) const {
    if (!v.is_number()) fail(key, "expected a number, got " + show(v));
    return v.get<double>();
  }
  double number(const std::string& key) const { return number(key, required(key)); }
  double number(const std::string& key, double dflt) const {
    const json* v = find(key);
    return v ? number(key, *v) : dflt;
  }

  bool boolean(const std::string& key, bool dflt) const {
    const json* v = find(key);
    if (!v) return dflt;
    if (!v->is_boolean()) fail(key, "expected true or false, got " + show(*v));
    return v->get<bool>();
  }

  std::string string(const std::string& key, const std::string& dflt) const {
    const json* v = find(key);
    if (!v) return dflt;
    if (!v->is_string()) fail(key, "expected a string, got " + show(*v));
    return v->get<std::string>();
  }

  const std::string& type() const { return type_; }

 private:
  const json& j_;
  std::string path_, type_;
  std::vector<std::string> known_;
};

DistributionPtr uniform(const Params& p) {
  const double low = p.number("low"), high = p.number("high");
  const bool integer = p.boolean("integer", false);
  p.check(dists_detail::check_uniform(low, high, integer));
  return std::make_shared<Uniform>(low, high, integer);
}

DistributionPtr gaussian(const Params& p) {
  const double mean = p.number("mean"), std = p.number("std");
  p.check(dists_detail::check_gaussian(mean, std));
  return std::make_shared<Gaussian>(mean, std);
}

DistributionPtr choice(const Params& p) {
  const json& opts = p.required("options");
  const std::string expect = "expected a non-empty list of numbers or of equal-length lists of numbers, got ";
  if (!opts.is_array() || opts.empty()) p.fail("options", expect + show(opts));
  torch::Tensor options;
  auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  if (opts[0].is_array()) {
    const auto k = static_cast<int64_t>(opts.size());
    const auto d = static_cast<int64_t>(opts[0].size());
    if (d == 0) p.fail("options/0", "expected a non-empty list of numbers, got []");
    options = torch::empty({k, d}, f64);
    double* x = options.data_ptr<double>();
    for (int64_t i = 0; i < k; ++i) {
      const json& row = opts[i];
      const std::string key = "options/" + std::to_string(i);
      if (!row.is_array())
        p.fail(key, "expected a list of " + std::to_string(d) + " numbers (like row 0), got " + show(row));
      if (static_cast<int64_t>(row.size()) != d)
        p.fail(key, "expected " + std::to_string(d) + " numbers (like row 0), got " +
                        std::to_string(row.size()));
      for (int64_t c = 0; c < d; ++c) x[i * d + c] = p.number(key + "/" + std::to_string(c), row[c]);
    }
  } else {
    std::vector<double> v;
    for (size_t i = 0; i < opts.size(); ++i) {
      if (opts[i].is_array())
        p.fail("options/" + std::to_string(i), "expected a number (like option 0), got " + show(opts[i]));
      v.push_back(p.number("options/" + std::to_string(i), opts[i]));
    }
    options = torch::tensor(v, f64);
  }
  std::vector<double> weights;
  if (const json* w = p.find("weights")) {
    if (!w->is_array()) p.fail("weights", "expected a list of numbers, got " + show(*w));
    if (w->size() != opts.size())
      p.fail("weights", "expected " + std::to_string(opts.size()) + " weights (one per option), got " +
                            std::to_string(w->size()));
    double total = 0;
    for (size_t i = 0; i < w->size(); ++i) {
      const std::string key = "weights/" + std::to_string(i);
      const double v = p.number(key, (*w)[i]);
      if (!(v >= 0)) p.fail(key, "expected a weight >= 0, got " + dists_detail::show_number(v));
      weights.push_back(v);
      total += v;
    }
    if (!(total > 0)) p.fail("weights", "expected weights with a positive sum, got all zero");
  }
  return std::make_shared<Choice>(options, weights);
}

template <class Sphere>
DistributionPtr hypersphere(const Params& p) {
  const bool surface = p.boolean("surface", false);
  const double min_magnitude = p.number("min_magnitude", 0.0);
  p.check(dists_detail::check_hypersphere(min_magnitude));
  return std::make_shared<Sphere>(surface, min_magnitude);
}

DistributionPtr exponential(const Params& p) {
  const double scale = p.number("scale");
  const double shift = p.number("shift", 0.0);
  const double high = p.number("high", INFINITY);
  p.check(dists_detail::check_exponential(scale, shift, high));
  return std::make_shared<Exponential>(scale, shift, high);
}

DistributionPtr truncated_normal(const Params& p) {
  const double mean = p.number("mean", 0.0), stddev = p.number("stddev", 1.0);
  const json* limit_j = p.find("limit");
  const double limit = limit_j ? p.number("limit", *limit_j) : 2.0 * stddev;
  if (limit_j && !(limit > 0))
    p.fail("limit", "expected limit > 0, got " + dists_detail::show_number(limit));
  p.check(dists_detail::check_truncated_normal(mean, stddev, limit));
  return std::make_shared<TruncatedNormal>(mean, stddev, limit);
}

DistributionPtr variance_scaling(const Params& p) {
  const double scale = p.number("scale", 1.0);
  const std::string mode = p.string("mode", "fan_avg");
  const std::string dist = p.string("distribution", "uniform");
  p.check(dists_detail::check_variance_scaling(scale, mode, dist));
  return std::make_shared<VarianceScaling>(scale, mode, dist);
}

DistributionPtr glorot(const Params& p) {
  const double scale = p.number("scale", 1.0);
  const std::string dist = p.string("distribution", "uniform");
  p.check(dists_detail::check_variance_scaling(scale, "fan_avg", dist));
  return std::make_shared<Glorot>(scale, dist);
}

DistributionPtr he(const Params& p) {
  const double scale = p.number("scale", 1.0);
  const std::string dist = p.string("distribution", "normal");
  p.check(dists_detail::check_variance_scaling(scale, "fan_in", dist));
  return std::make_shared<He>(scale, dist);
}

struct Entry {
  std::vector<std::string> keys;
  std::function<DistributionPtr(const Params&)> make;
};

const std::map<std::string, Entry>& registry() {
  static const std::map<std::string, Entry> r = {
      {"Uniform", {{"low", "high", "integer"}, uniform}},
      {"Gaussian", {{"mean", "std"}, gaussian}},
      {"Choice", {{"options", "weights"}, choice}},
      {"UniformHypersphere", {{"surface", "min_magnitude"}, hypersphere<UniformHypersphere>}},
      {"ScatteredHypersphere", {{"surface", "min_magnitude"}, hypersphere<ScatteredHypersphere>}},
      {"Exponential", {{"scale", "shift", "high"}, exponential}},
      {"TruncatedNormal", {{"mean", "stddev", "limit"}, truncated_normal}},
      {"VarianceScaling", {{"scale", "mode", "distribution"}, variance_scaling}},
      {"Glorot", {{"scale", "distribution"}, glorot}},
      {"He", {{"scale", "distribution"}, he}},
  };
  return r;
}

}  // namespace

DistributionPtr distribution_from_json(const json& j, const std::string& path) {
  const std::string where = path.empty() ? "/" : path;
  if (!j.is_object())
    throw SpecError(where + ": expected a distribution object with a \"type\", got " + show(j));
  auto t = j.find("type");
  if (t == j.end())
    throw SpecError(where + ": missing \"type\" (expected one of " + kTypes + ")");
  if (!t->is_string())
    throw SpecError((path.empty() ? "" : path) + "/type: expected a string, got " + show(*t));
  const std::string type = t->get<std::string>();
  auto it = registry().find(type);
  if (it == registry().end())
    throw SpecError(where + ": unknown distribution type " + json(type).dump() +
                    " (expected one of " + kTypes + ")");
  Params params(j, path, type, it->second.keys);
  return it->second.make(params);
}

}  // namespace snn
