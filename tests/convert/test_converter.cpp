// The Converter: real Keras files against their reference outputs (computed outside libsnn by
// an independent numpy pass), every option, errors, a custom layer converter, and
// torch::nn::Sequential conversion against the module's own forward.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "conformance/conformance_support.h"
#include "snn/converter.h"
#include "snn/data.h"
#include "snn/errors.h"
#include "snn/neurons.h"
#include "snn/simulator.h"
#include "snn/spec.h"
#include "snn/synapses.h"

#if SNN_HAVE_HDF5
#include "convert/keras_test_files.h"
#endif

using Catch::Matchers::Contains;

namespace {

double max_abs(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64).reshape({a.size(0), -1}) -
          b.to(torch::kFloat64).reshape({b.size(0), -1}))
      .abs()
      .max()
      .item<double>();
}

/// Normal values that float32 holds exactly, as the weights in a Keras file (float64).
torch::Tensor rnd(std::vector<int64_t> shape) {
  return torch::randn(shape, torch::kFloat64).to(torch::kFloat32).to(torch::kFloat64);
}

/// Runs `conv`'s network for one step on x and returns the (N, size) output of `target`
/// (probed without synapse).
torch::Tensor run_object(const snn::Converter& conv, const snn::ObjRef& target, const torch::Tensor& x,
                         int64_t steps = 1) {
  auto p = conv.net()->probe(target);
  snn::Simulator sim(conv.net(), snn::SimulatorOptions()
                                     .minibatch_size(x.size(0))
                                     .dtype(torch::kFloat64)
                                     .progress_bar(false));
  auto d = sim.predict({{conv.input_id(), x.reshape({x.size(0), -1}).to(torch::kFloat64)}}, steps);
  return d.at(p->id()).select(1, -1);
}

}  // namespace

#if SNN_HAVE_HDF5

using snn::testing::kKerasDir;
using snn::testing::read_h5_array;

namespace {

/// The reference check of one model file: converted (non-spiking, float64) outputs, the
/// logits before a final softmax, and the converter's own reference pass, all against the
/// numpy outputs, within 1e-4.
void check_model(const std::string& name, snn::ConverterOptions options) {
  INFO(name);
  const std::string path = kKerasDir + "/" + name + ".h5";
  const std::string expected = kKerasDir + "/" + name + ".expected.h5";
  snn::Converter conv(path, options);
  auto x = read_h5_array(expected, "inputs");
  auto y = read_h5_array(expected, "outputs");
  auto out = conv.run(x);
  REQUIRE(out.size() == 1);
  CHECK(max_abs(out.begin()->second, y) < 1e-4);
  // The converter's LibTorch reference pass agrees with numpy too.
  auto ref = conv.reference_forward(x);
  CHECK(max_abs(ref.begin()->second, y) < 1e-4);
  if (snn::testing::h5_has(expected, "outputs_presoftmax")) {
    auto logits = run_object(conv, conv.pre_activation(out.begin()->first), x);
    CHECK(max_abs(logits, read_h5_array(expected, "outputs_presoftmax")) < 1e-4);
  }
  auto v = conv.verify(x, 1e-4);
  CHECK(v.passed);
  CHECK(v.max_abs_error < 1e-4);
}

}  // namespace

TEST_CASE("Converter: Dense Keras files reproduce their reference outputs", "[converter]") {
  for (const char* name : {"fmnist_dense_tfkeras216", "fmnist_dense_keras3_variant",
                           "hls4ml_3layer_bn_keras231"}) {
    check_model(name, snn::ConverterOptions().inference_only(true));
  }
  // Not inference-only: the BatchNormalization layers become TensorNodes with the file's
  // statistics, and give the same numbers in inference.
  check_model("hls4ml_3layer_bn_keras231", snn::ConverterOptions());
}

TEST_CASE("Converter: convolutional Keras files reproduce their reference outputs",
          "[converter][convolution]") {
  for (const char* name : {"fmnist_cnn_tfkeras224", "fmnist_cnn_bn_keras216",
                           "mnist_lenet_avgpool_keras224", "hls4ml_conv1d_small_keras231",
                           "hls4ml_jettagger_conv2d_bn_keras231"}) {
    check_model(name, snn::ConverterOptions().inference_only(true));
  }
}

TEST_CASE("Converter: reads the file's layers, shapes and weights in weight_names order",
          "[converter]") {
  auto m = snn::read_keras_model(kKerasDir + "/hls4ml_3layer_bn_keras231.h5");
  CHECK(m.model_class == "Model");
  CHECK(m.keras_version == "2.3.1");
  CHECK(m.input_layers == std::vector<std::string>{"input_1"});
  CHECK(m.output_layers == std::vector<std::string>{"softmax"});
  CHECK(m.input_shape("input_1") == std::vector<int64_t>{16});
  const auto& bn = m.layer("bn1");
  CHECK(bn.weight_order ==
        std::vector<std::string>{"gamma", "beta", "moving_mean", "moving_variance"});
  CHECK(bn.weight("moving_variance").sizes() == torch::IntArrayRef({64}));
  CHECK(m.layer("relu1").weights.empty());  // empty float64 weight_names
  CHECK(m.layer("bn2").inbound == std::vector<std::string>{"fc2_relu"});

  // Standalone Keras 2.1 Sequential: config is a bare list, no InputLayer.
  auto s = snn::read_keras_model(kKerasDir + "/fmnist_cnn_bn_keras216.h5");
  CHECK(s.layers.front().class_name == "InputLayer");
  CHECK(s.input_shape(s.input_layers[0]) == std::vector<int64_t>{28, 28, 1});
  CHECK(s.layer("conv2d_1").weight("kernel").sizes() == torch::IntArrayRef({3, 3, 1, 32}));

  // Keras 3: explicit InputLayer with batch_shape, variable-length weight_names, no ':0'.
  auto k3 = snn::read_keras_model(kKerasDir + "/fmnist_dense_keras3_variant.h5");
  CHECK(k3.input_shape("input_layer") == std::vector<int64_t>{28, 28});
  CHECK(k3.layer("dense_layer_1").weight_order == std::vector<std::string>{"kernel", "bias"});
  CHECK(k3.layer("output_layer").weight("kernel").sizes() == torch::IntArrayRef({128, 10}));
}

