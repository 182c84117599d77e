// snn-run end to end: the built program is run on specs and data files, and its exit code,
// messages and output file are checked against shared/spec/tools.md.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "conformance/conformance_support.h"
#include "tools/tool_support.h"
#include "snn/data.h"
#include "snn/errors.h"
#include "snn/io.h"
#include "snn/simulator.h"
#include "snn/spec.h"

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using snn::testing::quote;
using snn::testing::slurp;
using snn::testing::TempDir;
using snn::testing::ToolResult;
using snn::testing::write_text;

namespace {

namespace fs = std::filesystem;

const std::string kTool = SNN_TOOLS_DIR "/snn-run";

/// Runs snn-run with `args` in folder `cwd`.
ToolResult run_tool(const std::string& args, const std::string& cwd) {
  return snn::testing::run_tool(kTool, args, cwd);
}

std::string scenario_spec(const std::string& name) {
  return snn::testing::conformance_dir() + "/" + name + "/network.json";
}

/// An input placeholder "u" (2-D) feeding a pass-through node "out" with no synapse, probed
/// unfiltered: the probe shows the input of the same step, exactly.
const char* kPassThroughSpec = R"({
  "format": "snn-network/1", "label": "pass", "seed": 1, "dt": 0.001,
  "nodes": [{"id": "u", "size_out": 2}, {"id": "out", "size_in": 2}],
  "connections": [{"pre": "u", "post": "out", "synapse": null}],
  "probes": [{"id": "p", "target": "out"}]
})";

}  // namespace

TEST_CASE("snn-run runs a spec and writes the probe file layout", "[tools][snn-run]") {
  REQUIRE(fs::exists(kTool));
  const std::string spec = scenario_spec("lif_const");
  if (!fs::exists(spec)) {
    WARN("no conformance data at " << spec);
    return;
  }
  TempDir dir("snn_run");
  ToolResult r = run_tool(quote(spec) + " --steps 50 --dtype float64 --out out.h5", dir.path());
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.err.empty());
  CHECK_THAT(r.out, Contains("out.h5"));
  CHECK(dir.entries() == std::vector<std::string>{"out.h5"});

  using namespace snn::testing;
  const std::string out = dir.file("out.h5");
  CHECK(list_group(out, "/probes") == std::vector<std::string>{"p_spikes", "p_voltage"});
  CHECK(dataset_shape(out, "/probes/p_spikes") == std::vector<int64_t>{1, 50, 8});
  CHECK(dataset_shape(out, "/probes/p_voltage") == std::vector<int64_t>{1, 50, 8});
  CHECK(dataset_type(out, "/probes/p_voltage") == "float64");
  CHECK(torch::allclose(read_dataset(out, "/trange"),
                        torch::arange(1, 51, torch::kFloat64) * 0.001, 0.0, 1e-15));
  CHECK(read_string_attribute(out, "label") == "lif_const");
  CHECK(read_double_attribute(out, "dt") == 0.001);
  CHECK(read_int_attribute(out, "n_steps") == 50);
  CHECK(read_int_attribute(out, "seed") == 0);
  CHECK(read_string_attribute(out, "version") == snn::version());

  // The file holds what the library computes for the same spec and options.
  snn::Simulator sim(snn::load_network(spec),
                     snn::SimulatorOptions().dtype(torch::kFloat64).progress_bar(false));
  sim.run_steps(50);
  CHECK(torch::equal(read_dataset(out, "/probes/p_voltage"), sim.data("p_voltage")));
  CHECK(torch::equal(read_dataset(out, "/probes/p_spikes"), sim.data("p_spikes")));
}

TEST_CASE("snn-run defaults: output named after the spec, float32, --time, --quiet",
          "[tools][snn-run]") {
  const std::string spec = scenario_spec("lif_const");
  if (!fs::exists(spec)) return;
  TempDir dir("snn_run");
  ToolResult r = run_tool(quote(spec) + " --time 0.02 --dtype float32 --quiet", dir.path());
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.empty());
  CHECK(r.err.empty());
  REQUIRE(dir.entries() == std::vector<std::string>{"network.h5"});
  const std::string out = dir.file("network.h5");
  CHECK(snn::testing::dataset_type(out, "/probes/p_voltage") == "float32");
  CHECK(snn::testing::dataset_shape(out, "/probes/p_voltage") == std::vector<int64_t>{1, 20, 8});
  CHECK(snn::testing::read_int_attribute(out, "n_steps") == 20);
}

