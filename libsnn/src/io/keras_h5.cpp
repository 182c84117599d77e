// Reading Keras' HDF5 model files: the `model_config` JSON attribute (Sequential or
// functional) and the weights under `model_weights/<layer>/`, with the quirks of the many
// Keras versions that write them (shared/keras-models/README.md):
// - weight_names as fixed-length byte strings (Keras 2) or variable-length strings (Keras 3),
//   or an empty float64 array for a layer without weights;
// - weight paths `<layer>/kernel:0` (Keras 2) or `sequential/<layer>/kernel` (Keras 3),
//   always relative to the layer's group, read in the order weight_names gives;
// - a Sequential `config` that is a bare list (standalone Keras 2.1) or {name, layers};
// - no InputLayer in a Keras 2 Sequential (the first layer's batch_input_shape is the input).
#include <filesystem>

#include <torch/torch.h>

#include "snn/converter.h"
#include "snn/errors.h"

#if SNN_HAVE_HDF5
#include <H5Cpp.h>
#endif

namespace snn {

const torch::Tensor& KerasLayer::weight(const std::string& n) const {
  auto it = weights.find(n);
  if (it == weights.end()) {
    std::string have;
    for (const auto& w : weight_order) have += (have.empty() ? "" : ", ") + w;
    throw SpecError("Keras layer \"" + name + "\" (" + class_name + "): no weight \"" + n +
                    "\" (it has: " + (have.empty() ? "none" : have) + ")");
  }
  return it->second;
}

const KerasLayer& KerasModel::layer(const std::string& n) const {
  for (const auto& l : layers)
    if (l.name == n) return l;
  throw SpecError(path + ": no layer \"" + n + "\" in the model");
}

std::vector<int64_t> KerasModel::input_shape(const std::string& n) const {
  const auto& l = layer(n);
  const auto& c = l.config;
  const char* keys[] = {"batch_shape", "batch_input_shape"};
  for (const char* k : keys) {
    if (!c.contains(k) || !c[k].is_array()) continue;
    std::vector<int64_t> s;
    for (size_t i = 1; i < c[k].size(); ++i) {
      if (!c[k][i].is_number_integer())
        throw SpecError(path + ": input layer \"" + n + "\": " + k + " " + c[k].dump() +
                        " has an unknown size (only fully known shapes convert)");
      s.push_back(c[k][i].get<int64_t>());
    }
    return s;
  }
  throw SpecError(path + ": input layer \"" + n + "\" has no batch_input_shape / batch_shape");
}

#if SNN_HAVE_HDF5

namespace {

/// Layer objects of the config, whatever the model class.
std::pair<std::string, nlohmann::json> config_layers(const nlohmann::json& mc,
                                                     const std::string& path) {
  if (!mc.is_object() || !mc.contains("class_name") || !mc.contains("config"))
    throw SpecError(path + ": model_config: expected {\"class_name\", \"config\"}");
  const std::string cls = mc["class_name"].is_string() ? mc["class_name"].get<std::string>() : "";
  const auto& cfg = mc["config"];
  if (cfg.is_array()) return {cls, cfg};  // standalone Keras 2.1 Sequential
  if (cfg.is_object() && cfg.contains("layers") && cfg["layers"].is_array())
    return {cls, cfg["layers"]};
  throw SpecError(path + ": model_config/config: expected a list of layers or {\"layers\": [...]}");
}

/// Inbound layer names of a functional layer: Keras 2's [[[name, node, tensor, {}], ...]],
/// or Keras 3's [{"args": [{"config": {"keras_history": [name, node, tensor]}}, ...]}].
std::vector<std::string> inbound_names(const nlohmann::json& layer, const std::string& where) {
  std::vector<std::string> out;
  if (!layer.contains("inbound_nodes") || !layer["inbound_nodes"].is_array() ||
      layer["inbound_nodes"].empty())
    return out;
  if (layer["inbound_nodes"].size() > 1)
    throw SpecError(where + ": the layer is used more than once (shared layers do not convert)");
  const auto& node = layer["inbound_nodes"][0];
  std::function<void(const nlohmann::json&)> scan = [&](const nlohmann::json& j) {
    if (j.is_object()) {
      if (j.contains("keras_history") && j["keras_history"].is_array() &&
          !j["keras_history"].empty() && j["keras_history"][0].is_string()) {
        out.push_back(j["keras_history"][0].get<std::string>());
        return;
      }
      for (auto it = j.begin(); it != j.end(); ++it)
        if (it.key() != "kwargs") scan(it.value());
    } else if (j.is_array()) {
      for (const auto& e : j) scan(e);
    }
  };
  if (node.is_array()) {
    for (const auto& t : node) {
      if (t.is_array() && !t.empty() && t[0].is_string())
        out.push_back(t[0].get<std::string>());
      else
        throw SpecError(where + "/inbound_nodes: expected [name, node_index, tensor_index, {}]");
    }
  } else {
    scan(node);
  }
  return out;
}

/// [[name, node, tensor], ...] or, in Keras 3 single-tensor form, [name, node, tensor].
std::vector<std::string> io_names(const nlohmann::json& j) {
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  if (!j.empty() && j[0].is_string()) {
    out.push_back(j[0].get<std::string>());
    return out;
  }
  for (const auto& e : j)
    if (e.is_array() && !e.empty() && e[0].is_string()) out.push_back(e[0].get<std::string>());
  return out;
}

std::string read_string_attr(const H5::H5Object& obj, const std::string& name,
                             const std::string& where) {
  if (!obj.attrExists(name)) throw DataError(where + ": no attribute \"" + name + "\"");
  H5::Attribute a = obj.openAttribute(name);
  if (a.getTypeClass() != H5T_STRING)
    throw DataError(where + ": attribute \"" + name + "\" is not a string");
  std::string s;
  a.read(a.getStrType(), s);  // handles fixed and variable length alike
  // Fixed-length NULLPAD strings may carry trailing NULs.
  while (!s.empty() && s.back() == '\0') s.pop_back();
  return s;
}

/// A list-of-strings attribute (layer_names, weight_names): fixed-length byte strings,
/// variable-length strings, or an empty float64 array (no names).
std::vector<std::string> read_string_list(const H5::H5Object& obj, const std::string& name,
                                          const std::string& where) {
  std::vector<std::string> out;
  if (!obj.attrExists(name)) return out;
  H5::Attribute a = obj.openAttribute(name);
  H5::DataSpace space = a.getSpace();
  const hssize_t n = space.getSimpleExtentNpoints();
  if (a.getTypeClass() != H5T_STRING) {
    if (n == 0) return out;  // Keras writes an empty float64 array for "no weights"
    throw DataError(where + ": attribute \"" + name + "\" is neither strings nor empty");
  }
  if (n <= 0) return out;
  H5::StrType type = a.getStrType();
  if (type.isVariableStr()) {
    std::vector<char*> ptrs(static_cast<size_t>(n), nullptr);
    H5::StrType mem(H5::PredType::C_S1, H5T_VARIABLE);
    a.read(mem, ptrs.data());
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    H5Dvlen_reclaim(mem.getId(), space.getId(), H5P_DEFAULT, ptrs.data());
  } else {
    const size_t len = type.getSize();
    std::vector<char> buf(len * static_cast<size_t>(n));
    a.read(type, buf.data());
    for (hssize_t i = 0; i < n; ++i) {
      std::string s(buf.data() + static_cast<size_t>(i) * len, len);
      s = s.substr(0, s.find('\0'));
      out.push_back(s);
    }
  }
  return out;
}

torch::Tensor read_weight(const H5::Group& g, const std::string& name, const std::string& where) {
  H5::DataSet ds = g.openDataSet(name);
  if (ds.getTypeClass() != H5T_FLOAT && ds.getTypeClass() != H5T_INTEGER)
    throw DataError(where + ": expected numbers");
  H5::DataSpace space = ds.getSpace();
  const int rank = space.getSimpleExtentNdims();
  std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 0)));
  if (rank > 0) space.getSimpleExtentDims(dims.data());
  std::vector<int64_t> sizes(dims.begin(), dims.end());
  auto t = torch::empty(sizes, torch::kFloat64);
  if (t.numel() > 0) ds.read(t.data_ptr(), H5::PredType::NATIVE_DOUBLE);
  if (!torch::isfinite(t).all().item<bool>())
    throw DataError(where + ": contains NaN or infinite values");
  return t;
}

