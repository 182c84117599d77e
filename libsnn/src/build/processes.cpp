// Processes (Nengo's nengo/processes.py): parameters, validation, spec form, and the values
// they produce for a range of steps. The tables the simulator feeds from them (per minibatch
// item, seeded) are made in processes_tables.cpp.
#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <set>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "build/processes_internal.h"
#include "io/json_util.h"
#include "snn/errors.h"
#include "snn/processes.h"

namespace snn {

namespace {

using nlohmann::json;

std::string num(double v) {
  std::ostringstream s;
  s.precision(10);
  s << v;
  return s.str();
}

/// A small cache of generated arrays (WhiteSignal periods, WhiteNoise blocks): runs often ask
/// for the same draw again (every run_steps call, every minibatch of predict). Bounded in
/// bytes; emptied when full, which is rare and only costs a regeneration.
class ArrayCache {
 public:
  template <class Make>
  torch::Tensor get(const std::string& key, Make&& make) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = map_.find(key);
      if (it != map_.end()) return it->second;
    }
    torch::Tensor v = make();
    const int64_t bytes = v.numel() * static_cast<int64_t>(v.element_size());
    std::lock_guard<std::mutex> lock(mutex_);
    if (bytes > kMaxBytes) return v;
    if (bytes_ + bytes > kMaxBytes) {
      map_.clear();
      bytes_ = 0;
    }
    if (map_.emplace(key, v).second) bytes_ += bytes;
    return v;
  }

 private:
  static constexpr int64_t kMaxBytes = int64_t{64} << 20;
  std::mutex mutex_;
  std::unordered_map<std::string, torch::Tensor> map_;
  int64_t bytes_ = 0;
};

ArrayCache& cache() {
  static ArrayCache* c = new ArrayCache();  // never destroyed: used until exit
  return *c;
}

/// A key naming exactly one generated array: the process's full spec, then the arguments.
std::string cache_key(const Process& p, int64_t size, double dt, uint32_t seed, int64_t block) {
  std::ostringstream s;
  s.precision(17);
  s << p.to_json().dump() << '|' << size << '|' << dt << '|' << seed << '|' << block;
  return s.str();
}

}  // namespace

json Process::to_json() const {
  json j = {{"type", type()}};
  json p = params();
  for (auto it = p.begin(); it != p.end(); ++it) j[it.key()] = it.value();
  j["seed"] = seed() ? json(*seed()) : json(nullptr);
  return j;
}

// ---------------------------------------------------------------------------- WhiteSignal --
WhiteSignal::WhiteSignal(WhiteSignalOptions o) : options(std::move(o)) {
  if (!(options.period() > 0) || !std::isfinite(options.period()))
    throw SpecError("WhiteSignal: expected period > 0, got " + num(options.period()));
  if (!(options.rms() > 0) || !std::isfinite(options.rms()))
    throw SpecError("WhiteSignal: expected rms > 0, got " + num(options.rms()));
  if (!std::isfinite(options.high()) || options.high() < 1.0 / options.period())
    throw SpecError("WhiteSignal: expected high >= 1/period = " + num(1.0 / options.period()) +
                    " Hz (or the signal is zero), got " + num(options.high()));
  if (options.y0() && !std::isfinite(*options.y0()))
    throw SpecError("WhiteSignal: expected a finite y0, got " + num(*options.y0()));
}

json WhiteSignal::params() const {
  return {{"period", options.period()},
          {"high", options.high()},
          {"rms", options.rms()},
          {"y0", options.y0() ? json(*options.y0()) : json(nullptr)}};
}

void WhiteSignal::check(double dt) const {
  // One whole period is generated and held: bound it (2^24 steps) before it is allocated.
  if (options.period() / dt > double(int64_t(1) << 24))
    throw SpecError("WhiteSignal: a period of " + num(options.period()) + " s is " +
                    num(options.period() / dt) + " steps of dt = " + num(dt) +
                    " (at most 16777216)");
  if (options.high() > 0.5 / dt)
    throw SpecError("WhiteSignal: high must not exceed the Nyquist frequency 0.5/dt = " +
                    num(0.5 / dt) + " Hz, got " + num(options.high()));
}

