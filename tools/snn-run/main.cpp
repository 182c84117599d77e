// snn-run: builds a network spec, runs it for N steps (optionally fed from an HDF5 data file)
// and writes every probe to an HDF5 file, as shared/spec/tools.md describes. --params loads
// trained parameters (a checkpoint of snn-train) into the built simulator.
//
//     snn-run model.json --params runs/model/checkpoint.pt --steps 1000 --out run.h5
//
// Exit codes: 0 success; 1 the run failed (bad data, simulation error, I/O); 2 bad usage or an
// invalid spec. Errors are one line on stderr: "snn-run: <message>".
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "common/cli_support.h"
#include "snn/checkpoint.h"
#include "snn/snn.h"

namespace snn {
// Defined in libsnn (io/hdf5_probes.cpp) next to the public write_probes(sim, path, dtype):
// writes probe data gathered over several minibatches with `sim`'s time axis and attributes.
void write_probes(const Simulator& sim, const ProbeData& data, const std::string& path,
                  torch::Dtype dtype);
}  // namespace snn

namespace {

namespace fs = std::filesystem;
using snn::cli::first_line;
using snn::cli::kExitUsage;
using snn::cli::parse_device;
using snn::cli::RunError;
using snn::cli::UsageError;

/// Everything the command line says.
struct Args {
  std::string spec;
  std::string params;
  std::optional<int64_t> steps;
  std::optional<double> seconds;
  std::string data;
  std::string out;
  std::optional<int64_t> minibatch;
  std::string device = "cpu";
  std::optional<uint32_t> seed;
  std::string dtype;
  bool quiet = false;
  bool check = false;
};

void require_spec_file(const std::string& path) { snn::cli::require_input_file(path); }

/// `--check`: every problem of the spec, one per line; the spec is also built so size
/// mismatches and dangling references the JSON checks cannot see are reported too.
int check_spec(const Args& args) {
  require_spec_file(args.spec);
  std::ifstream in(args.spec);
  if (!in) throw UsageError(args.spec + ": cannot open the file");
  nlohmann::json spec;
  try {
    spec = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {  // syntax, or a number beyond a double
    throw UsageError(args.spec + ": invalid JSON: " + e.what());
  }
  std::vector<std::string> problems = snn::check_network_json(spec);
  if (problems.empty()) {
    try {
      auto net = snn::load_network(args.spec);
      snn::Simulator sim(net, snn::SimulatorOptions().progress_bar(false));
    } catch (const snn::SpecError& e) {
      problems.push_back(first_line(e.what()));
    } catch (const snn::BuildError& e) {
      problems.push_back(first_line(e.what()));
    }
  }
  for (const std::string& p : problems) {
    std::cerr << "snn-run: " << args.spec << ": " << first_line(p) << "\n";
  }
  if (!problems.empty()) {
    std::cerr << "snn-run: " << args.spec << ": " << problems.size()
              << (problems.size() == 1 ? " problem" : " problems") << std::endl;
    return kExitUsage;
  }
  if (!args.quiet) std::cout << args.spec << ": valid" << std::endl;
  return 0;
}

/// Where the output goes: --out, or <spec name>.h5 in the current folder.
std::string output_path(const Args& args) {
  std::string out = args.out;
  if (out.empty()) out = fs::path(args.spec).stem().string() + ".h5";
  const fs::path parent = fs::path(out).parent_path();
  std::error_code ec;
  if (!parent.empty() && !fs::is_directory(parent, ec)) {
    throw RunError(out + ": cannot write the output: folder " + parent.string() +
                   " does not exist");
  }
  if (fs::is_directory(out, ec)) {
    throw RunError(out + ": cannot write the output: it is a directory");
  }
  return out;
}

/// The data file's inputs, checked against the network: batch sizes agree, steps agree, and
/// every dataset feeds an input node (datasets naming no object of the spec are ignored, as
/// extra datasets are).
struct Data {
  snn::Inputs inputs;
  int64_t items = 1;
  std::optional<int64_t> steps;
};

Data load_data(const Args& args, const snn::Network& net) {
  Data data;
  snn::Inputs raw;
  // A built-in dataset (tools.md: usable wherever a data file is expected) feeds its images to
  // the spec's one input node.
  const bool builtin = args.data.rfind("fashion-mnist:", 0) == 0;
  if (builtin) {
    std::vector<std::string> inputs;
    for (const auto& n : net.all_nodes())
      if (n->kind() == snn::Node::Kind::Input) inputs.push_back(n->id());
    if (inputs.size() != 1)
      throw UsageError("--data " + args.data + ": a built-in dataset feeds one input node, " +
                       args.spec + " has " + std::to_string(inputs.size()));
    raw[inputs[0]] = snn::load_dataset(args.data).at("images");
  } else {
    raw = snn::read_inputs(args.data);
  }
  std::string first_id;
  for (auto& [id, tensor] : raw) {
    const std::string where = args.data + (builtin ? ": images" : ": /inputs/" + id);
    snn::NodePtr node = net.find_node(id);
    if (!node) {
      if (!args.quiet) {
        std::cerr << "snn-run: " << where << ": no node \"" << id << "\" in " << args.spec
                  << ", ignored" << std::endl;
      }
      continue;
    }
    if (node->kind() != snn::Node::Kind::Input) {
      throw snn::DataError(where + ": node \"" + id +
                           "\" is not an input placeholder (expected a node with only size_out)");
    }
    if (tensor.size(-1) != node->size_out()) {
      throw snn::DataError(where + ": expected size " + std::to_string(node->size_out()) +
                           " (node \"" + id + "\" size_out) in the last dimension, got " +
                           std::to_string(tensor.size(-1)));
    }
    if (first_id.empty()) {
      first_id = id;
      data.items = tensor.size(0);
    } else if (tensor.size(0) != data.items) {
      throw snn::DataError(where + ": expected " + std::to_string(data.items) +
                           " items (as /inputs/" + first_id + "), got " +
                           std::to_string(tensor.size(0)));
    }
    if (tensor.dim() == 3) {
      if (data.steps && *data.steps != tensor.size(1)) {
        throw snn::DataError(where + ": expected " + std::to_string(*data.steps) +
                             " steps (as the other inputs), got " + std::to_string(tensor.size(1)));
      }
      data.steps = tensor.size(1);
    }
    data.inputs.emplace(id, tensor);
  }
  return data;
}

/// Items [start, start + count) of every input, and only the first `steps` steps.
snn::Inputs slice_inputs(const snn::Inputs& inputs, int64_t start, int64_t count, int64_t steps) {
  snn::Inputs out;
  for (const auto& [id, t] : inputs) {
    torch::Tensor s = t.narrow(0, start, count);
    if (s.dim() == 3) s = s.narrow(1, 0, steps);
    out.emplace(id, s);
  }
  return out;
}

int run(const Args& args) {
  require_spec_file(args.spec);
  const torch::Device device = parse_device(args.device);
  snn::NetworkPtr net = snn::load_network(args.spec);

  Data data;
  if (!args.data.empty()) data = load_data(args, *net);
  int64_t batch = data.items;  // without data: one item, unless --minibatch says otherwise
  if (args.minibatch) {
    if (args.data.empty()) {
      batch = *args.minibatch;
      data.items = batch;
    } else if (data.items % *args.minibatch != 0) {
      throw UsageError("--minibatch " + std::to_string(*args.minibatch) + ": " + args.data +
                       " holds " + std::to_string(data.items) +
                       " items, expected a multiple of the minibatch size");
    } else {
      batch = *args.minibatch;
    }
  }

  int64_t steps = 0;
  if (args.steps) {
    steps = *args.steps;
  } else if (args.seconds) {
    steps = std::llround(*args.seconds / net->dt());
    if (steps < 1) {
      throw UsageError("--time " + std::to_string(*args.seconds) + ": shorter than one step (dt = " +
                       std::to_string(net->dt()) + ")");
    }
  } else if (data.steps) {
    steps = *data.steps;
  } else {
    throw UsageError("expected --steps N or --time SECONDS (or --data with a steps dimension)");
  }
  if (data.steps && steps > *data.steps) {
    throw UsageError("--steps " + std::to_string(steps) + ": " + args.data + " holds only " +
                     std::to_string(*data.steps) + " steps of input");
  }

  const std::string out = output_path(args);

  snn::SimulatorOptions options;
  options.minibatch_size(batch).device(device).progress_bar(!args.quiet);
  if (args.seed) options.seed(*args.seed);
  if (!args.dtype.empty()) options.dtype(args.dtype == "float64" ? torch::kFloat64 : torch::kFloat32);
  snn::Simulator sim =
      snn::cli::naming_spec(args.spec, [&] { return snn::Simulator(net, options); });
  if (!args.params.empty()) {
    sim.load_params(args.params);  // DataError naming the parameter
    const std::string mismatch = snn::checkpoint_spec_mismatch(args.params, *net);
    if (!mismatch.empty() && !args.quiet)
      std::cerr << "snn-run: warning: " << mismatch << std::endl;
  }

  const int64_t chunks = data.items / batch;
  if (chunks <= 1) {
    sim.run_steps(steps, slice_inputs(data.inputs, 0, batch, steps));
    snn::write_probes(sim, out, sim.dtype());
  } else {
    // Each minibatch starts from the built state, as every item does in a single batch; a soft
    // reset, because a full reset would also put back the parameters --params loaded.
    std::map<std::string, std::vector<torch::Tensor>> parts;
    for (int64_t k = 0; k < chunks; ++k) {
      if (k > 0) sim.soft_reset(/*include_probes=*/true);
      sim.run_steps(steps, slice_inputs(data.inputs, k * batch, batch, steps));
      for (const snn::ProbePtr& p : net->all_probes()) parts[p->id()].push_back(sim.data(p));
    }
    snn::ProbeData all;
    for (auto& [id, list] : parts) all.emplace(id, torch::cat(list, 0));
    snn::write_probes(sim, all, out, sim.dtype());
  }

  if (!args.quiet) {
    const auto n_probes = net->all_probes().size();
    std::cout << "snn-run: wrote " << n_probes << (n_probes == 1 ? " probe" : " probes") << " ("
              << data.items << (data.items == 1 ? " item" : " items") << " x " << steps
              << " steps, " << (sim.dtype() == torch::kFloat64 ? "float64" : "float32")
              << ") to " << out << std::endl;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  CLI::App app{"Runs a libsnn network spec (snn-network/1 JSON) and writes every probe to an "
               "HDF5 file (/probes/<id>, /trange).",
               "snn-run"};
  app.set_version_flag("--version", "snn-run (libsnn) " + snn::version());
  app.add_option("SPEC", args.spec, "the network spec (JSON)")->required();
  app.add_option("--params", args.params, "trained parameters (a checkpoint of snn-train)");
  auto* steps = app.add_option("--steps", args.steps, "number of time steps to run")
                    ->check(snn::cli::kPositive);
  auto* time = app.add_option("--time", args.seconds, "seconds of simulated time to run")
                   ->check(snn::cli::kPositive);
  steps->excludes(time);
  app.add_option("--data", args.data,
                 "HDF5 data file whose /inputs/<node_id> feed the input nodes (sets the "
                 "minibatch and the number of steps unless given), or fashion-mnist:train|test "
                 "(its images feed the one input node)");
  app.add_option("--out", args.out, "output HDF5 file (default: <spec name>.h5 here)");
  app.add_option("--minibatch", args.minibatch,
                 "items simulated together (default: all items of --data, else 1)")
      ->check(snn::cli::kPositive);
  app.add_option("--device", args.device, "cpu, cuda or cuda:<index>")->capture_default_str();
  app.add_option("--seed", args.seed, "simulator seed (default: the spec's seed + 1)");
  app.add_option("--dtype", args.dtype, "float32 or float64 (default: the spec's setting)")
      ->check(CLI::IsMember({"float32", "float64"}));
  app.add_flag("--quiet,-q", args.quiet, "print nothing but errors");
  app.add_flag("--check", args.check,
               "only validate the spec: print every problem and exit 2 if there is one");

  if (auto status = snn::cli::parse_command_line(app, argc, argv, "snn-run")) return *status;
  return snn::cli::report_errors("snn-run",
                                 [&] { return args.check ? check_spec(args) : run(args); });
}
