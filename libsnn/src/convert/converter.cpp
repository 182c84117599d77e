// The Converter's common machinery: options, the synapse and firing-rate rules of NengoDL's
// converter, activation objects, fallback TensorNodes, the user's layer converters, and
// running / verifying the converted network.
#include <algorithm>
#include <mutex>
#include <numeric>

#include "convert/convert_internal.h"
#include "snn/neurons.h"
#include "snn/simulator.h"
#include "snn/synapses.h"

namespace snn {

ConverterOptions& ConverterOptions::synapse(double tau) {
  return synapse(std::make_shared<Lowpass>(tau));
}

namespace detail {

int64_t product(const std::vector<int64_t>& s) {
  int64_t p = 1;
  for (int64_t d : s) p *= d;
  return p;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

namespace {
struct ConverterRegistry {
  std::mutex mutex;
  std::map<std::string, LayerConverter> converters;
};
ConverterRegistry& converter_registry() {
  static ConverterRegistry r;
  return r;
}
}  // namespace

std::optional<LayerConverter> find_layer_converter(const std::string& class_name) {
  auto& r = converter_registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.converters.find(class_name);
  if (it == r.converters.end()) return std::nullopt;
  return it->second;
}

}  // namespace detail

void Converter::register_layer_converter(const std::string& class_name, LayerConverter c) {
  if (class_name.empty()) throw SpecError("Converter::register_layer_converter: empty class name");
  if (!c.convert)
    throw SpecError("Converter::register_layer_converter(\"" + class_name + "\"): no convert function");
  auto& r = detail::converter_registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.converters[class_name] = std::move(c);
}

bool Converter::has_layer_converter(const std::string& class_name) {
  return detail::find_layer_converter(class_name).has_value();
}

// ---- Impl helpers ---------------------------------------------------------------------------

std::string Converter::Impl::who(const std::string& name, const std::string& cls) const {
  std::string s = "Keras layer \"" + name + "\" (" + cls + ")";
  if (keras) s = keras->path + ": " + s;
  return s;
}

SynapsePtr Converter::Impl::synapse_from(const ObjRef& pre) const {
  return pre.kind == ObjRef::Kind::Neurons ? options.synapse() : nullptr;
}

ConnectionPtr Converter::Impl::connect(const ObjRef& pre, const ObjRef& post, ConnectionOptions o,
                                       bool trainable) {
  o.synapse(synapse_from(pre));
  o.trainable(trainable);
  return net->connect(pre, post, std::move(o));
}

NodePtr Converter::Impl::bias_node(const std::string& layer) {
  return net->node(NodeOptions().id(layer + "_bias").output(1.0));
}

void Converter::Impl::connect_bias(const std::string& layer, const torch::Tensor& bias_full,
                                   const ObjRef& post, double scale, bool trainable) {
  auto b = bias_node(layer);
  auto t = (bias_full.to(torch::kFloat64).reshape({-1, 1}) * scale).contiguous();
  connect(b, post, ConnectionOptions().transform(Init(t)), trainable);
}

double Converter::Impl::scale_for(const std::string& layer) const {
  auto it = options.scale_firing_rates_per_layer().find(layer);
  if (it != options.scale_firing_rates_per_layer().end()) return it->second;
  return options.scale_firing_rates().value_or(1.0);
}

std::optional<NeuronTypePtr> Converter::Impl::neuron_type_for(const std::string& act,
                                                               double negative_slope) const {
  const auto& swap = options.swap_activations();
  auto it = swap.find(act);
  if (it != swap.end()) return it->second;
  NeuronTypePtr nt;
  if (act == "linear" || act.empty()) {
    nt = nullptr;
  } else if (act == "relu") {
    nt = std::make_shared<RectifiedLinear>();
  } else if (act == "leaky_relu") {
    nt = std::make_shared<LeakyReLU>(LeakyReLUOptions().negative_slope(negative_slope));
  } else if (act == "sigmoid") {
    // Nengo's Sigmoid/Tanh peak at 1/tau_ref; tau_ref 1 gives Keras' functions.
    nt = std::make_shared<Sigmoid>(SigmoidOptions().tau_ref(1.0));
  } else if (act == "tanh") {
    nt = std::make_shared<Tanh>(TanhOptions().tau_ref(1.0));
  } else {
    return std::nullopt;
  }
  if (nt) {
    auto again = swap.find(nt->type());
    if (again != swap.end()) return again->second;
  }
  return nt;
}

void Converter::Impl::require_fallback(const std::string& who, const std::string& what) {
  if (!options.allow_fallback())
    throw SpecError(who + ": " + what + " has no native form and allow_fallback is off");
  fallbacks.push_back(who);
}

Converter::Impl::Activation Converter::Impl::activation(const std::string& layer,
                                                        const std::string& cls,
                                                        const std::string& act_given,
                                                        const std::vector<int64_t>& shape,
                                                        bool is_output, double negative_slope) {
  const int64_t n = detail::product(shape);
  std::string act = act_given;
  if (act == "softmax" && is_output && options.drop_final_softmax()) act = "linear";
  auto nt = neuron_type_for(act, negative_slope);
  Activation a;
  if (nt && !*nt) {  // linear: a pass-through node
    a.target = a.output = ObjRef(net->node(NodeOptions().id(layer).size_in(n)));
    return a;
  }
  if (nt) {
    NeuronTypePtr type = *nt;
    if (act == "leaky_relu") {
      // A swap brings its own slope; say so when it is not the layer's.
      auto j = type->to_json();
      if (j.contains("negative_slope") && j["negative_slope"].get<double>() != negative_slope)
        warnings.push_back(who(layer, cls) + ": swapped to " + type->type() +
                           " with negative_slope " + j["negative_slope"].dump() +
                           ", the layer has " + nlohmann::json(negative_slope).dump());
    }
    const double s = scale_for(layer);
    if (s != 1.0) {
      // NengoDL: gain s, amplitude / s. The gain is folded into the incoming transforms so
      // that the neurons stay a plain Neurons layer (gain 1, bias 0).
      auto j = type->to_json();
      if (j.contains("amplitude")) {
        j["amplitude"] = j["amplitude"].get<double>() / s;
        type = neuron_type_from_json(j, who(layer, cls) + " (scaled neuron type)");
      } else {
        warnings.push_back(who(layer, cls) + ": scale_firing_rates " + std::to_string(s) +
                           " on " + type->type() +
                           " neurons, which have no amplitude: the output changes");
      }
      a.scale = s;
    }
    auto ens = net->ensemble(EnsembleOptions(n, 1)
                                 .id(layer)
                                 .neuron_type(type)
                                 .gain(Init(1.0))
                                 .bias(Init(0.0))
                                 .neurons_layer(true));
    a.target = a.output = ens->neurons();
    return a;
  }
  // No native form: the linear part in a pass-through node, then an Activation TensorNode.
  if (!detail::is_keras_activation(act))
    throw SpecError(who(layer, cls) + ": unknown activation \"" + act + "\"");
  require_fallback(who(layer, cls), "activation \"" + act + "\"" +
                                        (act == "softmax" ? std::string(" (drop_final_softmax "
                                                                        "leaves a final softmax out)")
                                                          : std::string()));
  a.target = ObjRef(net->node(NodeOptions().id(layer + "_linear").size_in(n)));
  auto c = tensor_layer(layer, who(layer, cls), {{"type", "KerasActivation"}, {"activation", act}},
                        a.target, shape);
  a.output = c.output;
  return a;
}

Converted Converter::Impl::tensor_layer(const std::string& id, const std::string& who_,
                                        nlohmann::json spec, const ObjRef& input,
                                        const std::vector<int64_t>& shape_in,
                                        std::function<void(torch::nn::Module&)> init) {
  auto o = layer_from_json(spec, who_ + " (fallback layer)", shape_in);
  o.id(id);
  if (init) {
    auto make = o.maker();
    o.maker([make, init](uint32_t seed) {
      auto m = make(seed);
      torch::NoGradGuard no_grad;
      init(*m);
      return m;
    });
  }
  auto node = tensor_node(*net, o);
  connect(input, node, ConnectionOptions(), false);
  Converted c;
  c.output = c.pre_activation = ObjRef(node);
  c.shape = node->options().tensor()->shape_out;
  return c;
}

// ---- LayerContext -----------------------------------------------------------------------------

Network& LayerContext::net() { return *impl_.net; }
const ConverterOptions& LayerContext::options() const { return impl_.options; }

const ObjRef& LayerContext::input(size_t i) const {
  if (i >= inputs_.size())
    throw SpecError("Keras layer \"" + layer_.name + "\": no input " + std::to_string(i));
  return inputs_[i];
}

const std::vector<int64_t>& LayerContext::input_shape(size_t i) const {
  if (i >= shapes_.size())
    throw SpecError("Keras layer \"" + layer_.name + "\": no input " + std::to_string(i));
  return shapes_[i];
}

ObjRef LayerContext::add_node(int64_t size, const std::string& suffix) {
  return ObjRef(net().node(NodeOptions().id(layer_.name + suffix).size_in(size)));
}

ConnectionPtr LayerContext::connect(const ObjRef& pre, const ObjRef& post, ConnectionOptions o,
                                    bool trainable) {
  return impl_.connect(pre, post, std::move(o), trainable);
}

SynapsePtr LayerContext::synapse_from(const ObjRef& pre) const {
  return impl_.synapse_from(pre);
}

// ---- Converter --------------------------------------------------------------------------------

namespace {

NetworkPtr new_network(const ConverterOptions& o, const std::string& fallback_label) {
  auto net = std::make_shared<Network>(
      NetworkOptions().label(o.label().empty() ? fallback_label : o.label()).seed(o.seed()));
  return net;
}

}  // namespace

Converter::Converter(const std::string& keras_path, ConverterOptions options)
    : Converter(read_keras_model(keras_path), std::move(options)) {}

Converter::Converter(KerasModel model, ConverterOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->keras = std::move(model);
  impl_->net = new_network(impl_->options, impl_->keras->name.empty() ? "converted"
                                                                        : impl_->keras->name);
  impl_->convert_keras();
}

Converter::Converter(std::shared_ptr<torch::nn::SequentialImpl> sequential,
                     std::vector<int64_t> input_shape, ConverterOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (!sequential) throw SpecError("Converter: the Sequential is null");
  impl_->options = std::move(options);
  impl_->sequential = std::move(sequential);
  impl_->sequential_shape = std::move(input_shape);
  impl_->net = new_network(impl_->options, "sequential");
  impl_->convert_sequential();
}

Converter::~Converter() = default;
Converter::Converter(Converter&&) noexcept = default;
Converter& Converter::operator=(Converter&&) noexcept = default;

const NetworkPtr& Converter::net() const { return impl_->net; }
const std::map<std::string, NodePtr>& Converter::inputs() const { return impl_->inputs; }
const std::map<std::string, ProbePtr>& Converter::outputs() const { return impl_->outputs; }
const std::map<std::string, ObjRef>& Converter::layers() const { return impl_->layers; }
const std::vector<std::string>& Converter::warnings() const { return impl_->warnings; }
const std::vector<std::string>& Converter::fallbacks() const { return impl_->fallbacks; }

ObjRef Converter::layer(const std::string& name) const {
  auto it = impl_->layers.find(name);
  if (it == impl_->layers.end()) throw SpecError("Converter: no layer \"" + name + "\"");
  return it->second;
}

std::vector<int64_t> Converter::layer_shape(const std::string& name) const {
  auto it = impl_->shapes.find(name);
  if (it == impl_->shapes.end()) throw SpecError("Converter: no layer \"" + name + "\"");
  return it->second;
}

ObjRef Converter::pre_activation(const std::string& name) const {
  auto it = impl_->pre_activation.find(name);
  if (it == impl_->pre_activation.end()) return layer(name);
  return it->second;
}

std::string Converter::input_id() const {
  if (impl_->input_order.empty()) throw SpecError("Converter: the model has no input");
  return impl_->inputs.at(impl_->input_order.front())->id();
}

ProbePtr Converter::output_probe() const {
  if (impl_->output_order.empty()) throw SpecError("Converter: the model has no output");
  return impl_->outputs.at(impl_->output_order.front());
}

std::map<std::string, torch::Tensor> Converter::reference_forward(const torch::Tensor& x) const {
  if (impl_->keras) {
    if (!impl_->options.drop_final_softmax()) return detail::keras_forward(*impl_->keras, x);
    // The converted network gives the logits: so does the reference.
    KerasModel m = *impl_->keras;
    for (auto& l : m.layers) {
      if (std::find(m.output_layers.begin(), m.output_layers.end(), l.name) == m.output_layers.end())
        continue;
      if (l.config.value("activation", std::string()) == "softmax") l.config["activation"] = "linear";
      if (l.class_name == "Softmax") {
        l.class_name = "Activation";
        l.config["activation"] = "linear";
      }
    }
    return detail::keras_forward(m, x);
  }
  // The Sequential's own forward, in float64 on a copy, in eval mode.
  auto copy = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(impl_->sequential->clone());
  copy->to(torch::kFloat64);
  copy->eval();
  torch::NoGradGuard no_grad;
  std::vector<int64_t> shape = {x.size(0)};
  shape.insert(shape.end(), impl_->sequential_shape.begin(), impl_->sequential_shape.end());
  auto y = copy->forward(x.to(torch::kCPU, torch::kFloat64).reshape(shape));
  return {{impl_->output_order.front(), y.reshape({x.size(0), -1})}};
}

std::map<std::string, torch::Tensor> Converter::run(const torch::Tensor& x, int64_t n_steps) const {
  if (impl_->input_order.size() != 1)
    throw SpecError("Converter::run: only single-input models (this one has " +
                    std::to_string(impl_->input_order.size()) + ")");
  const int64_t N = x.size(0);
  // The largest minibatch (at most 64) that divides N.
  int64_t mb = std::min<int64_t>(N, 64);
  while (N % mb) --mb;
  Simulator sim(impl_->net, SimulatorOptions()
                                .minibatch_size(mb)
                                .dtype(torch::kFloat64)
                                .progress_bar(false));
  const auto& node = impl_->inputs.at(impl_->input_order.front());
  auto data = sim.predict({{node->id(), x.to(torch::kCPU, torch::kFloat64).reshape({N, -1})}}, n_steps);
  std::map<std::string, torch::Tensor> out;
  for (const auto& name : impl_->output_order) {
    const auto& p = impl_->outputs.at(name);
    out[name] = data.at(p->id()).select(1, -1);
  }
  return out;
}

VerifyResult Converter::verify(torch::Tensor x, double atol, int64_t n_steps) const {
  if (!x.defined()) {
    std::vector<int64_t> shape = {2};
    if (impl_->keras) {
      auto s = impl_->keras->input_shape(impl_->input_order.front());
      shape.insert(shape.end(), s.begin(), s.end());
    } else {
      shape.insert(shape.end(), impl_->sequential_shape.begin(), impl_->sequential_shape.end());
    }
    x = torch::ones(shape, torch::kFloat64);
  }
  auto ref = reference_forward(x);
  auto got = run(x, n_steps);
  VerifyResult r;
  for (const auto& [name, y] : got) {
    auto it = ref.find(name);
    if (it == ref.end()) throw SpecError("Converter::verify: no reference output for \"" + name + "\"");
    auto a = it->second.reshape({x.size(0), -1}).to(torch::kFloat64);
    if (a.sizes() != y.sizes())
      throw SpecError("Converter::verify: output \"" + name + "\" has shape " +
                      c10::str(y.sizes()) + " but the original model gives " +
                      c10::str(a.sizes()));
    const double e = (a - y).abs().max().item<double>();
    r.per_output[name] = e;
    r.max_abs_error = std::max(r.max_abs_error, e);
  }
  r.passed = r.max_abs_error <= atol;
  return r;
}

}  // namespace snn
