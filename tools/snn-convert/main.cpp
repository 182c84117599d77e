// snn-convert: turns a Keras HDF5 model into a native libsnn network spec (and, with --params,
// a checkpoint of its parameters that snn-run --params loads), as nengo_dl.Converter does.
//
//     snn-convert model.h5 --out model.json --params model.pt \
//         --swap relu=SpikingRectifiedLinear --scale-firing-rates 100 --synapse 0.005
//
// Exit codes: 0 success; 1 the conversion failed (unreadable or corrupt file, I/O); 2 bad usage
// or a model that does not convert with these options. Errors are one line on stderr:
// "snn-convert: <message>".
#include <cmath>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "common/cli_support.h"
#include "snn/snn.h"

namespace {

namespace fs = std::filesystem;

using snn::cli::first_line;
using snn::cli::kExitFailed;
using snn::cli::UsageError;

struct Args {
  std::string model;
  std::string out;
  std::string params;
  std::vector<std::string> swaps;
  std::optional<double> scale;
  std::optional<double> synapse;
  bool max_to_avg_pool = false;
  bool allow_fallback = false;
  bool inference_only = false;
  bool drop_softmax = false;
  bool verify = false;
  bool quiet = false;
};

/// "relu=SpikingRectifiedLinear" or "relu={\"type\": \"LIF\", \"amplitude\": 0.01}".
std::pair<std::string, snn::NeuronTypePtr> parse_swap(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    throw UsageError("--swap: expected FROM=NEURON_TYPE (e.g. relu=SpikingRectifiedLinear), got \"" +
                     text + "\"");
  const std::string from = text.substr(0, eq), to = text.substr(eq + 1);
  nlohmann::json j;
  if (to.front() == '{') {
    try {
      j = nlohmann::json::parse(to);
    } catch (const nlohmann::json::exception& e) {
      throw UsageError("--swap " + text + ": invalid JSON: " + e.what());
    }
  } else {
    j = {{"type", to}};
  }
  try {
    return {from, snn::neuron_type_from_json(j, "--swap " + from)};
  } catch (const snn::SpecError& e) {
    throw UsageError(e.what());
  }
}

void check_output_path(const std::string& path, const std::string& flag) {
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty() && !fs::is_directory(parent, ec))
    throw UsageError(flag + " " + path + ": folder " + parent.string() + " does not exist");
  if (fs::is_directory(path, ec)) throw UsageError(flag + " " + path + ": is a directory");
}

