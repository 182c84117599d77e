// snn-train: trains a network spec's trainable parameters on a dataset and keeps a run folder
// (checkpoint.pt, network.json, metrics.jsonl), as shared/spec/tools.md describes.
//
//     snn-train model.json --data fashion-mnist:train --validation fashion-mnist:test \
//         --epochs 5 --out runs/model
//
// The spec's `train` block (shared/spec/network-json.md) gives the defaults; flags override
// them. Everything (spec, train block, data arrays, ids, shapes, labels) is checked before
// training starts and before anything is written. After every epoch metrics.jsonl is
// rewritten and the training checkpoint (parameters, optimizer state, epoch) saved, both
// atomically, so `--resume` continues a run killed at any moment.
//
// Exit codes: 0 success; 1 the run failed (bad data, diverged, I/O); 2 bad usage or an
// invalid spec. Errors are one line on stderr: "snn-train: <message>".
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "common/cli_support.h"
#include "snn/snn.h"

namespace {

namespace fs = std::filesystem;
using snn::cli::first_line;
using snn::cli::parse_device;
using snn::cli::RunError;
using snn::cli::UsageError;
using nlohmann::json;

/// Everything the command line says.
struct Args {
  std::string spec;
  std::string data;
  std::string validation;
  std::string out;
  std::optional<int64_t> epochs;
  std::optional<int64_t> minibatch;
  std::optional<int64_t> steps;
  std::optional<int64_t> validation_steps;
  std::optional<int64_t> validation_freq;
  std::optional<double> lr;
  std::string optimizer;
  std::string device = "cpu";
  std::optional<uint64_t> seed;
  bool resume = false;
  int64_t workers = 0;
  int64_t limit = 0;
  bool quiet = false;
};

void require_spec_file(const std::string& path) { snn::cli::require_input_file(path); }

std::string shape_of(const torch::Tensor& t) {
  return c10::str(t.sizes());
}

// ---- the train block ---------------------------------------------------------------------

/// The spec's `train` block, checked (values not given stay unset).
struct TrainBlock {
  std::optional<int64_t> n_steps;
  std::optional<int64_t> minibatch;
  std::optional<int64_t> epochs;
  std::optional<uint64_t> seed;
  int64_t truncation = 0;
  std::optional<int64_t> validation_steps;
  std::optional<int64_t> validation_freq;
  json optimizer = json::object();
  std::map<std::string, json> losses;  // probe id -> loss object
  std::optional<std::vector<std::string>> metrics;
  std::string train_data, validation_data;
  std::optional<std::map<std::string, std::string>> inputs;   // node id -> array name
  std::optional<std::map<std::string, std::string>> targets;  // probe id -> array name
};

const char* const kTrainKeys =
    "n_steps, minibatch_size, epochs, seed, optimizer, loss, metrics, truncation, "
    "validation_steps, validation_freq, data, inputs, targets";

TrainBlock read_train_block(const std::string& text, const std::string& spec) {
  TrainBlock b;
  if (text.empty()) return b;
  const json t = json::parse(text);  // the loader kept it as valid JSON text of an object
  auto at = [&](const std::string& path) { return spec + ": /train/" + path; };
  auto integer = [&](const json& v, const std::string& path, int64_t min) {
    if (!v.is_number_integer() || v.get<int64_t>() < min) {
      throw snn::SpecError(at(path) + ": expected an integer >= " + std::to_string(min) + ", got " +
                           v.dump());
    }
    return v.get<int64_t>();
  };
  auto names = [&](const json& v, const std::string& path, const char* what) {
    if (!v.is_object()) {
      throw snn::SpecError(at(path) + ": expected an object {\"<" + what +
                           " id>\": \"<array name>\"}, got " + v.dump());
    }
    std::map<std::string, std::string> m;
    for (const auto& [id, name] : v.items()) {
      if (!name.is_string() || name.get<std::string>().empty()) {
        throw snn::SpecError(at(path + "/" + id) + ": expected an array name, got " + name.dump());
      }
      m[id] = name.get<std::string>();
    }
    return m;
  };
  for (const auto& [key, v] : t.items()) {
    if (key == "n_steps") {
      b.n_steps = integer(v, key, 1);
    } else if (key == "minibatch_size") {
      b.minibatch = integer(v, key, 1);
    } else if (key == "epochs") {
      b.epochs = integer(v, key, 1);
    } else if (key == "seed") {
      b.seed = static_cast<uint64_t>(integer(v, key, 0));
    } else if (key == "truncation") {
      b.truncation = integer(v, key, 0);
    } else if (key == "validation_steps") {
      b.validation_steps = integer(v, key, 1);
    } else if (key == "validation_freq") {
      b.validation_freq = integer(v, key, 1);
    } else if (key == "optimizer") {
      if (!v.is_object()) {
        throw snn::SpecError(at(key) +
                             ": expected an object such as {\"type\": \"Adam\", "
                             "\"lr\": 0.001}, got " +
                             v.dump());
      }
      b.optimizer = v;
    } else if (key == "loss") {
      if (!v.is_object()) {
        throw snn::SpecError(at(key) +
                             ": expected an object {\"<probe id>\": {\"type\": ...}}, "
                             "got " +
                             v.dump());
      }
      for (const auto& [id, l] : v.items()) b.losses[id] = l;
    } else if (key == "metrics") {
      if (!v.is_array()) {
        throw snn::SpecError(at(key) + ": expected a list such as [\"accuracy\"], got " + v.dump());
      }
      std::vector<std::string> m;
      for (size_t i = 0; i < v.size(); ++i) {
        if (!v[i].is_string() || v[i] != "accuracy") {
          throw snn::SpecError(at(key + "/" + std::to_string(i)) + ": unknown metric " +
                               v[i].dump() + " (known: accuracy)");
        }
        m.push_back(v[i].get<std::string>());
      }
      b.metrics = m;
    } else if (key == "data") {
      if (!v.is_object()) {
        throw snn::SpecError(at(key) +
                             ": expected an object {\"train\": ..., \"validation\": "
                             "...}, got " +
                             v.dump());
      }
      for (const auto& [k, s] : v.items()) {
        if (k != "train" && k != "validation") {
          throw snn::SpecError(at(key + "/" + k) + ": unknown key (known: train, validation)");
        }
        if (!s.is_string() || s.get<std::string>().empty()) {
          throw snn::SpecError(at(key + "/" + k) +
                               ": expected a data file or built-in dataset "
                               "name, got " +
                               s.dump());
        }
        (k == "train" ? b.train_data : b.validation_data) = s.get<std::string>();
      }
    } else if (key == "inputs") {
      b.inputs = names(v, key, "node");
    } else if (key == "targets") {
      b.targets = names(v, key, "probe");
    } else {
      throw snn::SpecError(at(key) + ": unknown key (known: " + kTrainKeys + ")");
    }
  }
  return b;
}

// ---- data --------------------------------------------------------------------------------

/// How a dataset's arrays feed the network: node id -> array name, probe id -> array name.
struct Mapping {
  std::map<std::string, std::string> inputs, targets;
};

/// "data.h5: /inputs/u" for an HDF5 file's arrays, "fashion-mnist:train: images" otherwise.
std::string where(const snn::Dataset& d, const std::string& array) {
  const bool hdf5 = array.rfind("inputs/", 0) == 0 || array.rfind("targets/", 0) == 0;
  return d.source + ": " + (hdf5 ? "/" : "") + array;
}

std::vector<snn::NodePtr> placeholders(const snn::Network& net) {
  std::vector<snn::NodePtr> out;
  for (const auto& n : net.all_nodes())
    if (n->kind() == snn::Node::Kind::Input) out.push_back(n);
  return out;
}

std::string probe_list(const snn::Network& net) {
  std::string s;
  for (const auto& p : net.all_probes()) s += (s.empty() ? "" : ", ") + p->id();
  return s.empty() ? "none" : s;
}

/// The ids the train block names (inputs, targets, losses) exist in the network, and its
/// losses are valid: spec errors, found before any data is read.
void check_block(const TrainBlock& block, const snn::Network& net, const std::string& spec) {
  if (block.inputs) {
    for (const auto& [id, name] : *block.inputs) {
      const std::string at = spec + ": /train/inputs/" + id;
      const snn::NodePtr node = net.find_node(id);
      if (!node) throw snn::SpecError(at + ": no node \"" + id + "\" in the network");
      if (node->kind() != snn::Node::Kind::Input) {
        throw snn::SpecError(at + ": node \"" + id +
                             "\" is not an input placeholder (expected a node with only size_out)");
      }
    }
  }
  if (block.targets) {
    for (const auto& [id, name] : *block.targets) {
      if (!net.find_probe(id)) {
        throw snn::SpecError(spec + ": /train/targets/" + id + ": no probe \"" + id +
                             "\" in the network (probes: " + probe_list(net) + ")");
      }
    }
  }
  for (const auto& [id, j] : block.losses) {
    const std::string at = spec + ": /train/loss/" + id;
    if (!net.find_probe(id)) {
      throw snn::SpecError(at + ": no probe \"" + id +
                           "\" in the network (probes: " + probe_list(net) + ")");
    }
    snn::loss_from_json(j, at);
  }
}

/// Which arrays of the training data feed which node and probe: the train block's `inputs`
/// and `targets` when given; else an HDF5 file's /inputs/<node_id> and /targets/<probe_id>;
/// else a built-in dataset's "images" and "labels" when the network has a single input
/// placeholder and a single probe (with a loss, when the block names losses).
Mapping map_arrays(const TrainBlock& block, const snn::Dataset& data, const snn::Network& net,
                   const std::string& spec) {
  Mapping m;
  // The block's names fit the data they were written for (e.g. a built-in dataset's
  // "images"); a file in the tools.md layout holds the same arrays under /inputs/<node_id>
  // and /targets/<probe_id>, so those are used when the named array is absent.
  auto by_id = [&](const std::map<std::string, std::string>& named, const std::string& group) {
    std::map<std::string, std::string> out;
    for (const auto& [id, name] : named) {
      const bool fallback = !data.arrays.count(name) && data.arrays.count(group + id);
      out[id] = fallback ? group + id : name;
    }
    return out;
  };
  if (block.inputs) {
    m.inputs = by_id(*block.inputs, "inputs/");
  } else {
    for (const auto& [name, t] : data.arrays) {
      if (name.rfind("inputs/", 0) != 0) continue;
      const std::string id = name.substr(7);
      const snn::NodePtr node = net.find_node(id);
      if (!node) throw snn::DataError(where(data, name) + ": no node \"" + id + "\" in " + spec);
      if (node->kind() != snn::Node::Kind::Input) {
        throw snn::DataError(where(data, name) + ": node \"" + id +
                             "\" is not an input placeholder (expected a node with only size_out)");
      }
      m.inputs[id] = name;
    }
    const auto nodes = placeholders(net);
    if (m.inputs.empty() && data.arrays.count("images") && nodes.size() == 1) {
      m.inputs[nodes[0]->id()] = "images";
    }
    if (m.inputs.empty() && !nodes.empty()) {
      throw snn::DataError(data.source + ": no data for input node \"" + nodes[0]->id() +
                           "\" (map an array to it with /train/inputs in " + spec + ")");
    }
  }

  if (block.targets) {
    m.targets = by_id(*block.targets, "targets/");
  } else {
    for (const auto& [name, t] : data.arrays) {
      if (name.rfind("targets/", 0) != 0) continue;
      const std::string id = name.substr(8);
      if (!net.find_probe(id)) {
        throw snn::DataError(where(data, name) + ": no probe \"" + id + "\" in " + spec +
                             " (probes: " + probe_list(net) + ")");
      }
      m.targets[id] = name;
    }
    if (m.targets.empty() && data.arrays.count("labels")) {
      std::vector<std::string> candidates;
      if (!block.losses.empty()) {
        for (const auto& [id, l] : block.losses)
          if (net.find_probe(id)) candidates.push_back(id);
      } else {
        for (const auto& p : net.all_probes()) candidates.push_back(p->id());
      }
      if (candidates.size() == 1) m.targets[candidates[0]] = "labels";
    }
  }
  return m;
}

/// A dataset's arrays as fit() takes them, checked against the network.
struct Split {
  snn::Inputs x;
  snn::Targets y;
  std::optional<int64_t> steps;  // of 3-D inputs
};

Split select(const snn::Dataset& data, const Mapping& m, const snn::Network& net) {
  Split s;
  std::string steps_from;
  for (const auto& [id, name] : m.inputs) {
    const torch::Tensor& t = data.at(name);
    const std::string at = where(data, name);
    const snn::NodePtr node = net.find_node(id);
    if (!t.is_floating_point()) {
      throw snn::DataError(at + ": expected float input data, got " +
                           std::string(c10::toString(t.scalar_type())));
    }
    if (t.dim() != 2 && t.dim() != 3) {
      throw snn::DataError(at + ": expected shape (N, " + std::to_string(node->size_out()) +
                           ") or (N, steps, " + std::to_string(node->size_out()) + "), got " +
                           shape_of(t));
    }
    if (t.size(-1) != node->size_out()) {
      throw snn::DataError(at + ": expected size " + std::to_string(node->size_out()) +
                           " (node \"" + id + "\" size_out) in the last dimension, got " +
                           std::to_string(t.size(-1)));
    }
    if (t.dim() == 3) {
      if (s.steps && *s.steps != t.size(1)) {
        throw snn::DataError(at + ": expected " + std::to_string(*s.steps) + " steps (as " +
                             steps_from + "), got " + std::to_string(t.size(1)));
      }
      s.steps = t.size(1);
      steps_from = where(data, name);
    }
    s.x.emplace(id, t);
  }
  for (const auto& [id, name] : m.targets) {
    const torch::Tensor& t = data.at(name);
    const std::string at = where(data, name);
    const snn::ProbePtr probe = net.find_probe(id);
    if (!t.is_floating_point()) {
      if (t.dim() != 1) {
        throw snn::DataError(at + ": expected integer labels (N,) or float targets, got " +
                             std::string(c10::toString(t.scalar_type())) + " " + shape_of(t));
      }
      snn::check_labels(
          t, probe->size(),
          at + " (probe \"" + id + "\" has size " + std::to_string(probe->size()) + ")");
      s.y.emplace(id, t.to(torch::kLong));
      continue;
    }
    if ((t.dim() != 2 && t.dim() != 3) || t.size(-1) != probe->size()) {
      throw snn::DataError(at + ": expected shape (N, " + std::to_string(probe->size()) +
                           ") or (N, steps, " + std::to_string(probe->size()) + ") (probe \"" + id +
                           "\" size), got " + shape_of(t));
    }
    s.y.emplace(id, t);
  }
  return s;
}

/// The number of steps per item: `wanted` (a flag or the train block), else the data's.
/// Data with more steps are cut to the first `wanted` steps.
int64_t fit_steps(Split& s, std::optional<int64_t> wanted, const std::string& what,
                  const std::string& source) {
  if (!wanted) return s.steps.value_or(1);
  if (s.steps && *wanted > *s.steps) {
    throw UsageError(what + ": " + source + " holds only " + std::to_string(*s.steps) +
                     " steps of input");
  }
  if (s.steps && *wanted < *s.steps) {
    for (auto& [id, t] : s.x) t = t.narrow(1, 0, *wanted);
    for (auto& [id, t] : s.y)
      if (t.dim() == 3 && t.size(1) == *s.steps) t = t.narrow(1, 0, *wanted);
    s.steps = *wanted;
  }
  return *wanted;
}

// ---- the run folder ----------------------------------------------------------------------

/// An optimizer as train-block JSON with every option that applies to its type.
json optimizer_json(const snn::OptimizerOptions& o) {
  json j = {{"type", o.type()}, {"lr", o.lr()}, {"weight_decay", o.weight_decay()},
            {"schedule", o.schedule()}};
  const std::string& t = o.type();
  if (t == "SGD" || t == "RMSprop") j["momentum"] = o.momentum();
  if (t == "SGD") j["nesterov"] = o.nesterov();
  if (t == "Adam" || t == "AdamW") {
    j["beta1"] = o.beta1();
    j["beta2"] = o.beta2();
  }
  if (t != "SGD") j["eps"] = o.eps();
  if (t == "RMSprop") j["alpha"] = o.alpha();
  if (o.schedule() == "step") {
    j["step_size"] = o.step_size();
    j["gamma"] = o.gamma();
  }
  return j;
}

/// A loss as train-block JSON with every option that applies to its type.
json loss_json(const snn::LossOptions& l) {
  json j = {{"type", l.type()}, {"steps", l.steps()}, {"weight", l.weight()}};
  if (l.type().find("crossentropy") != std::string::npos) j["from_logits"] = l.from_logits();
  if (l.type() == "regularize") {
    j["order"] = l.order();
    j["axis"] = l.axis() < 0 ? json(nullptr) : json(l.axis());
  }
  return j;
}

/// Writes `text` to `path` through a temporary file in the same folder and a rename.
void write_atomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.parent_path() / ("." + path.filename().string() + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();  // a full disk shows at the close
    if (!out) {
      const int err = errno;
      std::error_code ec;
      fs::remove(tmp, ec);
      throw RunError(path.string() + ": cannot write the file: " + std::strerror(err));
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw RunError(path.string() + ": cannot write the file: " + ec.message());
  }
}

/// Creates the run folder if needed and checks that files can be made in it.
void prepare_run_dir(const fs::path& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    throw RunError(dir.string() + ": cannot use it as the run folder: it is a file");
  }
  fs::create_directories(dir, ec);
  if (ec) throw RunError(dir.string() + ": cannot create the run folder: " + ec.message());
  const fs::path probe = dir / ".snn-train-write-test";
  {
    std::ofstream out(probe, std::ios::binary | std::ios::trunc);
    out << "x";
    out.flush();
    if (!out) {
      fs::remove(probe, ec);
      throw RunError(dir.string() + ": the run folder is not writable");
    }
  }
  fs::remove(probe, ec);
}

