// snn-convert end to end: a real Keras file is converted by the built program, the spec and
// checkpoint it writes are run by snn-run, and the result is compared with the reference
// outputs computed outside libsnn (shared/keras-models/*.expected.h5). Bad input exits with
// one line and writes nothing.
#include <catch2/catch.hpp>

#include <filesystem>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "conformance/conformance_support.h"
#include "convert/keras_test_files.h"
#include "tools/tool_support.h"

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using snn::testing::kKerasDir;
using snn::testing::quote;
using snn::testing::TempDir;
using snn::testing::ToolResult;

namespace {

namespace fs = std::filesystem;

const std::string kConvert = SNN_TOOLS_DIR "/snn-convert";
const std::string kRun = SNN_TOOLS_DIR "/snn-run";

std::string keras_file(const std::string& name) { return kKerasDir + "/" + name + ".h5"; }
std::string expected_file(const std::string& name) {
  return kKerasDir + "/" + name + ".expected.h5";
}

/// Converts `name` with `flags`, then runs the result on the reference inputs for `steps`
/// steps with snn-run; returns the output probe's last step, (16, n_out).
torch::Tensor convert_and_run(const std::string& name, const std::string& flags,
                              const TempDir& dir, int steps = 1,
                              const std::string& run_flags = "") {
  ToolResult c = snn::testing::run_tool(
      kConvert, quote(keras_file(name)) + " --out m.json --params m.pt -q " + flags, dir.path());
  INFO("snn-convert stderr: " << c.err);
  REQUIRE(c.code == 0);
  REQUIRE(fs::exists(dir.file("m.json")));
  REQUIRE(fs::exists(dir.file("m.pt")));
  auto x = snn::testing::read_dataset(expected_file(name), "/inputs");
  auto flat = x.reshape({x.size(0), 1, -1}).to(torch::kFloat64);
  snn::testing::write_dataset(dir.file("data.h5"), "/inputs/input", flat);
  ToolResult r = snn::testing::run_tool(
      kRun, "m.json --params m.pt --data data.h5 --dtype float64 --out o.h5 -q --steps " +
                std::to_string(steps) + " " + run_flags,
      dir.path());
  INFO("snn-run stderr: " << r.err);
  REQUIRE(r.code == 0);
  const auto probes = snn::testing::list_group(dir.file("o.h5"), "/probes");
  REQUIRE(probes.size() == 1);
  auto y = snn::testing::read_dataset(dir.file("o.h5"), "/probes/" + probes[0]);
  return y.select(1, y.size(1) - 1);
}

}  // namespace

TEST_CASE("snn-convert writes a spec and parameters that snn-run reproduces",
          "[tools][snn-convert]") {
  SECTION("dense model, softmax dropped: the logits") {
    TempDir dir("convert_dense");
    auto y = convert_and_run("fmnist_dense_tfkeras216", "--drop-softmax", dir);
    auto want = snn::testing::read_dataset(expected_file("fmnist_dense_tfkeras216"),
                                           "/outputs_presoftmax")
                    .to(torch::kFloat64);
    REQUIRE(y.sizes() == want.sizes());
    CHECK((y - want).abs().max().item<double>() < 1e-4);
  }
  SECTION("dense model run in minibatches of 4: every chunk keeps the loaded parameters") {
    TempDir dir("convert_dense_chunks");
    auto y = convert_and_run("fmnist_dense_tfkeras216", "--drop-softmax", dir, 1, "--minibatch 4");
    auto want = snn::testing::read_dataset(expected_file("fmnist_dense_tfkeras216"),
                                           "/outputs_presoftmax")
                    .to(torch::kFloat64);
    REQUIRE(y.sizes() == want.sizes());
    CHECK((y - want).abs().max().item<double>() < 1e-4);
  }
  SECTION("convolutional model with batch norm, max pooling as a fallback") {
    TempDir dir("convert_cnn");
    auto y = convert_and_run("fmnist_cnn_bn_keras216", "--allow-fallback --drop-softmax", dir);
    auto want =
        snn::testing::read_dataset(expected_file("fmnist_cnn_bn_keras216"), "/outputs_presoftmax")
            .to(torch::kFloat64);
    REQUIRE(y.sizes() == want.sizes());
    CHECK((y - want).abs().max().item<double>() < 1e-4);
  }
}

TEST_CASE("snn-convert's spiking options reach the spec", "[tools][snn-convert]") {
  TempDir dir("convert_swap");
  ToolResult c = snn::testing::run_tool(
      kConvert,
      quote(keras_file("fmnist_dense_tfkeras216")) +
          " --out m.json --drop-softmax -q --swap relu=SpikingRectifiedLinear"
          " --scale-firing-rates 50 --synapse 0.005",
      dir.path());
  INFO(c.err);
  REQUIRE(c.code == 0);
  auto spec = nlohmann::json::parse(snn::testing::slurp(dir.file("m.json")));
  // The relu activation becomes a Neurons layer (gain 1, bias 0) of the swapped type, its
  // amplitude divided by the scale; the input transform is multiplied by it.
  REQUIRE(spec.at("layers").size() == 1);
  const auto& act = spec["layers"][0];
  CHECK(act.at("type") == "Neurons");
  CHECK(act.at("neuron_type").at("type") == "SpikingRectifiedLinear");
  CHECK(act["neuron_type"].at("amplitude").get<double>() == Approx(1.0 / 50));
  const std::string id = act.at("id").get<std::string>();
  int filtered = 0;
  for (const auto& conn : spec.at("connections")) {
    if (conn.at("pre") == id) {
      ++filtered;
      CHECK(conn.at("synapse") == nlohmann::json({{"type", "Lowpass"}, {"tau", 0.005}}));
    } else {
      CHECK(conn.at("synapse").is_null());  // only connections leaving neurons are filtered
    }
  }
  CHECK(filtered >= 1);
}

TEST_CASE("snn-convert rejects bad input with one line and writes nothing",
          "[tools][snn-convert]") {
  TempDir dir("convert_bad");
  snn::testing::write_text(dir.file("not.h5"), "plain text, not HDF5\n");
  struct Case {
    std::string args;
    int code;
    std::string message;
  };
  const Case cases[] = {
      {"not.h5 --out m.json", 1, "not an HDF5 file"},
      {"missing.h5 --out m.json", 1, "missing.h5"},
      // A final softmax has no native form unless dropped or allowed as a fallback.
      {quote(keras_file("fmnist_dense_tfkeras216")) + " --out m.json", 2, "\"dense_1\""},
      {quote(keras_file("fmnist_cnn_tfkeras224")) + " --out m.json --drop-softmax", 2,
       "MaxPooling2D"},
      {quote(keras_file("fmnist_dense_tfkeras216")) + " --out m.json --swap relu=Bogus", 2,
       "unknown neuron type \"Bogus\""},
      {quote(keras_file("fmnist_dense_tfkeras216")) + " --out m.json --scale-firing-rates -1", 2,
       "--scale-firing-rates"},
      {quote(keras_file("fmnist_dense_tfkeras216")), 2, "--out"},
  };
  for (const auto& c : cases) {
    INFO("snn-convert " << c.args);
    ToolResult r = snn::testing::run_tool(kConvert, c.args, dir.path());
    INFO("stderr: " << r.err);
    CHECK(r.code == c.code);
    const auto lines = r.err_lines();
    REQUIRE(lines.size() == 1);
    CHECK_THAT(lines[0], Contains(c.message));
    CHECK_FALSE(fs::exists(dir.file("m.json")));
  }
}