TEST_CASE("snn-run feeds --data inputs, in one batch or in minibatches", "[tools][snn-run]") {
  TempDir dir("snn_run");
  write_text(dir.file("pass.json"), kPassThroughSpec);
  // u[b, n, d] = 100 b + n + 0.25 d: every value says where it came from.
  torch::Tensor u = torch::arange(4, torch::kFloat64).view({4, 1, 1}) * 100 +
                    torch::arange(6, torch::kFloat64).view({1, 6, 1}) +
                    torch::arange(2, torch::kFloat64).view({1, 1, 2}) * 0.25;
  snn::testing::write_dataset(dir.file("data.h5"), "/inputs/u", u);

  SECTION("all items in one batch; steps from the data") {
    ToolResult r = run_tool("pass.json --data data.h5 --dtype float64 --out o.h5", dir.path());
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(torch::equal(snn::testing::read_dataset(dir.file("o.h5"), "/probes/p"), u));
  }
  SECTION("minibatches of 2 give the same result") {
    ToolResult r =
        run_tool("pass.json --data data.h5 --minibatch 2 --dtype float64 --out o.h5", dir.path());
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(torch::equal(snn::testing::read_dataset(dir.file("o.h5"), "/probes/p"), u));
    CHECK(snn::testing::read_int_attribute(dir.file("o.h5"), "n_steps") == 6);
  }
  SECTION("--steps shorter than the data runs the first steps") {
    ToolResult r =
        run_tool("pass.json --data data.h5 --steps 4 --dtype float64 --out o.h5", dir.path());
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(torch::equal(snn::testing::read_dataset(dir.file("o.h5"), "/probes/p"),
                       u.narrow(1, 0, 4)));
  }
  SECTION("constant (N, d) inputs hold every step") {
    torch::Tensor c = torch::tensor({{1.5, -2.0}, {0.5, 3.0}}, torch::kFloat64);
    snn::testing::write_dataset(dir.file("const.h5"), "/inputs/u", c);
    ToolResult r =
        run_tool("pass.json --data const.h5 --steps 3 --dtype float64 --out o.h5", dir.path());
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(torch::equal(snn::testing::read_dataset(dir.file("o.h5"), "/probes/p"),
                       c.unsqueeze(1).expand({2, 3, 2})));
  }
  SECTION("a minibatch that does not divide the items is bad usage") {
    ToolResult r = run_tool("pass.json --data data.h5 --minibatch 3 --out o.h5", dir.path());
    CHECK(r.code == 2);
    CHECK_THAT(r.err, StartsWith("snn-run: --minibatch 3"));
    CHECK_FALSE(fs::exists(dir.file("o.h5")));
  }
  SECTION("more steps than the data holds is bad usage") {
    ToolResult r = run_tool("pass.json --data data.h5 --steps 10 --out o.h5", dir.path());
    CHECK(r.code == 2);
    CHECK_THAT(r.err, Contains("data.h5"));
  }
  SECTION("data of the wrong size fails the run and leaves no file behind") {
    snn::testing::write_dataset(dir.file("wide.h5"), "/inputs/u", torch::zeros({2, 6, 3}));
    ToolResult r = run_tool("pass.json --data wide.h5 --out o.h5", dir.path());
    CHECK(r.code == 1);
    CHECK(r.err_lines().size() == 1);
    CHECK_THAT(r.err, Contains("wide.h5") && Contains("/inputs/u"));
    CHECK(dir.entries() == std::vector<std::string>{"data.h5", "pass.json", "wide.h5"});
  }
}

