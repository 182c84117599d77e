// Keras layers -> native objects, following nengo_dl's converter table
// (shared/reference/nengo-semantics.md section 10). Values are the flat row-major vectors of
// channels_last arrays, so Flatten/Reshape change nothing.
#include <cmath>
#include <set>

#include "build/layers_internal.h"
#include "convert/convert_internal.h"
#include "snn/transforms.h"

namespace snn {

namespace {

using nlohmann::json;
using detail::product;
using detail::shape_str;

/// A size option of a layer (kernel_size, strides, pool_size, dilation_rate): one integer
/// or one per spatial axis, each >= 1 (a stride of 0 would divide by zero further on).
std::vector<int64_t> int_list(const std::string& w, const json& c, const std::string& key,
                              size_t rank, std::vector<int64_t> fallback) {
  std::vector<int64_t> v;
  if (!c.contains(key) || c[key].is_null()) {
    v = std::move(fallback);
  } else if (c[key].is_number_integer()) {
    v.assign(rank, c[key].get<int64_t>());
  } else if (c[key].is_array()) {
    for (const auto& x : c[key]) {
      if (!x.is_number_integer())
        throw SpecError(w + ": " + key + " must be integers, got " + c[key].dump());
      v.push_back(x.get<int64_t>());
    }
  } else {
    throw SpecError(w + ": " + key + " must be an integer or a list of integers, got " +
                    c[key].dump());
  }
  if (v.size() != rank)
    throw SpecError(w + ": " + key + " must give " + std::to_string(rank) + " sizes, got " +
                    (c.contains(key) ? c[key].dump() : std::string("none")));
  for (int64_t x : v)
    if (x < 1)
      throw SpecError(w + ": " + key + " must be >= 1, got " + c[key].dump());
  return v;
}

/// A real-valued option of a layer (`fallback` when absent or null); it must be finite.
double number(const std::string& w, const json& c, const std::string& key, double fallback) {
  if (!c.contains(key) || c[key].is_null()) return fallback;
  if (!c[key].is_number() || !std::isfinite(c[key].get<double>()))
    throw SpecError(w + ": " + key + " must be a finite number, got " + c[key].dump());
  return c[key].get<double>();
}

std::string str(const json& c, const std::string& key, const std::string& fallback) {
  return c.contains(key) && c[key].is_string() ? c[key].get<std::string>() : fallback;
}

/// The bias of every element of a channels_last array of `shape` (the last axis).
torch::Tensor tile_last(const torch::Tensor& per_channel, const std::vector<int64_t>& shape) {
  const int64_t positions = product(shape) / shape.back();
  return per_channel.to(torch::kFloat64).reshape({1, -1}).expand({positions, shape.back()}).reshape(-1);
}

/// Output sizes of a convolution or pool along the spatial axes (Keras' rules).
std::vector<int64_t> spatial_out(const std::vector<int64_t>& in_spatial,
                                 const std::vector<int64_t>& k, const std::vector<int64_t>& s,
                                 bool same) {
  std::vector<int64_t> out;
  for (size_t a = 0; a < in_spatial.size(); ++a)
    out.push_back(detail::conv_out(in_spatial[a], k[a], s[a], same));
  return out;
}

/// Whether "same" padding adds no cells along any axis (then it equals "valid").
bool same_pads_nothing(const std::vector<int64_t>& in_spatial, const std::vector<int64_t>& k,
                       const std::vector<int64_t>& s) {
  for (size_t a = 0; a < in_spatial.size(); ++a) {
    auto [lo, hi] = detail::same_pad(in_spatial[a], k[a], s[a]);
    if (lo + hi > 0) return false;
  }
  return true;
}

}  // namespace

void Converter::Impl::convert_keras() {
  const auto& m = *keras;
  std::set<std::string> outputs_set(m.output_layers.begin(), m.output_layers.end());
  for (const auto& l : m.layers) {
    if (l.class_name == "InputLayer") {
      const auto shape = m.input_shape(l.name);
      auto node = net->node(NodeOptions().id(l.name).size_out(product(shape)));
      inputs[l.name] = node;
      input_order.push_back(l.name);
      layers[l.name] = pre_activation[l.name] = ObjRef(node);
      shapes[l.name] = shape;
      continue;
    }
    std::vector<ObjRef> in;
    std::vector<std::vector<int64_t>> in_shapes;
    for (const auto& name : l.inbound) {
      auto it = layers.find(name);
      if (it == layers.end())
        throw SpecError(who(l.name, l.class_name) + ": input layer \"" + name +
                        "\" is not converted before it (unknown or out of order)");
      in.push_back(it->second);
      in_shapes.push_back(shapes.at(name));
    }
    if (in.empty()) throw SpecError(who(l.name, l.class_name) + ": the layer has no inputs");
    auto c = convert_keras_layer(l, in, in_shapes, outputs_set.count(l.name) > 0);
    layers[l.name] = c.output;
    pre_activation[l.name] = c.pre_activation.kind == ObjRef::Kind::None ? c.output : c.pre_activation;
    shapes[l.name] = c.shape;
  }
  for (const auto& name : m.output_layers) {
    auto it = layers.find(name);
    if (it == layers.end()) throw SpecError(m.path + ": output layer \"" + name + "\" not found");
    auto p = net->probe(it->second, ProbeOptions().id("p_" + name).synapse(synapse_from(it->second)));
    outputs[name] = p;
    output_order.push_back(name);
  }
}

Converted Converter::Impl::convert_keras_layer(const KerasLayer& l, const std::vector<ObjRef>& in,
                                               const std::vector<std::vector<int64_t>>& in_shapes,
                                               bool is_output) {
  const std::string& cls = l.class_name;
  const json& c = l.config;
  const std::string w = who(l.name, cls);
  const ObjRef& x = in[0];
  const auto& shape = in_shapes[0];
  const int64_t n_in = product(shape);
  Converted out;

  // The user's converters first (they may also replace built-ins, as NengoDL's register).
  if (auto user = detail::find_layer_converter(cls)) {
    LayerContext ctx(*this, l);
    ctx.inputs_ = in;
    ctx.shapes_ = in_shapes;
    auto [obj, s] = user->convert(ctx);
    if (obj.kind == ObjRef::Kind::None)
      throw SpecError(w + ": the registered converter returned no object");
    out.output = out.pre_activation = obj;
    out.shape = s.empty() ? shape : s;
    return out;
  }

  auto pass = [&]() {  // layers that change nothing on the flat vector
    out.output = out.pre_activation = x;
    out.shape = shape;
    return out;
  };

  if (cls == "Dropout" || cls == "SpatialDropout1D" || cls == "SpatialDropout2D" ||
      cls == "GaussianNoise" || cls == "GaussianDropout" || cls == "AlphaDropout" ||
      cls == "ActivityRegularization")
    return pass();  // nothing at inference
  if (cls == "Flatten") {
    pass();
    out.shape = {n_in};
    return out;
  }
  if (cls == "Reshape") {
    pass();
    auto target = c.at("target_shape").get<std::vector<int64_t>>();
    int64_t known = 1, unknown = -1;
    for (size_t i = 0; i < target.size(); ++i) {
      if (target[i] < 0) unknown = static_cast<int64_t>(i); else known *= target[i];
    }
    if (unknown >= 0) target[static_cast<size_t>(unknown)] = n_in / known;
    if (product(target) != n_in)
      throw SpecError(w + ": target_shape " + shape_str(target) + " does not hold the input " +
                      shape_str(shape));
    out.shape = target;
    return out;
  }

  if (cls == "Dense") {
    const auto& kernel = l.weight("kernel");  // (in, units)
    const int64_t units = kernel.size(1);
    if (kernel.size(0) != shape.back())
      throw SpecError(w + ": kernel " + c10::str(kernel.sizes()) + " does not fit the input " +
                      shape_str(shape));
    auto out_shape = shape;
    out_shape.back() = units;
    auto a = activation(l.name, cls, str(c, "activation", "linear"), out_shape, is_output);
    // Dense acts on the last axis: one copy of the kernel per position of the others.
    const int64_t positions = n_in / shape.back();
    torch::Tensor t = kernel.t().contiguous();
    if (positions > 1) t = torch::kron(torch::eye(positions, torch::kFloat64), t);
    connect(x, a.target, ConnectionOptions().transform(Init(t * a.scale)), true);
    if (c.value("use_bias", true) && l.has_weight("bias"))
      connect_bias(l.name, tile_last(l.weight("bias"), out_shape), a.target, a.scale, true);
    out.output = a.output;
    out.pre_activation = a.target;
    out.shape = out_shape;
    return out;
  }

  if (cls == "Conv1D" || cls == "Conv2D") {
    const size_t dims = cls == "Conv1D" ? 1 : 2;
    if (str(c, "data_format", "channels_last") != "channels_last")
      throw SpecError(w + ": only data_format channels_last converts");
    if (shape.size() != dims + 1)
      throw SpecError(w + ": expected an input of rank " + std::to_string(dims + 1) + ", got " +
                      shape_str(shape));
    for (int64_t d : int_list(w, c, "dilation_rate", dims, std::vector<int64_t>(dims, 1)))
      if (d != 1) throw SpecError(w + ": dilation_rate other than 1 does not convert");
    if (c.value("groups", 1) != 1) throw SpecError(w + ": groups other than 1 do not convert");
    const auto& kernel = l.weight("kernel");  // kernel_size + (in, filters), as Nengo's
    const int64_t filters = kernel.size(kernel.dim() - 1);
    const auto ks = int_list(w, c, "kernel_size", dims, {});
    const auto st = int_list(w, c, "strides", dims, std::vector<int64_t>(dims, 1));
    const std::string padding = str(c, "padding", "valid");
    if (padding != "valid" && padding != "same")
      throw SpecError(w + ": padding \"" + padding + "\" does not convert");
    std::vector<int64_t> sp(shape.begin(), shape.end() - 1);
    auto out_shape = spatial_out(sp, ks, st, padding == "same");
    out_shape.push_back(filters);
    auto a = activation(l.name, cls, str(c, "activation", "linear"), out_shape, is_output);
    auto conv = std::make_shared<Convolution>(Convolution(filters, shape)
                                                  .kernel_size(ks)
                                                  .strides(st)
                                                  .padding(padding)
                                                  .channels_last(true)
                                                  .init(Init(kernel * a.scale)));
    connect(x, a.target, ConnectionOptions().convolution(conv), true);
    if (c.value("use_bias", true) && l.has_weight("bias"))
      connect_bias(l.name, tile_last(l.weight("bias"), out_shape), a.target, a.scale, true);
    out.output = a.output;
    out.pre_activation = a.target;
    out.shape = out_shape;
    return out;
  }

  const bool max_pool = cls == "MaxPooling1D" || cls == "MaxPooling2D";
  const bool avg_pool = cls == "AveragePooling1D" || cls == "AveragePooling2D";
  if (max_pool || avg_pool) {
    const size_t dims = cls.back() == '1' || cls.find("1D") != std::string::npos ? 1 : 2;
    if (str(c, "data_format", "channels_last") != "channels_last")
      throw SpecError(w + ": only data_format channels_last converts");
    const auto ps = int_list(w, c, "pool_size", dims, std::vector<int64_t>(dims, 2));
    const auto st = int_list(w, c, "strides", dims, ps);
    const std::string padding = str(c, "padding", "valid");
    std::vector<int64_t> sp(shape.begin(), shape.end() - 1);
    const int64_t C = shape.back();
    const bool as_avg = avg_pool || options.max_to_avg_pool();
    // Native average pooling: a convolution with kernel I / prod(pool); exact only when no
    // padding cell enters an average (TensorFlow leaves them out of the count).
    if (as_avg && (padding == "valid" || same_pads_nothing(sp, ps, st))) {
      auto out_shape = spatial_out(sp, ps, st, false);
      out_shape.push_back(C);
      std::vector<int64_t> kshape = ps;
      kshape.push_back(C);
      kshape.push_back(C);
      auto k = torch::zeros(kshape, torch::kFloat64);
      auto kv = k.view({-1, C, C});
      for (int64_t i = 0; i < kv.size(0); ++i) kv[i].copy_(torch::eye(C, torch::kFloat64));
      k /= static_cast<double>(product(ps));
      auto node = net->node(NodeOptions().id(l.name).size_in(product(out_shape)));
      auto conv = std::make_shared<Convolution>(Convolution(C, shape)
                                                    .kernel_size(ps)
                                                    .strides(st)
                                                    .padding("valid")
                                                    .channels_last(true)
                                                    .init(Init(k)));
      connect(x, node, ConnectionOptions().convolution(conv), false);
      out.output = out.pre_activation = ObjRef(node);
      out.shape = out_shape;
      return out;
    }
    if (dims != 2)
      throw SpecError(w + ": " + std::string(as_avg ? "average pooling with padding" : "max pooling") +
                      " has neither a native form nor a fallback in 1-D");
    require_fallback(w, as_avg ? std::string("average pooling over padded cells")
                               : std::string("max pooling (max_to_avg_pool makes it average pooling)"));
    return tensor_layer(l.name, w,
                        {{"type", as_avg ? "AvgPool2D" : "MaxPool2D"},
                         {"pool_size", ps},
                         {"strides", st},
                         {"padding", padding},
                         {"channels_last", true}},
                        x, shape);
  }

  if (cls == "GlobalAveragePooling1D" || cls == "GlobalAveragePooling2D" ||
      ((cls == "GlobalMaxPooling1D" || cls == "GlobalMaxPooling2D") && options.max_to_avg_pool())) {
    const int64_t C = shape.back(), P = n_in / C;
    auto t = torch::zeros({C, n_in}, torch::kFloat64);
    for (int64_t p = 0; p < P; ++p)
      t.narrow(1, p * C, C).copy_(torch::eye(C, torch::kFloat64) / static_cast<double>(P));
    auto node = net->node(NodeOptions().id(l.name).size_in(C));
    connect(x, node, ConnectionOptions().transform(Init(t)), false);
    out.output = out.pre_activation = ObjRef(node);
    out.shape = {C};
    if (c.value("keepdims", false)) {
      out.shape = std::vector<int64_t>(shape.size() - 1, 1);
      out.shape.push_back(C);
    }
    return out;
  }

  if (cls == "BatchNormalization") {
    int64_t axis = c.contains("axis") && c["axis"].is_number_integer() ? c["axis"].get<int64_t>()
                   : c.contains("axis") && c["axis"].is_array() && c["axis"].size() == 1
                       ? c["axis"][0].get<int64_t>()
                       : -1;
    const int64_t rank = static_cast<int64_t>(shape.size());
    if (axis < 0) axis += rank + 1;  // Keras counts the batch axis
    if (axis != rank)
      throw SpecError(w + ": only normalisation over the last (channel) axis converts, got axis " +
                      c["axis"].dump());
    const int64_t C = shape.back();
    const double eps = c.value("epsilon", 1e-3);
    auto ones = torch::ones({C}, torch::kFloat64), zeros = torch::zeros({C}, torch::kFloat64);
    const auto gamma = l.has_weight("gamma") ? l.weight("gamma") : ones;
    const auto beta = l.has_weight("beta") ? l.weight("beta") : zeros;
    const auto& mean = l.weight("moving_mean");
    const auto& var = l.weight("moving_variance");
    const bool fold = options.inference_only() || !c.value("trainable", true);
    if (fold) {
      // NengoDL: scale = gamma / sqrt(var + eps), bias = beta - scale * mean, both fixed.
      const auto scale = gamma / torch::sqrt(var + eps);
      const auto bias = beta - scale * mean;
      auto node = net->node(NodeOptions().id(l.name).size_in(n_in));
      connect(x, node, ConnectionOptions().transform(Init(tile_last(scale, shape))), false);
      connect_bias(l.name, tile_last(bias, shape), node, 1.0, false);
      out.output = out.pre_activation = ObjRef(node);
      out.shape = shape;
      return out;
    }
    require_fallback(w, "a trainable BatchNormalization (inference_only folds it)");
    return tensor_layer(
        l.name, w,
        {{"type", "BatchNorm"}, {"momentum", c.value("momentum", 0.99)}, {"epsilon", eps}, {"axis", -1}},
        x, shape, [=](torch::nn::Module& m) {
          auto& bn = dynamic_cast<torch::nn::BatchNorm1dImpl&>(m);
          bn.weight.copy_(gamma);
          bn.bias.copy_(beta);
          bn.running_mean.copy_(mean);
          bn.running_var.copy_(var);
        });
  }

  if (cls == "Activation" || cls == "ReLU" || cls == "Softmax" || cls == "LeakyReLU" ||
      cls == "ELU") {
    std::string act;
    double slope = 0.0;
    if (cls == "Activation") {
      act = str(c, "activation", "linear");
    } else if (cls == "ReLU") {
      // As NengoDL: a ReLU with a negative slope is a LeakyReLU; a cap or threshold has no
      // neuron type.
      const bool plain = (!c.contains("max_value") || c["max_value"].is_null()) &&
                         c.value("threshold", 0.0) == 0.0;
      if (!plain) throw SpecError(w + ": ReLU with max_value or threshold does not convert");
      slope = number(w, c, "negative_slope", 0.0);
      act = slope == 0.0 ? "relu" : "leaky_relu";
    } else if (cls == "Softmax") {
      act = "softmax";
    } else if (cls == "ELU") {
      act = "elu";
    } else {  // LeakyReLU: Keras 2 calls the slope alpha, Keras 3 negative_slope
      act = "leaky_relu";
      slope = number(w, c, c.contains("alpha") ? "alpha" : "negative_slope", 0.3);
    }
    if (act == "linear" || (act == "softmax" && is_output && options.drop_final_softmax()))
      return pass();
    auto a = activation(l.name, cls, act, shape, is_output, slope);
    connect(x, a.target, a.scale != 1.0 ? ConnectionOptions().transform(Init(a.scale))
                                        : ConnectionOptions(),
            false);
    out.output = a.output;
    out.pre_activation = x;
    out.shape = shape;
    return out;
  }

  if (cls == "Add" || cls == "Average" || cls == "Subtract") {
    for (size_t i = 1; i < in_shapes.size(); ++i)
      if (product(in_shapes[i]) != n_in)
        throw SpecError(w + ": inputs of different shapes (" + shape_str(shape) + ", " +
                        shape_str(in_shapes[i]) + ") do not convert (no broadcasting)");
    if (cls == "Subtract" && in.size() != 2) throw SpecError(w + ": Subtract needs two inputs");
    auto node = net->node(NodeOptions().id(l.name).size_in(n_in));
    for (size_t i = 0; i < in.size(); ++i) {
      double k = cls == "Average" ? 1.0 / static_cast<double>(in.size()) : 1.0;
      if (cls == "Subtract" && i == 1) k = -1.0;
      connect(in[i], node, k != 1.0 ? ConnectionOptions().transform(Init(k)) : ConnectionOptions(),
              false);
    }
    out.output = out.pre_activation = ObjRef(node);
    out.shape = shape;
    return out;
  }

  if (cls == "Concatenate") {
    const int64_t rank = static_cast<int64_t>(shape.size());
    int64_t axis = c.value("axis", -1);
    if (axis < 0) axis += rank + 1;
    axis -= 1;  // without the batch axis
    if (axis < 0 || axis >= rank) throw SpecError(w + ": cannot concatenate over the batch axis");
    auto out_shape = shape;
    out_shape[axis] = 0;
    for (const auto& s : in_shapes) {
      if (static_cast<int64_t>(s.size()) != rank)
        throw SpecError(w + ": inputs of different ranks");
      out_shape[axis] += s[axis];
    }
    const int64_t n_out = product(out_shape);
    auto node = net->node(NodeOptions().id(l.name).size_in(n_out));
    // Input i fills a block of the concatenated axis; its flat elements land at these indices.
    const int64_t outer = product(std::vector<int64_t>(shape.begin(), shape.begin() + axis));
    const int64_t inner = product(std::vector<int64_t>(shape.begin() + axis + 1, shape.end()));
    int64_t offset = 0;
    for (size_t i = 0; i < in.size(); ++i) {
      const int64_t len = in_shapes[i][axis];
      std::vector<int64_t> idx;
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t a = 0; a < len; ++a)
          for (int64_t k = 0; k < inner; ++k)
            idx.push_back((o * out_shape[axis] + offset + a) * inner + k);
      offset += len;
      connect(in[i], ObjRef(node)[Slice::indices(idx)], ConnectionOptions(), false);
    }
    out.output = out.pre_activation = ObjRef(node);
    out.shape = out_shape;
    return out;
  }