TEST_CASE("Converter: the network is made of native objects as NengoDL's", "[converter]") {
  snn::Converter conv(kKerasDir + "/fmnist_dense_tfkeras216.h5");
  // Input node, Dense(relu) -> 128 RectifiedLinear neurons, bias nodes, softmax fallback.
  auto in = conv.inputs().at("input");
  CHECK(in->kind() == snn::Node::Kind::Input);
  CHECK(in->size_out() == 784);
  auto hidden = conv.layer("dense");
  REQUIRE(hidden.kind == snn::ObjRef::Kind::Neurons);
  CHECK(hidden.ensemble->n_neurons() == 128);
  CHECK(hidden.ensemble->options().neuron_type()->type() == "RectifiedLinear");
  CHECK(conv.fallbacks().size() == 1);
  CHECK_THAT(conv.fallbacks()[0], Contains("dense_1"));
  CHECK(conv.net()->find_node("dense_bias") != nullptr);
  // Default synapse: none anywhere.
  for (const auto& c : conv.net()->all_connections()) CHECK(c->options().synapse() == nullptr);
  // The converted network saves as a spec and loads back.
  auto spec = snn::network_to_json(*conv.net());
  auto back = snn::network_from_json(spec);
  CHECK(back->all_connections().size() == conv.net()->all_connections().size());
}

TEST_CASE("Converter: allow_fallback=false names the layer without a native form", "[converter]") {
  const auto path = kKerasDir + "/fmnist_dense_tfkeras216.h5";
  CHECK_THROWS_MATCHES(snn::Converter(path, snn::ConverterOptions().allow_fallback(false)),
                       snn::SpecError,
                       Catch::Matchers::Predicate<snn::SpecError>([](const snn::SpecError& e) {
                         const std::string m = e.what();
                         return m.find("\"dense_1\"") != std::string::npos &&
                                m.find("softmax") != std::string::npos &&
                                m.find("allow_fallback") != std::string::npos;
                       }));
  // The trainable BatchNormalization of hls4ml_3layer needs inference_only without fallbacks.
  const auto bn = kKerasDir + "/hls4ml_3layer_bn_keras231.h5";
  CHECK_THROWS_WITH(
      snn::Converter(bn, snn::ConverterOptions().allow_fallback(false).drop_final_softmax(true)),
      Contains("\"bn1\"") && Contains("BatchNormalization"));
  snn::Converter ok(bn, snn::ConverterOptions()
                            .allow_fallback(false)
                            .drop_final_softmax(true)
                            .inference_only(true));
  CHECK(ok.fallbacks().empty());
}

TEST_CASE("Converter: drop_final_softmax outputs the logits", "[converter]") {
  const auto name = std::string("fmnist_dense_keras3_variant");
  snn::Converter conv(kKerasDir + "/" + name + ".h5", snn::ConverterOptions().drop_final_softmax(true));
  CHECK(conv.fallbacks().empty());
  auto x = read_h5_array(kKerasDir + "/" + name + ".expected.h5", "inputs");
  auto out = conv.run(x);
  CHECK(max_abs(out.at("output_layer"),
                read_h5_array(kKerasDir + "/" + name + ".expected.h5", "outputs_presoftmax")) < 1e-4);
  CHECK(conv.verify(x).passed);  // against the reference without its softmax
}

TEST_CASE("Converter: inference_only folds BatchNormalization into fixed transforms",
          "[converter]") {
  const auto path = kKerasDir + "/hls4ml_3layer_bn_keras231.h5";
  snn::Converter folded(path, snn::ConverterOptions().inference_only(true));
  snn::Converter fallback(path, snn::ConverterOptions());
  // bn1 folded: a pass-through node fed by a fixed elementwise transform and a bias node.
  auto bn1 = folded.layer("bn1");
  REQUIRE(bn1.kind == snn::ObjRef::Kind::Node);
  CHECK(bn1.node->kind() == snn::Node::Kind::PassThrough);
  auto m = snn::read_keras_model(path);
  const auto& l = m.layer("bn1");
  auto scale = l.weight("gamma") / torch::sqrt(l.weight("moving_variance") + 1e-6);
  bool seen = false;
  for (const auto& c : folded.net()->all_connections()) {
    if (c->post().node != bn1.node || c->pre().node == folded.net()->find_node("bn1_bias")) continue;
    seen = true;
    CHECK(c->options().trainable() == false);
    CHECK(torch::allclose(c->options().transform().literal(), scale, 1e-12, 1e-12));
  }
  CHECK(seen);
  CHECK(fallback.layer("bn1").node->kind() == snn::Node::Kind::Tensor);
  std::vector<std::string> bn_fallbacks;
  for (const auto& f : fallback.fallbacks())
    if (f.find("BatchNormalization") != std::string::npos) bn_fallbacks.push_back(f);
  CHECK(bn_fallbacks.size() == 4);
  auto x = read_h5_array(kKerasDir + "/hls4ml_3layer_bn_keras231.expected.h5", "inputs");
  CHECK(max_abs(folded.run(x).at("softmax"), fallback.run(x).at("softmax")) < 1e-6);
}

