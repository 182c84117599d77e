#pragma once
// The converter's state (Converter::Impl) and the helpers its layer converters share: the
// synapse rule, activation objects with firing-rate scaling, fallback TensorNodes from the
// JSON layer registry, and the reference forward passes used by verify().
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "snn/converter.h"
#include "snn/errors.h"
#include "snn/layers.h"
#include "snn/tensor_node.h"

namespace snn {

/// What a layer converter made: its output object and shape, and the object holding the
/// value before the layer's activation (same as output without one).
struct Converted {
  ObjRef output;
  std::vector<int64_t> shape;
  ObjRef pre_activation;
};

struct Converter::Impl {
  ConverterOptions options;
  std::optional<KerasModel> keras;
  std::shared_ptr<torch::nn::SequentialImpl> sequential;
  std::vector<int64_t> sequential_shape;

  NetworkPtr net;
  std::map<std::string, NodePtr> inputs;
  std::map<std::string, ProbePtr> outputs;
  std::vector<std::string> input_order, output_order;
  std::map<std::string, ObjRef> layers, pre_activation;
  std::map<std::string, std::vector<int64_t>> shapes;
  std::vector<std::string> warnings, fallbacks;

  /// "Keras layer "dense_1" (Dense)" for messages.
  std::string who(const std::string& name, const std::string& cls) const;

  SynapsePtr synapse_from(const ObjRef& pre) const;
  ConnectionPtr connect(const ObjRef& pre, const ObjRef& post, ConnectionOptions o,
                        bool trainable);
  /// A constant [1] node whose connections carry a layer's biases.
  NodePtr bias_node(const std::string& layer);
  /// Connects `bias` (one value per element of the output, size n) into `post`, times scale.
  void connect_bias(const std::string& layer, const torch::Tensor& bias_full, const ObjRef& post,
                    double scale, bool trainable);

  /// Where a layer with activation `activation` sends its linear result (`target`, whose
  /// incoming transforms are to be multiplied by `scale`) and where its output comes from.
  struct Activation {
    ObjRef target, output;
    double scale = 1.0;
  };
  /// `is_output`: the layer is a model output (drop_final_softmax applies).
  /// `negative_slope` is read for "leaky_relu" only (Keras' LeakyReLU alpha).
  Activation activation(const std::string& layer, const std::string& cls,
                        const std::string& activation, const std::vector<int64_t>& shape,
                        bool is_output, double negative_slope = 0.3);
  /// The neuron type for a Keras activation name (after swap_activations, looked up by the
  /// name and then by the native type's name), nullptr for linear; nullopt when it has no
  /// native form (the caller falls back).
  std::optional<NeuronTypePtr> neuron_type_for(const std::string& activation,
                                               double negative_slope = 0.3) const;
  double scale_for(const std::string& layer) const;

  /// A fallback TensorNode made from a registered JSON layer type (so it saves as a spec),
  /// fed from `input`. `init` sets the module's parameters (copied weights) on every module
  /// the node makes.
  Converted tensor_layer(const std::string& id, const std::string& who, nlohmann::json spec,
                         const ObjRef& input, const std::vector<int64_t>& shape_in,
                         std::function<void(torch::nn::Module&)> init = {});
  /// Throws SpecError unless fallbacks are allowed; records the fallback otherwise.
  void require_fallback(const std::string& who, const std::string& what);

  // Keras.
  void convert_keras();
  Converted convert_keras_layer(const KerasLayer& l, const std::vector<ObjRef>& in,
                                const std::vector<std::vector<int64_t>>& shapes, bool is_output);
  // LibTorch.
  void convert_sequential();
};

namespace detail {

/// Keras activation functions by name ("relu", "softmax", "elu", ...) on LibTorch tensors;
/// `axis` is softmax's. Throws SpecError for unknown names.
torch::Tensor keras_activation(const std::string& name, const torch::Tensor& x, int64_t axis = -1);
bool is_keras_activation(const std::string& name);

/// The reference forward pass of a Keras model over its loaded weights (float64, channels
/// last), independent of the converted network: output layer name -> (N, ...).
std::map<std::string, torch::Tensor> keras_forward(const KerasModel& model, const torch::Tensor& x);

/// The user converters registered by class name.
std::optional<LayerConverter> find_layer_converter(const std::string& class_name);

int64_t product(const std::vector<int64_t>& s);
std::string shape_str(const std::vector<int64_t>& s);

}  // namespace detail

}  // namespace snn
