// Neuron types by name, for the JSON loader: each type reads its own parameters with Nengo's
// names and defaults; unknown parameters are errors.
#include <mutex>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "build/neuron_types_spiking_internal.h"
#include "snn/errors.h"
#include "snn/neurons.h"

namespace snn {

namespace {

struct Registry {
  std::mutex mutex;
  std::map<std::string, NeuronFactory> factories;
};

/// Reads numeric parameters from `j`, rejecting unknown keys; `defaults` lists every allowed
/// parameter with its default value.
std::map<std::string, double> read_params(const nlohmann::json& j, const std::string& path,
                                          const std::string& type,
                                          const std::map<std::string, double>& defaults) {
  std::map<std::string, double> out = defaults;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "type" || it.key() == "initial_state") continue;
    auto d = defaults.find(it.key());
    if (d == defaults.end()) {
      std::string allowed;
      for (const auto& [k, v] : defaults) allowed += (allowed.empty() ? "" : ", ") + k;
      throw SpecError(path + ": unknown parameter \"" + it.key() + "\" for " + type +
                      " (expected " + (allowed.empty() ? "none" : allowed) + ")");
    }
    if (!it.value().is_number())
      throw SpecError(path + "/" + it.key() + ": expected a number, got " + it.value().dump());
    out[it.key()] = it.value().get<double>();
  }
  return out;
}