TEST_CASE("Converter: max_to_avg_pool turns max pooling into native average pooling",
          "[converter]") {
  const auto path = kKerasDir + "/fmnist_cnn_tfkeras224.h5";
  const auto options = snn::ConverterOptions().allow_fallback(false).drop_final_softmax(true);
  // Without the option max pooling has no native form.
  CHECK_THROWS_WITH(snn::Converter(path, options), Contains("\"max_pooling2d\""));
  snn::Converter conv(path, snn::ConverterOptions(options).max_to_avg_pool(true));
  CHECK(conv.fallbacks().empty());
  // The first pooling (28x28x32 relu outputs -> 14x14x32) against LibTorch's average
  // pooling of what reaches it.
  auto x = read_h5_array(kKerasDir + "/fmnist_cnn_tfkeras224.expected.h5", "inputs");
  auto before = run_object(conv, conv.layer("conv2d"), x);
  auto pooled = run_object(conv, conv.layer("max_pooling2d"), x);
  const int64_t n = x.size(0);
  auto nchw = before.reshape({n, 28, 28, 32}).permute({0, 3, 1, 2});
  auto want = torch::avg_pool2d(nchw, {2, 2}, {2, 2}).permute({0, 2, 3, 1}).reshape({n, -1});
  REQUIRE(pooled.sizes() == want.sizes());
  CHECK(max_abs(pooled, want) < 1e-10);
  CHECK(max_abs(pooled, torch::zeros_like(pooled)) > 0.1);
}

TEST_CASE("Converter: swap_activations uses the given neuron type", "[converter]") {
  const auto path = kKerasDir + "/fmnist_dense_tfkeras216.h5";
  snn::Converter conv(path, snn::ConverterOptions().drop_final_softmax(true).swap("relu", snn::LIFRate()));
  auto hidden = conv.layer("dense");
  CHECK(hidden.ensemble->options().neuron_type()->type() == "LIFRate");
  // Lookup after the default mapping: RectifiedLinear -> Sigmoid.
  snn::Converter by_type(path, snn::ConverterOptions().drop_final_softmax(true).swap(
                                   "RectifiedLinear", snn::Sigmoid(snn::SigmoidOptions().tau_ref(1.0))));
  CHECK(by_type.layer("dense").ensemble->options().neuron_type()->type() == "Sigmoid");

  // Against the LIF rate curve written out here: r = 1 / (tau_ref + tau_rc log(1 + 1/(J-1)))
  // for J > 1 (tau_rc 0.02, tau_ref 0.002), gain 1, bias 0.
  auto m = snn::read_keras_model(path);
  auto x = read_h5_array(kKerasDir + "/fmnist_dense_tfkeras216.expected.h5", "inputs").reshape({16, 784});
  auto J = x.matmul(m.layer("dense").weight("kernel")) + m.layer("dense").weight("bias");
  auto r = torch::where(J > 1, 1.0 / (0.002 + 0.02 * torch::log1p(1.0 / (J - 1).clamp_min(1e-300))),
                        torch::zeros_like(J));
  auto expect = r.matmul(m.layer("dense_1").weight("kernel")) + m.layer("dense_1").weight("bias");
  auto got = conv.run(x).at("dense_1");
  CHECK(max_abs(got, expect) < 1e-6 * expect.abs().max().item<double>());
  auto g2 = by_type.run(x).at("dense_1");
  auto e2 = torch::sigmoid(J).matmul(m.layer("dense_1").weight("kernel")) + m.layer("dense_1").weight("bias");
  CHECK(max_abs(g2, e2) < 1e-9);
}

TEST_CASE("Converter: scale_firing_rates scales the input up and the amplitude down",
          "[converter]") {
  const auto path = kKerasDir + "/fmnist_dense_tfkeras216.h5";
  const double k = 50.0;
  snn::Converter plain(path, snn::ConverterOptions().drop_final_softmax(true));
  snn::Converter scaled(path, snn::ConverterOptions().drop_final_softmax(true).scale_firing_rates(k));
  auto nt = scaled.layer("dense").ensemble->options().neuron_type();
  CHECK(nt->params().at("amplitude").get<double>() == Approx(1.0 / k));
  auto x = read_h5_array(kKerasDir + "/fmnist_dense_tfkeras216.expected.h5", "inputs");
  // The neurons see k times the current (k times the rate), and the output is unchanged.
  auto rates_plain = run_object(plain, plain.layer("dense"), x);
  auto rates_scaled = run_object(scaled, scaled.layer("dense"), x);
  CHECK(max_abs(rates_scaled, rates_plain) < 1e-9);  // amplitude 1/k undoes the k
  CHECK(max_abs(scaled.run(x).at("dense_1"), plain.run(x).at("dense_1")) < 1e-9);
  CHECK(scaled.warnings().empty());
  // Per layer values win; a type without amplitude gets a warning (and changed output).
  snn::Converter tanh(path, snn::ConverterOptions()
                                .drop_final_softmax(true)
                                .swap("relu", snn::Tanh(snn::TanhOptions().tau_ref(1.0)))
                                .scale_firing_rates_per_layer({{"dense", 2.0}}));
  REQUIRE(tanh.warnings().size() == 1);
  CHECK_THAT(tanh.warnings()[0], Contains("\"dense\"") && Contains("amplitude"));
  auto m = snn::read_keras_model(path);
  auto J = x.reshape({16, 784}).matmul(m.layer("dense").weight("kernel")) + m.layer("dense").weight("bias");
  CHECK(max_abs(run_object(tanh, tanh.layer("dense"), x), torch::tanh(2.0 * J)) < 1e-9);
}

