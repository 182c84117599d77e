#pragma once
/// \file converter.h
/// NengoDL's Converter: a trained Keras model (an HDF5 `.h5` file written by `model.save`) or a
/// `torch::nn::Sequential` turned into a native libsnn Network, layer by layer as
/// `nengo_dl.Converter` does: Input -> Node, Dense and Conv -> connections (kernel as the
/// transform, a bias Node), activations -> ensembles of the matching neuron type (gain 1,
/// bias 0), pooling -> convolution-style transforms, BatchNormalization folded into an
/// elementwise transform, Flatten/Reshape/Dropout -> nothing. What has no native form becomes
/// a TensorNode (a fallback) when `allow_fallback` is set.
///
///     snn::Converter conv("model.h5", snn::ConverterOptions()
///                                         .swap("relu", snn::SpikingRectifiedLinear())
///                                         .scale_firing_rates(100.0)
///                                         .synapse(0.005));
///     snn::Simulator sim(conv.net());
///     auto out = sim.predict({{conv.input_id(), images}}, 100);   // (N, 100, 10)
///
/// Values travel flat, in Keras' channels_last order (row-major H, W, C); a torch Sequential
/// keeps LibTorch's channels-first order (row-major C, H, W).
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/arg.h>
#include <torch/types.h>

#include "snn/network.h"

namespace torch::nn {
class SequentialImpl;
class Module;
}  // namespace torch::nn

namespace snn {

// --------------------------------------------------------------------------------------------
/// One layer of a Keras model file.
struct KerasLayer {
  std::string name;
  std::string class_name;
  /// The layer's `config` object from `model_config`.
  nlohmann::json config;
  /// Names of the layers feeding this one (functional `inbound_nodes`; for a Sequential
  /// model, the previous layer). Empty for input layers.
  std::vector<std::string> inbound;
  /// Weights by their short name ("kernel", "bias", "gamma", "moving_mean", ...), float64,
  /// read in the order of the group's `weight_names` (that order is `weight_order`).
  std::map<std::string, torch::Tensor> weights;
  std::vector<std::string> weight_order;

  /// The weight `name`; throws SpecError naming the layer when it is missing.
  const torch::Tensor& weight(const std::string& name) const;
  bool has_weight(const std::string& name) const { return weights.count(name) > 0; }
};

/// What a Keras HDF5 file holds that the converter needs (training_config and
/// optimizer_weights are ignored).
struct KerasModel {
  std::string path;
  std::string keras_version, backend;
  /// "Sequential", "Model" or "Functional".
  std::string model_class;
  std::string name;
  /// In topological order; a Sequential model without an InputLayer gets one (named
  /// "input"), shaped by its first layer's batch_input_shape.
  std::vector<KerasLayer> layers;
  std::vector<std::string> input_layers, output_layers;