void require(bool ok, const std::string& path, const std::string& what) {
  if (!ok) throw SpecError(path + ": " + what);
}

Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry();
    auto lif_like = [](const std::string& path, const std::map<std::string, double>& p) {
      require(p.at("tau_rc") > 0, path + "/tau_rc", "expected tau_rc > 0");
      require(p.at("tau_ref") >= 0, path + "/tau_ref", "expected tau_ref >= 0");
    };
    reg->factories["LIF"] = [lif_like](const nlohmann::json& j, const std::string& path) {
      auto p = read_params(j, path, "LIF",
                           {{"tau_rc", 0.02}, {"tau_ref", 0.002}, {"min_voltage", 0.0},
                            {"amplitude", 1.0}});
      lif_like(path, p);
      return std::make_shared<LIF>(LIFOptions()
                                       .tau_rc(p["tau_rc"])
                                       .tau_ref(p["tau_ref"])
                                       .min_voltage(p["min_voltage"])
                                       .amplitude(p["amplitude"]));
    };
    reg->factories["LIFRate"] = [lif_like](const nlohmann::json& j, const std::string& path) {
      auto p = read_params(j, path, "LIFRate",
                           {{"tau_rc", 0.02}, {"tau_ref", 0.002}, {"amplitude", 1.0}});
      lif_like(path, p);
      return std::make_shared<LIFRate>(
          LIFRateOptions().tau_rc(p["tau_rc"]).tau_ref(p["tau_ref"]).amplitude(p["amplitude"]));
    };
    reg->factories["SoftLIFRate"] = [lif_like](const nlohmann::json& j, const std::string& path) {
      auto p = read_params(j, path, "SoftLIFRate",
                           {{"sigma", 1.0}, {"tau_rc", 0.02}, {"tau_ref", 0.002}, {"amplitude", 1.0}});
      lif_like(path, p);
      require(p.at("sigma") > 0, path + "/sigma", "expected sigma > 0");
      return std::make_shared<SoftLIFRate>(SoftLIFRateOptions()
                                               .sigma(p["sigma"])
                                               .tau_rc(p["tau_rc"])
                                               .tau_ref(p["tau_ref"])
                                               .amplitude(p["amplitude"]));
    };
    reg->factories["RectifiedLinear"] = [](const nlohmann::json& j, const std::string& path) {
      auto p = read_params(j, path, "RectifiedLinear", {{"amplitude", 1.0}});
      return std::make_shared<RectifiedLinear>(RectifiedLinearOptions().amplitude(p["amplitude"]));
    };
    reg->factories["SpikingRectifiedLinear"] = [](const nlohmann::json& j,
                                                  const std::string& path) {
      auto p = read_params(j, path, "SpikingRectifiedLinear", {{"amplitude", 1.0}});
      return std::make_shared<SpikingRectifiedLinear>(
          RectifiedLinearOptions().amplitude(p["amplitude"]));
    };
    auto leaky_relu = [](const nlohmann::json& j, const std::string& path, const std::string& type) {
      auto p = read_params(j, path, type, {{"negative_slope", 0.3}, {"amplitude", 1.0}});
      return LeakyReLUOptions().negative_slope(p["negative_slope"]).amplitude(p["amplitude"]);
    };
    reg->factories["LeakyReLU"] = [leaky_relu](const nlohmann::json& j, const std::string& path) {
      return std::make_shared<LeakyReLU>(leaky_relu(j, path, "LeakyReLU"));
    };
    reg->factories["SpikingLeakyReLU"] = [leaky_relu](const nlohmann::json& j,
                                                      const std::string& path) {
      return std::make_shared<SpikingLeakyReLU>(leaky_relu(j, path, "SpikingLeakyReLU"));
    };
    reg->factories["Direct"] = [](const nlohmann::json& j, const std::string& path) {
      read_params(j, path, "Direct", {});
      return std::make_shared<Direct>();
    };
    reg->factories["Sigmoid"] = [](const nlohmann::json& j, const std::string& path) {
      auto p = read_params(j, path, "Sigmoid", {{"tau_ref", 0.0025}});
      require(p.at("tau_ref") > 0, path + "/tau_ref", "expected tau_ref > 0");
      return std::make_shared<Sigmoid>(SigmoidOptions().tau_ref(p["tau_ref"]));
    };
    reg->factories["Tanh"] = [](const nlohmann::json& j, const std::string& path) {
      auto p = read_params(j, path, "Tanh", {{"tau_ref", 0.0025}});
      require(p.at("tau_ref") > 0, path + "/tau_ref", "expected tau_ref > 0");
      return std::make_shared<Tanh>(TanhOptions().tau_ref(p["tau_ref"]));
    };
    auto adaptive = [lif_like](const std::string& name, bool spiking) {
      return [lif_like, name, spiking](const nlohmann::json& j, const std::string& path) -> NeuronTypePtr {
        std::map<std::string, double> dflt{{"tau_n", 1.0}, {"inc_n", 0.01}, {"tau_rc", 0.02},
                                           {"tau_ref", 0.002}, {"amplitude", 1.0}};
        if (spiking) dflt["min_voltage"] = 0.0;
        auto p = read_params(j, path, name, dflt);
        lif_like(path, p);
        require(p.at("tau_n") > 0, path + "/tau_n", "expected tau_n > 0");
        AdaptiveLIFOptions o;
        o.tau_n(p["tau_n"]).inc_n(p["inc_n"]).tau_rc(p["tau_rc"]).tau_ref(p["tau_ref"])
            .amplitude(p["amplitude"]);
        if (spiking) {
          o.min_voltage(p["min_voltage"]);
          return std::make_shared<AdaptiveLIF>(o);
        }
        return std::make_shared<AdaptiveLIFRate>(o);
      };
    };
    reg->factories["AdaptiveLIF"] = adaptive("AdaptiveLIF", true);
    reg->factories["AdaptiveLIFRate"] = adaptive("AdaptiveLIFRate", false);
    reg->factories["Izhikevich"] = [](const nlohmann::json& j, const std::string& path) {
      auto p = read_params(j, path, "Izhikevich",
                           {{"tau_recovery", 0.02}, {"coupling", 0.2}, {"reset_voltage", -65.0},
                            {"reset_recovery", 8.0}});
      if (!(p["tau_recovery"] > 0))  // Nengo: tau_recovery > 0
        throw SpecError(path + "/tau_recovery: expected a number > 0, got " +
                        std::to_string(p["tau_recovery"]));
      return std::make_shared<Izhikevich>(IzhikevichOptions()
                                              .tau_recovery(p["tau_recovery"])
                                              .coupling(p["coupling"])
                                              .reset_voltage(p["reset_voltage"])
                                              .reset_recovery(p["reset_recovery"]));
    };
    for (const char* name : {"RegularSpiking", "StochasticSpiking", "PoissonSpiking"})
      reg->factories[name] = [type = std::string(name)](const nlohmann::json& j,
                                                        const std::string& path) {
        return detail::rates_to_spikes_from_json(type, j, path);
      };
    return reg;
  }();
  return *r;
}

}  // namespace

