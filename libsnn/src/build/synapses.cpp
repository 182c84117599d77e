// Synapses as transfer functions, turned into discrete state space the way Nengo does:
// scipy-style tf2ss (controllable canonical form) then zero-order hold via the matrix
// exponential of the augmented system.
#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "snn/errors.h"
#include "snn/synapses.h"

namespace snn {

namespace {
std::vector<double> strip_leading_zeros(std::vector<double> v) {
  size_t i = 0;
  while (i + 1 < v.size() && v[i] == 0.0) ++i;
  return {v.begin() + static_cast<long>(i), v.end()};
}
}  // namespace

LinearFilter::LinearFilter(std::vector<double> num_, std::vector<double> den_, bool analog_)
    : num(std::move(num_)), den(std::move(den_)), analog(analog_) {
  if (num.empty() || den.empty()) throw SpecError("LinearFilter: num and den must not be empty");
  for (double v : num)
    if (!std::isfinite(v)) throw SpecError("LinearFilter: num must be finite");
  for (double v : den)
    if (!std::isfinite(v)) throw SpecError("LinearFilter: den must be finite");
  auto d = strip_leading_zeros(den);
  if (d[0] == 0.0) throw SpecError("LinearFilter: den must not be all zeros");
  if (strip_leading_zeros(num).size() > d.size())
    throw SpecError("LinearFilter: improper transfer function (num has a higher order than den)");
}

StateSpace LinearFilter::discretize(double dt) const {
  auto d = strip_leading_zeros(den);
  auto n = strip_leading_zeros(num);
  const double d0 = d[0];
  for (auto& v : d) v /= d0;
  for (auto& v : n) v /= d0;
  const size_t K = d.size();
  std::vector<double> np(K, 0.0);  // num padded on the left to den's length
  std::copy(n.begin(), n.end(), np.begin() + static_cast<long>(K - n.size()));
  StateSpace ss;
  ss.D = np[0];
  const int64_t ns = static_cast<int64_t>(K) - 1;
  if (ns == 0) return ss;
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  auto A = torch::zeros({ns, ns}, opts);
  auto B = torch::zeros({ns}, opts);
  auto C = torch::zeros({ns}, opts);
  for (int64_t j = 0; j < ns; ++j) {
    A[0][j] = -d[j + 1];
    C[j] = np[j + 1] - np[0] * d[j + 1];
  }
  for (int64_t i = 1; i < ns; ++i) A[i][i - 1] = 1.0;
  B[0] = 1.0;
  if (analog) {
    auto M = torch::zeros({ns + 1, ns + 1}, opts);
    M.slice(0, 0, ns).slice(1, 0, ns).copy_(A * dt);
    M.slice(0, 0, ns).select(1, ns).copy_(B * dt);
    auto E = torch::matrix_exp(M);
    if (!torch::isfinite(E).all().item<bool>()) {
      // exp(A dt) overflows inside the matrix exponential for a dt many orders of magnitude
      // beyond the filter's time constants; a silent NaN would reach every step.
      std::ostringstream s;
      s << "cannot discretise the synapse with dt " << dt
        << ": the matrix exponential of A dt overflowed (dt is too far beyond its time constants)";
      throw SpecError(s.str());
    }
    A = E.slice(0, 0, ns).slice(1, 0, ns).clone();
    B = E.slice(0, 0, ns).select(1, ns).clone();
  }
  ss.A = A;
  ss.B = B;
  ss.C = C;
  return ss;
}

nlohmann::json LinearFilter::to_json() const {
  return {{"type", "LinearFilter"}, {"num", num}, {"den", den}, {"analog", analog}};
}

Lowpass::Lowpass(double tau_) : LinearFilter({1.0}, {tau_, 1.0}), tau(tau_) {
  if (!(tau_ >= 0) || !std::isfinite(tau_))
    throw SpecError("Lowpass: expected tau >= 0, got " + std::to_string(tau_));
}
nlohmann::json Lowpass::to_json() const { return {{"type", "Lowpass"}, {"tau", tau}}; }

Alpha::Alpha(double tau_) : LinearFilter({1.0}, {tau_ * tau_, 2.0 * tau_, 1.0}), tau(tau_) {
  if (!(tau_ >= 0) || !std::isfinite(tau_))
    throw SpecError("Alpha: expected tau >= 0, got " + std::to_string(tau_));
}
nlohmann::json Alpha::to_json() const { return {{"type", "Alpha"}, {"tau", tau}}; }

Triangle::Triangle(double t_) : t(t_) {
  if (!(t_ >= 0) || !std::isfinite(t_))
    throw SpecError("Triangle: expected t >= 0, got " + std::to_string(t_));
}
nlohmann::json Triangle::to_json() const { return {{"type", "Triangle"}, {"t", t}}; }

std::vector<double> Triangle::taps(double dt) const {
  // numpy rounds halves to even (Nengo: int(np.round(t / dt))); so does nearbyint.
  const auto n = static_cast<int64_t>(std::nearbyint(t / dt)) + 1;
  // The filter runs as a dense state space of n - 1 states (a matrix product per step).
  if (n > 1001)
    throw SpecError("Triangle: t = " + std::to_string(t) + " s spans " + std::to_string(n) +
                    " steps of dt = " + std::to_string(dt) + " (at most 1001)");
  std::vector<double> w(static_cast<size_t>(n));
  const double sum = static_cast<double>(n) * static_cast<double>(n + 1) / 2.0;
  for (int64_t k = 0; k < n; ++k) w[static_cast<size_t>(k)] = static_cast<double>(n - k) / sum;
  return w;
}

StateSpace Triangle::discretize(double dt) const {
  // The FIR sum_k w[k] u[n-k] is the digital transfer function (w0 z^m + ... + wm) / z^m.
  auto w = taps(dt);
  std::vector<double> den(w.size(), 0.0);
  den[0] = 1.0;
  return LinearFilter(w, den, false).discretize(dt);
}

namespace {
double number_at(const nlohmann::json& j, const char* key, const std::string& path) {
  if (!j.contains(key)) throw SpecError(path + ": missing \"" + key + "\"");
  if (!j[key].is_number())
    throw SpecError(path + "/" + key + ": expected a number, got " + j[key].dump());
  return j[key].get<double>();
}
std::vector<double> numbers_at(const nlohmann::json& j, const char* key, const std::string& path) {
  if (!j.contains(key)) throw SpecError(path + ": missing \"" + key + "\"");
  const auto& a = j[key];
  if (!a.is_array() || a.empty())
    throw SpecError(path + "/" + key + ": expected a non-empty list of numbers, got " + a.dump());
  std::vector<double> out;
  for (const auto& x : a) {
    if (!x.is_number())
      throw SpecError(path + "/" + key + ": expected a list of numbers, got " + a.dump());
    out.push_back(x.get<double>());
  }
  return out;
}
void only_keys(const nlohmann::json& j, std::initializer_list<const char*> keys,
               const std::string& path, const std::string& type) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool ok = it.key() == "type";
    for (const char* k : keys) ok = ok || it.key() == k;
    if (!ok) throw SpecError(path + ": unknown key \"" + it.key() + "\" for " + type);
  }
}
}  // namespace

