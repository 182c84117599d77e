// snn-train end to end: the built program trains a small spiking classifier on Fashion-MNIST
// (and small HDF5 files), and its run folder, --resume after kill -9, error handling and
// snn-run --params with its checkpoint are checked against shared/spec/tools.md.
#include <torch/types.h>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "conformance/conformance_support.h"
#include "tools/tool_support.h"
#include "snn/io.h"
#include "snn/simulator.h"
#include "snn/spec.h"

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using snn::testing::quote;
using snn::testing::run_tool;
using snn::testing::slurp;
using snn::testing::TempDir;
using snn::testing::ToolResult;
using snn::testing::write_text;

namespace {

namespace fs = std::filesystem;

const std::string kTrain = SNN_TOOLS_DIR "/snn-train";
const std::string kRun = SNN_TOOLS_DIR "/snn-run";

bool have_fashion_mnist() {
  const char* env = std::getenv("SNN_FASHION_MNIST_DIR");
  const std::string dir = env && *env ? env : "/usr/share/datasets/fashion-mnist";
  return fs::exists(dir + "/train-images-idx3-ubyte.gz") &&
         fs::exists(dir + "/t10k-images-idx3-ubyte.gz");
}

/// 784 pixels -> `n` LIF neurons (gain 1, bias 0) -> 10 logits, probed without a synapse.
std::string classifier_spec(int n_neurons, const std::string& train_block = "") {
  std::string spec = R"({
  "format": "snn-network/1", "label": "tiny_classifier", "seed": 3, "dt": 0.001,
  "nodes": [{"id": "img", "size_out": 784}, {"id": "out", "size_in": 10}],
  "ensembles": [{"id": "hid", "n_neurons": )" +
                     std::to_string(n_neurons) + R"(, "dimensions": 1,
                 "neuron_type": {"type": "LIF", "amplitude": 0.01}, "gain": 1.0, "bias": 0.0}],
  "connections": [
    {"pre": "img", "post": "hid.neurons", "transform": {"type": "Glorot"}, "synapse": null},
    {"pre": "hid.neurons", "post": "out", "transform": {"type": "Glorot"}, "synapse": null}],
  "probes": [{"id": "p_out", "target": "out"}])";
  if (!train_block.empty()) spec += ",\n  \"train\": " + train_block;
  return spec + "\n}\n";
}

const std::string kFashionFlags =
    "--data fashion-mnist:train --validation fashion-mnist:test --limit 512 --minibatch 64 "
    "--steps 1 --workers 1";

std::vector<nlohmann::json> read_metrics(const std::string& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) lines.push_back(nlohmann::json::parse(l));
  return lines;
}

/// One 3-epoch training run of the 32-neuron classifier, made once and shared by the tests
/// that only read it.
struct TrainedRun {
  TempDir dir{"snn_train_run"};
  ToolResult result;
  std::string spec() const { return dir.file("tiny.json"); }
  std::string run_dir() const { return dir.file("run"); }
};

const TrainedRun& trained_run() {
  static std::unique_ptr<TrainedRun> run;
  if (!run) {
    run = std::make_unique<TrainedRun>();
    write_text(run->spec(), classifier_spec(32));
    run->result = run_tool(kTrain, "tiny.json " + kFashionFlags + " --epochs 3 --out run -q",
                           run->dir.path());
  }
  return *run;
}

/// Every parameter of a simulator of `spec` after loading `checkpoint`.
std::map<std::string, torch::Tensor> parameters_of(const std::string& spec,
                                                   const std::string& checkpoint) {
  snn::Simulator sim(snn::load_network(spec), snn::SimulatorOptions().progress_bar(false));
  if (!checkpoint.empty()) sim.load_params(checkpoint);
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : sim.module().named_parameters()) out[p.key()] = p.value().detach().clone();
  return out;
}

}  // namespace