TEST_CASE("snn-run --data takes a built-in dataset for the one input node", "[tools][snn-run]") {
  TempDir dir("snn_run");
  // img (784) -> sum of its pixels (a transform of ones), probed without a synapse.
  write_text(dir.file("sum.json"),
             R"({"format": "snn-network/1", "seed": 1,
    "nodes": [{"id": "img", "size_out": 784}, {"id": "sum", "size_in": 1}],
    "connections": [{"pre": "img", "post": "sum", "synapse": null, "transform": [)" +
                 nlohmann::json(std::vector<double>(784, 1.0)).dump() + R"(]}],
    "probes": [{"id": "p", "target": "sum"}]})");
  snn::Dataset test;
  try {
    test = snn::load_dataset("fashion-mnist:test");
  } catch (const snn::DataError&) {
    WARN("no Fashion-MNIST: skipped");
    return;
  }
  ToolResult r = run_tool("sum.json --data fashion-mnist:test --steps 1 --minibatch 1000 "
                          "--dtype float64 --out o.h5 -q",
                          dir.path());
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto got = snn::testing::read_dataset(dir.file("o.h5"), "/probes/p");
  REQUIRE(got.sizes() == torch::IntArrayRef({10000, 1, 1}));
  auto expected = test.at("images").to(torch::kFloat64).sum(1);
  CHECK(torch::allclose(got.view({-1}), expected, 1e-9, 1e-9));
  // With two input nodes it is bad usage, naming both the dataset and the spec.
  write_text(dir.file("two.json"), R"({"format": "snn-network/1",
    "nodes": [{"id": "a", "size_out": 784}, {"id": "b", "size_out": 1}]})");
  ToolResult two = run_tool("two.json --data fashion-mnist:test --steps 1 --out t.h5", dir.path());
  CHECK(two.code == 2);
  CHECK_THAT(two.err, Contains("fashion-mnist:test") && Contains("two.json"));
}

TEST_CASE("snn-run names the spec in errors found while building it", "[tools][snn-run]") {
  TempDir dir("snn_run");
  write_text(dir.file("cyc.json"), R"({"format": "snn-network/1",
    "nodes": [{"id": "a", "size_in": 1}, {"id": "b", "size_in": 1}],
    "connections": [{"pre": "a", "post": "b", "synapse": null},
                    {"pre": "b", "post": "a", "synapse": null}]})");
  ToolResult r = run_tool("cyc.json --steps 3", dir.path());
  CHECK(r.code == 2);
  CHECK(r.err_lines().size() == 1);
  CHECK_THAT(r.err, StartsWith("snn-run: cyc.json: cycle without a synapse"));
  CHECK(dir.entries() == std::vector<std::string>{"cyc.json"});
}

TEST_CASE("snn-run usage errors exit 2 with one line", "[tools][snn-run]") {
  TempDir dir("snn_run");
  write_text(dir.file("pass.json"), kPassThroughSpec);
  const char* bad[] = {"",  // no spec
                       "pass.json --steps 5 --time 1",
                       "pass.json --steps 5 --dtype float16",
                       "pass.json --steps 5 --no-such-flag",
                       "pass.json --steps -3",
                       "pass.json",  // no steps, no data
                       "pass.json --steps 5 --device tpu"};
  for (const char* args : bad) {
    INFO("snn-run " << args);
    ToolResult r = run_tool(args, dir.path());
    CHECK(r.code == 2);
    REQUIRE(r.err_lines().size() == 1);
    CHECK_THAT(r.err, StartsWith("snn-run: "));
  }
  // A number check says what it expected in a few words (CLI11's own prints the whole range
  // of a double).
  ToolResult r = run_tool("pass.json --steps abc", dir.path());
  CHECK(r.code == 2);
  CHECK_THAT(r.err, Contains("--steps") && Contains("expected a number > 0, got abc"));
  CHECK(r.err.size() < 200);
  CHECK(dir.entries() == std::vector<std::string>{"pass.json"});
}

TEST_CASE("snn-run names a missing spec and exits 2", "[tools][snn-run]") {
  TempDir dir("snn_run");
  ToolResult r = run_tool("nowhere/missing_spec.json --steps 5", dir.path());
  CHECK(r.code == 2);
  CHECK(r.err_lines().size() == 1);
  CHECK_THAT(r.err, Contains("nowhere/missing_spec.json"));
}