torch::Tensor WhiteSignal::period_signal(int64_t size, double dt, uint32_t seed) const {
  check(dt);
  return cache().get(cache_key(*this, size, dt, seed, -1), [&] {
    const auto n = static_cast<int64_t>(std::ceil(options.period() / dt / 2.0));
    const double sigma = options.rms() * std::sqrt(0.5);
    Rng rng(seed);
    // numpy draws `normal(0, sigma, (n+1, size))` in row-major order: imaginary parts first.
    auto im = torch::empty({n + 1, size}, torch::kFloat64);
    auto re = torch::empty({n + 1, size}, torch::kFloat64);
    for (auto* t : {&im, &re}) {
      double* p = t->data_ptr<double>();
      for (int64_t i = 0; i < (n + 1) * size; ++i) p[i] = rng.normal(0.0, sigma);
    }
    re[0] = 0.0;
    im[0] = 0.0;
    im[n] = 0.0;
    // rfftfreq(2n, dt)[k] = k / (2 n dt): bins above `high` carry no power.
    int64_t zeroed = 0;
    for (int64_t k = 0; k <= n; ++k) {
      if (static_cast<double>(k) / (2.0 * static_cast<double>(n) * dt) > options.high()) {
        re[k] = 0.0;
        im[k] = 0.0;
        ++zeroed;
      }
    }
    double scale = std::sqrt(2.0 * static_cast<double>(n));
    const double correction = std::sqrt(1.0 - static_cast<double>(zeroed) / static_cast<double>(n));
    if (correction > 0.0) scale /= correction;
    auto coef = torch::complex(re * scale, im * scale);
    auto signal = torch::fft::irfft(coef, 2 * n, 0).contiguous();  // (2n, size)
    if (options.y0()) {
      // Each dimension starts (at step 1, t = dt) from its sample closest to y0.
      std::vector<torch::Tensor> cols;
      for (int64_t d = 0; d < size; ++d) {
        auto col = signal.select(1, d);
        const int64_t offset = (col - *options.y0()).abs().argmin().item<int64_t>();
        cols.push_back(torch::roll(col, -offset + 1, 0));
      }
      signal = torch::stack(cols, 1).contiguous();
    }
    return signal;
  });
}

torch::Tensor WhiteSignal::sample(int64_t size, double dt, int64_t first_step, int64_t n_steps,
                                  uint32_t seed) const {
  auto signal = period_signal(size, dt, seed);
  // Nengo reads signal[round(t/dt) % 2N]: step k (t = k dt) reads row k mod 2N.
  auto idx = torch::arange(first_step + 1, first_step + 1 + n_steps, torch::kLong)
                 .remainder(signal.size(0));
  return signal.index_select(0, idx);
}

// ----------------------------------------------------------------------------- WhiteNoise --
WhiteNoise::WhiteNoise(WhiteNoiseOptions o) : options(std::move(o)) {
  if (!options.dist()) throw SpecError("WhiteNoise: expected a distribution, got none");
}

json WhiteNoise::params() const {
  return {{"dist", options.dist()->to_json()}, {"scale", options.scale()}};
}

torch::Tensor WhiteNoise::sample(int64_t size, double dt, int64_t first_step, int64_t n_steps,
                                 uint32_t seed) const {
  const int64_t L = detail::noise_block_steps(size);
  const double alpha = options.scale() ? 1.0 / std::sqrt(dt) : 1.0;
  std::vector<torch::Tensor> parts;
  int64_t s = first_step;  // 0-based index of the step (step s + 1)
  const int64_t end = first_step + n_steps;
  while (s < end) {
    const int64_t block = s / L;
    const int64_t lo = s - block * L, hi = std::min(end - block * L, L);
    auto values = cache().get(cache_key(*this, size, dt, seed, block), [&] {
      // Block 0 draws from the seed itself, so the first L steps are the sequence of
      // Nengo's per-step `dist.sample(1, size, rng)` calls.
      Rng rng(detail::mix_seed(seed, static_cast<uint32_t>(block)));
      auto v = options.dist()->sample(L, size, rng).to(torch::kFloat64).reshape({L, size});
      return (v * alpha).contiguous();
    });
    parts.push_back(values.narrow(0, lo, hi - lo));
    s = block * L + hi;
  }
  if (parts.empty()) return torch::zeros({0, size}, torch::kFloat64);
  return parts.size() == 1 ? parts[0].clone() : torch::cat(parts, 0);
}