TEST_CASE("Converter: synapse on every connection leaving an ensemble", "[converter]") {
  const auto path = kKerasDir + "/fmnist_dense_tfkeras216.h5";
  snn::Converter conv(path, snn::ConverterOptions().drop_final_softmax(true).synapse(0.01));
  int with = 0;
  for (const auto& c : conv.net()->all_connections()) {
    const bool from_neurons = c->pre().kind == snn::ObjRef::Kind::Neurons;
    if (from_neurons) {
      ++with;
      auto lp = std::dynamic_pointer_cast<const snn::Lowpass>(c->options().synapse());
      REQUIRE(lp);
      CHECK(lp->tau == Approx(0.01));
    } else {
      CHECK(c->options().synapse() == nullptr);
    }
  }
  CHECK(with == 1);
  CHECK(conv.output_probe()->options().synapse() == nullptr);  // probes a node
  // One Lowpass(0.01) between hidden and output: after 1 step the output holds the bias and
  // the filtered first step; after 300 steps it has converged on the rate network's output.
  snn::Converter rate(path, snn::ConverterOptions().drop_final_softmax(true));
  auto x = read_h5_array(kKerasDir + "/fmnist_dense_tfkeras216.expected.h5", "inputs");
  const auto want = rate.run(x).at("dense_1");
  CHECK(max_abs(conv.run(x, 1).at("dense_1"), want) > 0.1);
  CHECK(max_abs(conv.run(x, 300).at("dense_1"), want) < 1e-6);
}

TEST_CASE("Converter: corrupt and non-Keras HDF5 files fail cleanly", "[converter]") {
  snn::testing::TempDir dir("snn_converter");
  const auto garbage = dir.file("garbage.h5");
  {
    std::ofstream out(garbage, std::ios::binary);
    for (int i = 0; i < 1000; ++i) out << static_cast<char>((i * 37) % 251);
  }
  CHECK_THROWS_MATCHES(snn::Converter(garbage), snn::DataError,
                       Catch::Matchers::Predicate<snn::DataError>([&](const snn::DataError& e) {
                         const std::string m = e.what();
                         return m.find(garbage) != std::string::npos &&
                                m.find("not an HDF5 file") != std::string::npos;
                       }));
  // An HDF5 file that is no Keras model: a data file with /inputs only.
  const auto data = dir.file("data.h5");
  {
    H5::H5File f(data, H5F_ACC_TRUNC);
    hsize_t n = 3;
    H5::DataSpace sp(1, &n);
    float v[3] = {1, 2, 3};
    f.createDataSet("inputs", H5::PredType::NATIVE_FLOAT, sp).write(v, H5::PredType::NATIVE_FLOAT);
  }
  CHECK_THROWS_WITH(snn::Converter(data), Contains(data) && Contains("model_config"));
  // model_config but no weights.
  const auto noweights = dir.file("noweights.h5");
  {
    H5::H5File f(noweights, H5F_ACC_TRUNC);
    H5::StrType t(H5::PredType::C_S1, H5T_VARIABLE);
    f.createAttribute("model_config", t, H5::DataSpace(H5S_SCALAR))
        .write(t, std::string(R"({"class_name": "Sequential", "config": []})"));
  }
  CHECK_THROWS_WITH(snn::Converter(noweights), Contains(noweights) && Contains("model_weights"));
  CHECK_THROWS_WITH(snn::Converter(dir.file("missing.h5")), Contains("no such file"));
}

namespace {

/// Input(4) -> Dense(3, relu) -> AddOne -> Dense(2): NengoDL's custom-layer example.
nlohmann::json addone_model(torch::Tensor& k1, torch::Tensor& b1, torch::Tensor& k2,
                            torch::Tensor& b2, const std::string& path) {
  using snn::testing::fn_layer;
  torch::manual_seed(3);
  k1 = torch::randn({4, 3}, torch::kFloat64).to(torch::kFloat32).to(torch::kFloat64);
  b1 = torch::randn({3}, torch::kFloat64).to(torch::kFloat32).to(torch::kFloat64);
  k2 = torch::randn({3, 2}, torch::kFloat64).to(torch::kFloat32).to(torch::kFloat64);
  b2 = torch::randn({2}, torch::kFloat64).to(torch::kFloat32).to(torch::kFloat64);
  auto cfg = snn::testing::functional_config(
      {fn_layer("InputLayer", "in", {{"batch_input_shape", {nullptr, 4}}}, {}),
       fn_layer("Dense", "d1", {{"units", 3}, {"activation", "relu"}, {"use_bias", true}}, {"in"}),
       fn_layer("AddOne", "plus", nlohmann::json::object(), {"d1"}),
       fn_layer("Dense", "d2", {{"units", 2}, {"activation", "linear"}, {"use_bias", true}}, {"plus"})},
      "in", "d2");
  snn::testing::write_keras_file(path, cfg,
                                 {{"in", {}},
                                  {"d1", {{"kernel", k1}, {"bias", b1}}},
                                  {"plus", {}},
                                  {"d2", {{"kernel", k2}, {"bias", b2}}}});
  return cfg;
}

}  // namespace

