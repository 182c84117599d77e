// torch::nn::Sequential -> native objects, the LibTorch twin of the Keras conversion. Values
// keep LibTorch's channels-first layout (row-major C, H, W), so convolutions and pools use
// Convolution transforms with channels_last false. A Linear/Conv2d followed by an activation
// module connects straight into that activation's neurons, as a Keras layer with a fused
// activation.
#include <variant>
#include <torch/torch.h>

#include "convert/convert_internal.h"
#include "snn/transforms.h"

namespace snn {

namespace {

using detail::product;
using detail::shape_str;

/// The Keras activation name of an activation module, empty when it is none.
std::string activation_name(const torch::nn::Module& m) {
  if (dynamic_cast<const torch::nn::ReLUImpl*>(&m)) return "relu";
  if (dynamic_cast<const torch::nn::LeakyReLUImpl*>(&m)) return "leaky_relu";
  if (dynamic_cast<const torch::nn::SigmoidImpl*>(&m)) return "sigmoid";
  if (dynamic_cast<const torch::nn::TanhImpl*>(&m)) return "tanh";
  return "";
}

/// The slope below zero of a LeakyReLU module (the default elsewhere: unused).
double negative_slope(const torch::nn::Module& m) {
  auto* leaky = dynamic_cast<const torch::nn::LeakyReLUImpl*>(&m);
  return leaky ? leaky->options.negative_slope() : 0.3;
}

std::vector<int64_t> vec2(const torch::ExpandingArray<2>& a) { return {(*a)[0], (*a)[1]}; }

/// The per-element values of a per-channel vector in channels-first layout.
torch::Tensor tile_first(const torch::Tensor& per_channel, const std::vector<int64_t>& shape) {
  const int64_t C = shape.front(), positions = product(shape) / C;
  return per_channel.to(torch::kFloat64).reshape({C, 1}).expand({C, positions}).reshape(-1);
}

}  // namespace

void Converter::Impl::convert_sequential() {
  const auto& shape0 = sequential_shape;
  if (shape0.empty()) throw SpecError("Converter: the Sequential needs an input shape");
  auto input = net->node(NodeOptions().id("input").size_out(product(shape0)));
  inputs["input"] = input;
  input_order.push_back("input");
  ObjRef x = input;
  std::vector<int64_t> shape = shape0;
  layers["input"] = x;
  shapes["input"] = shape;
  std::string last = "input";

  auto children = sequential->named_children();
  std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> mods;
  for (const auto& item : children) mods.emplace_back(item.key(), item.value());
  torch::NoGradGuard no_grad;

  // Module i of the Sequential in a TensorNode of its own (through a one-module Sequential,
  // which knows how to call any module's forward).
  auto module_fallback = [&](size_t i, const std::string& name, const ObjRef& pre,
                             const std::vector<int64_t>& shape_in) {
    torch::nn::Sequential one;
    one->push_back(mods[i].first, *(sequential->begin() + static_cast<std::ptrdiff_t>(i)));
    auto node = tensor_node(*net, TensorNodeOptions().id(name).shape_in(shape_in).module(one));
    connect(pre, node, ConnectionOptions(), false);
    Converted c;
    c.output = c.pre_activation = ObjRef(node);
    c.shape = node->options().tensor()->shape_out;
    return c;
  };

  for (size_t i = 0; i < mods.size(); ++i) {
    const std::string name = "layer" + mods[i].first;
    torch::nn::Module& m = *mods[i].second;
    const std::string w = "Sequential module " + mods[i].first + " (" + m.name() + ")";
    const int64_t n_in = product(shape);
    // A following activation module fuses with a Linear/Conv2d.
    std::string fused;
    double fused_slope = 0.3;
    if (i + 1 < mods.size()) {
      fused = activation_name(*mods[i + 1].second);
      fused_slope = negative_slope(*mods[i + 1].second);
    }
    Converted c;
    bool skip_next = false;

    auto linear_target = [&](const std::vector<int64_t>& out_shape) {
      auto a = activation(name, m.name(), fused.empty() ? "linear" : fused, out_shape, false,
                          fused_slope);
      skip_next = !fused.empty();
      return a;
    };

    if (auto* lin = dynamic_cast<torch::nn::LinearImpl*>(&m)) {
      if (shape.size() != 1 || shape[0] != lin->weight.size(1))
        throw SpecError(w + ": expects " + std::to_string(lin->weight.size(1)) +
                        " inputs, gets " + shape_str(shape) + " (add a Flatten)");
      std::vector<int64_t> out_shape = {lin->weight.size(0)};
      auto a = linear_target(out_shape);
      auto W = lin->weight.detach().to(torch::kFloat64) * a.scale;
      connect(x, a.target, ConnectionOptions().transform(Init(W.contiguous())), true);
      if (lin->bias.defined() && lin->bias.numel() > 0)
        connect_bias(name, lin->bias.detach(), a.target, a.scale, true);
      c.output = a.output;
      c.pre_activation = a.target;
      c.shape = out_shape;
    } else if (auto* cv = dynamic_cast<torch::nn::Conv2dImpl*>(&m)) {
      const auto& o = cv->options;
      if (shape.size() != 3) throw SpecError(w + ": expects (C, H, W) inputs, gets " + shape_str(shape));
      const auto k = vec2(o.kernel_size()), st = vec2(o.stride()), dil = vec2(o.dilation());
      // padding_t is a c10::variant in LibTorch 1.x and a std::variant in 2.x: with std::get_if
      // in scope, argument-dependent lookup picks whichever fits.
      using std::get_if;
      const auto* pad = get_if<torch::ExpandingArray<2>>(&o.padding());
      const bool plain = o.groups() == 1 && dil[0] == 1 && dil[1] == 1 &&
                         o.padding_mode().index() == 0;  // zeros
      std::string padding;
      if (plain && get_if<torch::enumtype::kValid>(&o.padding())) padding = "valid";
      // LibTorch's "same" (stride 1) pads as TensorFlow does: the odd cell at the end.
      if (plain && get_if<torch::enumtype::kSame>(&o.padding())) padding = "same";
      if (plain && pad) {
        const auto p = vec2(*pad);
        if (p[0] == 0 && p[1] == 0) {
          padding = "valid";
        } else if (st[0] == 1 && st[1] == 1 && k[0] % 2 == 1 && k[1] % 2 == 1 &&
                   p[0] == (k[0] - 1) / 2 && p[1] == (k[1] - 1) / 2) {
          padding = "same";  // symmetric, so TensorFlow's rule gives the same cells
        }
      }
      if (padding.empty()) {
        require_fallback(w, "a Conv2d with this padding, dilation or grouping");
        c = module_fallback(i, name, x, shape);
      } else {
        const int64_t F = o.out_channels();
        const bool same = padding == "same";
        std::vector<int64_t> out_shape = {
            F, (shape[1] + (same ? st[0] - 1 : -k[0] + st[0])) / st[0],
            (shape[2] + (same ? st[1] - 1 : -k[1] + st[1])) / st[1]};
        auto a = linear_target(out_shape);
        // LibTorch's (out, in, kh, kw) -> Nengo's (kh, kw, in, out).
        auto kernel = cv->weight.detach().to(torch::kFloat64).permute({2, 3, 1, 0}).contiguous();
        auto conv = std::make_shared<Convolution>(Convolution(F, shape)
                                                      .kernel_size(k)
                                                      .strides(st)
                                                      .padding(padding)
                                                      .channels_last(false)
                                                      .init(Init(kernel * a.scale)));
        connect(x, a.target, ConnectionOptions().convolution(conv), true);
        if (cv->bias.defined() && cv->bias.numel() > 0)
          connect_bias(name, tile_first(cv->bias.detach(), out_shape), a.target, a.scale, true);
        c.output = a.output;
        c.pre_activation = a.target;
        c.shape = out_shape;
      }
    } else if (auto* ap = dynamic_cast<torch::nn::AvgPool2dImpl*>(&m)) {
      const auto& o = ap->options;
      const auto k = vec2(o.kernel_size());
      const auto st = vec2(o.stride());
      const auto p = vec2(o.padding());
      if (shape.size() != 3) throw SpecError(w + ": expects (C, H, W) inputs, gets " + shape_str(shape));
      if (p[0] != 0 || p[1] != 0 || o.ceil_mode() || o.divisor_override())
        throw SpecError(w + ": only AvgPool2d without padding, ceil_mode or divisor converts");
      const int64_t C = shape[0];
      std::vector<int64_t> out_shape = {C, (shape[1] - k[0]) / st[0] + 1, (shape[2] - k[1]) / st[1] + 1};
      auto kernel = torch::zeros({k[0], k[1], C, C}, torch::kFloat64);
      auto kv = kernel.view({-1, C, C});
      for (int64_t j = 0; j < kv.size(0); ++j) kv[j].copy_(torch::eye(C, torch::kFloat64));
      kernel /= static_cast<double>(k[0] * k[1]);
      auto node = net->node(NodeOptions().id(name).size_in(product(out_shape)));
      auto conv = std::make_shared<Convolution>(Convolution(C, shape)
                                                    .kernel_size(k)
                                                    .strides(st)
                                                    .padding("valid")
                                                    .channels_last(false)
                                                    .init(Init(kernel)));
      connect(x, node, ConnectionOptions().convolution(conv), false);
      c.output = c.pre_activation = ObjRef(node);
      c.shape = out_shape;
    } else if (dynamic_cast<torch::nn::FlattenImpl*>(&m)) {
      c.output = c.pre_activation = x;
      c.shape = {n_in};
    } else if (dynamic_cast<torch::nn::DropoutImpl*>(&m) ||
               dynamic_cast<torch::nn::IdentityImpl*>(&m)) {
      c.output = c.pre_activation = x;
      c.shape = shape;
    } else if (dynamic_cast<torch::nn::BatchNorm1dImpl*>(&m) ||
               dynamic_cast<torch::nn::BatchNorm2dImpl*>(&m)) {
      auto* bn = dynamic_cast<torch::nn::BatchNormImplBase<1, torch::nn::BatchNorm1dImpl>*>(&m);
      auto* bn2 = dynamic_cast<torch::nn::BatchNormImplBase<2, torch::nn::BatchNorm2dImpl>*>(&m);
      torch::Tensor gamma, beta, mean, var;
      double eps;
      if (bn) {
        gamma = bn->weight; beta = bn->bias; mean = bn->running_mean; var = bn->running_var;
        eps = bn->options.eps();
      } else {
        gamma = bn2->weight; beta = bn2->bias; mean = bn2->running_mean; var = bn2->running_var;
        eps = bn2->options.eps();
      }
      if (!mean.defined()) throw SpecError(w + ": only BatchNorm with running statistics converts");
      const int64_t C = shape.front();
      auto g = gamma.defined() ? gamma.detach().to(torch::kFloat64) : torch::ones({C}, torch::kFloat64);
      auto b = beta.defined() ? beta.detach().to(torch::kFloat64) : torch::zeros({C}, torch::kFloat64);
      auto scale = g / torch::sqrt(var.to(torch::kFloat64) + eps);
      auto bias = b - scale * mean.to(torch::kFloat64);
      auto node = net->node(NodeOptions().id(name).size_in(n_in));
      connect(x, node, ConnectionOptions().transform(Init(tile_first(scale, shape))), false);
      connect_bias(name, tile_first(bias, shape), node, 1.0, false);
      c.output = c.pre_activation = ObjRef(node);
      c.shape = shape;
    } else if (!activation_name(m).empty()) {
      auto a = activation(name, m.name(), activation_name(m), shape, false, negative_slope(m));
      connect(x, a.target,
              a.scale != 1.0 ? ConnectionOptions().transform(Init(a.scale)) : ConnectionOptions(),
              false);
      c.output = a.output;
      c.pre_activation = x;
      c.shape = shape;
    } else {
      // Anything else runs as itself in a TensorNode.
      require_fallback(w, "this module");
      c = module_fallback(i, name, x, shape);
    }
    layers[name] = c.output;
    pre_activation[name] = c.pre_activation;
    shapes[name] = c.shape;
    x = c.output;
    shape = c.shape;
    last = name;
    if (skip_next) {
      ++i;
      const std::string next = "layer" + mods[i].first;
      layers[next] = c.output;
      pre_activation[next] = c.pre_activation;
      shapes[next] = c.shape;
      last = next;
    }
  }
  auto p = net->probe(x, ProbeOptions().id("p_output").synapse(synapse_from(x)));
  outputs[last] = p;
  output_order.push_back(last);
}

}  // namespace snn