// --------------------------------------------------------------------------- PresentInput --
PresentInputOptions::PresentInputOptions(const std::vector<std::vector<double>>& inputs,
                                         double presentation_time)
    : presentation_time_(presentation_time) {
  if (inputs.empty()) {
    inputs_ = torch::zeros({0, 0}, torch::kFloat64);
    return;
  }
  for (const auto& row : inputs)
    if (row.size() != inputs[0].size())
      throw SpecError("PresentInput: every input must have the same size (" +
                      std::to_string(inputs[0].size()) + "), got one of " +
                      std::to_string(row.size()));
  inputs_ = torch::empty({static_cast<int64_t>(inputs.size()),
                          static_cast<int64_t>(inputs[0].size())},
                         torch::kFloat64);
  for (size_t i = 0; i < inputs.size(); ++i)
    for (size_t j = 0; j < inputs[i].size(); ++j)
      inputs_[static_cast<int64_t>(i)][static_cast<int64_t>(j)] = inputs[i][j];
}

PresentInput::PresentInput(PresentInputOptions o) : options(std::move(o)) {
  if (!options.inputs().defined() || options.inputs().dim() == 0 || options.inputs().size(0) == 0)
    throw SpecError("PresentInput: expected at least one input");
  rows_ = options.inputs()
              .to(torch::kCPU, torch::kFloat64)
              .reshape({options.inputs().size(0), -1})
              .contiguous();
  if (rows_.size(1) == 0) throw SpecError("PresentInput: the inputs are empty");
  if (!torch::isfinite(rows_).all().item<bool>())
    throw SpecError("PresentInput: the inputs must be finite");
  if (!(options.presentation_time() > 0) || !std::isfinite(options.presentation_time()))
    throw SpecError("PresentInput: expected presentation_time > 0, got " +
                    num(options.presentation_time()));
}

json PresentInput::params() const {
  return {{"inputs", json_util::tensor_to_json(options.inputs().to(torch::kFloat64))},
          {"presentation_time", options.presentation_time()}};
}

int64_t PresentInput::default_size_out() const { return rows_.size(1); }

torch::Tensor PresentInput::sample(int64_t size, double dt, int64_t first_step, int64_t n_steps,
                                   uint32_t) const {
  TORCH_CHECK(size == rows_.size(1), "PresentInput: size ", size, " != ", rows_.size(1));
  const int64_t n = rows_.size(0);
  const double T = options.presentation_time();
  std::vector<int64_t> idx(static_cast<size_t>(n_steps));
  for (int64_t k = 0; k < n_steps; ++k) {
    const double t = static_cast<double>(first_step + k + 1) * dt;
    const auto i = static_cast<int64_t>((t - dt) / T + 1e-7);  // Nengo's int(): truncation
    idx[static_cast<size_t>(k)] = ((i % n) + n) % n;
  }
  return rows_.index_select(0, torch::tensor(idx, torch::kLong));
}

