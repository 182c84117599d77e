// Keras' activation functions, and the `KerasActivation` layer type of the spec's `layers` list
// that the converter uses for the activations without a neuron type (softmax, elu, ...), so a
// converted network with such a fallback still saves as a spec.
#include "build/layers_internal.h"
#include "convert/convert_internal.h"

namespace snn {

namespace detail {

namespace {
const std::vector<std::string>& activation_names() {
  static const std::vector<std::string> n = {
      "linear", "relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus", "softsign",
      "exponential", "hard_sigmoid", "swish", "silu", "gelu", "relu6", "log_softmax"};
  return n;
}
}  // namespace

bool is_keras_activation(const std::string& name) {
  const auto& n = activation_names();
  return std::find(n.begin(), n.end(), name) != n.end();
}

torch::Tensor keras_activation(const std::string& name, const torch::Tensor& x, int64_t axis) {
  if (name == "linear") return x;
  if (name == "relu") return torch::relu(x);
  if (name == "sigmoid") return torch::sigmoid(x);
  if (name == "tanh") return torch::tanh(x);
  if (name == "softmax") return torch::softmax(x, axis);
  if (name == "log_softmax") return torch::log_softmax(x, axis);
  if (name == "elu") return torch::elu(x);
  if (name == "selu") return torch::selu(x);
  if (name == "softplus") return torch::softplus(x);
  if (name == "softsign") return x / (1 + x.abs());
  if (name == "exponential") return torch::exp(x);
  // Keras 2's piecewise-linear hard sigmoid.
  if (name == "hard_sigmoid") return torch::clamp(0.2 * x + 0.5, 0.0, 1.0);
  if (name == "swish" || name == "silu") return x * torch::sigmoid(x);
  if (name == "gelu") return torch::gelu(x);
  if (name == "relu6") return torch::clamp(x, 0.0, 6.0);
  throw SpecError("unknown Keras activation \"" + name + "\"");
}

void add_activation_layers(std::map<std::string, LayerFactory>& f) {
  f["KerasActivation"] = [](const nlohmann::json& j, const std::string& path,
                       const std::vector<int64_t>& shape_in) {
    check_layer_keys(j, path, "KerasActivation", {"activation"});
    LayerParams p{j, path, "KerasActivation"};
    const std::string act = p.choice("activation", "linear", activation_names());
    if (shape_in.empty()) p.fail("shape_in", "a KerasActivation layer needs the shape of its input");
    return TensorNodeOptions()
        .shape_in(shape_in)
        .shape_out(shape_in)
        .layer_spec(nlohmann::json{{"type", "KerasActivation"}, {"activation", act}}.dump())
        .maker([](uint32_t) { return std::make_shared<torch::nn::Module>(); })
        .forward([act](torch::nn::Module&, const torch::Tensor&, const torch::Tensor& x) {
          return keras_activation(act, x, -1);  // softmax over the last axis, as Keras
        });
  };
}

}  // namespace detail

}  // namespace snn