/// The lines of an earlier run's metrics.jsonl for epochs <= `done` (others and unreadable
/// lines are dropped).
std::vector<std::string> kept_metrics(const fs::path& path, int64_t done) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    try {
      const json j = json::parse(line);
      if (j.is_object() && j.contains("epoch") && j["epoch"].is_number_integer() &&
          j["epoch"].get<int64_t>() >= 1 && j["epoch"].get<int64_t>() <= done) {
        lines.push_back(line);
      }
    } catch (const json::exception&) {
    }
  }
  return lines;
}

/// One metrics.jsonl line: the contract's keys in their order, then training accuracy.
std::string metrics_line(const snn::EpochLogs& logs) {
  nlohmann::ordered_json j;
  j["epoch"] = logs.epoch;
  for (const char* key :
       {"loss", "val_loss", "val_accuracy", "seconds", "samples_per_s", "accuracy"}) {
    auto it = logs.values.find(key);
    if (it != logs.values.end()) j[key] = it->second;
  }
  return j.dump();
}

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(digits);
  s << v;
  return s.str();
}

// ---- losses ------------------------------------------------------------------------------

/// The loss on every probe the train block names, and a default one on every other probe
/// with targets: sparse categorical cross-entropy on logits at the last step for integer
/// labels (what a classifier's output node gives), mse for float targets.
std::map<std::string, snn::LossOptions> resolve_losses(const TrainBlock& block, const Split& train,
                                                       const Mapping& m, const snn::Dataset& data,
                                                       const snn::Network& net,
                                                       const std::string& spec) {
  std::map<std::string, snn::LossOptions> losses;
  for (const auto& [id, j] : block.losses) {
    const std::string at = spec + ": /train/loss/" + id;
    if (!net.find_probe(id)) {
      throw snn::SpecError(at + ": no probe \"" + id +
                           "\" in the network (probes: " + probe_list(net) + ")");
    }
    losses[id] = snn::loss_from_json(j, at);
  }
  for (const auto& [id, t] : train.y) {
    if (losses.count(id)) continue;
    losses[id] = t.is_floating_point() ? snn::LossOptions().type("mse")
                                       : snn::LossOptions()
                                             .type("sparse_categorical_crossentropy")
                                             .from_logits(true)
                                             .steps("last");
  }
  if (losses.empty()) {
    throw snn::DataError(data.source +
                         ": no targets for any probe (map arrays to probes with "
                         "/train/targets in " +
                         spec + ")");
  }
  for (const auto& [id, loss] : losses) {
    const std::string at = spec + ": /train/loss/" + id;
    auto it = train.y.find(id);
    if (it == train.y.end()) {
      if (loss.type() == "regularize") continue;
      throw snn::DataError(data.source + ": no targets for probe \"" + id + "\" (its " +
                           loss.type() +
                           " loss needs them: map an array to it with "
                           "/train/targets in " +
                           spec + ")");
    }
    const std::string array = where(data, m.targets.at(id));
    const bool labels = !it->second.is_floating_point();
    if (labels && loss.type() != "sparse_categorical_crossentropy") {
      throw snn::SpecError(at + ": integer labels (" + array +
                           ") need the sparse_categorical_crossentropy loss, not " + loss.type());
    }
    if (!labels && loss.type() == "sparse_categorical_crossentropy") {
      throw snn::DataError(array + ": the sparse_categorical_crossentropy loss of probe \"" + id +
                           "\" needs integer labels (N,), got float data " + shape_of(it->second));
    }
  }
  return losses;
}