// ------------------------------------------------------------------------------ Piecewise --
Piecewise::Piecewise(PiecewiseOptions o) : options(std::move(o)) {
  const auto& data = options.data();
  if (data.empty()) throw SpecError("Piecewise: expected at least one (time, value) point");
  const size_t size = data.begin()->second.size();
  if (size == 0) throw SpecError("Piecewise: the values are empty");
  for (const auto& [t, v] : data) {
    if (!std::isfinite(t)) throw SpecError("Piecewise: times must be finite, got " + num(t));
    if (v.size() != size)
      throw SpecError("Piecewise: the value at time " + num(t) + " has size " +
                      std::to_string(v.size()) + " instead of " + std::to_string(size));
    for (double x : v)
      if (!std::isfinite(x))
        throw SpecError("Piecewise: the value at time " + num(t) + " is not finite");
  }
  const auto& mode = options.interpolation();
  if (mode != "zero" && mode != "linear")
    throw SpecError("Piecewise: expected interpolation \"zero\" or \"linear\", got \"" + mode +
                    "\"");
}

json Piecewise::params() const {
  // Times as keys in their shortest round-trip form, in increasing order (the saver keeps
  // insertion order).
  nlohmann::ordered_json data = nlohmann::ordered_json::object();
  for (const auto& [t, v] : options.data()) {
    const std::string key = json(t).dump();
    data[key] = v.size() == 1 ? nlohmann::ordered_json(v[0]) : nlohmann::ordered_json(v);
  }
  return {{"data", json::parse(data.dump())}, {"interpolation", options.interpolation()}};
}

int64_t Piecewise::default_size_out() const {
  return static_cast<int64_t>(options.data().begin()->second.size());
}

std::vector<double> Piecewise::value_at(double t, double dt) const {
  const auto& data = options.data();
  const size_t size = data.begin()->second.size();
  if (options.interpolation() == "zero") {
    // searchsorted(times, t + dt/2) - 1: the last time strictly below t + dt/2.
    auto it = data.lower_bound(t + 0.5 * dt);
    if (it == data.begin()) return std::vector<double>(size, 0.0);
    return std::prev(it)->second;
  }
  // linear: interp1d(bounds_error=False, fill_value=0): zero outside [first, last].
  const double t0 = data.begin()->first, t1 = data.rbegin()->first;
  if (t < t0 || t > t1) return std::vector<double>(size, 0.0);
  auto hi = data.lower_bound(t);
  if (hi->first == t || hi == data.begin()) return hi->second;
  auto lo = std::prev(hi);
  const double w = (t - lo->first) / (hi->first - lo->first);
  std::vector<double> out(size);
  for (size_t i = 0; i < size; ++i) out[i] = lo->second[i] + w * (hi->second[i] - lo->second[i]);
  return out;
}

torch::Tensor Piecewise::sample(int64_t size, double dt, int64_t first_step, int64_t n_steps,
                                uint32_t) const {
  TORCH_CHECK(size == default_size_out(), "Piecewise: size ", size, " != ", default_size_out());
  auto out = torch::empty({n_steps, size}, torch::kFloat64);
  double* p = out.data_ptr<double>();
  for (int64_t k = 0; k < n_steps; ++k) {
    const auto v = value_at(static_cast<double>(first_step + k + 1) * dt, dt);
    std::copy(v.begin(), v.end(), p + k * size);
  }
  return out;
}

// ------------------------------------------------------------------------------- from JSON --
namespace {

using json_util::child;
using json_util::show;

/// The fields of a process object, with unknown keys rejected up front.
struct Fields {
  Fields(const json& j, std::string path, const std::string& type, std::set<std::string> allowed)
      : j(j), path(std::move(path)) {
    allowed.insert("type");
    allowed.insert("seed");
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (allowed.count(it.key())) continue;
      std::string names;
      for (const auto& a : allowed) names += (names.empty() ? "" : ", ") + a;
      throw SpecError(child(this->path, it.key()) + ": unknown field for " + type +
                      " (expected " + names + ")");
    }
  }
  const json* get(const std::string& key) const {
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  }
  std::string at(const std::string& key) const { return child(path, key); }
  const json& require(const std::string& key, const std::string& type) const {
    const json* v = get(key);
    if (!v) throw SpecError(path + ": " + type + " needs \"" + key + "\"");
    return *v;
  }
  double number(const json& v, const std::string& key) const {
    if (!v.is_number() || !std::isfinite(v.get<double>()))
      throw SpecError(at(key) + ": expected a number, got " + show(v));
    return v.get<double>();
  }
  double positive(const std::string& key, const std::string& type) const {
    const double x = number(require(key, type), key);
    if (!(x > 0)) throw SpecError(at(key) + ": expected " + key + " > 0, got " + show(j.at(key)));
    return x;
  }
  std::optional<uint32_t> seed() const {
    const json* v = get("seed");
    if (!v) return std::nullopt;
    if (!json_util::is_integer(*v) || v->get<int64_t>() < 0 || v->get<int64_t>() > 4294967295LL)
      throw SpecError(at("seed") + ": expected an integer in [0, 2^32), got " + show(*v));
    return static_cast<uint32_t>(v->get<int64_t>());
  }

