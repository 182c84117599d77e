// Built-in layers without weights or with statistics: AvgPool2D, MaxPool2D, Flatten,
// BatchNorm and Dropout, with Keras' parameter names and defaults.
#include <limits>

#include "build/layers_internal.h"

namespace snn::detail {

namespace {

using nlohmann::json;

/// A module without parameters: the layer is a function (Dropout and BatchNorm aside, which
/// use LibTorch's modules for their training flag and statistics).
std::shared_ptr<torch::nn::Module> no_parameters(uint32_t) {
  return std::make_shared<torch::nn::Module>();
}

TensorNodeOptions pool(const json& j, const std::string& path, const std::vector<int64_t>& shape_in,
                       bool max) {
  const std::string type = max ? "MaxPool2D" : "AvgPool2D";
  check_layer_keys(j, path, type, {"pool_size", "strides", "padding", "channels_last"});
  LayerParams p{j, path, type};
  const auto size = p.sizes("pool_size", 2, std::vector<int64_t>{2, 2});
  const auto strides = p.sizes("strides", 2, size);  // Keras: strides default to pool_size
  const bool same = p.choice("padding", "valid", {"valid", "same"}) == "same";
  const bool last = p.boolean("channels_last", true);
  p.shape_rank(shape_in, 3, last ? "[H, W, C]" : "[C, H, W]");
  const int64_t C = last ? shape_in[2] : shape_in[0];
  const int64_t H = last ? shape_in[0] : shape_in[1], W = last ? shape_in[1] : shape_in[2];
  if (!same && (H < size[0] || W < size[1]))
    p.fail("pool_size", "the pool is larger than the input (" + std::to_string(H) + " x " +
                            std::to_string(W) + ") with padding \"valid\"");
  const int64_t oh = conv_out(H, size[0], strides[0], same);
  const int64_t ow = conv_out(W, size[1], strides[1], same);
  std::vector<int64_t> pad = {0, 0, 0, 0};  // left, right, top, bottom
  if (same) {
    std::tie(pad[0], pad[1]) = same_pad(W, size[1], strides[1]);
    std::tie(pad[2], pad[3]) = same_pad(H, size[0], strides[0]);
  }
  const bool padded = pad[0] + pad[1] + pad[2] + pad[3] > 0;
  json spec = {{"type", type},          {"pool_size", size},
               {"strides", strides},    {"padding", same ? "same" : "valid"},
               {"channels_last", last}};
  auto forward = [=](torch::nn::Module&, const torch::Tensor&, const torch::Tensor& x) {
    auto y = last ? x.permute({0, 3, 1, 2}) : x;
    const std::vector<int64_t> k = size, s = strides;
    if (max) {
      if (padded) y = torch::constant_pad_nd(y, pad, -std::numeric_limits<double>::infinity());
      y = torch::max_pool2d(y, k, s);
    } else if (padded) {
      // TensorFlow averages over the pixels inside the image only.
      auto ones = torch::ones({1, 1, H, W}, y.options());
      y = torch::avg_pool2d(torch::constant_pad_nd(y, pad, 0), k, s) /
          torch::avg_pool2d(torch::constant_pad_nd(ones, pad, 0), k, s);
    } else {
      y = torch::avg_pool2d(y, k, s);
    }
    return last ? y.permute({0, 2, 3, 1}) : y;
  };
  return TensorNodeOptions()
      .shape_in(shape_in)
      .shape_out(last ? std::vector<int64_t>{oh, ow, C} : std::vector<int64_t>{C, oh, ow})
      .layer_spec(spec.dump())
      .maker(no_parameters)
      .forward(forward);
}

TensorNodeOptions flatten(const json& j, const std::string& path,
                          const std::vector<int64_t>& shape_in) {
  check_layer_keys(j, path, "Flatten", {});
  int64_t n = 1;
  for (int64_t d : shape_in) n *= d;
  // Values travel flat in row-major order already: Keras' Flatten changes nothing.
  return TensorNodeOptions()
      .shape_in(shape_in)
      .shape_out({n})
      .layer_spec(json{{"type", "Flatten"}}.dump())
      .maker(no_parameters)
      .forward([](torch::nn::Module&, const torch::Tensor&, const torch::Tensor& x) {
        return x.reshape({x.size(0), -1});
      });
}

TensorNodeOptions batch_norm(const json& j, const std::string& path,
                             const std::vector<int64_t>& shape_in) {
  check_layer_keys(j, path, "BatchNorm", {"momentum", "epsilon", "axis"});
  LayerParams p{j, path, "BatchNorm"};
  const double momentum = p.number("momentum", 0.99, 0.0, 1.0, false, true);
  const double epsilon = p.number("epsilon", 1e-3, 0.0, 1.0, true, false);
  const int64_t rank = static_cast<int64_t>(shape_in.size());
  const int64_t axis_given = p.integer("axis", -1, -rank);
  if (axis_given >= rank)
    p.fail("axis", "expected an axis of shape_in (-" + std::to_string(rank) + " to " +
                       std::to_string(rank - 1) + "), got " + std::to_string(axis_given));
  const int64_t axis = axis_given < 0 ? axis_given + rank : axis_given;
  const int64_t C = shape_in[axis];
  json spec = {{"type", "BatchNorm"}, {"momentum", momentum}, {"epsilon", epsilon},
               {"axis", axis_given}};
  return TensorNodeOptions()
      .shape_in(shape_in)
      .shape_out(shape_in)
      .layer_spec(spec.dump())
      .maker([C, momentum, epsilon](uint32_t) -> std::shared_ptr<torch::nn::Module> {
        // Keras' momentum weighs the old running value, LibTorch's the new batch value.
        torch::nn::BatchNorm1d bn(
            torch::nn::BatchNorm1dOptions(C).eps(epsilon).momentum(1.0 - momentum));
        return bn.ptr();
      })
      .forward([axis, C](torch::nn::Module& m, const torch::Tensor&, const torch::Tensor& x) {
        // Statistics per channel over the batch and every other axis, as Keras.
        auto y = x.movedim(axis + 1, -1);
        const auto sizes = y.sizes().vec();
        y = dynamic_cast<torch::nn::BatchNorm1dImpl&>(m).forward(y.reshape({-1, C}));
        return y.reshape(sizes).movedim(-1, axis + 1);
      });
}

TensorNodeOptions dropout(const json& j, const std::string& path,
                          const std::vector<int64_t>& shape_in) {
  check_layer_keys(j, path, "Dropout", {"rate"});
  LayerParams p{j, path, "Dropout"};
  const double rate = p.number("rate", 0.5, 0.0, 1.0, false, true);
  if (!j.contains("rate")) p.fail("", "missing required key \"rate\" for a Dropout layer");
  return TensorNodeOptions()
      .shape_in(shape_in)
      .shape_out(shape_in)
      .layer_spec(json{{"type", "Dropout"}, {"rate", rate}}.dump())
      .maker([rate](uint32_t) -> std::shared_ptr<torch::nn::Module> {
        return torch::nn::Dropout(torch::nn::DropoutOptions(rate)).ptr();
      })
      .forward([](torch::nn::Module& m, const torch::Tensor&, const torch::Tensor& x) {
        // Inactive outside training (DropoutImpl follows the module's training flag).
        return dynamic_cast<torch::nn::DropoutImpl&>(m).forward(x);
      });
}

}  // namespace

void add_pool_norm_layers(std::map<std::string, LayerFactory>& f) {
  f["AvgPool2D"] = [](const json& j, const std::string& path, const std::vector<int64_t>& s) {
    return pool(j, path, s, false);
  };
  f["MaxPool2D"] = [](const json& j, const std::string& path, const std::vector<int64_t>& s) {
    return pool(j, path, s, true);
  };
  f["Flatten"] = flatten;
  f["BatchNorm"] = batch_norm;
  f["Dropout"] = dropout;
}

}  // namespace snn::detail