  if (cls == "ZeroPadding1D" || cls == "ZeroPadding2D") {
    const size_t dims = cls == "ZeroPadding1D" ? 1 : 2;
    if (shape.size() != dims + 1) throw SpecError(w + ": expected an input of rank " + std::to_string(dims + 1));
    // padding: n, [a, b] (1-D) / [ph, pw] / [[top, bottom], [left, right]] (2-D).
    std::vector<std::pair<int64_t, int64_t>> pad(dims, {1, 1});
    const json& p = c.contains("padding") ? c["padding"] : json(1);
    if (p.is_number_integer()) {
      for (auto& q : pad) q = {p.get<int64_t>(), p.get<int64_t>()};
    } else if (dims == 1 && p.is_array() && p.size() == 2 && p[0].is_number_integer()) {
      pad[0] = {p[0].get<int64_t>(), p[1].get<int64_t>()};
    } else if (p.is_array() && p.size() == dims) {
      for (size_t a = 0; a < dims; ++a)
        pad[a] = p[a].is_array() ? std::make_pair(p[a][0].get<int64_t>(), p[a][1].get<int64_t>())
                                 : std::make_pair(p[a].get<int64_t>(), p[a].get<int64_t>());
    } else {
      throw SpecError(w + ": padding " + p.dump() + " not understood");
    }
    auto out_shape = shape;
    for (size_t a = 0; a < dims; ++a) out_shape[a] += pad[a].first + pad[a].second;
    const int64_t C = shape.back();
    std::vector<int64_t> idx;
    const int64_t H = shape[0], W = dims == 2 ? shape[1] : 1;
    const int64_t OW = dims == 2 ? out_shape[1] : 1;
    const int64_t left = dims == 2 ? pad[1].first : 0;
    for (int64_t h = 0; h < H; ++h)
      for (int64_t ww = 0; ww < W; ++ww)
        for (int64_t ch = 0; ch < C; ++ch)
          idx.push_back(((h + pad[0].first) * OW + ww + left) * C + ch);
    auto node = net->node(NodeOptions().id(l.name).size_in(product(out_shape)));
    connect(x, ObjRef(node)[Slice::indices(idx)], ConnectionOptions(), false);
    out.output = out.pre_activation = ObjRef(node);
    out.shape = out_shape;
    return out;
  }