  const json& j;
  std::string path;
};

/// A number or a flat list of numbers.
std::vector<double> read_values(const json& v, const std::string& path) {
  if (v.is_number() && std::isfinite(v.get<double>())) return {v.get<double>()};
  std::vector<double> out;
  if (v.is_array() && !v.empty()) {
    for (const auto& x : v) {
      if (!x.is_number() || !std::isfinite(x.get<double>()))
        throw SpecError(path + ": expected a number or a flat list of numbers, got " + show(v));
      out.push_back(x.get<double>());
    }
    return out;
  }
  throw SpecError(path + ": expected a number or a non-empty flat list of numbers, got " + show(v));
}

/// Parses a time key of Piecewise's `data` object.
double read_time_key(const std::string& key, const std::string& path) {
  size_t used = 0;
  double t = 0;
  // Decimal numbers only: stod alone would also take hex ("0x10") and leading spaces.
  const bool decimal = !key.empty() && key.find_first_not_of("0123456789+-.eE") == std::string::npos;
  try {
    if (decimal) t = std::stod(key, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != key.size() || !std::isfinite(t))
    throw SpecError(path + ": Piecewise keys are times in seconds, got \"" + key + "\"");
  return t;
}

ProcessPtr white_signal_from_json(const Fields& f) {
  WhiteSignalOptions o(f.positive("period", "WhiteSignal"),
                       f.number(f.require("high", "WhiteSignal"), "high"));
  if (o.high() < 1.0 / o.period())
    throw SpecError(f.at("high") + ": expected high >= 1/period = " + num(1.0 / o.period()) +
                    " Hz (or the signal is zero), got " + num(o.high()));
  if (f.get("rms")) o.rms(f.positive("rms", "WhiteSignal"));
  if (const json* v = f.get("y0")) o.y0(f.number(*v, "y0"));
  o.seed(f.seed());
  return std::make_shared<WhiteSignal>(o);
}

ProcessPtr white_noise_from_json(const Fields& f) {
  WhiteNoiseOptions o;
  if (const json* v = f.get("dist")) o.dist(distribution_from_json(*v, f.at("dist")));
  if (const json* v = f.get("scale")) {
    if (!v->is_boolean()) throw SpecError(f.at("scale") + ": expected true or false, got " + show(*v));
    o.scale(v->get<bool>());
  }
  o.seed(f.seed());
  return std::make_shared<WhiteNoise>(o);
}

ProcessPtr present_input_from_json(const Fields& f) {
  const json& in = f.require("inputs", "PresentInput");
  std::string error;
  auto t = json_util::tensor_from_json(in, error);
  if (!t.defined()) throw SpecError(f.at("inputs") + ": " + error);
  if (t.dim() == 0 || t.size(0) == 0 || t.numel() == 0)
    throw SpecError(f.at("inputs") + ": expected a non-empty list of inputs, got " + show(in));
  if (t.dim() == 1) t = t.unsqueeze(1);  // a list of scalars: one-dimensional inputs
  PresentInputOptions o(t, f.positive("presentation_time", "PresentInput"));
  o.seed(f.seed());
  return std::make_shared<PresentInput>(o);
}

ProcessPtr piecewise_from_json(const Fields& f) {
  const json& data = f.require("data", "Piecewise");
  const std::string dpath = f.at("data");
  std::map<double, std::vector<double>> points;
  size_t size = 0;
  auto add = [&](double t, std::vector<double> v, const std::string& vpath) {
    if (size == 0) size = v.size();
    if (v.size() != size)
      throw SpecError(vpath + ": expected " + std::to_string(size) + " values (as the first " +
                      "point), got " + std::to_string(v.size()));
    if (!points.emplace(t, std::move(v)).second)
      throw SpecError(vpath + ": time " + num(t) + " is given twice");
  };
  if (data.is_object() && !data.empty()) {
    // Object keys come back sorted as strings, not as numbers: the map orders them.
    for (auto it = data.begin(); it != data.end(); ++it) {
      const auto vpath = child(dpath, it.key());
      add(read_time_key(it.key(), vpath), read_values(it.value(), vpath), vpath);
    }
  } else if (data.is_array() && !data.empty()) {
    // [[t, value], ...] pairs, in increasing time.
    double last = -std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < data.size(); ++i) {
      const auto ipath = child(dpath, i);
      const auto& pt = data[i];
      if (!pt.is_array() || pt.size() != 2 || !pt[0].is_number())
        throw SpecError(ipath + ": expected a [time, value] pair, got " + show(pt));
      const double t = pt[0].get<double>();
      if (!std::isfinite(t)) throw SpecError(child(ipath, 0) + ": expected a finite time");
      if (!(t > last))
        throw SpecError(child(ipath, 0) + ": times must increase, got " + num(t) + " after " +
                        num(last));
      last = t;
      add(t, read_values(pt[1], child(ipath, 1)), child(ipath, 1));
    }
  } else {
    throw SpecError(dpath + ": expected an object {\"time\": value, ...} or a list of [time, " +
                    "value] pairs, got " + show(data));
  }
  PiecewiseOptions o(std::move(points));
  if (const json* v = f.get("interpolation")) {
    if (!v->is_string() || (v->get<std::string>() != "zero" && v->get<std::string>() != "linear"))
      throw SpecError(f.at("interpolation") + ": expected \"zero\" or \"linear\", got " + show(*v));
    o.interpolation(v->get<std::string>());
  }
  o.seed(f.seed());
  return std::make_shared<Piecewise>(o);
}