TEST_CASE("snn-train writes checkpoint.pt, network.json and metrics.jsonl", "[tools][train]") {
  REQUIRE(fs::exists(kTrain));
  if (!have_fashion_mnist()) {
    WARN("no Fashion-MNIST at /usr/share/datasets/fashion-mnist: skipped");
    return;
  }
  const TrainedRun& run = trained_run();
  INFO(run.result.err);
  REQUIRE(run.result.code == 0);
  CHECK(run.result.out.empty());  // --quiet
  CHECK(run.result.err.empty());
  const std::string dir = run.run_dir();
  std::vector<std::string> entries;
  for (const auto& e : fs::directory_iterator(dir)) entries.push_back(e.path().filename());
  std::sort(entries.begin(), entries.end());
  CHECK(entries == std::vector<std::string>{"checkpoint.pt", "metrics.jsonl", "network.json"});

  // network.json is the spec as resolved: loadable, and it builds the same parameters.
  snn::NetworkPtr net = snn::load_network(dir + "/network.json");
  CHECK(net->label() == "tiny_classifier");
  REQUIRE(net->find_ensemble("hid"));
  const auto initial = parameters_of(run.spec(), "");
  const auto resolved = parameters_of(dir + "/network.json", "");
  REQUIRE(initial.size() == resolved.size());
  for (const auto& [name, t] : initial) CHECK(torch::equal(t, resolved.at(name)));
  // Its train block is the one this run used: the flags, the defaults and the data mapping.
  nlohmann::json spec;
  std::ifstream(dir + "/network.json") >> spec;
  const auto& t = spec.at("train");
  INFO(t.dump());
  CHECK(t.at("epochs") == 3);
  CHECK(t.at("minibatch_size") == 64);
  CHECK(t.at("n_steps") == 1);
  CHECK(t.at("seed") == 0);
  CHECK(t.at("optimizer").at("type") == "Adam");
  CHECK(t.at("optimizer").at("lr") == 0.001);
  CHECK(t.at("optimizer").at("beta2") == 0.999);
  CHECK(t.at("data") == nlohmann::json({{"train", "fashion-mnist:train"},
                                         {"validation", "fashion-mnist:test"}}));
  CHECK(t.at("inputs") == nlohmann::json({{"img", "images"}}));
  CHECK(t.at("targets") == nlohmann::json({{"p_out", "labels"}}));
  CHECK(t.at("metrics") == nlohmann::json({"accuracy"}));
  CHECK(t.at("loss").at("p_out").at("type") == "sparse_categorical_crossentropy");

  const auto lines = read_metrics(dir + "/metrics.jsonl");
  REQUIRE(lines.size() == 3);
  for (size_t i = 0; i < lines.size(); ++i) {
    INFO(lines[i].dump());
    CHECK(lines[i]["epoch"] == static_cast<int64_t>(i + 1));
    for (const char* key : {"loss", "val_loss", "val_accuracy", "seconds", "samples_per_s"}) {
      INFO(key);
      REQUIRE(lines[i].contains(key));
      CHECK(lines[i][key].is_number());
    }
    CHECK(lines[i]["val_accuracy"].get<double>() >= 0.0);
    CHECK(lines[i]["val_accuracy"].get<double>() <= 1.0);
  }
  CHECK(lines[2]["loss"].get<double>() < lines[0]["loss"].get<double>());  // it learns

  // The checkpoint holds trained values: they differ from the built ones.
  const auto trained = parameters_of(run.spec(), dir + "/checkpoint.pt");
  double change = 0.0;
  for (const auto& [name, t] : trained)
    change = std::max(change, (t - initial.at(name)).abs().max().item<double>());
  CHECK(change > 1e-4);
}