/// "dense/kernel:0" or "sequential/dense/kernel" -> "kernel".
std::string short_name(const std::string& weight_name) {
  std::string s = weight_name.substr(weight_name.rfind('/') + 1);
  const auto colon = s.rfind(':');
  if (colon != std::string::npos) s = s.substr(0, colon);
  return s;
}

/// Every dataset below `g` (for files without weight_names), by path relative to g.
void list_datasets(const H5::Group& g, const std::string& prefix, std::vector<std::string>& out) {
  for (hsize_t i = 0; i < g.getNumObjs(); ++i) {
    const std::string n = g.getObjnameByIdx(i);
    const auto type = g.getObjTypeByIdx(i);
    if (type == H5G_DATASET)
      out.push_back(prefix + n);
    else if (type == H5G_GROUP)
      list_datasets(g.openGroup(n), prefix + n + "/", out);
  }
}

}  // namespace

KerasModel read_keras_model(const std::string& path) {
  if (!std::filesystem::exists(path)) throw DataError(path + ": no such file");
  H5::Exception::dontPrint();
  KerasModel m;
  m.path = path;
  try {
    if (!H5::H5File::isHdf5(path))
      throw DataError(path + ": not an HDF5 file (expected a Keras .h5 model)");
    H5::H5File file(path, H5F_ACC_RDONLY);
    if (!file.attrExists("model_config"))
      throw DataError(path + ": not a Keras model file: no \"model_config\" attribute at the root "
                             "(a weights-only file or another HDF5 file?)");
    const std::string text = read_string_attr(file, "model_config", path);
    if (file.attrExists("keras_version"))
      m.keras_version = read_string_attr(file, "keras_version", path);
    if (file.attrExists("backend")) m.backend = read_string_attr(file, "backend", path);
    nlohmann::json mc;
    try {
      mc = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      throw DataError(path + ": model_config is not valid JSON: " + e.what());
    }
    auto [cls, layers] = config_layers(mc, path);
    m.model_class = cls;
    if (mc["config"].is_object() && mc["config"].contains("name") &&
        mc["config"]["name"].is_string())
      m.name = mc["config"]["name"].get<std::string>();
    const bool sequential = cls == "Sequential";
    if (!sequential && cls != "Model" && cls != "Functional")
      throw SpecError(path + ": model_config: unsupported model class \"" + cls +
                      "\" (expected Sequential, Model or Functional)");
    if (!file.nameExists("model_weights"))
      throw DataError(path + ": not a Keras model file: no /model_weights group");
    H5::Group weights = file.openGroup("model_weights");

    for (size_t i = 0; i < layers.size(); ++i) {
      const auto& lj = layers[i];
      const std::string where = path + ": model_config layer " + std::to_string(i);
      if (!lj.is_object() || !lj.contains("class_name") || !lj.contains("config") ||
          !lj["config"].is_object())
        throw SpecError(where + ": expected {\"class_name\", \"config\"}");
      KerasLayer l;
      l.class_name = lj["class_name"].get<std::string>();
      l.config = lj["config"];
      if (lj.contains("name") && lj["name"].is_string())
        l.name = lj["name"].get<std::string>();
      else if (l.config.contains("name") && l.config["name"].is_string())
        l.name = l.config["name"].get<std::string>();
      else
        throw SpecError(where + " (" + l.class_name + "): the layer has no name");
      if (l.class_name == "Sequential" || l.class_name == "Model" || l.class_name == "Functional")
        throw SpecError(where + " \"" + l.name + "\": nested models do not convert (flatten the "
                                                 "model first)");
      if (sequential) {
        if (i == 0 && l.class_name != "InputLayer") {
          // Keras 2 Sequential: the input is implicit, shaped by the first layer.
          KerasLayer in;
          in.name = "input";
          in.class_name = "InputLayer";
          nlohmann::json shape;
          if (l.config.contains("batch_input_shape"))
            shape = l.config["batch_input_shape"];
          else if (mc["config"].is_object() && mc["config"].contains("build_input_shape"))
            shape = mc["config"]["build_input_shape"];
          else
            throw SpecError(where + " \"" + l.name +
                            "\": a Sequential model without an InputLayer needs the first "
                            "layer's batch_input_shape");
          in.config = {{"name", "input"}, {"batch_input_shape", shape}};
          m.layers.push_back(in);
        }
        if (!m.layers.empty()) l.inbound = {m.layers.back().name};
      } else {
        l.inbound = inbound_names(lj, where + " \"" + l.name + "\"");
      }
      // Weights, in weight_names order.
      if (weights.nameExists(l.name)) {
        H5::Group g = weights.openGroup(l.name);
        const std::string gw = path + ": /model_weights/" + l.name;
        auto names = read_string_list(g, "weight_names", gw);
        if (!g.attrExists("weight_names")) list_datasets(g, "", names);
        for (const auto& wn : names) {
          if (!g.nameExists(wn))
            throw DataError(gw + ": weight \"" + wn + "\" listed in weight_names is missing");
          const std::string sn = short_name(wn);
          l.weights[sn] = read_weight(g, wn, gw + "/" + wn);
          l.weight_order.push_back(sn);
        }
      }
      m.layers.push_back(std::move(l));
    }
    if (m.layers.empty()) throw SpecError(path + ": model_config has no layers");
    if (sequential) {
      m.input_layers = {m.layers.front().name};
      m.output_layers = {m.layers.back().name};
    } else {
      m.input_layers = io_names(mc["config"].value("input_layers", nlohmann::json()));
      m.output_layers = io_names(mc["config"].value("output_layers", nlohmann::json()));
      if (m.input_layers.empty() || m.output_layers.empty())
        throw SpecError(path + ": model_config/config: no input_layers / output_layers");
    }
    if (m.layers.empty()) throw SpecError(path + ": model_config has no layers");
  } catch (const H5::Exception& e) {
    throw DataError(path + ": cannot read the Keras model: " + e.getDetailMsg());
  }
  return m;
}

#else

KerasModel read_keras_model(const std::string& path) {
  throw DataError(path + ": cannot read Keras models: libsnn was built without HDF5");
}

#endif

}  // namespace snn