  if (cls == "UpSampling1D" || cls == "UpSampling2D") {
    // Nearest-neighbour repetition, as NengoDL: a node of the output's size fed by the input
    // with every element picked as often as it is repeated (a pre slice with repeats).
    const size_t dims = cls == "UpSampling1D" ? 1 : 2;
    if (shape.size() != dims + 1) throw SpecError(w + ": expected an input of rank " + std::to_string(dims + 1));
    if (str(c, "data_format", "channels_last") != "channels_last")
      throw SpecError(w + ": only data_format channels_last converts");
    if (str(c, "interpolation", "nearest") != "nearest")
      throw SpecError(w + ": only interpolation \"nearest\" converts (not \"" +
                      str(c, "interpolation", "") + "\")");
    const auto size = int_list(w, c, "size", dims, std::vector<int64_t>(dims, 2));
    auto out_shape = shape;
    for (size_t a = 0; a < dims; ++a) out_shape[a] *= size[a];
    const int64_t C = shape.back(), W = dims == 2 ? shape[1] : 1;
    const int64_t OH = out_shape[0], OW = dims == 2 ? out_shape[1] : 1;
    const int64_t sw = dims == 2 ? size[1] : 1;
    std::vector<int64_t> idx;
    idx.reserve(static_cast<size_t>(product(out_shape)));
    for (int64_t h = 0; h < OH; ++h)
      for (int64_t ww = 0; ww < OW; ++ww)
        for (int64_t ch = 0; ch < C; ++ch) idx.push_back(((h / size[0]) * W + ww / sw) * C + ch);
    auto node = net->node(NodeOptions().id(l.name).size_in(product(out_shape)));
    connect(x[Slice::indices(idx)], ObjRef(node), ConnectionOptions(), false);
    out.output = out.pre_activation = ObjRef(node);
    out.shape = out_shape;
    return out;
  }

  throw SpecError(w + ": no converter for this layer class (register one with "
                      "snn::Converter::register_layer_converter)");
}

}  // namespace snn