TEST_CASE("Converter: a registered LayerConverter converts a custom layer (AddOne)",
          "[converter]") {
  snn::testing::TempDir dir("snn_converter_addone");
  const auto path = dir.file("addone.h5");
  torch::Tensor k1, b1, k2, b2;
  addone_model(k1, b1, k2, b2, path);
  if (!snn::Converter::has_layer_converter("AddOne")) {
    CHECK_THROWS_WITH(snn::Converter(path), Contains("\"plus\"") && Contains("AddOne") &&
                                                Contains("register_layer_converter"));
  }
  snn::LayerConverter addone;
  addone.convert = [](snn::LayerContext& ctx) {
    // As NengoDL's example: a node, the input connected in, plus a constant 1 from a bias node.
    const int64_t n = snn::ObjRef(ctx.input()).size_out();
    auto out = ctx.add_node(n);
    ctx.connect(ctx.input(), out);
    auto one = ctx.net().node(snn::NodeOptions().id(ctx.layer().name + "_one").output(
        std::vector<double>(static_cast<size_t>(n), 1.0)));
    ctx.connect(one, out);
    return std::make_pair(out, ctx.input_shape());
  };
  addone.forward = [](const snn::KerasLayer&, const std::vector<torch::Tensor>& in) {
    return in[0] + 1;
  };
  snn::Converter::register_layer_converter("AddOne", addone);
  snn::Converter conv(path);
  auto x = torch::rand({5, 4}, torch::kFloat64);
  auto expect = (torch::relu(x.matmul(k1) + b1) + 1).matmul(k2) + b2;
  CHECK(max_abs(conv.run(x).at("d2"), expect) < 1e-9);
  auto v = conv.verify(x, 1e-9);
  CHECK(v.passed);
  CHECK(conv.verify().passed);  // NengoDL's default: ones, batch 2
}

TEST_CASE("Converter: Add, Concatenate and ZeroPadding2D in a functional model", "[converter]") {
  using snn::testing::fn_layer;
  snn::testing::TempDir dir("snn_converter_merge");
  const auto path = dir.file("merge.h5");
  torch::manual_seed(5);
  // in (3, 3, 2) -> ZeroPadding2D(((1, 0), (0, 2))) -> Flatten -> a, b Dense(4) -> Add and
  // Concatenate -> Dense(3).
  auto ka = rnd({40, 4}), kb = rnd({40, 4}), ko = rnd({12, 3}), bo = rnd({3});
  auto cfg = snn::testing::functional_config(
      {fn_layer("InputLayer", "in", {{"batch_input_shape", {nullptr, 3, 3, 2}}}, {}),
       fn_layer("ZeroPadding2D", "pad", {{"padding", {{1, 0}, {0, 2}}}}, {"in"}),
       fn_layer("Flatten", "flat", nlohmann::json::object(), {"pad"}),
       fn_layer("Dense", "a", {{"units", 4}, {"activation", "tanh"}, {"use_bias", false}}, {"flat"}),
       fn_layer("Dense", "b", {{"units", 4}, {"activation", "linear"}, {"use_bias", false}}, {"flat"}),
       fn_layer("Add", "sum", nlohmann::json::object(), {"a", "b"}),
       fn_layer("Concatenate", "cat", {{"axis", -1}}, {"sum", "a", "b"}),
       fn_layer("Dense", "out", {{"units", 3}, {"activation", "linear"}, {"use_bias", true}}, {"cat"})},
      "in", "out");
  snn::testing::write_keras_file(path, cfg,
                                 {{"in", {}},
                                  {"pad", {}},
                                  {"flat", {}},
                                  {"a", {{"kernel", ka}}},
                                  {"b", {{"kernel", kb}}},
                                  {"sum", {}},
                                  {"cat", {}},
                                  {"out", {{"kernel", ko}, {"bias", bo}}}});
  snn::Converter conv(path);
  CHECK(conv.fallbacks().empty());
  CHECK(conv.layer_shape("pad") == std::vector<int64_t>{4, 5, 2});
  auto x = torch::rand({3, 3, 3, 2}, torch::kFloat64);
  // Written out independently: pad H by (1, 0) and W by (0, 2), NHWC row-major flatten.
  auto p = torch::zeros({3, 4, 5, 2}, torch::kFloat64);
  p.narrow(1, 1, 3).narrow(2, 0, 3).copy_(x);
  auto f = p.reshape({3, 40});
  auto a = torch::tanh(f.matmul(ka)), b = f.matmul(kb);
  auto expect = torch::cat({a + b, a, b}, 1).matmul(ko) + bo;
  CHECK(max_abs(conv.run(x).at("out"), expect) < 1e-9);
  CHECK(conv.verify(x, 1e-9).passed);
}

