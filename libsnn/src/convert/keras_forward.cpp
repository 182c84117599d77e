// The reference forward pass of a Keras model for Converter::verify: LibTorch operations over
// the loaded weights, written from Keras' definitions (channels_last tensors, TensorFlow's
// SAME padding with the odd extra cell at the end, SAME average pooling that leaves padded
// cells out of the count). It shares nothing with the converted network but the weights.
#include <algorithm>
#include <limits>

#include "build/layers_internal.h"
#include "convert/convert_internal.h"

namespace snn::detail {

namespace {

using nlohmann::json;

std::vector<int64_t> ints(const json& c, const std::string& key, size_t rank,
                          std::vector<int64_t> fallback) {
  std::vector<int64_t> v;
  if (!c.contains(key) || c[key].is_null()) v = std::move(fallback);
  else if (c[key].is_number_integer()) v.assign(rank, c[key].get<int64_t>());
  else if (c[key].is_array()) v = c[key].get<std::vector<int64_t>>();
  // The conversion checked these already; the reference forward pass stays safe on its own.
  if (v.size() != rank || std::any_of(v.begin(), v.end(), [](int64_t x) { return x < 1; }))
    throw SpecError(key + ": expected " + std::to_string(rank) + " sizes >= 1, got " +
                    (c.contains(key) ? c[key].dump() : std::string("none")));
  return v;
}

std::string act_of(const json& c) {
  return c.contains("activation") && c["activation"].is_string()
             ? c["activation"].get<std::string>()
             : "linear";
}

/// TensorFlow SAME padding of the spatial axes of a channels-first tensor (N, C, spatial...),
/// in LibTorch's pad order (last axis first).
std::vector<int64_t> tf_same_pad(const torch::Tensor& x, const std::vector<int64_t>& k,
                                 const std::vector<int64_t>& s) {
  std::vector<int64_t> pad;
  for (int64_t a = static_cast<int64_t>(k.size()) - 1; a >= 0; --a) {
    const int64_t n = x.size(2 + a);
    const int64_t out = (n + s[a] - 1) / s[a];
    const int64_t total = std::max<int64_t>((out - 1) * s[a] + k[a] - n, 0);
    pad.push_back(total / 2);
    pad.push_back(total - total / 2);
  }
  return pad;
}

torch::Tensor to_channels_first(const torch::Tensor& x) { return x.movedim(-1, 1); }
torch::Tensor to_channels_last(const torch::Tensor& x) { return x.movedim(1, -1); }

torch::Tensor conv(const KerasLayer& l, const torch::Tensor& x, int dims) {
  const auto& c = l.config;
  auto k = l.weight("kernel");  // kernel_size + (in, out)
  auto y = to_channels_first(x);
  const auto ks = ints(c, "kernel_size", dims, {});
  const auto st = ints(c, "strides", dims, std::vector<int64_t>(dims, 1));
  if (c.value("padding", std::string("valid")) == "same")
    y = torch::constant_pad_nd(y, tf_same_pad(y, ks, st), 0.0);
  torch::Tensor bias;
  if (c.value("use_bias", true) && l.has_weight("bias")) bias = l.weight("bias");
  if (dims == 1) {
    y = torch::conv1d(y, k.permute({2, 1, 0}), bias, st);
  } else {
    y = torch::conv2d(y, k.permute({3, 2, 0, 1}), bias, st);
  }
  return keras_activation(act_of(c), to_channels_last(y));
}

torch::Tensor pool(const KerasLayer& l, const torch::Tensor& x, int dims, bool max) {
  const auto& c = l.config;
  const auto ps = ints(c, "pool_size", dims, std::vector<int64_t>(dims, 2));
  const auto st = ints(c, "strides", dims, ps);
  const bool same = c.value("padding", std::string("valid")) == "same";
  auto y = to_channels_first(x);
  if (dims == 1) {  // as a 2-D pool over (L, 1)
    y = y.unsqueeze(-1);
  }
  std::vector<int64_t> k2 = ps, s2 = st;
  if (dims == 1) {
    k2.push_back(1);
    s2.push_back(1);
  }
  std::vector<int64_t> pad = same ? tf_same_pad(y, k2, s2) : std::vector<int64_t>{0, 0, 0, 0};
  if (max) {
    y = torch::max_pool2d(torch::constant_pad_nd(y, pad, -std::numeric_limits<double>::infinity()),
                          k2, s2);
  } else {
    auto sum = torch::avg_pool2d(torch::constant_pad_nd(y, pad, 0.0), k2, s2) *
               static_cast<double>(k2[0] * k2[1]);
    auto ones = torch::ones({1, 1, y.size(2), y.size(3)}, y.options());
    auto count = torch::avg_pool2d(torch::constant_pad_nd(ones, pad, 0.0), k2, s2) *
                 static_cast<double>(k2[0] * k2[1]);
    y = sum / count;
  }
  if (dims == 1) y = y.squeeze(-1);
  return to_channels_last(y);
}

torch::Tensor layer_forward(const KerasLayer& l, const std::vector<torch::Tensor>& in,
                            const std::string& path) {
  const auto& cls = l.class_name;
  const auto& c = l.config;
  const auto& x = in.at(0);
  if (auto user = find_layer_converter(cls)) {
    if (!user->forward)
      throw SpecError(path + ": Keras layer \"" + l.name + "\" (" + cls +
                      "): its registered converter has no forward for verify()");
    return user->forward(l, in);
  }
  if (cls == "Dense") {
    auto y = x.matmul(l.weight("kernel"));
    if (c.value("use_bias", true) && l.has_weight("bias")) y = y + l.weight("bias");
    return keras_activation(act_of(c), y);
  }
  if (cls == "Conv1D") return conv(l, x, 1);
  if (cls == "Conv2D") return conv(l, x, 2);
  if (cls == "MaxPooling1D") return pool(l, x, 1, true);
  if (cls == "MaxPooling2D") return pool(l, x, 2, true);
  if (cls == "AveragePooling1D") return pool(l, x, 1, false);
  if (cls == "AveragePooling2D") return pool(l, x, 2, false);
  if (cls == "GlobalAveragePooling1D" || cls == "GlobalAveragePooling2D") {
    std::vector<int64_t> axes;
    for (int64_t a = 1; a < x.dim() - 1; ++a) axes.push_back(a);
    return x.mean(axes, c.value("keepdims", false));
  }
  if (cls == "GlobalMaxPooling1D" || cls == "GlobalMaxPooling2D") {
    auto y = x;
    for (int64_t a = x.dim() - 2; a >= 1; --a) y = std::get<0>(y.max(a, c.value("keepdims", false)));
    return y;
  }
  if (cls == "BatchNormalization") {
    const int64_t C = x.size(-1);
    auto gamma = l.has_weight("gamma") ? l.weight("gamma") : torch::ones({C}, torch::kFloat64);
    auto beta = l.has_weight("beta") ? l.weight("beta") : torch::zeros({C}, torch::kFloat64);
    return (x - l.weight("moving_mean")) / torch::sqrt(l.weight("moving_variance") +
                                                        c.value("epsilon", 1e-3)) *
               gamma +
           beta;
  }
  if (cls == "Activation") return keras_activation(act_of(c), x);
  if (cls == "ReLU") {  // the converter refuses max_value and threshold
    const auto& s = c.contains("negative_slope") ? c["negative_slope"] : nlohmann::json();
    return torch::leaky_relu(x, s.is_number() ? s.get<double>() : 0.0);
  }
  if (cls == "ELU") return torch::elu(x, c.value("alpha", 1.0));
  if (cls == "LeakyReLU") return torch::leaky_relu(x, c.value("alpha", c.value("negative_slope", 0.3)));
  if (cls == "Softmax") return torch::softmax(x, -1);
  if (cls == "Flatten") return x.reshape({x.size(0), -1});
  if (cls == "Reshape") {
    std::vector<int64_t> s = {x.size(0)};
    for (const auto& d : c.at("target_shape")) s.push_back(d.get<int64_t>());
    return x.reshape(s);
  }
  if (cls == "Dropout" || cls == "SpatialDropout1D" || cls == "SpatialDropout2D" ||
      cls == "GaussianNoise" || cls == "GaussianDropout" || cls == "AlphaDropout" ||
      cls == "ActivityRegularization")
    return x;
  if (cls == "Add" || cls == "Average") {
    auto y = x.clone();
    for (size_t i = 1; i < in.size(); ++i) y = y + in[i];
    return cls == "Average" ? y / static_cast<double>(in.size()) : y;
  }
  if (cls == "Subtract") return in.at(0) - in.at(1);
  if (cls == "Concatenate") return torch::cat(in, c.value("axis", -1));
  if (cls == "ZeroPadding1D" || cls == "ZeroPadding2D") {
    const json p = c.contains("padding") ? c["padding"] : json(1);
    std::vector<int64_t> pad;  // LibTorch order: last axis first; channels untouched
    pad = {0, 0};
    if (cls == "ZeroPadding1D") {
      auto q = p.is_number_integer() ? std::vector<int64_t>{p.get<int64_t>(), p.get<int64_t>()}
                                     : p.get<std::vector<int64_t>>();
      pad.insert(pad.end(), {q[0], q[1]});
    } else {
      std::vector<std::pair<int64_t, int64_t>> q;
      if (p.is_number_integer()) {
        q = {{p.get<int64_t>(), p.get<int64_t>()}, {p.get<int64_t>(), p.get<int64_t>()}};
      } else {
        for (const auto& a : p)
          q.push_back(a.is_array() ? std::make_pair(a[0].get<int64_t>(), a[1].get<int64_t>())
                                   : std::make_pair(a.get<int64_t>(), a.get<int64_t>()));
      }
      pad.insert(pad.end(), {q[1].first, q[1].second, q[0].first, q[0].second});
    }
    return torch::constant_pad_nd(x, pad, 0.0);
  }
  if (cls == "UpSampling1D" || cls == "UpSampling2D") {  // (N, [H,] W, C): repeat each axis
    const json& size = c.contains("size") ? c["size"] : json(2);
    const int64_t dims = cls == "UpSampling1D" ? 1 : 2;
    auto y = x;
    for (int64_t a = 0; a < dims; ++a)
      y = y.repeat_interleave(size.is_array() ? size[a].get<int64_t>() : size.get<int64_t>(), a + 1);
    return y;
  }
  throw SpecError(path + ": Keras layer \"" + l.name + "\" (" + cls +
                  "): no reference forward for this layer class");
}

}  // namespace

std::map<std::string, torch::Tensor> keras_forward(const KerasModel& model, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> values;
  for (const auto& l : model.layers) {
    if (l.class_name == "InputLayer") {
      std::vector<int64_t> s = {x.size(0)};
      const auto shape = model.input_shape(l.name);
      s.insert(s.end(), shape.begin(), shape.end());
      values[l.name] = x.to(torch::kCPU, torch::kFloat64).reshape(s);
      continue;
    }
    std::vector<torch::Tensor> in;
    for (const auto& name : l.inbound) in.push_back(values.at(name));
    values[l.name] = layer_forward(l, in, model.path);
  }
  std::map<std::string, torch::Tensor> out;
  for (const auto& name : model.output_layers) out[name] = values.at(name);
  return out;
}

}  // namespace snn::detail