  /// The layer `name`; throws SpecError when absent.
  const KerasLayer& layer(const std::string& name) const;
  /// The shape of input layer `name` without the batch axis.
  std::vector<int64_t> input_shape(const std::string& name) const;
};

/// Reads a Keras model file (Keras 2 `.h5`, tf.keras, and the legacy `.h5` of Keras 3).
/// Throws DataError naming the file when it is not HDF5 or lacks `model_config` /
/// `model_weights`, SpecError naming the file and layer for a config it cannot read. Without
/// HDF5 support in this build, throws DataError saying so.
KerasModel read_keras_model(const std::string& path);

// --------------------------------------------------------------------------------------------
/// Options of the conversion, as `nengo_dl.Converter`'s arguments.
struct ConverterOptions {
  /// Use a TensorNode for what has no native form (softmax, max pooling, a trainable
  /// BatchNormalization ...); false: such layers are an error naming the layer.
  TORCH_ARG(bool, allow_fallback) = true;
  /// The network is only run, never trained: BatchNormalization is folded into a fixed
  /// elementwise transform (otherwise it is a fallback unless the layer is not trainable).
  TORCH_ARG(bool, inference_only) = false;
  /// MaxPooling becomes average pooling (native) instead of a fallback.
  TORCH_ARG(bool, max_to_avg_pool) = false;
  /// Keras activation name ("relu", "sigmoid", "tanh", "leaky_relu" for LeakyReLU layers and
  /// ReLU layers with a negative_slope) or neuron type name ("RectifiedLinear", "LeakyReLU")
  /// -> the neuron type to use instead. Looked up before and after the default mapping, as
  /// NengoDL. The new type keeps its own parameters: swap a LeakyReLU with slope 0.1 to
  /// SpikingLeakyReLU(LeakyReLUOptions().negative_slope(0.1)), not to the 0.3 default.
  using SwapMap = std::map<std::string, NeuronTypePtr>;
  TORCH_ARG(SwapMap, swap_activations);
  /// NengoDL's scale_firing_rates: the input to every activation's neurons is multiplied by
  /// k and their amplitude divided by k (exact for ReLU; a warning and a changed output for
  /// types without amplitude). Per layer values override it.
  TORCH_ARG(std::optional<double>, scale_firing_rates);
  using ScaleMap = std::map<std::string, double>;
  TORCH_ARG(ScaleMap, scale_firing_rates_per_layer);
  /// A final softmax (fused or an Activation layer) is left out: the output is the logits,
  /// which classify the same. Not a NengoDL option; spiking networks seldom want a softmax.
  TORCH_ARG(bool, drop_final_softmax) = false;
  TORCH_ARG(std::string, label);
  TORCH_ARG(std::optional<uint32_t>, seed) = 0;

 public:
  /// The synapse of every connection leaving an ensemble (and of the output probes of
  /// ensembles); nullptr (the default): none.
  ConverterOptions& synapse(SynapsePtr s) {
    synapse_ = std::move(s);
    return *this;
  }
  ConverterOptions& synapse(double tau);
  const SynapsePtr& synapse() const { return synapse_; }
  /// Adds one entry to swap_activations.
  ConverterOptions& swap(const std::string& from, NeuronTypePtr to) {
    swap_activations_[from] = std::move(to);
    return *this;
  }
  template <class T, class = std::enable_if_t<std::is_base_of_v<NeuronType, T>>>
  ConverterOptions& swap(const std::string& from, const T& to) {
    return swap(from, std::make_shared<T>(to));
  }
  ConverterOptions& scale_firing_rates(double k) {
    scale_firing_rates_ = k;
    return *this;
  }

 private:
  SynapsePtr synapse_;
};

/// The result of Converter::verify.
struct VerifyResult {
  /// Largest |converted - original| over every output and item.
  double max_abs_error = 0.0;
  bool passed = false;
  /// Per output layer.
  std::map<std::string, double> per_output;
};

class Converter;

class LayerContext;

/// A converter for a Keras layer class: makes the layer's objects and returns the object
/// its output comes from, with the output's shape.
using LayerConvertFn =
    std::function<std::pair<ObjRef, std::vector<int64_t>>(LayerContext& context)>;
/// The layer's own computation on (N,) + input shapes, for verify()'s reference pass.
using LayerForwardFn = std::function<torch::Tensor(const KerasLayer& layer,
                                                   const std::vector<torch::Tensor>& inputs)>;

/// A user's converter for a custom Keras layer class: `convert` makes its objects; `forward`
/// (optional) computes the layer on (N,) + input shapes for verify()'s reference pass.
struct LayerConverter {
  LayerConvertFn convert;
  LayerForwardFn forward;
};

class Converter {
 public:
  /// Reads and converts a Keras model file.
  explicit Converter(const std::string& keras_path, ConverterOptions options = {});
  explicit Converter(KerasModel model, ConverterOptions options = {});
  /// Converts a Sequential of Linear, Conv2d, ReLU, LeakyReLU, Sigmoid, Tanh, AvgPool2d, Flatten,
  /// BatchNorm1d/2d, Dropout (and, as fallbacks, any other module). `input_shape` excludes
  /// the batch axis ((C, H, W) for images).
  Converter(std::shared_ptr<torch::nn::SequentialImpl> sequential, std::vector<int64_t> input_shape,
            ConverterOptions options = {});
  ~Converter();
  Converter(Converter&&) noexcept;
  Converter& operator=(Converter&&) noexcept;