TEST_CASE("Converter: LeakyReLU and ReLU(negative_slope) become LeakyReLU neurons", "[converter]") {
  using snn::testing::fn_layer;
  snn::testing::TempDir dir("snn_converter_leaky");
  const auto path = dir.file("leaky.h5");
  torch::manual_seed(8);
  // in (5,) -> Dense a -> LeakyReLU(alpha 0.1, Keras 2) -> Dense b -> ReLU(negative_slope 0.2)
  // -> Dense c -> LeakyReLU(negative_slope 0.05, Keras 3 naming).
  auto ka = rnd({5, 6}), ba = rnd({6}), kb = rnd({6, 4}), kc = rnd({4, 3});
  auto dense = [](const std::string& name, int units, bool bias, const std::string& in) {
    return fn_layer("Dense", name, {{"units", units}, {"activation", "linear"}, {"use_bias", bias}}, {in});
  };
  auto cfg = snn::testing::functional_config(
      {fn_layer("InputLayer", "in", {{"batch_input_shape", {nullptr, 5}}}, {}), dense("a", 6, true, "in"),
       fn_layer("LeakyReLU", "lr1", {{"alpha", 0.1}}, {"a"}), dense("b", 4, false, "lr1"),
       fn_layer("ReLU", "lr2", {{"negative_slope", 0.2}, {"max_value", nullptr}, {"threshold", 0.0}}, {"b"}),
       dense("c", 3, false, "lr2"), fn_layer("LeakyReLU", "lr3", {{"negative_slope", 0.05}}, {"c"})},
      "in", "lr3");
  snn::testing::write_keras_file(path, cfg,
                                 {{"in", {}},
                                  {"a", {{"kernel", ka}, {"bias", ba}}},
                                  {"lr1", {}},
                                  {"b", {{"kernel", kb}}},
                                  {"lr2", {}},
                                  {"c", {{"kernel", kc}}},
                                  {"lr3", {}}});
  auto x = torch::randn({9, 5}, torch::kFloat64);
  auto leaky = [](const torch::Tensor& v, double slope) { return torch::where(v < 0, slope * v, v); };
  auto expect = leaky(leaky(leaky(x.matmul(ka) + ba, 0.1).matmul(kb), 0.2).matmul(kc), 0.05);

  snn::Converter conv(path);
  CHECK(conv.fallbacks().empty());
  CHECK(conv.warnings().empty());
  for (const auto& [layer, slope] : {std::pair<std::string, double>{"lr1", 0.1}, {"lr2", 0.2}, {"lr3", 0.05}}) {
    INFO(layer);
    auto nt = conv.layer(layer).ensemble->options().neuron_type();
    CHECK(nt->type() == "LeakyReLU");
    CHECK(nt->params().at("negative_slope").get<double>() == slope);
  }
  CHECK(max_abs(conv.run(x).at("lr3"), expect) < 1e-9);
  CHECK(conv.verify(x, 1e-9).passed);  // the reference pass reads the same slopes

  // scale_firing_rates is exact for LeakyReLU, as for ReLU.
  snn::Converter scaled(path, snn::ConverterOptions().scale_firing_rates(20.0));
  CHECK(scaled.warnings().empty());
  CHECK(max_abs(scaled.run(x).at("lr3"), expect) < 1e-9);

  // A swap brings its own slope: the layers with another one get a warning each.
  snn::Converter swapped(path, snn::ConverterOptions().swap(
                                   "leaky_relu", snn::SpikingLeakyReLU(
                                                     snn::LeakyReLUOptions().negative_slope(0.1))));
  CHECK(swapped.layer("lr1").ensemble->options().neuron_type()->type() == "SpikingLeakyReLU");
  REQUIRE(swapped.warnings().size() == 2);
  CHECK_THAT(swapped.warnings()[0], Contains("\"lr2\"") && Contains("0.2"));
  CHECK_THAT(swapped.warnings()[1], Contains("\"lr3\"") && Contains("0.05"));

  // A ReLU with a cap still has no neuron type.
  auto capped = cfg;
  capped["config"]["layers"][4]["config"]["max_value"] = 6.0;
  snn::testing::write_keras_file(path, capped,
                                 {{"in", {}}, {"a", {{"kernel", ka}, {"bias", ba}}}, {"lr1", {}},
                                  {"b", {{"kernel", kb}}}, {"lr2", {}}, {"c", {{"kernel", kc}}}, {"lr3", {}}});
  CHECK_THROWS_WITH(snn::Converter(path), Contains("\"lr2\"") && Contains("max_value"));
}

