// Layer types by name, for the spec's `layers`: the built-ins are added when the registry is
// first used; C++ users add theirs with register_layer.
#include <algorithm>
#include <mutex>

#include "build/layers_internal.h"
#include "snn/errors.h"

namespace snn {

namespace {

// The keys every layer object may have; the loader reads them, factories read the rest.
const std::vector<std::string>& common_keys() {
  static const std::vector<std::string> k = {"id", "type", "label", "shape_in", "trainable",
                                             "seed"};
  return k;
}

struct Registry {
  std::mutex mutex;
  std::map<std::string, LayerFactory> factories;
};

Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry();
    detail::add_dense_conv_layers(reg->factories);
    detail::add_pool_norm_layers(reg->factories);
    detail::add_activation_layers(reg->factories);
    return reg;
  }();
  return *r;
}

}  // namespace

void register_layer(const std::string& type, LayerFactory factory) {
  if (type.empty() || type == "Neurons")
    throw SpecError("register_layer: the name \"" + type + "\" cannot be registered");
  if (!factory) throw SpecError("register_layer(\"" + type + "\"): factory is empty");
  auto& reg = registry();
  std::lock_guard<std::mutex> lock(reg.mutex);
  reg.factories[type] = std::move(factory);
}

std::vector<std::string> layer_type_names() {
  auto& reg = registry();
  std::lock_guard<std::mutex> lock(reg.mutex);
  std::vector<std::string> names = {"Neurons"};
  for (const auto& [k, v] : reg.factories) names.push_back(k);
  std::sort(names.begin(), names.end());
  return names;
}

TensorNodeOptions layer_from_json(const nlohmann::json& spec, const std::string& path,
                                  const std::vector<int64_t>& shape_in) {
  if (!spec.is_object() || !spec.contains("type") || !spec["type"].is_string())
    throw SpecError(path + ": expected a layer object with a \"type\" string, got " +
                    spec.dump().substr(0, 60));
  const auto type = spec["type"].get<std::string>();
  LayerFactory factory;
  {
    auto& reg = registry();
    std::lock_guard<std::mutex> lock(reg.mutex);
    auto it = reg.factories.find(type);
    if (it != reg.factories.end()) factory = it->second;
  }
  if (!factory) {
    std::string names;
    for (const auto& n : layer_type_names()) names += (names.empty() ? "" : ", ") + n;
    throw SpecError(path + "/type: unknown layer type \"" + type + "\" (available: " + names +
                    ")");
  }
  auto o = factory(spec, path, shape_in);
  if (o.layer_spec().empty()) {
    // A factory that does not normalise its keys saves them back as given.
    nlohmann::json own = nlohmann::json::object();
    for (auto it = spec.begin(); it != spec.end(); ++it) {
      const auto& keys = common_keys();
      if (it.key() == "type" || std::find(keys.begin(), keys.end(), it.key()) == keys.end())
        own[it.key()] = it.value();
    }
    o.layer_spec(own.dump());
  }
  return o;
}

void check_layer_keys(const nlohmann::json& spec, const std::string& path, const std::string& type,
                      const std::vector<std::string>& allowed) {
  const auto& common = common_keys();
  for (auto it = spec.begin(); it != spec.end(); ++it) {
    const auto& k = it.key();
    if (std::find(common.begin(), common.end(), k) != common.end() ||
        std::find(allowed.begin(), allowed.end(), k) != allowed.end())
      continue;
    std::string expected;
    for (const auto& a : common) expected += (expected.empty() ? "" : ", ") + a;
    for (const auto& a : allowed) expected += ", " + a;
    throw SpecError(path + "/" + k + ": unknown key \"" + k + "\" in a " + type +
                    " layer (expected " + expected + ")");
  }
}

}  // namespace snn