TEST_CASE("snn-train killed with SIGKILL and resumed ends as an uninterrupted run",
          "[tools][train]") {
  if (!have_fashion_mnist()) {
    WARN("no Fashion-MNIST at /usr/share/datasets/fashion-mnist: skipped");
    return;
  }
  TempDir dir("snn_train_resume");
  write_text(dir.file("tiny.json"), classifier_spec(32));
  const int epochs = 12;
  const std::string flags = kFashionFlags + " --epochs " + std::to_string(epochs) + " -q";

  ToolResult a = run_tool(kTrain, "tiny.json " + flags + " --out A", dir.path());
  INFO(a.err);
  REQUIRE(a.code == 0);

  // Run B: started, killed with SIGKILL shortly after its first checkpoint appears.
  std::vector<std::string> words = {kTrain, "tiny.json"};
  {
    std::istringstream s(flags + " --out B");
    for (std::string w; s >> w;) words.push_back(w);
  }
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  const std::string cwd = dir.path();
  const std::string log = dir.file("b.log");
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (chdir(cwd.c_str()) != 0) _exit(127);
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execv(argv[0], argv.data());
    _exit(127);
  }
  const std::string checkpoint_b = dir.file("B/checkpoint.pt");
  int status = 0;
  bool exited = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    if (fs::exists(checkpoint_b)) break;
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  if (!exited) {
    std::this_thread::sleep_for(std::chrono::milliseconds(4));
    kill(pid, SIGKILL);
    REQUIRE(waitpid(pid, &status, 0) == pid);
  }
  INFO(slurp(log));
  REQUIRE(fs::exists(checkpoint_b));
  const bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  int64_t done = 0;
  {
    snn::Simulator probe(snn::load_network(dir.file("tiny.json")),
                         snn::SimulatorOptions().progress_bar(false));
    done = probe.load_params(checkpoint_b);
  }
  if (!killed || done >= epochs) {
    WARN("run B finished before the kill (epoch " << done << "): the resume resumes nothing");
  } else {
    CHECK(done >= 1);
    CHECK(static_cast<int64_t>(read_metrics(dir.file("B/metrics.jsonl")).size()) >= done);
  }

  ToolResult b = run_tool(kTrain, "tiny.json " + flags + " --out B --resume", dir.path());
  INFO(b.err);
  REQUIRE(b.code == 0);

  // The same parameters (and the same per-epoch losses) as the uninterrupted run.
  const auto pa = parameters_of(dir.file("tiny.json"), dir.file("A/checkpoint.pt"));
  const auto pb = parameters_of(dir.file("tiny.json"), checkpoint_b);
  REQUIRE(pa.size() == pb.size());
  REQUIRE(pa.size() >= 2);
  for (const auto& [name, t] : pa) {
    INFO(name);
    REQUIRE(pb.count(name));
    CHECK((t - pb.at(name)).abs().max().item<double>() <= 1e-5);
  }
  const auto la = read_metrics(dir.file("A/metrics.jsonl"));
  const auto lb = read_metrics(dir.file("B/metrics.jsonl"));
  REQUIRE(la.size() == static_cast<size_t>(epochs));
  REQUIRE(lb.size() == static_cast<size_t>(epochs));
  for (int i = 0; i < epochs; ++i) {
    INFO("epoch " << i + 1);
    CHECK(lb[i]["epoch"] == i + 1);
    CHECK(lb[i]["loss"].get<double>() == Approx(la[i]["loss"].get<double>()).epsilon(1e-6));
    CHECK(lb[i]["val_loss"].get<double>() == Approx(la[i]["val_loss"].get<double>()).epsilon(1e-6));
  }

  // Resuming a finished run has nothing to do.
  ToolResult again = run_tool(
      kTrain,
      "tiny.json " + kFashionFlags + " --epochs " + std::to_string(epochs) + " --out B --resume",
      dir.path());
  INFO(again.err);
  CHECK(again.code == 0);
  CHECK_THAT(again.out, Contains("already done"));
  CHECK(read_metrics(dir.file("B/metrics.jsonl")).size() == static_cast<size_t>(epochs));
}

namespace {
/// "reg": a 2-D input through 20 rectified-linear neurons to a 2-D output (probe p_y), with
/// the given train block.
std::string regression_spec(const std::string& train_block) {
  return R"({
    "format": "snn-network/1", "label": "reg", "seed": 1,
    "nodes": [{"id": "u", "size_out": 2}, {"id": "y", "size_in": 2}],
    "ensembles": [{"id": "e", "n_neurons": 20, "dimensions": 1,
                   "neuron_type": {"type": "RectifiedLinear"}, "gain": 1.0, "bias": 0.5}],
    "connections": [
      {"pre": "u", "post": "e.neurons", "transform": {"type": "Glorot"}, "synapse": null},
      {"pre": "e.neurons", "post": "y", "transform": {"type": "Glorot"}, "synapse": null}],
    "probes": [{"id": "p_y", "target": "y"}],
    "train": )" + train_block + "\n}\n";
}
}  // namespace

TEST_CASE("snn-train trains from an HDF5 data file's /inputs and /targets", "[tools][train]") {
  TempDir dir("snn_train_h5");
  // Trained on x -> x.
  write_text(dir.file("reg.json"), regression_spec(R"({"epochs": 2, "minibatch_size": 16,
                                                     "optimizer": {"type": "SGD", "lr": 0.05}})"));
  torch::manual_seed(0);
  torch::Tensor x = torch::rand({64, 2}, torch::kFloat32) * 2 - 1;
  snn::testing::write_dataset(dir.file("data.h5"), "/inputs/u", x);
  snn::testing::write_dataset(dir.file("data.h5"), "/targets/p_y", x);
  ToolResult r = run_tool(kTrain, "reg.json --data data.h5 --validation data.h5", dir.path());
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.out, StartsWith("snn-train: 2 epochs") && Contains("runs/reg/checkpoint.pt"));
  const auto lines = read_metrics(dir.file("runs/reg/metrics.jsonl"));
  REQUIRE(lines.size() == 2);
  CHECK(lines[1].contains("val_loss"));
  CHECK_FALSE(lines[1].contains("val_accuracy"));  // float targets: no accuracy
}