TEST_CASE("Converter: UpSampling1D and UpSampling2D repeat every element natively", "[converter]") {
  using snn::testing::fn_layer;
  snn::testing::TempDir dir("snn_converter_upsampling");
  torch::manual_seed(6);
  // 2-D: in (3, 2, 2) -> UpSampling2D(size (2, 3)) -> (6, 6, 2) -> Flatten -> Dense(4).
  const auto path2 = dir.file("up2.h5");
  auto k2 = rnd({72, 4}), b2 = rnd({4});
  auto up2 = [](const nlohmann::json& interpolation) {
    return fn_layer("UpSampling2D", "up",
                    {{"size", {2, 3}}, {"data_format", "channels_last"}, {"interpolation", interpolation}},
                    {"in"});
  };
  auto cfg2 = [&](const nlohmann::json& interpolation) {
    return snn::testing::functional_config(
        {fn_layer("InputLayer", "in", {{"batch_input_shape", {nullptr, 3, 2, 2}}}, {}), up2(interpolation),
         fn_layer("Flatten", "flat", nlohmann::json::object(), {"up"}),
         fn_layer("Dense", "out", {{"units", 4}, {"activation", "linear"}, {"use_bias", true}}, {"flat"})},
        "in", "out");
  };
  const std::vector<snn::testing::TestLayer> weights2 = {
      {"in", {}}, {"up", {}}, {"flat", {}}, {"out", {{"kernel", k2}, {"bias", b2}}}};
  snn::testing::write_keras_file(path2, cfg2("nearest"), weights2);
  snn::Converter conv2(path2);
  CHECK(conv2.fallbacks().empty());
  CHECK(conv2.layer_shape("up") == std::vector<int64_t>{6, 6, 2});
  auto x2 = torch::randn({5, 3, 2, 2}, torch::kFloat64);
  auto up = torch::zeros({5, 6, 6, 2}, torch::kFloat64);  // written out: up[h, w] = x[h / 2, w / 3]
  for (int64_t h = 0; h < 6; ++h)
    for (int64_t w = 0; w < 6; ++w) up.select(1, h).select(1, w).copy_(x2.select(1, h / 2).select(1, w / 3));
  CHECK(max_abs(run_object(conv2, conv2.layer("up"), x2), up) < 1e-12);
  CHECK(max_abs(conv2.run(x2).at("out"), up.reshape({5, 72}).matmul(k2) + b2) < 1e-9);
  CHECK(conv2.verify(x2, 1e-9).passed);
  snn::testing::write_keras_file(path2, cfg2("bilinear"), weights2);
  CHECK_THROWS_WITH(snn::Converter(path2), Contains("\"up\"") && Contains("bilinear"));

  // 1-D: in (4, 3) -> UpSampling1D(size 3) -> (12, 3) -> Flatten -> Dense(2, relu).
  const auto path1 = dir.file("up1.h5");
  auto k1 = rnd({36, 2});
  auto cfg1 = snn::testing::functional_config(
      {fn_layer("InputLayer", "in", {{"batch_input_shape", {nullptr, 4, 3}}}, {}),
       fn_layer("UpSampling1D", "up", {{"size", 3}}, {"in"}),
       fn_layer("Flatten", "flat", nlohmann::json::object(), {"up"}),
       fn_layer("Dense", "out", {{"units", 2}, {"activation", "relu"}, {"use_bias", false}}, {"flat"})},
      "in", "out");
  snn::testing::write_keras_file(path1, cfg1, {{"in", {}}, {"up", {}}, {"flat", {}}, {"out", {{"kernel", k1}}}});
  snn::Converter conv1(path1);
  auto x1 = torch::randn({3, 4, 3}, torch::kFloat64);
  auto up1 = torch::zeros({3, 12, 3}, torch::kFloat64);
  for (int64_t t = 0; t < 12; ++t) up1.select(1, t).copy_(x1.select(1, t / 3));
  CHECK(max_abs(conv1.run(x1).at("out"), torch::relu(up1.reshape({3, 36}).matmul(k1))) < 1e-9);
  CHECK(conv1.verify(x1, 1e-9).passed);
}

TEST_CASE("Converter: impossible layer options and weights fail cleanly", "[converter]") {
  using snn::testing::fn_layer;
  snn::testing::TempDir dir("snn_converter_bad");
  auto conv_model = [&](const nlohmann::json& strides, torch::Tensor kernel) {
    const auto path = dir.file("conv.h5");
    auto cfg = snn::testing::functional_config(
        {fn_layer("InputLayer", "in", {{"batch_input_shape", {nullptr, 4, 4, 1}}}, {}),
         fn_layer("Conv2D", "conv",
                  {{"filters", 2}, {"kernel_size", {3, 3}}, {"strides", strides},
                   {"padding", "valid"}, {"activation", "linear"}, {"use_bias", false}},
                  {"in"})},
        "in", "conv");
    snn::testing::write_keras_file(path, cfg, {{"in", {}}, {"conv", {{"kernel", kernel}}}});
    return path;
  };
  const auto kernel = torch::ones({3, 3, 1, 2}, torch::kFloat64);
  // A stride of 0 would divide by zero when the output shape is worked out.
  for (const auto& strides : {nlohmann::json({0, 0}), nlohmann::json(0), nlohmann::json::array({1}),
                              nlohmann::json({1, "2"})}) {
    INFO(strides.dump());
    CHECK_THROWS_AS(snn::Converter(conv_model(strides, kernel)), snn::SpecError);
  }
  CHECK_THROWS_WITH(snn::Converter(conv_model({0, 0}, kernel)),
                    Contains("\"conv\"") && Contains("strides must be >= 1"));
  CHECK_NOTHROW(snn::Converter(conv_model({1, 1}, kernel)));
  // Weights that are not finite.
  auto nan_kernel = kernel.clone();
  nan_kernel[0][0][0][0] = std::nan("");
  CHECK_THROWS_WITH(snn::Converter(conv_model({1, 1}, nan_kernel)),
                    Contains("kernel") && Contains("NaN or infinite"));
  // A Sequential model without layers.
  const auto empty = dir.file("empty.h5");
  snn::testing::write_keras_file(
      empty, {{"class_name", "Sequential"}, {"config", {{"name", "s"}, {"layers", nlohmann::json::array()}}}},
      {});
  CHECK_THROWS_WITH(snn::Converter(empty), Contains(empty) && Contains("no layers"));
}

#endif  // SNN_HAVE_HDF5