  const NetworkPtr& net() const;
  /// Keras input layer name -> input Node.
  const std::map<std::string, NodePtr>& inputs() const;
  /// Keras output layer name -> probe of its output.
  const std::map<std::string, ProbePtr>& outputs() const;
  /// Keras layer name -> the object its output comes from.
  const std::map<std::string, ObjRef>& layers() const;
  ObjRef layer(const std::string& name) const;
  /// The layer's output shape (without the batch axis).
  std::vector<int64_t> layer_shape(const std::string& name) const;
  /// The object holding a layer's value before its activation (the logits of a Dense with a
  /// fused softmax); the layer's output when it has no activation.
  ObjRef pre_activation(const std::string& name) const;
  /// The first input node's id and the first output probe (the usual single in/out model).
  std::string input_id() const;
  ProbePtr output_probe() const;
  /// Things the conversion did that change results (e.g. firing-rate scaling of a type
  /// without amplitude).
  const std::vector<std::string>& warnings() const;
  /// Which layers became fallback TensorNodes.
  const std::vector<std::string>& fallbacks() const;

  /// The original model's own output for `x` (N,) + input shape: for a Keras file, a
  /// LibTorch forward pass over the loaded weights (independent of the converted network);
  /// for a Sequential, the module's forward in eval mode. Keyed by output layer name.
  std::map<std::string, torch::Tensor> reference_forward(const torch::Tensor& x) const;
  /// Runs the converted network for `n_steps` (float64, CPU) on `x` and returns the last
  /// step of every output probe, keyed by output layer name.
  std::map<std::string, torch::Tensor> run(const torch::Tensor& x, int64_t n_steps = 1) const;
  /// NengoDL's verify: the converted network's outputs against reference_forward on `x`
  /// (undefined: ones, batch 2). Meaningful for rate neurons and no synapse.
  VerifyResult verify(torch::Tensor x = {}, double atol = 1e-4, int64_t n_steps = 1) const;

  /// Registers (or replaces) the converter of Keras layer class `class_name` (NengoDL's
  /// `Converter.register`), for every Converter made afterwards.
  static void register_layer_converter(const std::string& class_name, LayerConverter converter);
  static bool has_layer_converter(const std::string& class_name);

  struct Impl;

 private:
  friend class LayerContext;
  std::unique_ptr<Impl> impl_;
};

/// What a LayerConverter sees of the conversion: the layer, its inputs (objects and
/// shapes), and helpers that apply the converter's rules (synapse after ensembles,
/// activation objects, firing-rate scaling).
class LayerContext {
 public:
  const KerasLayer& layer() const { return layer_; }
  Network& net();
  const ConverterOptions& options() const;
  size_t n_inputs() const { return inputs_.size(); }
  /// The object delivering input `i` and its shape (without the batch axis).
  const ObjRef& input(size_t i = 0) const;
  const std::vector<int64_t>& input_shape(size_t i = 0) const;
  /// A pass-through Node of `size` named after the layer (NengoDL's add_nengo_obj without
  /// an activation).
  ObjRef add_node(int64_t size, const std::string& suffix = "");
  /// A connection applying the converter's synapse rule (the converter's synapse when pre
  /// is neurons, else none), not trainable unless said.
  ConnectionPtr connect(const ObjRef& pre, const ObjRef& post, ConnectionOptions options = {},
                        bool trainable = false);
  /// The synapse a connection from `pre` gets.
  SynapsePtr synapse_from(const ObjRef& pre) const;

 private:
  friend struct Converter::Impl;
  LayerContext(Converter::Impl& c, const KerasLayer& l) : impl_(c), layer_(l) {}
  Converter::Impl& impl_;
  const KerasLayer& layer_;
  std::vector<ObjRef> inputs_;
  std::vector<std::vector<int64_t>> shapes_;
};

}  // namespace snn
