#pragma once
/// \file tensor_node.h
/// NengoDL's TensorNode and Layer: a Node whose output is a LibTorch module applied to the
/// sum of its inputs, viewed as `(batch,) + shape_in`; the result is flattened back to a
/// vector. Like a Node with a function, its output is seen within the same step as its
/// input. The module's parameters and buffers become the simulator's (they train with the
/// rest, follow `.to(device)` and are saved in checkpoints as `nodes.<id>.<name>`).
///
///     auto dense = snn::tensor_node(*net, snn::TensorNodeOptions()
///                                             .id("d1").shape_in({784})
///                                             .module(torch::nn::Linear(784, 10)));
///     net->connect(img, dense, snn::ConnectionOptions().synapse(nullptr));
///
///     // The Layer shortcut makes the node (or an ensemble of neurons) and its input
///     // connection in one call, and returns what to connect from:
///     auto h = snn::Layer(*net, snn::LIF())(img);                    // img -> 784 LIF
///     auto y = snn::Layer(*net, snn::TensorNodeOptions().module(torch::nn::Linear(784, 10)))(h);
///
/// Each simulator gets its own copy of the module (by `clone()`, which LibTorch's own modules
/// and `torch::nn::Cloneable` subclasses have), taken when the simulator is built; a module
/// that cannot be cloned is shared by every simulator of the network. Modules are applied as
/// functions of the current step's input: in a feed-forward network the layered executor
/// calls them once on (batch * steps, ...) (or once on (batch, ...) when the input is the same
/// at every step), the step loop once per step. In training mode these differ for modules
/// whose training output depends on the batch (BatchNorm statistics, Dropout masks); in
/// inference both give the same numbers.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <torch/arg.h>
#include <torch/types.h>

#include "snn/network.h"

namespace torch::nn {
class Module;
}

namespace snn {

/// Applies a node's module: `x` is (N,) + shape_in, `t` the simulation time (a 0-d tensor,
/// meaningful only with pass_time); returns (N,) + shape_out.
using TensorForward = std::function<torch::Tensor(torch::nn::Module& module, const torch::Tensor& t,
                                                  const torch::Tensor& x)>;
/// Makes the module one simulator uses, from the node's build seed (the network seed's
/// child, or the node's own `seed`), so a seeded network builds the same parameters every
/// time.
using ModuleMaker = std::function<std::shared_ptr<torch::nn::Module>(uint32_t seed)>;

/// A maker that clones `module` for every simulator when it is cloneable, and otherwise
/// hands out `module` itself (shared).
ModuleMaker clone_or_share(std::shared_ptr<torch::nn::Module> module);

/// Everything a TensorNode holds (NodeOptions::tensor); made by snn::tensor_node.
struct TensorFunction {
  /// Mutable so that Simulator::freeze_params can point it at a copy of the trained module
  /// (later simulators then start from the trained values, as NengoDL's in-place Keras
  /// layers do); a module that cannot be cloned is shared and trained in place anyway.
  mutable ModuleMaker make;
  TensorForward forward;
  std::vector<int64_t> shape_in, shape_out;
  bool pass_time = false;
  /// Unset: the network's `trainable` setting.
  std::optional<bool> trainable;
  std::optional<uint32_t> seed;
  /// The spec form of the layer this node came from (JSON text); empty for C++ modules,
  /// which cannot be saved as JSON.
  std::string layer_spec;
};

struct TensorNodeOptions {
  TORCH_ARG(std::string, id);
  TORCH_ARG(std::string, label);
  /// How the node views its input; empty: no input (the module receives (N, 0)).
  TORCH_ARG(std::vector<int64_t>, shape_in);
  /// Empty: inferred by a trial call on zeros (in inference mode, without gradients).
  TORCH_ARG(std::vector<int64_t>, shape_out);
  /// Whether the module's forward uses t (it is then called once per step).
  TORCH_ARG(bool, pass_time) = false;
  /// false: the module's parameters are not trained (requires_grad false).
  TORCH_ARG(std::optional<bool>, trainable);
  TORCH_ARG(std::optional<uint32_t>, seed);
  /// Set by layer factories (snn/layers.h) so the node saves back as its layer.
  TORCH_ARG(std::string, layer_spec);
  TORCH_ARG(ModuleMaker, maker);
  TORCH_ARG(TensorForward, forward);

 public:
  /// A LibTorch module holder (torch::nn::Linear, torch::nn::Sequential, TORCH_MODULE types):
  /// applied as `module->forward(x)`.
  template <class Holder, class Impl = typename Holder::ContainedType>
  TensorNodeOptions& module(Holder holder) {
    static_assert(std::is_base_of_v<torch::nn::Module, Impl>, "not a torch::nn::Module");
    std::shared_ptr<torch::nn::Module> base = holder.ptr();
    maker_ = clone_or_share(std::move(base));
    forward_ = [](torch::nn::Module& m, const torch::Tensor&, const torch::Tensor& x) {
      return dynamic_cast<Impl&>(m).forward(x);  // Module is a virtual base
    };
    return *this;
  }
  /// Any module with a forward of its own choosing (e.g. one that uses t).
  TensorNodeOptions& module(std::shared_ptr<torch::nn::Module> module, TensorForward forward) {
    maker_ = clone_or_share(std::move(module));
    forward_ = std::move(forward);
    return *this;
  }
};

/// Adds a TensorNode to `net`. Runs the trial call that infers shape_out; throws SpecError
/// naming the node when the options or the trial call fail.
NodePtr tensor_node(Network& net, TensorNodeOptions options);

/// NengoDL's Layer: `Layer(net, what)(input, shape_in, synapse, transform)` makes a
/// TensorNode (from options) or an ensemble of neurons of a given type (size prod(shape_in),
/// gain 1, bias 0, as `nengo_dl.Layer(neuron_type)`), connects `input` to it and returns
/// what to connect from: the node, or the ensemble's neurons. shape_in defaults to the
/// options' shape_in, else the size of what arrives (`input`, or a matrix transform's rows).
class Layer {
 public:
  Layer(Network& net, TensorNodeOptions options);
  Layer(Network& net, NeuronTypePtr neuron_type, std::string id = "");
  template <class T, class = std::enable_if_t<std::is_base_of_v<NeuronType, T>>>
  Layer(Network& net, const T& neuron_type, std::string id = "")
      : Layer(net, std::make_shared<T>(neuron_type), std::move(id)) {}

  ObjRef operator()(const ObjRef& input, std::vector<int64_t> shape_in = {},
                    SynapsePtr synapse = nullptr, Init transform = Init()) const;

 private:
  Network& net_;
  std::optional<TensorNodeOptions> options_;
  NeuronTypePtr neuron_type_;
  std::string id_;
};

}  // namespace snn