TEST_CASE("Converter: a torch::nn::Sequential of Linear layers matches its forward", "[converter]") {
  torch::manual_seed(1);
  torch::nn::Sequential seq(torch::nn::Linear(20, 16), torch::nn::ReLU(),
                            torch::nn::BatchNorm1d(16), torch::nn::Linear(16, 8), torch::nn::Tanh(),
                            torch::nn::Dropout(0.5), torch::nn::Linear(8, 6), torch::nn::Sigmoid(),
                            torch::nn::Linear(6, 3));
  {
    torch::NoGradGuard g;  // non-trivial batch-norm statistics
    auto* bn = seq[2]->as<torch::nn::BatchNorm1d>();
    bn->running_mean.uniform_(-0.5, 0.5);
    bn->running_var.uniform_(0.5, 2.0);
    bn->weight.uniform_(0.5, 1.5);
    bn->bias.uniform_(-0.2, 0.2);
  }
  snn::Converter conv(seq.ptr(), {20});
  CHECK(conv.fallbacks().empty());
  int ensembles = 0;
  for (const auto& e : conv.net()->all_ensembles()) {
    ++ensembles;
    CHECK(e->options().neurons_layer());
  }
  CHECK(ensembles == 3);
  auto x = torch::randn({7, 20}, torch::kFloat64);
  seq->eval();
  auto expect = seq->forward(x.to(torch::kFloat32)).to(torch::kFloat64);
  CHECK(max_abs(conv.run(x).begin()->second, expect) < 1e-5);  // the module runs in float32
  auto v = conv.verify(x, 1e-9);  // reference in float64
  CHECK(v.passed);
}

TEST_CASE("Converter: a torch::nn::Sequential with LeakyReLU modules matches its forward",
          "[converter]") {
  torch::manual_seed(2);
  torch::nn::Sequential seq(torch::nn::Linear(10, 8),
                            torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.15)),
                            torch::nn::Linear(8, 4), torch::nn::LeakyReLU());
  snn::Converter conv(seq.ptr(), {10});
  CHECK(conv.fallbacks().empty());
  std::vector<double> slopes;
  for (const auto& e : conv.net()->all_ensembles()) {
    CHECK(e->options().neuron_type()->type() == "LeakyReLU");
    slopes.push_back(e->options().neuron_type()->params().at("negative_slope").get<double>());
  }
  std::sort(slopes.begin(), slopes.end());
  CHECK(slopes == std::vector<double>{0.01, 0.15});  // LibTorch's default slope is 0.01
  auto x = torch::randn({6, 10}, torch::kFloat64);
  auto expect = seq->forward(x.to(torch::kFloat32)).to(torch::kFloat64);
  CHECK(max_abs(conv.run(x).begin()->second, expect) < 1e-5);  // the module runs in float32
}

TEST_CASE("Converter: a convolutional torch::nn::Sequential matches its forward",
          "[converter][convolution]") {
  torch::manual_seed(2);
  torch::nn::Sequential seq(
      torch::nn::Conv2d(torch::nn::Conv2dOptions(2, 4, 3).padding(1)), torch::nn::ReLU(),
      torch::nn::AvgPool2d(torch::nn::AvgPool2dOptions(2)), torch::nn::BatchNorm2d(4),
      torch::nn::Conv2d(torch::nn::Conv2dOptions(4, 3, 3).stride(2)), torch::nn::Flatten(),
      torch::nn::Linear(3 * 2 * 2, 5));
  // 10x10 -> conv (same) 10x10 -> pool 5x5 -> conv 3x3 stride 2 (valid) 2x2.
  snn::Converter conv(seq.ptr(), {2, 10, 10});
  CHECK(conv.fallbacks().empty());
  auto x = torch::randn({3, 2, 10, 10}, torch::kFloat64);
  CHECK(conv.verify(x, 1e-9).passed);
}

#if SNN_HAVE_HDF5

TEST_CASE("Converter: spiking ReLU keeps the rate network's Fashion-MNIST accuracy",
          "[converter][spiking]") {
  // 300 test images, 200 steps of 1 ms; the classifier is read at the last step through the
  // synapse. Rate network: the same conversion without the swap (one step, no synapse).
  const int64_t N = 300, steps = 200;
  auto test = snn::load_dataset("fashion-mnist:test", N);
  auto x = test.at("images").to(torch::kFloat64);
  auto labels = test.at("labels");
  const auto path = kKerasDir + "/fmnist_dense_tfkeras216.h5";
  snn::Converter rate(path, snn::ConverterOptions().drop_final_softmax(true));
  const double rate_acc =
      rate.run(x).at("dense_1").argmax(1).eq(labels).to(torch::kFloat64).mean().item<double>();
  snn::Converter spiking(path, snn::ConverterOptions()
                                   .drop_final_softmax(true)
                                   .swap("relu", snn::SpikingRectifiedLinear())
                                   .scale_firing_rates(100.0)
                                   .synapse(0.01));
  CHECK(spiking.layer("dense").ensemble->options().neuron_type()->spiking());
  snn::Simulator sim(spiking.net(), snn::SimulatorOptions().minibatch_size(100).progress_bar(false));
  auto out = sim.predict({{spiking.input_id(), x.to(torch::kFloat32)}}, steps)
                 .at(spiking.output_probe()->id())
                 .select(1, -1);
  const double spike_acc = out.argmax(1).eq(labels).to(torch::kFloat64).mean().item<double>();
  INFO("rate " << rate_acc << ", spiking " << spike_acc);
  CHECK(rate_acc > 0.8);
  CHECK(std::abs(spike_acc - rate_acc) <= 0.02);
}

#endif
