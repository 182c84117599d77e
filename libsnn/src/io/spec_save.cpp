// The `snn-network/1` saver: a Network back to its spec with every default written out, so
// a saved file says exactly what will be built, and loading it again gives the same spec.
//
// Sub-networks made with Network::network() are written flattened: ids are unique in the
// whole tree, so every reference stays valid (only the grouping is lost).
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "io/json_util.h"
#include "io/output_path.h"
#include "snn/errors.h"
#include "snn/learning_rules.h"
#include "snn/processes.h"
#include "snn/spec.h"
#include "snn/tensor_node.h"
#include "snn/transforms.h"

namespace snn {

namespace {

// Built in insertion order so that saved files read like the spec document (id first,
// format first); network_to_json hands out the sorted form its signature promises.
using json = nlohmann::ordered_json;
using json_util::tensor_to_json;

json init_to_json(const Init& init) {
  return json(json_util::init_to_json(init));
}

template <class T>
json optional_json(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

json solver_json(const SolverPtr& s) {
  return s ? json(s->to_json()) : json(nullptr);
}

/// While a network is being saved: the objects inside networks-library networks, mapped to
/// the id of the library network that is saved as one `networks` entry for them.
thread_local const std::map<const void*, std::string>* library_owner = nullptr;

/// The port name of an object made by library network `net_id` (its ids are
/// `<net_id>_<part>`: see networks_internal.h), as the loader resolves it.
std::string library_port(const std::string& net_id, const std::string& object_id) {
  const std::string prefix = net_id + "_";
  if (object_id.rfind(prefix, 0) != 0)
    throw SpecError("object \"" + object_id + "\" inside network \"" + net_id +
                    "\" has no port name (expected an id starting with \"" + prefix + "\")");
  return net_id + "." + object_id.substr(prefix.size());
}

json ref_json(const ObjRef& r, const std::vector<ConnectionPtr>& connections) {
  if (library_owner && r.kind != ObjRef::Kind::Connection) {
    const void* obj = r.node ? static_cast<const void*>(r.node.get())
                             : static_cast<const void*>(r.ensemble.get());
    auto it = library_owner->find(obj);
    if (it != library_owner->end()) {
      std::string id = library_port(it->second, r.node ? r.node->id() : r.ensemble->id());
      if (r.kind == ObjRef::Kind::Neurons) id += ".neurons";
      if (r.slice.is_all()) return id;
      return {{"ref", id}, {"slice", json(r.slice.to_json())}};
    }
  }
  if (r.kind == ObjRef::Kind::LearningRule) {
    for (size_t i = 0; i < connections.size(); ++i)
      if (connections[i] == r.connection) return {{"learning_rule_of", i}};
    throw SpecError(r.describe() + ": the connection is not part of the network being saved");
  }
  if (r.kind == ObjRef::Kind::Connection) {
    for (size_t i = 0; i < connections.size(); ++i)
      if (connections[i] == r.connection) return {{"connection", i}};
    throw SpecError(r.describe() + ": the connection is not part of the network being saved");
  }
  std::string id = r.id();
  if (r.ensemble && r.ensemble->options().neurons_layer()) {
    // A Neurons layer's id names its neurons; its decoded value has no spec form.
    if (r.kind == ObjRef::Kind::Ensemble)
      throw SpecError(r.describe() + ": the decoded value of a Neurons layer cannot be saved "
                                     "(connect from its neurons)");
    id = r.ensemble->id();
  }
  if (r.slice.is_all()) return id;
  return {{"ref", id}, {"slice", json(r.slice.to_json())}};
}

json node_json(const Node& n) {
  json j = {
      {"id", n.id()}, {"label", n.label()}, {"size_in", n.size_in()}, {"size_out", n.size_out()}};
  const auto& o = n.options();
  switch (n.kind()) {
    case Node::Kind::Constant: {
      const auto& c = o.constant();
      j["output"] =
          c.numel() == 1 ? json(c.to(torch::kFloat64).item<double>()) : json(tensor_to_json(c));
      break;
    }
    case Node::Kind::Function:
      if (o.function().expr.empty())
        throw SpecError(n.describe() +
                        ": output is a C++ callable and cannot be saved as JSON (use snn::expr)");
      j["output"] = {{"expr", o.function().expr}};
      break;
    case Node::Kind::Process:
      j["output"] = json(o.process()->to_json());
      break;
    case Node::Kind::PassThrough:
    case Node::Kind::Input:
    case Node::Kind::Tensor:  // saved as a layer
      break;
  }
  return j;
}

json ensemble_json(const Ensemble& e) {
  const auto& o = e.options();
  if (!o.neuron_type())
    throw SpecError(e.describe() + ": neuron_type is missing and cannot be saved");
  return {{"id", e.id()},
          {"label", e.label()},
          {"n_neurons", o.n_neurons()},
          {"dimensions", o.dimensions()},
          {"neuron_type", json(o.neuron_type()->to_json())},
          {"radius", o.radius()},
          {"max_rates", init_to_json(o.max_rates())},
          {"intercepts", init_to_json(o.intercepts())},
          {"encoders", init_to_json(o.encoders())},
          {"gain", init_to_json(o.gain())},
          {"bias", init_to_json(o.bias())},
          {"eval_points", init_to_json(o.eval_points())},
          {"n_eval_points", optional_json(o.n_eval_points())},
          {"normalize_encoders", o.normalize_encoders()},
          {"noise", o.noise() ? json(o.noise()->to_json()) : json(nullptr)},
          {"seed", optional_json(o.seed())},
          {"trainable", optional_json(o.trainable())}};
}

json tensor_layer_json(const Node& n) {
  const auto& tf = *n.options().tensor();
  if (tf.layer_spec.empty())
    throw SpecError(n.describe() + ": a TensorNode with a C++ module cannot be saved as JSON "
                                   "(register its layer type with snn::register_layer)");
  const auto own = json::parse(tf.layer_spec);
  json j = {{"id", n.id()}, {"type", own.value("type", "")}, {"label", n.label()},
            {"shape_in", tf.shape_in}};
  for (auto it = own.begin(); it != own.end(); ++it)
    if (it.key() != "type") j[it.key()] = it.value();
  j["trainable"] = optional_json(tf.trainable);
  j["seed"] = optional_json(tf.seed);
  return j;
}

json neurons_layer_json(const Ensemble& e) {
  const auto& o = e.options();
  return {{"id", e.id()},
          {"type", "Neurons"},
          {"label", e.label()},
          {"neuron_type", json(o.neuron_type()->to_json())},
          {"size", o.n_neurons()},
          {"trainable", optional_json(o.trainable())},
          {"seed", optional_json(o.seed())}};
}

/// The layers in an order that reads as the data flow: TensorNodes keep their order among
/// themselves, and so do Neurons layers (so a reload draws the same seeds); between the two
/// lists, a layer goes first once the layers feeding it are written.
json layers_json(const std::vector<NodePtr>& nodes, const std::vector<EnsemblePtr>& ensembles,
                 const std::vector<ConnectionPtr>& connections) {
  std::vector<const void*> tensors, neurons;
  for (const auto& n : nodes)
    if (n->kind() == Node::Kind::Tensor) tensors.push_back(n.get());
  for (const auto& e : ensembles)
    if (e->options().neurons_layer()) neurons.push_back(e.get());
  auto object_of = [](const ObjRef& r) -> const void* {
    return r.node ? static_cast<const void*>(r.node.get()) : static_cast<const void*>(r.ensemble.get());
  };
  std::set<const void*> layers(tensors.begin(), tensors.end()), done;
  layers.insert(neurons.begin(), neurons.end());
  auto ready = [&](const void* obj) {
    for (const auto& c : connections)
      if (object_of(c->post()) == obj) {
        const void* pre = object_of(c->pre());
        if (layers.count(pre) && !done.count(pre) && pre != obj) return false;
      }
    return true;
  };
  json out = json::array();
  size_t ti = 0, ni = 0;
  while (ti < tensors.size() || ni < neurons.size()) {
    const bool t_ok = ti < tensors.size() && ready(tensors[ti]);
    const bool n_ok = ni < neurons.size() && ready(neurons[ni]);
    // Tensors first when both (or neither, in a loop) may go.
    const bool take_tensor = ti < tensors.size() && (t_ok || !n_ok || ni == neurons.size());
    if (take_tensor) {
      done.insert(tensors[ti]);
      out.push_back(tensor_layer_json(*static_cast<const Node*>(tensors[ti++])));
    } else {
      done.insert(neurons[ni]);
      out.push_back(neurons_layer_json(*static_cast<const Ensemble*>(neurons[ni++])));
    }
  }
  return out;
}

json connection_json(const Connection& c, const std::vector<ConnectionPtr>& connections) {
  const auto& o = c.options();
  json fn = nullptr;
  if (o.function()) {
    if (o.function().expr.empty())
      throw SpecError(c.describe() +
                      ": function is a C++ callable and cannot be saved as JSON (use snn::expr)");
    fn = {{"expr", o.function().expr}};
  }
  json j = {{"id", c.id()},
          {"label", o.label()},
          {"pre", ref_json(c.pre(), connections)},
          {"post", ref_json(c.post(), connections)},
          {"transform", o.convolution() ? json(o.convolution()->to_json())
                        : o.sparse()     ? json(o.sparse()->to_json())
                                         : init_to_json(o.transform())},
          {"function", fn},
          {"synapse", json(synapse_to_json(o.synapse()))},
          {"solver", solver_json(o.solver())},
          {"eval_points", init_to_json(o.eval_points())},
          {"scale_eval_points", o.scale_eval_points()},
          {"seed", optional_json(o.seed())},
          {"trainable", optional_json(o.trainable())}};
  if (o.learning_rule()) j["learning_rule"] = json(o.learning_rule()->to_json());
  return j;
}

json probe_json(const Probe& p, const std::vector<ConnectionPtr>& connections) {
  const auto& o = p.options();
  return {{"id", p.id()},
          {"label", o.label()},
          {"target", ref_json(p.target(), connections)},
          {"attr", o.attr()},
          {"synapse", json(synapse_to_json(o.synapse()))},
          {"sample_every", optional_json(o.sample_every())},
          {"keep_history", optional_json(o.keep_history())},
          {"solver", solver_json(o.solver())},
          {"seed", optional_json(o.seed())}};
}

/// Text for a spec file: short values on one line, a list of numbers always on one line
/// (a matrix is one row per line), everything else indented by two spaces.
void write_inline(std::string& out, const json& j) {
  if (j.is_object()) {
    out += "{";
    bool first = true;
    for (auto it = j.begin(); it != j.end(); ++it) {
      out += first ? "" : ", ";
      first = false;
      out += json(it.key()).dump() + ": ";
      write_inline(out, it.value());
    }
    out += "}";
  } else if (j.is_array()) {
    out += "[";
    for (size_t i = 0; i < j.size(); ++i) {
      out += i ? ", " : "";
      write_inline(out, j[i]);
    }
    out += "]";
  } else {
    out += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

void write_pretty(std::string& out, const json& j, size_t indent) {
  constexpr size_t kWidth = 100;
  std::string flat;
  write_inline(flat, j);
  const bool numbers_only =
      j.is_array() && std::all_of(j.begin(), j.end(), [](const json& e) { return e.is_number(); });
  if (indent + flat.size() <= kWidth || numbers_only || j.empty() ||
      !(j.is_object() || j.is_array())) {
    out += flat;
    return;
  }
  const std::string pad(indent + 2, ' ');
  out += j.is_object() ? "{\n" : "[\n";
  size_t i = 0;
  for (auto it = j.begin(); it != j.end(); ++it, ++i) {
    out += pad;
    if (j.is_object()) out += json(it.key()).dump() + ": ";
    write_pretty(out, it.value(), indent + 2);
    out += i + 1 < j.size() ? ",\n" : "\n";
  }
  out += std::string(indent, ' ') + (j.is_object() ? "}" : "]");
}

json network_spec(const Network& network) {
  const auto& s = network.settings();
  json j = {{"format", "snn-network/1"},
            {"label", network.label()},
            {"seed", optional_json(network.seed())},
            {"dt", network.dt()},
            {"settings",
             {{"lif_smoothing", s.lif_smoothing()},
              {"trainable", s.trainable()},
              {"dtype", s.dtype()},
              {"stateful", s.stateful()},
              {"keep_history", s.keep_history()},
              {"training_mode", s.training_mode()},
              {"train_synapses", s.train_synapses()}}}};
  if (!network.options().id().empty()) j["id"] = network.options().id();
  if (!network.options().train().empty()) j["train"] = json::parse(network.options().train());

  // Networks-library networks are written as their `networks` entries; their parts are
  // left out of the lists and referred to by port.
  std::map<const void*, std::string> owner;
  json library = json::array();
  std::function<void(const Network&)> find_library = [&](const Network& net) {
    for (const auto& sub : net.networks()) {
      if (sub->options().library_spec().empty()) {
        find_library(*sub);
        continue;
      }
      library.push_back(json::parse(sub->options().library_spec()));
      const std::string& id = sub->options().id();
      for (const auto& n : sub->all_nodes()) owner[n.get()] = id;
      for (const auto& e : sub->all_ensembles()) owner[e.get()] = id;
      for (const auto& c : sub->all_connections()) owner[c.get()] = id;
      for (const auto& p : sub->all_probes()) owner[p.get()] = id;
    }
  };
  find_library(network);
  struct OwnerScope {
    explicit OwnerScope(const std::map<const void*, std::string>* m) { library_owner = m; }
    ~OwnerScope() { library_owner = nullptr; }
  } scope(&owner);
  auto outside = [&](auto list) {
    list.erase(std::remove_if(list.begin(), list.end(),
                              [&](const auto& o) { return owner.count(o.get()) > 0; }),
               list.end());
    return list;
  };
  const auto connections = outside(network.all_connections());
  const auto nodes = outside(network.all_nodes());
  const auto ensembles = outside(network.all_ensembles());
  j["nodes"] = json::array();
  for (const auto& n : nodes)
    if (n->kind() != Node::Kind::Tensor) j["nodes"].push_back(node_json(*n));
  j["ensembles"] = json::array();
  for (const auto& e : ensembles)
    if (!e->options().neurons_layer()) j["ensembles"].push_back(ensemble_json(*e));
  // Only networks with layers have the key, so other specs (and their hashes) are unchanged.
  auto layers = layers_json(nodes, ensembles, connections);
  if (!layers.empty()) j["layers"] = std::move(layers);
  // Likewise only networks with library networks have the key.
  if (!library.empty()) j["networks"] = std::move(library);
  j["connections"] = json::array();
  for (const auto& c : connections) j["connections"].push_back(connection_json(*c, connections));
  j["probes"] = json::array();
  for (const auto& p : outside(network.all_probes()))
    j["probes"].push_back(probe_json(*p, connections));
  return j;
}

}  // namespace

nlohmann::json network_to_json(const Network& network) {
  return nlohmann::json(network_spec(network));
}

void save_network(const Network& network, const std::string& path) {
  // Serialise first: a network that cannot be saved leaves no file behind.
  std::string text;
  write_pretty(text, network_spec(network), 0);
  text += "\n";
  const std::string target = detail::output_target<SpecError>(path, "network spec");
  if (auto failed = detail::write_atomically(target, text))
    throw SpecError(path + (failed->replacing ? ": cannot replace the network spec: "
                                              : ": cannot write the network spec: ") +
                    failed->reason);
}

}  // namespace snn
