// The shipped models of models/ trained exactly as the README's main command trains them
// (snn-train on the spec's own train block), against the accuracy the project promises and
// against a baseline computed here from the data.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "conformance/conformance_support.h"
#include "snn/data.h"

using snn::testing::TempDir;

namespace {

namespace fs = std::filesystem;

bool have_fashion_mnist() {
  const char* env = std::getenv("SNN_FASHION_MNIST_DIR");
  const std::string dir = env && *env ? env : "/usr/share/datasets/fashion-mnist";
  return fs::exists(dir + "/train-images-idx3-ubyte.gz") &&
         fs::exists(dir + "/t10k-images-idx3-ubyte.gz");
}

/// Trains models/<name>.json with snn-train into a fresh folder; returns its metrics lines.
/// `flags` are extra snn-train flags (overriding the spec's train block).
std::vector<nlohmann::json> train_model(const std::string& name, const TempDir& dir,
                                        const std::string& flags = "") {
  const std::string spec = std::string(SNN_SOURCE_DIR) + "/models/" + name + ".json";
  const std::string cmd = std::string("'") + SNN_TOOLS_DIR + "/snn-train' '" + spec +
                          "' --out '" + dir.file("run") + "' " + flags + " -q 2>'" +
                          dir.file("err.txt") + "'";
  const int status = std::system(cmd.c_str());
  std::ifstream err(dir.file("err.txt"));
  const std::string err_text{std::istreambuf_iterator<char>(err), {}};
  INFO(err_text);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  std::vector<nlohmann::json> lines;
  std::ifstream in(dir.file("run/metrics.jsonl"));
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) lines.push_back(nlohmann::json::parse(l));
  return lines;
}

}  // namespace

TEST_CASE("the default spiking MLP reaches 87% spiking test accuracy", "[models][slow]") {
  if (!have_fashion_mnist()) {
    WARN("no Fashion-MNIST at /usr/share/datasets/fashion-mnist: skipped");
    return;
  }
  TempDir dir("model_mlp");
  const auto lines = train_model("fashion_mnist_mlp", dir);
  REQUIRE(lines.size() == 10);
  // The validation of the spec is fashion-mnist:test run spiking over validation_steps.
  const double accuracy = lines.back().at("val_accuracy").get<double>();
  INFO("spiking test accuracy " << accuracy);
  CHECK(accuracy >= 0.87);
}

TEST_CASE("the autoencoder reconstructs far better than the mean image", "[models][slow]") {
  if (!have_fashion_mnist()) {
    WARN("no Fashion-MNIST at /usr/share/datasets/fashion-mnist: skipped");
    return;
  }
  TempDir dir("model_autoencoder");
  const auto lines = train_model("autoencoder", dir);
  REQUIRE(lines.size() == 2);
  // The error of the best constant guess, the mean test image, computed from the data here.
  const auto images = snn::load_dataset("fashion-mnist:test").at("images").to(torch::kFloat64);
  const double mean_image_mse = (images - images.mean(0, true)).pow(2).mean().item<double>();
  const double val_loss = lines.back().at("val_loss").get<double>();
  INFO("val_loss " << val_loss << ", mean-image mse " << mean_image_mse);
  CHECK(val_loss < 0.4 * mean_image_mse);
  CHECK(lines.back().at("loss").get<double>() < lines.front().at("loss").get<double>());
}

TEST_CASE("the convolutional spec learns from a short run and classifies spiking",
          "[models][slow]") {
  if (!have_fashion_mnist()) {
    WARN("no Fashion-MNIST at /usr/share/datasets/fashion-mnist: skipped");
    return;
  }
  // The full run (the spec's own 6 epochs) is recorded in the README. Here one epoch over
  // 2000 items must already leave chance (10%) far behind when the trained net runs spiking,
  // its synapses on (they are off in training: settings.train_synapses false). A net whose neurons never fire (the failure this spec once
  // had: gain 1, bias 0 and a synapse that delayed the 1-step training output to nothing)
  // stays at exactly ln(10) loss and 10% accuracy.
  TempDir dir("model_conv");
  const auto lines = train_model("fashion_mnist_conv", dir,
                                 "--limit 2000 --epochs 1 --validation-steps 40 --validation-freq 1");
  REQUIRE(lines.size() == 1);
  const double accuracy = lines.back().at("val_accuracy").get<double>();
  const double val_loss = lines.back().at("val_loss").get<double>();
  INFO("spiking accuracy " << accuracy << ", val_loss " << val_loss);
  CHECK(accuracy >= 0.5);
  CHECK(val_loss < 0.8 * std::log(10.0));
}