SynapsePtr synapse_from_json(const nlohmann::json& j, const std::string& path) {
  const std::string where = path.empty() ? "synapse" : path;
  try {
    if (j.is_null()) return nullptr;
    if (j.is_number()) return std::make_shared<Lowpass>(j.get<double>());
    if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
      throw SpecError("expected null, a number (Lowpass tau) or an object with \"type\", got " +
                      j.dump());
    const auto type = j["type"].get<std::string>();
    if (type == "Lowpass") {
      only_keys(j, {"tau"}, where, type);
      return std::make_shared<Lowpass>(number_at(j, "tau", where));
    }
    if (type == "Alpha") {
      only_keys(j, {"tau"}, where, type);
      return std::make_shared<Alpha>(number_at(j, "tau", where));
    }
    if (type == "LinearFilter") {
      only_keys(j, {"num", "den", "analog"}, where, type);
      bool analog = true;
      if (j.contains("analog")) {
        if (!j["analog"].is_boolean())
          throw SpecError(where + "/analog: expected true or false, got " + j["analog"].dump());
        analog = j["analog"].get<bool>();
      }
      return std::make_shared<LinearFilter>(numbers_at(j, "num", where),
                                            numbers_at(j, "den", where), analog);
    }
    if (type == "Triangle") {
      only_keys(j, {"t"}, where, type);
      return std::make_shared<Triangle>(number_at(j, "t", where));
    }
    throw SpecError("unknown synapse type \"" + type +
                    "\" (expected Lowpass, Alpha, LinearFilter, Triangle)");
  } catch (const SpecError& e) {
    const std::string msg = e.what();
    if (msg.rfind(where, 0) == 0) throw;
    throw SpecError(where + ": " + msg);
  }
}

nlohmann::json synapse_to_json(const SynapsePtr& s) {
  if (!s) return nullptr;
  return s->to_json();
}

}  // namespace snn
