#pragma once
// Test helpers for the converter: reading the reference outputs of shared/keras-models and
// writing small Keras-layout HDF5 model files (model_config + model_weights, as Keras 2 writes
// them: fixed-length weight_names, ':0' dataset names, empty float64 weight_names for layers
// without weights).
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <H5Cpp.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace snn::testing {

inline const std::string kKerasDir = SNN_SHARED_DIR "/keras-models";

/// A float dataset of an HDF5 file as float64.
inline torch::Tensor read_h5_array(const std::string& path, const std::string& name) {
  H5::H5File f(path, H5F_ACC_RDONLY);
  H5::DataSet ds = f.openDataSet(name);
  H5::DataSpace sp = ds.getSpace();
  std::vector<hsize_t> dims(static_cast<size_t>(sp.getSimpleExtentNdims()));
  sp.getSimpleExtentDims(dims.data());
  auto t = torch::empty(std::vector<int64_t>(dims.begin(), dims.end()), torch::kFloat64);
  ds.read(t.data_ptr(), H5::PredType::NATIVE_DOUBLE);
  return t;
}

inline bool h5_has(const std::string& path, const std::string& name) {
  H5::H5File f(path, H5F_ACC_RDONLY);
  return f.nameExists(name);
}

/// One layer of a test model: its weights as (name, value) in weight_names order.
struct TestLayer {
  std::string name;
  std::vector<std::pair<std::string, torch::Tensor>> weights;
};

/// Writes a Keras-2-style model file with `model_config` and the weights of `layers`.
inline void write_keras_file(const std::string& path, const nlohmann::json& model_config,
                             const std::vector<TestLayer>& layers) {
  H5::H5File f(path, H5F_ACC_TRUNC);
  auto str_attr = [](H5::H5Object& obj, const std::string& name, const std::string& value) {
    H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
    H5::Attribute a = obj.createAttribute(name, t, H5::DataSpace(H5S_SCALAR));
    a.write(t, value);
  };
  auto fixed_list = [](H5::H5Object& obj, const std::string& name,
                       const std::vector<std::string>& values) {
    if (values.empty()) {
      hsize_t zero = 0;
      H5::DataSpace sp(1, &zero);
      obj.createAttribute(name, H5::PredType::NATIVE_DOUBLE, sp);
      return;
    }
    size_t len = 1;
    for (const auto& v : values) len = std::max(len, v.size());
    H5::StrType t(H5::PredType::C_S1, len);
    t.setStrpad(H5T_STR_NULLPAD);
    std::vector<char> buf(len * values.size(), '\0');
    for (size_t i = 0; i < values.size(); ++i) std::copy(values[i].begin(), values[i].end(), buf.begin() + i * len);
    hsize_t n = values.size();
    H5::DataSpace sp(1, &n);
    H5::Attribute a = obj.createAttribute(name, t, sp);
    a.write(t, buf.data());
  };
  str_attr(f, "model_config", model_config.dump());
  str_attr(f, "keras_version", "2.3.1");
  str_attr(f, "backend", "tensorflow");
  H5::Group mw = f.createGroup("model_weights");
  std::vector<std::string> names;
  for (const auto& l : layers) names.push_back(l.name);
  fixed_list(mw, "layer_names", names);
  for (const auto& l : layers) {
    H5::Group g = mw.createGroup(l.name);
    std::vector<std::string> wn;
    if (!l.weights.empty()) g.createGroup(l.name);
    for (const auto& [name, value] : l.weights) {
      const std::string full = l.name + "/" + name + ":0";
      wn.push_back(full);
      auto v = value.to(torch::kFloat32).contiguous();
      std::vector<hsize_t> dims(v.sizes().begin(), v.sizes().end());
      H5::DataSpace sp(static_cast<int>(dims.size()), dims.data());
      H5::DataSet ds = g.createDataSet(full, H5::PredType::NATIVE_FLOAT, sp);
      ds.write(v.data_ptr(), H5::PredType::NATIVE_FLOAT);
    }
    fixed_list(g, "weight_names", wn);
  }
}

/// A functional-model layer entry for model_config.
inline nlohmann::json fn_layer(const std::string& cls, const std::string& name, nlohmann::json config,
                               const std::vector<std::string>& inbound) {
  config["name"] = name;
  nlohmann::json nodes = nlohmann::json::array();
  if (!inbound.empty()) {
    nlohmann::json node = nlohmann::json::array();
    for (const auto& i : inbound) node.push_back({i, 0, 0, nlohmann::json::object()});
    nodes.push_back(node);
  }
  return {{"class_name", cls}, {"name", name}, {"config", config}, {"inbound_nodes", nodes}};
}

inline nlohmann::json functional_config(const std::vector<nlohmann::json>& layers,
                                        const std::string& input, const std::string& output) {
  return {{"class_name", "Model"},
          {"config",
           {{"name", "model"},
            {"layers", layers},
            {"input_layers", {{input, 0, 0}}},
            {"output_layers", {{output, 0, 0}}}}}};
}

}  // namespace snn::testing
