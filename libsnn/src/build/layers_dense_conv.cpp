// Built-in layers with weights: Dense, Conv1D and Conv2D, with Keras' conventions
// (channels_last by default, kernels initialised Glorot-uniform in Keras' kernel layout,
// zero biases) on LibTorch's Linear/Conv modules, whose parameters are `weight` and `bias`.
#include "build/layers_internal.h"

namespace snn::detail {

namespace {

using nlohmann::json;

TensorNodeOptions dense(const json& j, const std::string& path,
                        const std::vector<int64_t>& shape_in) {
  check_layer_keys(j, path, "Dense", {"units", "use_bias"});
  LayerParams p{j, path, "Dense"};
  const int64_t units = p.integer("units", std::nullopt);
  const bool use_bias = p.boolean("use_bias", true);
  if (shape_in.empty()) p.fail("shape_in", "a Dense layer needs the size of its input");
  // As Keras: the last axis of shape_in is transformed, the others are kept.
  const int64_t in = shape_in.back();
  auto shape_out = shape_in;
  shape_out.back() = units;
  return TensorNodeOptions()
      .shape_in(shape_in)
      .shape_out(shape_out)
      .layer_spec(json{{"type", "Dense"}, {"units", units}, {"use_bias", use_bias}}.dump())
      .maker([in, units, use_bias](uint32_t seed) -> std::shared_ptr<torch::nn::Module> {
        torch::nn::Linear lin(torch::nn::LinearOptions(in, units).bias(use_bias));
        torch::NoGradGuard no_grad;
        // Keras' kernel is (in, units); LibTorch's weight is its transpose.
        lin->weight.copy_(glorot_uniform({in, units}, in, units, seed).t());
        if (use_bias) lin->bias.zero_();
        return lin.ptr();
      })
      .forward([](torch::nn::Module& m, const torch::Tensor&, const torch::Tensor& x) {
        return dynamic_cast<torch::nn::LinearImpl&>(m).forward(x);
      });
}

/// Conv1D (dims 1) and Conv2D (dims 2).
TensorNodeOptions conv(const json& j, const std::string& path, const std::vector<int64_t>& shape_in,
                       int dims) {
  const std::string type = dims == 1 ? "Conv1D" : "Conv2D";
  check_layer_keys(j, path, type,
                   {"filters", "kernel_size", "strides", "padding", "channels_last", "use_bias"});
  LayerParams p{j, path, type};
  const int64_t filters = p.integer("filters", std::nullopt);
  const auto kernel = p.sizes("kernel_size", dims, std::nullopt);
  const auto strides = p.sizes("strides", dims, std::vector<int64_t>(dims, 1));
  const bool same = p.choice("padding", "valid", {"valid", "same"}) == "same";
  const bool last = p.boolean("channels_last", true);
  const bool use_bias = p.boolean("use_bias", true);
  p.shape_rank(shape_in, dims + 1,
               dims == 2 ? (last ? "[H, W, C]" : "[C, H, W]") : (last ? "[L, C]" : "[C, L]"));
  const int64_t C = last ? shape_in.back() : shape_in.front();
  std::vector<int64_t> spatial(shape_in.begin() + (last ? 0 : 1),
                               shape_in.end() - (last ? 1 : 0));
  std::vector<int64_t> out_sp, pad;  // pad: LibTorch's order, last axis first
  for (int a = 0; a < dims; ++a) {
    if (!same && spatial[a] < kernel[a])
      p.fail("kernel_size", "the kernel (" + std::to_string(kernel[a]) +
                                ") is larger than the input (" + std::to_string(spatial[a]) +
                                ") with padding \"valid\"");
    out_sp.push_back(conv_out(spatial[a], kernel[a], strides[a], same));
  }
  for (int a = dims - 1; a >= 0; --a) {
    auto [before, after] = same ? same_pad(spatial[a], kernel[a], strides[a])
                                : std::pair<int64_t, int64_t>{0, 0};
    pad.push_back(before);
    pad.push_back(after);
  }
  std::vector<int64_t> shape_out = out_sp;
  if (last)
    shape_out.push_back(filters);
  else
    shape_out.insert(shape_out.begin(), filters);
  const bool padded = std::any_of(pad.begin(), pad.end(), [](int64_t v) { return v > 0; });

  json spec = {{"type", type},       {"filters", filters},
               {"kernel_size", kernel}, {"strides", strides},
               {"padding", same ? "same" : "valid"}, {"channels_last", last},
               {"use_bias", use_bias}};
  auto maker = [=](uint32_t seed) -> std::shared_ptr<torch::nn::Module> {
    int64_t k = 1;
    for (int64_t v : kernel) k *= v;
    // Keras' kernel layout is (k..., C, F); LibTorch's is (F, C, k...).
    std::vector<int64_t> keras_shape = kernel;
    keras_shape.push_back(C);
    keras_shape.push_back(filters);
    auto w = glorot_uniform(keras_shape, k * C, k * filters, seed);
    w = dims == 2 ? w.permute({3, 2, 0, 1}) : w.permute({2, 1, 0});
    torch::NoGradGuard no_grad;
    if (dims == 2) {
      torch::nn::Conv2d c(torch::nn::Conv2dOptions(C, filters, {kernel[0], kernel[1]})
                              .stride({strides[0], strides[1]})
                              .bias(use_bias));
      c->weight.copy_(w);
      if (use_bias) c->bias.zero_();
      return c.ptr();
    }
    torch::nn::Conv1d c(
        torch::nn::Conv1dOptions(C, filters, kernel[0]).stride(strides[0]).bias(use_bias));
    c->weight.copy_(w);
    if (use_bias) c->bias.zero_();
    return c.ptr();
  };
  auto forward = [dims, last, padded, pad](torch::nn::Module& m, const torch::Tensor&,
                                           const torch::Tensor& x) {
    // To channels-first for LibTorch and back; "same" pads as Keras (the odd pixel after).
    auto y = last ? (dims == 2 ? x.permute({0, 3, 1, 2}) : x.permute({0, 2, 1})) : x;
    if (padded) y = torch::constant_pad_nd(y, pad, 0);
    y = dims == 2 ? dynamic_cast<torch::nn::Conv2dImpl&>(m).forward(y)
                  : dynamic_cast<torch::nn::Conv1dImpl&>(m).forward(y);
    return last ? (dims == 2 ? y.permute({0, 2, 3, 1}) : y.permute({0, 2, 1})) : y;
  };
  return TensorNodeOptions()
      .shape_in(shape_in)
      .shape_out(shape_out)
      .layer_spec(spec.dump())
      .maker(maker)
      .forward(forward);
}

}  // namespace

void add_dense_conv_layers(std::map<std::string, LayerFactory>& f) {
  f["Dense"] = dense;
  f["Conv1D"] = [](const json& j, const std::string& path, const std::vector<int64_t>& s) {
    return conv(j, path, s, 1);
  };
  f["Conv2D"] = [](const json& j, const std::string& path, const std::vector<int64_t>& s) {
    return conv(j, path, s, 2);
  };
}

}  // namespace snn::detail