void register_neuron_type(const std::string& name, NeuronFactory factory) {
  auto& reg = registry();
  std::lock_guard<std::mutex> lock(reg.mutex);
  reg.factories[name] = std::move(factory);
}

std::vector<std::string> neuron_type_names() {
  auto& reg = registry();
  std::lock_guard<std::mutex> lock(reg.mutex);
  std::vector<std::string> names;
  for (const auto& [k, v] : reg.factories) names.push_back(k);
  return names;
}

NeuronTypePtr neuron_type_from_json(const nlohmann::json& j, const std::string& path) {
  const std::string where = path.empty() ? "neuron_type" : path;
  if (j.is_string()) return neuron_type_from_json(nlohmann::json{{"type", j}}, path);
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    throw SpecError(where + ": expected an object with a \"type\" string, got " + j.dump());
  const auto type = j["type"].get<std::string>();
  NeuronFactory factory;
  {
    auto& reg = registry();
    std::lock_guard<std::mutex> lock(reg.mutex);
    auto it = reg.factories.find(type);
    if (it == reg.factories.end()) {
      std::string names;
      for (const auto& [k, v] : reg.factories) names += (names.empty() ? "" : ", ") + k;
      throw SpecError(where + "/type: unknown neuron type \"" + type + "\" (available: " + names +
                      ")");
    }
    factory = it->second;
  }
  auto made = factory(j, where);
  if (!j.contains("initial_state")) return made;
  const auto& st = j["initial_state"];
  if (!st.is_object())
    throw SpecError(where + "/initial_state: expected an object of state variables");
  // Copy to attach the initial state (types are immutable once shared).
  auto mutable_copy = std::const_pointer_cast<NeuronType>(made);
  for (auto it = st.begin(); it != st.end(); ++it) {
    const auto spath = where + "/initial_state/" + it.key();
    bool known = false;
    for (const auto& [name, dflt] : made->default_state()) known = known || name == it.key();
    if (!known) {
      std::string names;
      for (const auto& [name, dflt] : made->default_state())
        names += (names.empty() ? "" : ", ") + name;
      throw SpecError(spath + ": " + type + " has no state variable \"" + it.key() +
                      "\" (state: " + (names.empty() ? "none" : names) + ")");
    }
    const auto& v = it.value();
    if (v.is_number()) {
      mutable_copy->initial_state[it.key()] = Init(v.get<double>());
    } else if (v.is_array()) {
      std::vector<double> vals;
      for (const auto& x : v) {
        if (!x.is_number()) throw SpecError(spath + ": expected a list of numbers");
        vals.push_back(x.get<double>());
      }
      mutable_copy->initial_state[it.key()] = Init(vals);
    } else if (v.is_object()) {
      mutable_copy->initial_state[it.key()] = Init(distribution_from_json(v, spath));
    } else {
      throw SpecError(spath + ": expected a number, a list or a distribution, got " + v.dump());
    }
  }
  return made;
}

nlohmann::json NeuronType::to_json() const {
  nlohmann::json j = params();
  j["type"] = type();
  if (!initial_state.empty()) {
    nlohmann::json st = nlohmann::json::object();
    for (const auto& [name, init] : initial_state) {
      if (init.is_distribution()) {
        st[name] = init.distribution()->to_json();
      } else {
        const auto t = init.literal().to(torch::kFloat64).contiguous();
        if (t.dim() == 0) {
          st[name] = t.item<double>();
        } else {
          st[name] = std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
        }
      }
    }
    j["initial_state"] = st;
  }
  return j;
}

std::string NeuronType::block_key() const {
  nlohmann::json j = params();
  j["type"] = type();
  return j.dump();
}

}  // namespace snn