int convert(const Args& args) {
  std::error_code ec;
  if (!fs::exists(args.model, ec)) throw snn::DataError(args.model + ": no such file");
  check_output_path(args.out, "--out");
  if (!args.params.empty()) check_output_path(args.params, "--params");

  snn::ConverterOptions o;
  o.allow_fallback(args.allow_fallback)
      .inference_only(args.inference_only)
      .max_to_avg_pool(args.max_to_avg_pool)
      .drop_final_softmax(args.drop_softmax);
  for (const auto& s : args.swaps) {
    auto [from, to] = parse_swap(s);
    o.swap(from, to);
  }
  // CLI11's number checks let NaN and infinity through.
  if (args.scale && !(std::isfinite(*args.scale) && *args.scale > 0))
    throw UsageError("--scale-firing-rates: expected a finite number > 0");
  if (args.synapse && !(std::isfinite(*args.synapse) && *args.synapse >= 0))
    throw UsageError("--synapse: expected a finite time constant >= 0 (seconds)");
  if (args.scale) o.scale_firing_rates(*args.scale);
  if (args.synapse) o.synapse(*args.synapse);

  snn::Converter conv(args.model, o);
  for (const auto& w : conv.warnings()) std::cerr << "snn-convert: warning: " << w << "\n";
  // Build once before writing anything, so a network that does not build leaves no files.
  snn::Simulator sim(conv.net(), snn::SimulatorOptions().progress_bar(false));
  // The checkpoint first: if the spec then cannot be written, a checkpoint this run created
  // goes again, so a failure leaves no half of the pair.
  const bool params_existed = !args.params.empty() && fs::exists(args.params, ec);
  if (!args.params.empty()) sim.save_params(args.params);
  try {
    snn::save_network(*conv.net(), args.out);
  } catch (...) {
    if (!args.params.empty() && !params_existed) fs::remove(args.params, ec);
    throw;
  }
  if (!args.quiet) {
    std::cout << args.model << ": " << conv.layers().size() << " layers -> "
              << conv.net()->all_nodes().size() << " nodes, " << conv.net()->all_ensembles().size()
              << " ensembles, " << conv.net()->all_connections().size() << " connections\n";
    for (const auto& f : conv.fallbacks()) std::cout << "  fallback: " << f << "\n";
    std::cout << "  input: " << conv.input_id() << "  output probe: " << conv.output_probe()->id()
              << "\n";
    std::cout << "wrote " << args.out << (args.params.empty() ? "" : " and " + args.params)
              << std::endl;
  }
  if (args.verify) {
    auto r = conv.verify();
    std::cout << "verify (ones, batch 2, 1 step): max abs error " << r.max_abs_error
              << (r.passed ? " (ok)" : " (above 1e-4)") << std::endl;
    if (!r.passed) return kExitFailed;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  CLI::App app{"Converts a Keras HDF5 model (.h5 with model_config and model_weights) into a "
               "libsnn network spec, as nengo_dl.Converter.",
               "snn-convert"};
  app.set_version_flag("--version", "snn-convert (libsnn) " + snn::version());
  app.add_option("MODEL", args.model, "the Keras model file (.h5)")->required();
  app.add_option("--out", args.out, "the network spec to write (JSON)")->required();
  app.add_option("--params", args.params,
                 "also write the converted parameters as a checkpoint (for snn-run --params)");
  app.add_option("--swap", args.swaps,
                 "replace an activation's neuron type: FROM=TYPE, e.g. relu=SpikingRectifiedLinear "
                 "or relu='{\"type\": \"LIF\", \"amplitude\": 0.01}' (repeatable)");
  app.add_option("--scale-firing-rates", args.scale,
                 "multiply the input to every activation by K and divide its amplitude by K")
      ->check(snn::cli::kPositive);
  app.add_option("--synapse", args.synapse,
                 "Lowpass time constant (s) on every connection leaving an ensemble")
      ->check(snn::cli::kNonNegative);
  app.add_flag("--max-to-avg-pool", args.max_to_avg_pool,
               "convert MaxPooling layers to (native) average pooling");
  app.add_flag("--allow-fallback", args.allow_fallback,
               "use TensorNodes for layers without a native form (softmax, max pooling, ...)");
  app.add_flag("--inference-only", args.inference_only,
               "fold BatchNormalization into fixed transforms (the network will not be trained)");
  app.add_flag("--drop-softmax", args.drop_softmax,
               "leave a final softmax out (the output is the logits; same classification)");
  app.add_flag("--verify", args.verify,
               "compare the converted network with the model's forward pass (exit 1 above 1e-4)");
  app.add_flag("--quiet,-q", args.quiet, "print nothing but errors");

  if (auto status = snn::cli::parse_command_line(app, argc, argv, "snn-convert")) return *status;
  // A layer refused for want of a fallback: name the flags that would convert it.
  auto hint = [&args](const std::string& message) {
    if (args.allow_fallback || message.find("allow_fallback is off") == std::string::npos)
      return message;
    auto mentions = [&](const char* what) { return message.find(what) != std::string::npos; };
    return first_line(message) + " (try --allow-fallback" +
           (mentions("softmax") ? " or --drop-softmax" : "") +
           (mentions("BatchNormalization") ? " or --inference-only" : "") +
           (mentions("max pooling") ? " or --max-to-avg-pool" : "") + ")";
  };
  return snn::cli::report_errors("snn-convert", [&] { return convert(args); }, hint);
}