struct Entry {
  std::set<std::string> fields;
  ProcessPtr (*make)(const Fields&);
};

const std::map<std::string, Entry>& process_entries() {
  static const std::map<std::string, Entry> e = {
      {"WhiteSignal", {{"period", "high", "rms", "y0"}, &white_signal_from_json}},
      {"WhiteNoise", {{"dist", "scale"}, &white_noise_from_json}},
      {"PresentInput", {{"inputs", "presentation_time"}, &present_input_from_json}},
      {"Piecewise", {{"data", "interpolation"}, &piecewise_from_json}},
  };
  return e;
}

}  // namespace

std::vector<std::string> process_type_names() {
  std::vector<std::string> names;
  for (const auto& [k, v] : process_entries()) names.push_back(k);
  return names;
}

ProcessPtr process_from_json(const json& j, const std::string& path) {
  const std::string where = path.empty() ? "process" : path;
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    throw SpecError(where + ": expected a process object with a \"type\" string, got " + show(j));
  const auto type = j["type"].get<std::string>();
  const auto& entries = process_entries();
  auto it = entries.find(type);
  if (it == entries.end()) {
    std::string names;
    for (const auto& [k, v] : entries) names += (names.empty() ? "" : ", ") + k;
    throw SpecError(child(where, "type") + ": unknown process type \"" + type +
                    "\" (expected one of " + names + ")");
  }
  Fields f(j, where, type, it->second.fields);
  try {
    return it->second.make(f);
  } catch (const SpecError& e) {
    const std::string what = e.what();
    if (what.rfind(where, 0) == 0) throw;
    // A constructor's own check ("WhiteSignal: ..."): name the object's path.
    throw SpecError(where + ": " + what);
  }
}

}  // namespace snn