// ---- the run -----------------------------------------------------------------------------

int run(const Args& args) {
  require_spec_file(args.spec);
  if (args.workers > 0) torch::set_num_threads(static_cast<int>(args.workers));
  const torch::Device device = parse_device(args.device);
  snn::NetworkPtr net = snn::load_network(args.spec);
  const TrainBlock block = read_train_block(net->options().train(), args.spec);

  // Flags over the train block over the defaults.
  const int64_t epochs = args.epochs.value_or(block.epochs.value_or(1));
  const int64_t minibatch = args.minibatch.value_or(block.minibatch.value_or(32));
  const uint64_t seed = args.seed.value_or(block.seed.value_or(0));
  json optimizer = block.optimizer;
  if (!args.optimizer.empty()) {
    try {
      snn::optimizer_from_json(json{{"type", args.optimizer}}, "--optimizer");
    } catch (const snn::SpecError& e) {
      std::string message = e.what();
      const std::string prefix = "--optimizer/type";
      if (message.rfind(prefix, 0) == 0) message = "--optimizer" + message.substr(prefix.size());
      throw UsageError(message);
    }
    optimizer["type"] = args.optimizer;
  }
  if (args.lr) {
    if (!(std::isfinite(*args.lr) && *args.lr > 0))
      throw UsageError("--lr: expected a finite learning rate > 0");
    optimizer["lr"] = *args.lr;
  }
  const snn::OptimizerOptions optimizer_options =
      snn::optimizer_from_json(optimizer, args.spec + ": /train/optimizer");

  check_block(block, *net, args.spec);

  const std::string train_source = !args.data.empty() ? args.data : block.train_data;
  const std::string val_source = !args.validation.empty() ? args.validation : block.validation_data;
  if (train_source.empty()) {
    throw UsageError("expected --data TRAIN (or /train/data/train in " + args.spec + ")");
  }
  const fs::path run_dir =
      !args.out.empty() ? fs::path(args.out) : fs::path("runs") / fs::path(args.spec).stem();
  {
    std::error_code ec;
    if (fs::exists(run_dir, ec) && !fs::is_directory(run_dir, ec)) {
      throw RunError(run_dir.string() + ": cannot use it as the run folder: it is a file");
    }
  }

  // The data, checked against the network, before anything is built or written.
  const snn::Dataset train_data = snn::load_dataset(train_source, args.limit);
  const Mapping mapping = map_arrays(block, train_data, *net, args.spec);
  Split train = select(train_data, mapping, *net);
  auto described = [&](const std::optional<int64_t>& flag, const std::string& flag_name,
                       const std::optional<int64_t>& value, const std::string& key) {
    return flag ? flag_name + " " + std::to_string(*flag)
                : args.spec + ": /train/" + key + " " + std::to_string(value.value_or(0));
  };
  const std::optional<int64_t> wanted_steps = args.steps ? args.steps : block.n_steps;
  const int64_t n_steps =
      fit_steps(train, wanted_steps, described(args.steps, "--steps", block.n_steps, "n_steps"),
                train_source);
  const std::map<std::string, snn::LossOptions> losses =
      resolve_losses(block, train, mapping, train_data, *net, args.spec);
  std::vector<std::string> metrics;
  if (block.metrics) {
    metrics = *block.metrics;
  } else {
    for (const auto& [id, t] : train.y)
      if (!t.is_floating_point()) metrics = {"accuracy"};
  }

  std::optional<Split> val;
  int64_t val_steps = n_steps;
  if (!val_source.empty()) {
    const snn::Dataset val_data = snn::load_dataset(val_source, args.limit);
    val = select(val_data, map_arrays(block, val_data, *net, args.spec), *net);
    std::optional<int64_t> wanted =
        args.validation_steps ? args.validation_steps : block.validation_steps;
    const std::string what = described(args.validation_steps, "--validation-steps",
                                       block.validation_steps, "validation_steps");
    if (!wanted && !val->steps) wanted = n_steps;
    val_steps = fit_steps(*val, wanted, what, val_source);
  }

  snn::SimulatorOptions options;
  options.minibatch_size(minibatch).device(device).progress_bar(!args.quiet);
  snn::Simulator sim =
      snn::cli::naming_spec(args.spec, [&] { return snn::Simulator(net, options); });
  snn::CompileOptions compile;
  compile.optimizer(optimizer_options).losses(losses).metrics(metrics);
  sim.compile(compile);

  // The run folder: a fresh run starts it over, --resume continues its checkpoint.
  prepare_run_dir(run_dir);
  const fs::path checkpoint = run_dir / "checkpoint.pt";
  const fs::path metrics_path = run_dir / "metrics.jsonl";
  int64_t done = 0;
  std::vector<std::string> lines;
  std::error_code ec;
  if (args.resume && fs::exists(checkpoint, ec)) {
    done = sim.load_params(checkpoint.string(), /*training_state=*/true);
    lines = kept_metrics(metrics_path, done);
    if (done >= epochs) {
      if (!args.quiet) {
        std::cout << "snn-train: all " << epochs << " epochs already done (" << checkpoint.string()
                  << " holds epoch " << done << "), nothing to train" << std::endl;
      }
      return 0;
    }
    if (!args.quiet) {
      std::cerr << "snn-train: resuming " << run_dir.string() << " after epoch " << done
                << std::endl;
    }
  } else {
    if (!args.quiet && (args.resume || fs::exists(checkpoint, ec))) {
      std::cerr << "snn-train: " << (args.resume ? "no checkpoint in " : "starting over in ")
                << run_dir.string()
                << (args.resume ? ", starting from epoch 1" : " (--resume continues a run)")
                << std::endl;
    }
    fs::remove(checkpoint, ec);
    fs::remove(metrics_path, ec);
  }
  // network.json: the spec with every default filled in, and the train block as this run
  // resolved it (flags over the spec's block over the defaults, data mapping included), so
  // the folder says how it was trained.
  {
    json trained;
    try {
      trained = snn::network_to_json(*net);
    } catch (const snn::SpecError& e) {
      throw RunError(e.what());
    }
    json t = {{"n_steps", n_steps},     {"minibatch_size", minibatch},
              {"epochs", epochs},       {"seed", seed},
              {"optimizer", optimizer_json(optimizer_options)},
              {"loss", json::object()}, {"metrics", metrics},
              {"truncation", block.truncation}};
    for (const auto& [id, l] : losses) t["loss"][id] = loss_json(l);
    t["data"] = {{"train", train_source}};
    if (val) {
      t["data"]["validation"] = val_source;
      t["validation_steps"] = val_steps;
      t["validation_freq"] =
          args.validation_freq ? *args.validation_freq : block.validation_freq.value_or(1);
    }
    t["inputs"] = mapping.inputs;
    t["targets"] = mapping.targets;
    trained["train"] = t;
    write_atomically(run_dir / "network.json", trained.dump(2) + "\n");
  }

  snn::FitOptions fit;
  fit.epochs(epochs)
      .n_steps(n_steps)
      .seed(seed)
      .truncation(block.truncation)
      .initial_epoch(done)
      .progress_bar(!args.quiet);
  if (val) {
    fit.validation_inputs(val->x).validation_targets(val->y).validation_steps(val_steps);
    fit.validation_freq(args.validation_freq ? *args.validation_freq
                                             : block.validation_freq.value_or(1));
  }
  fit.on_epoch_end([&](const snn::EpochLogs& logs) {
    // metrics.jsonl first, then the checkpoint: a run killed between the two has a line for
    // an epoch its checkpoint lacks, which --resume drops and computes again (the other
    // order would lose that epoch's line for good).
    lines.push_back(metrics_line(logs));
    std::string text;
    for (const auto& l : lines) text += l + "\n";
    write_atomically(metrics_path, text);
    sim.save_params(checkpoint.string(), logs.epoch);
    if (!args.quiet) {
      std::ostringstream s;
      s << "snn-train: epoch " << logs.epoch << "/" << epochs;
      const char* sep = ": ";
      for (const char* key : {"loss", "val_loss", "val_accuracy"}) {
        auto it = logs.values.find(key);
        if (it == logs.values.end()) continue;
        s << sep << key << " " << fixed(it->second, 4);
        sep = ", ";
      }
      auto seconds = logs.values.find("seconds");
      auto rate = logs.values.find("samples_per_s");
      if (seconds != logs.values.end() && rate != logs.values.end()) {
        s << " (" << fixed(seconds->second, 1) << " s, " << fixed(rate->second, 0) << " samples/s)";
      }
      std::cerr << s.str() << std::endl;
    }
    return true;
  });
  torch::manual_seed(seed);
  const snn::History history = sim.fit(train.x, train.y, fit);

  if (!args.quiet) {
    std::ostringstream s;
    const int64_t last = history.epochs.empty() ? done : history.epochs.back().epoch;
    s << "snn-train: " << last << (last == 1 ? " epoch" : " epochs");
    if (done > 0) s << " (resumed after " << done << ")";
    if (!history.epochs.empty()) {
      const auto& v = history.epochs.back().values;
      for (const char* key : {"val_accuracy", "val_loss", "loss"}) {
        auto it = v.find(key);
        if (it == v.end()) continue;
        s << ", " << key << " " << fixed(it->second, 3);
        break;
      }
    }
    s << ", checkpoint " << checkpoint.string();
    std::cout << s.str() << std::endl;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  CLI::App app{
      "Trains a libsnn network spec (snn-network/1 JSON) on a dataset and keeps a run "
      "folder: checkpoint.pt, network.json, metrics.jsonl. Flags override the spec's "
      "train block.",
      "snn-train"};
  app.set_version_flag("--version", "snn-train (libsnn) " + snn::version());
  app.add_option("SPEC", args.spec, "the network spec (JSON)")->required();
  app.add_option("--data", args.data,
                 "training data: an HDF5 file (/inputs/<node_id>, /targets/<probe_id>) or "
                 "fashion-mnist:train|test (default: /train/data/train)");
  app.add_option("--validation", args.validation,
                 "validation data, evaluated after every epoch (default: /train/data/validation)");
  app.add_option("--out", args.out, "the run folder (default: runs/<spec name>)");
  app.add_option("--epochs", args.epochs, "epochs to train (default: /train/epochs, else 1)")
      ->check(CLI::Range(int64_t(1), int64_t(1000000000)));
  app.add_option("--minibatch", args.minibatch,
                 "items per minibatch (default: /train/minibatch_size, else 32)")
      ->check(snn::cli::kPositive);
  app.add_option("--steps", args.steps,
                 "time steps per item (default: /train/n_steps, else the data's, else 1)")
      ->check(snn::cli::kPositive);
  app.add_option("--validation-steps", args.validation_steps,
                 "time steps per validation item (default: /train/validation_steps, else as "
                 "--steps)")
      ->check(snn::cli::kPositive);
  app.add_option("--validation-freq", args.validation_freq,
                 "validate after every Nth epoch only (default: /train/validation_freq, else 1)")
      ->check(snn::cli::kPositive);
  app.add_option("--lr", args.lr, "learning rate (default: /train/optimizer/lr, else 0.001)")
      ->check(snn::cli::kPositive);
  app.add_option("--optimizer", args.optimizer,
                 "SGD, Adam, AdamW, RMSprop or Adagrad (default: /train/optimizer/type, else "
                 "Adam)");
  app.add_option("--device", args.device, "cpu, cuda or cuda:<index>")->capture_default_str();
  app.add_option("--seed", args.seed, "shuffling seed (default: /train/seed, else 0)")
      ->check(snn::cli::kNonNegative);
  app.add_flag("--resume", args.resume,
               "continue from the run folder's checkpoint (optimizer state included)");
  app.add_option("--workers", args.workers, "CPU threads (default: LibTorch's choice)")
      ->check(snn::cli::kNonNegative);
  app.add_option("--limit", args.limit,
                 "use only the first N items of the training and validation data")
      ->check(snn::cli::kPositive);
  app.add_flag("--quiet,-q", args.quiet, "print nothing but errors");

  if (auto status = snn::cli::parse_command_line(app, argc, argv, "snn-train")) return *status;
  return snn::cli::report_errors("snn-train", [&] { return run(args); });
}