TEST_CASE("snn-train: named arrays fall back to the file layout, and validation_freq",
          "[tools][train]") {
  TempDir dir("snn_train_h5_names");
  // The train block names arrays of another dataset ("features", "goal"); the file holds
  // them as /inputs/u and /targets/p_y, which are used instead.
  write_text(dir.file("reg.json"),
             regression_spec(R"({"epochs": 4, "minibatch_size": 16,
                                 "optimizer": {"type": "SGD", "lr": 0.05},
                                 "inputs": {"u": "features"}, "targets": {"p_y": "goal"},
                                 "validation_freq": 2})"));
  torch::manual_seed(0);
  torch::Tensor x = torch::rand({64, 2}, torch::kFloat32) * 2 - 1;
  snn::testing::write_dataset(dir.file("data.h5"), "/inputs/u", x);
  snn::testing::write_dataset(dir.file("data.h5"), "/targets/p_y", x);
  SECTION("the spec's validation_freq: epochs 2 and 4") {
    ToolResult r = run_tool(kTrain, "reg.json --data data.h5 --validation data.h5 -q", dir.path());
    INFO(r.err);
    REQUIRE(r.code == 0);
    const auto lines = read_metrics(dir.file("runs/reg/metrics.jsonl"));
    REQUIRE(lines.size() == 4);
    CHECK_FALSE(lines[0].contains("val_loss"));
    CHECK(lines[1].contains("val_loss"));
    CHECK_FALSE(lines[2].contains("val_loss"));
    CHECK(lines[3].contains("val_loss"));
  }
  SECTION("--validation-freq overrides it") {
    ToolResult r = run_tool(
        kTrain, "reg.json --data data.h5 --validation data.h5 --validation-freq 3 -q", dir.path());
    INFO(r.err);
    REQUIRE(r.code == 0);
    const auto lines = read_metrics(dir.file("runs/reg/metrics.jsonl"));
    REQUIRE(lines.size() == 4);
    for (int e : {0, 1, 3}) CHECK_FALSE(lines[e].contains("val_loss"));
    CHECK(lines[2].contains("val_loss"));
  }
  SECTION("a name neither there nor in the layout is still named") {
    snn::testing::write_dataset(dir.file("other.h5"), "/inputs/v", x);
    ToolResult r = run_tool(kTrain, "reg.json --data other.h5 -q", dir.path());
    CHECK(r.code == 1);
    CHECK_THAT(r.err, Contains("other.h5") && Contains("features"));
  }
}