TEST_CASE("snn-run exits 2 on an invalid spec naming its JSON path", "[tools][snn-run]") {
  TempDir dir("snn_run");
  write_text(dir.file("bad.json"), R"({"format": "snn-network/1",
    "nodes": [{"id": "a", "output": 1.0}, {"id": "b", "size_in": 1}],
    "connections": [{"pre": "a", "post": "nope"}]})");
  ToolResult r = run_tool("bad.json --steps 5", dir.path());
  CHECK(r.code == 2);
  CHECK(r.err_lines().size() == 1);
  CHECK_THAT(r.err, Contains("/connections/0"));
  CHECK(dir.entries() == std::vector<std::string>{"bad.json"});
}

TEST_CASE("snn-run exits 1 naming a bad --data file, leaving no output", "[tools][snn-run]") {
  TempDir dir("snn_run");
  write_text(dir.file("pass.json"), kPassThroughSpec);
  write_text(dir.file("junk.h5"), "this is not an HDF5 file at all");
  ToolResult r = run_tool("pass.json --data junk.h5 --out o.h5", dir.path());
  CHECK(r.code == 1);
  CHECK(r.err_lines().size() == 1);
  CHECK_THAT(r.err, StartsWith("snn-run: ") && Contains("junk.h5"));

  ToolResult missing = run_tool("pass.json --data absent.h5 --out o.h5", dir.path());
  CHECK(missing.code == 1);
  CHECK_THAT(missing.err, Contains("absent.h5"));
  CHECK(dir.entries() == std::vector<std::string>{"junk.h5", "pass.json"});
}

TEST_CASE("snn-run --out into a missing folder exits 1 and writes nothing", "[tools][snn-run]") {
  TempDir dir("snn_run");
  write_text(dir.file("pass.json"), kPassThroughSpec);
  ToolResult r = run_tool("pass.json --steps 3 --out no_dir/o.h5", dir.path());
  CHECK(r.code == 1);
  CHECK(r.err_lines().size() == 1);
  CHECK_THAT(r.err, Contains("no_dir"));
  CHECK(dir.entries() == std::vector<std::string>{"pass.json"});
}

TEST_CASE("snn-run --check lists every problem of a spec", "[tools][snn-run]") {
  TempDir dir("snn_run");
  write_text(dir.file("pass.json"), kPassThroughSpec);
  ToolResult ok = run_tool("pass.json --check", dir.path());
  INFO(ok.err);
  CHECK(ok.code == 0);
  CHECK_THAT(ok.out, Contains("valid"));

  // Two independent problems: a negative neuron count and a dangling connection end.
  write_text(dir.file("broken.json"), R"({"format": "snn-network/1",
    "nodes": [{"id": "a", "output": 1.0}],
    "ensembles": [{"id": "e", "n_neurons": -5, "dimensions": 1}],
    "connections": [{"pre": "a", "post": "nope"}]})");
  ToolResult r = run_tool("broken.json --check", dir.path());
  CHECK(r.code == 2);
  const auto lines = r.err_lines();
  INFO(r.err);
  CHECK(lines.size() >= 3);  // two problems at least, then the count
  CHECK_THAT(r.err, Contains("/ensembles/0") && Contains("/connections/0"));
  for (const auto& l : lines) CHECK_THAT(l, StartsWith("snn-run: broken.json: "));
}

TEST_CASE("snn-run --help and --version", "[tools][snn-run]") {
  TempDir dir("snn_run");
  ToolResult help = run_tool("--help", dir.path());
  CHECK(help.code == 0);
  CHECK_THAT(help.out, Contains("--steps") && Contains("--data") && Contains("--check"));
  ToolResult version = run_tool("--version", dir.path());
  CHECK(version.code == 0);
  CHECK_THAT(version.out, Contains(snn::version()));
}

TEST_CASE("snn-run --device cuda without CUDA exits 1", "[tools][snn-run]") {
  if (torch::cuda::is_available()) return;  // the run would be legitimate here
  TempDir dir("snn_run");
  write_text(dir.file("pass.json"), kPassThroughSpec);
  ToolResult r = run_tool("pass.json --steps 3 --device cuda --out o.h5", dir.path());
  CHECK(r.code == 1);
  CHECK(r.err_lines().size() == 1);
  CHECK_THAT(r.err, Contains("CUDA"));
  CHECK(dir.entries() == std::vector<std::string>{"pass.json"});
}