TEST_CASE("snn-train rejects bad input with one line and the right exit code", "[tools][train]") {
  TempDir dir("snn_train_bad");
  write_text(dir.file("tiny.json"), classifier_spec(32));
  torch::Tensor images = torch::rand({8, 784}, torch::kFloat32);
  torch::Tensor labels = torch::arange(8, torch::kInt64);
  snn::testing::write_dataset(dir.file("data.h5"), "/inputs/img", images);
  snn::testing::write_dataset(dir.file("data.h5"), "/targets/p_out", labels);
  write_text(dir.file("junk.h5"), "this is not an HDF5 file at all");

  struct Case {
    std::string name, spec_text, args;
    int code;
    std::vector<std::string> named;  // what the message must name
  };
  const std::vector<Case> cases = {
      {"missing spec",
       "",
       "nowhere/missing_spec.json --data data.h5 --out run",
       2,
       {"nowhere/missing_spec.json"}},
      {"unknown train key",
       classifier_spec(32, R"({"epochs": 2, "learning_rate": 0.1})"),
       "spec.json --data data.h5 --out run",
       2,
       {"spec.json", "/train/learning_rate"}},
      {"data file not HDF5", "", "tiny.json --data junk.h5 --out run", 1, {"junk.h5"}},
      {"target probe id that does not exist (train block)",
       classifier_spec(32, R"({"targets": {"p_nope": "targets/p_out"}})"),
       "spec.json --data data.h5 --out run",
       2,
       {"/train/targets/p_nope", "p_nope"}},
      {"target probe id that does not exist (data file)",
       "",
       "tiny.json --data bad.h5 --out run",
       1,
       {"bad.h5", "/targets/p_nope"}},
      {"loss on a probe that does not exist",
       classifier_spec(32, R"({"loss": {"p_x": {"type": "mse"}}})"),
       "spec.json --data data.h5 --out run",
       2,
       {"spec.json", "/train/loss/p_x", "p_out"}},
      {"unknown --optimizer",
       "",
       "tiny.json --data data.h5 --optimizer Adamax --out run",
       2,
       {"--optimizer", "Adamax"}},
      {"label out of range",
       "",
       "tiny.json --data labels.h5 --out run",
       1,
       {"labels.h5", "/targets/p_out", "label 10 at item 5"}},
      {"input of the wrong size",
       "",
       "tiny.json --data wide.h5 --out run",
       1,
       {"wide.h5", "/inputs/img", "784"}},
      {"no data", "", "tiny.json --out run", 2, {"--data"}},
      {"negative momentum (checked before LibTorch, naming the spec)",
       classifier_spec(32, R"({"optimizer": {"type": "SGD", "momentum": -1}})"),
       "spec.json --data data.h5 --out run",
       2,
       {"spec.json", "/train/optimizer/momentum", "momentum >= 0"}},
      {"--lr nan blames the flag", "", "tiny.json --data data.h5 --lr nan --out run", 2, {"--lr"}},
      {"negative --seed", "", "tiny.json --data data.h5 --seed -1 --out run", 2,
       {"--seed", "expected a number >= 0, got -1"}},
  };
  snn::testing::write_dataset(dir.file("bad.h5"), "/inputs/img", images);
  snn::testing::write_dataset(dir.file("bad.h5"), "/targets/p_nope", labels);
  snn::testing::write_dataset(dir.file("labels.h5"), "/inputs/img", images);
  snn::testing::write_dataset(dir.file("labels.h5"), "/targets/p_out", labels + 5);
  snn::testing::write_dataset(dir.file("wide.h5"), "/inputs/img", torch::rand({8, 700}));
  snn::testing::write_dataset(dir.file("wide.h5"), "/targets/p_out", labels);

  for (const Case& c : cases) {
    INFO(c.name << ": snn-train " << c.args);
    if (!c.spec_text.empty()) write_text(dir.file("spec.json"), c.spec_text);
    ToolResult r = run_tool(kTrain, c.args, dir.path());
    INFO(r.err);
    CHECK(r.code == c.code);
    CHECK(r.err_lines().size() == 1);
    CHECK_THAT(r.err, StartsWith("snn-train: "));
    for (const auto& n : c.named) CHECK_THAT(r.err, Contains(n));
    CHECK(r.out.empty());
    CHECK_FALSE(fs::exists(dir.file("run/checkpoint.pt")));
    CHECK_FALSE(fs::exists(dir.file("run")));  // nothing is written before the checks pass
  }
}

TEST_CASE("snn-run --params loads a trained checkpoint, refusing another network's",
          "[tools][train]") {
  if (!have_fashion_mnist()) {
    WARN("no Fashion-MNIST at /usr/share/datasets/fashion-mnist: skipped");
    return;
  }
  const TrainedRun& run = trained_run();
  INFO(run.result.err);
  REQUIRE(run.result.code == 0);
  TempDir dir("snn_train_params");
  const std::string checkpoint = run.run_dir() + "/checkpoint.pt";

  ToolResult ok = run_tool(kRun,
                           quote(run.spec()) + " --params " + quote(checkpoint) +
                               " --steps 5 --dtype float64 --out o.h5",
                           dir.path());
  INFO(ok.err);
  REQUIRE(ok.code == 0);
  // The file holds what the library computes with the trained parameters.
  snn::Simulator sim(snn::load_network(run.spec()),
                     snn::SimulatorOptions().dtype(torch::kFloat64).progress_bar(false));
  sim.load_params(checkpoint);
  sim.run_steps(5);
  CHECK(torch::equal(snn::testing::read_dataset(dir.file("o.h5"), "/probes/p_out"),
                     sim.data("p_out")));
  CHECK(ok.err.find("warning") == std::string::npos);

  // The same structure with another seed loads, with a warning naming the checkpoint.
  nlohmann::json reseeded = nlohmann::json::parse(slurp(run.spec()));
  reseeded["seed"] = reseeded.value("seed", 0) + 1;
  write_text(dir.file("reseeded.json"), reseeded.dump());
  ToolResult warned = run_tool(
      kRun, "reseeded.json --params " + quote(checkpoint) + " --steps 5 --out o4.h5", dir.path());
  CHECK(warned.code == 0);
  CHECK(warned.err_lines().size() == 1);
  CHECK_THAT(warned.err, StartsWith("snn-run: warning: " + checkpoint +
                                    ": saved from another spec (content hash "));

  // A checkpoint of the same spec with 16 neurons.
  write_text(dir.file("small.json"), classifier_spec(16));
  {
    snn::Simulator small(snn::load_network(dir.file("small.json")),
                         snn::SimulatorOptions().progress_bar(false));
    small.save_params(dir.file("small.pt"));
  }
  ToolResult bad =
      run_tool(kRun, quote(run.spec()) + " --params small.pt --steps 5 --out o2.h5", dir.path());
  CHECK(bad.code == 1);
  CHECK(bad.err_lines().size() == 1);
  CHECK_THAT(bad.err, StartsWith("snn-run: ") && Contains("small.pt") &&
                          Contains("parameter ensembles.hid."));
  CHECK_FALSE(fs::exists(dir.file("o2.h5")));

  ToolResult missing =
      run_tool(kRun, quote(run.spec()) + " --params absent.pt --steps 5 --out o3.h5", dir.path());
  CHECK(missing.code == 1);
  CHECK_THAT(missing.err, Contains("absent.pt"));
}

TEST_CASE("snn-train takes sequence data (N, steps, size) and checks its steps", "[tools][train]") {
  TempDir dir("snn_train_seq");
  write_text(dir.file("reg.json"), R"({
    "format": "snn-network/1", "label": "reg", "seed": 1,
    "nodes": [{"id": "u", "size_out": 2}, {"id": "y", "size_in": 2}],
    "ensembles": [{"id": "e", "n_neurons": 20, "dimensions": 1,
                   "neuron_type": {"type": "RectifiedLinear"}, "gain": 1.0, "bias": 0.5}],
    "connections": [
      {"pre": "u", "post": "e.neurons", "transform": {"type": "Glorot"}, "synapse": null},
      {"pre": "e.neurons", "post": "y", "transform": {"type": "Glorot"}, "synapse": 0.01}],
    "probes": [{"id": "p_y", "target": "y"}]
  })");
  torch::manual_seed(1);
  torch::Tensor u = torch::rand({32, 5, 2}, torch::kFloat32);
  snn::testing::write_dataset(dir.file("seq.h5"), "/inputs/u", u);
  snn::testing::write_dataset(dir.file("seq.h5"), "/targets/p_y", u * 0.5);
  snn::testing::write_dataset(dir.file("wide.h5"), "/inputs/u", u);
  snn::testing::write_dataset(dir.file("wide.h5"), "/targets/p_y", torch::rand({32, 5, 3}));

  SECTION("the data's steps, or the first --steps of them") {
    for (const char* steps : {"", " --steps 3"}) {
      INFO("--steps: " << steps);
      ToolResult r =
          run_tool(kTrain, std::string("reg.json --data seq.h5 -q --out run") + steps, dir.path());
      INFO(r.err);
      CHECK(r.code == 0);
      CHECK(read_metrics(dir.file("run/metrics.jsonl")).size() == 1);
    }
  }
  SECTION("more steps than the data hold is bad usage") {
    ToolResult r = run_tool(kTrain, "reg.json --data seq.h5 --steps 8 --out run", dir.path());
    CHECK(r.code == 2);
    CHECK(r.err_lines().size() == 1);
    CHECK_THAT(r.err, Contains("--steps 8") && Contains("seq.h5"));
    CHECK_FALSE(fs::exists(dir.file("run")));
  }
  SECTION("targets of the wrong size are bad data") {
    ToolResult r = run_tool(kTrain, "reg.json --data wide.h5 --out run", dir.path());
    CHECK(r.code == 1);
    CHECK(r.err_lines().size() == 1);
    CHECK_THAT(r.err, Contains("wide.h5: /targets/p_y") && Contains("probe \"p_y\""));
    CHECK_FALSE(fs::exists(dir.file("run")));
  }
  SECTION("a diverging run fails with exit 1") {
    ToolResult r =
        run_tool(kTrain, "reg.json --data seq.h5 --optimizer SGD --lr 1e30 --epochs 3 --out run -q",
                 dir.path());
    CHECK(r.code == 1);
    CHECK(r.err_lines().size() == 1);
    CHECK_THAT(r.err, StartsWith("snn-train: ") && Contains("diverged"));
  }
}
