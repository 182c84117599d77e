// The `snn-network/1` loader (shared/spec/network-json.md): JSON -> Network through the public
// Network API, so the C++ objects validate themselves and the loader only adds JSON paths.
//
// One reader serves two callers. network_from_json stops at the first problem and throws
// "<source>: <json path>: <reason>"; check_network_json keeps going and lists every problem.
// To keep going, each object is read field by field; an object with a bad field is not
// created, and references to it are skipped silently so that one mistake is reported once.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "io/json_util.h"
#include "snn/errors.h"
#include "snn/learning_rules.h"
#include "snn/layers.h"
#include "snn/lmu.h"
#include "snn/networks.h"
#include "snn/processes.h"
#include "snn/spec.h"
#include "snn/transforms.h"

namespace snn {

namespace {

/// The largest size a spec may give (neurons, dimensions, node and layer sizes, eval points):
/// 2^24. Larger ones are typos that would otherwise allocate until memory runs out.
constexpr int64_t kMaxSize = int64_t(1) << 24;

using json_util::child;
using json_util::is_integer;
using json_util::show;
using nlohmann::json;

constexpr const char* kFormat = "snn-network/1";
constexpr int64_t kMaxSeed = 4294967295LL;  // seeds are uint32, as numpy's RandomState
constexpr size_t kMaxDepth = 64;

/// A problem already formatted with source and path; passes through the per-object handlers.
class Reported : public SpecError {
 public:
  using SpecError::SpecError;
};

std::string join(const std::vector<std::string>& items, size_t max_items = 12) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < max_items; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > max_items) out += ", ... (" + std::to_string(items.size()) + " in all)";
  return out;
}

/// nlohmann's messages start with "[json.exception.type_error.302] "; users need the rest.
std::string without_json_prefix(const std::string& what) {
  if (what.rfind("[json.exception.", 0) == 0) {
    auto p = what.find("] ");
    if (p != std::string::npos) return what.substr(p + 2);
  }
  return what;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

bool valid_id(const std::string& id) {
  if (id.empty()) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

// Process types the spec names. FilteredNoise and BrownNoise have no implementation in
// libsnn: a spec naming them gets "<type> is not available in this build" (tested).
const std::set<std::string>& process_types() {
  static const std::set<std::string> s = {"WhiteSignal", "WhiteNoise",    "PresentInput",
                                          "Piecewise",   "FilteredNoise", "BrownNoise"};
  return s;
}

/// Checks a process against the spec's dt (WhiteSignal's `high` below the Nyquist frequency).
void read_process_check(const Process& p, double dt, const std::string& path) {
  try {
    p.check(dt);
  } catch (const SpecError& e) {
    throw SpecError((p.type() == "WhiteSignal" ? child(path, "high") : path) + ": " + e.what() +
                    " (dt = " + std::to_string(dt) + ")");
  }
}

class Reader {
 public:
  Reader(std::string source, bool collect) : source_(std::move(source)), collect_(collect) {}

  std::vector<std::string> problems;

  /// Records "<path>: <reason>", or throws it (with the source) when not collecting.
  void fail(const std::string& path, const std::string& reason) {
    fail_full((path.empty() ? "/" : path) + ": " + reason);
  }
  /// Records a message that already starts with its JSON path.
  void fail_full(const std::string& message) {
    if (!collect_) throw Reported(source_ + ": " + message);
    problems.push_back(message);
  }
  /// Reports an exception from the Network API or a *_from_json helper: messages of helpers
  /// start with the path they were given; the API's name the object, so they get the path.
  void fail_from(const std::string& path, const std::string& what) {
    if (!path.empty() && starts_with(what, path))
      fail_full(what);
    else
      fail(path, what);
  }

  /// Runs `f`, turning any exception but a Reported one into a problem at `path`.
  template <class F>
  bool guarded(const std::string& path, F&& f) {
    const size_t before = problems.size();
    try {
      f();
    } catch (const Reported&) {
      throw;
    } catch (const Error& e) {
      fail_from(path, e.what());
    } catch (const c10::Error& e) {
      fail(path, e.what_without_backtrace());
    } catch (const json::exception& e) {
      // Should not happen (types are checked first), but never let it escape raw.
      fail(path, "invalid value: " + without_json_prefix(e.what()));
    } catch (const std::exception& e) {
      fail(path, e.what());
    } catch (...) {
      fail(path, "unexpected error");
    }
    return problems.size() == before;
  }

  size_t count() const { return problems.size(); }

  NetworkPtr read(const json& spec);

 private:
  struct Fields;
  enum class Null { Rejected, Allowed };

  void collect_explicit_ids(const json& spec);
  std::string take_auto_id(const std::string& prefix);
  std::optional<std::string> read_id(Fields& f, const std::string& prefix);

  void read_settings(const json& j, const std::string& path, NetworkSettings& s);
  void read_node(const json& j, const std::string& path);
  void read_ensemble(const json& j, const std::string& path);
  void read_connection(const json& j, const std::string& path, size_t index);
  void read_probe(const json& j, const std::string& path);
  void read_layer(const json& j, const std::string& path, const json& spec);
  void read_library_network(const json& j, const std::string& path);
  /// The fields an ensemble shares with a library network's `ensemble` template: all but
  /// id, label, n_neurons, dimensions and seed.
  void read_ensemble_fields(Fields& f, EnsembleOptions& o);
  /// A port of a library network: `port` is "<part>" or "<part>.neurons".
  std::optional<ObjRef> library_port(const std::string& net_id, const std::string& port,
                                     const std::string& path);
  /// The size of what the connections of `spec` deliver into layer `id`, when the first one
  /// that says (a string post, no function, a known pre or a matrix transform) exists.
  std::optional<int64_t> infer_size_in(const std::string& id, const json& spec) const;

  std::optional<Init> read_init(const json& j, const std::string& path, bool transform);
  std::optional<Slice> read_slice(const json& j, const std::string& path);
  /// Resolves a reference; nullopt on error (reported) or when it names a broken object
  /// (`skip` set, nothing reported).
  std::optional<ObjRef> read_ref(const json& j, const std::string& path, bool allow_connection,
                                 bool& skip);
  std::optional<ObjRef> lookup(const std::string& name, const std::string& path, bool& skip);
  std::optional<Function> read_function(const json& j, const std::string& path);

  template <class T>
  void for_each_item(const json& spec, const char* key, T&& f);

  std::string source_;
  bool collect_;
  NetworkPtr net_;
  std::set<std::string> explicit_ids_;
  std::map<std::string, std::string> id_paths_;  // id -> path of the object that took it
  std::set<std::string> broken_ids_;             // ids of objects that failed to load
  std::map<std::string, int64_t> auto_next_;
  std::map<std::string, NodePtr> nodes_;
  std::map<std::string, EnsemblePtr> ensembles_;
  std::vector<std::string> node_order_, ensemble_order_;
  std::set<std::string> neurons_layers_;    // ensembles made by `Neurons` layers
  std::set<std::string> other_ids_;         // connection and probe ids
  std::vector<ConnectionPtr> connections_;  // by position in "connections" (null: failed)
  std::map<std::string, NetworkPtr> library_;  // entries of "networks" by id
  std::vector<std::string> library_order_;
};

/// Field access for one JSON object: rejects unknown keys up front and reads typed fields,
/// reporting wrong types at the field's path.
struct Reader::Fields {
  Fields(Reader& r, const json& j, std::string path, const std::string& what,
         std::vector<std::string> allowed)
      : r(r), j(j), path(std::move(path)), start(r.count()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      bool ok = false;
      for (const auto& a : allowed) ok = ok || a == it.key();
      if (!ok)
        r.fail(child(this->path, it.key()), "unknown key \"" + it.key() + "\" in " + what +
                                                " (expected " + join(allowed, 99) + ")");
    }
  }

  /// Whether no problem was reported since this object's reading started.
  bool ok() const { return r.count() == start; }
  std::string at(const std::string& key) const { return child(path, key); }
  /// The value, or nullptr when absent (or null and nulls mean "unset").
  const json* get(const std::string& key, Null null = Null::Rejected) const {
    auto it = j.find(key);
    if (it == j.end()) return nullptr;
    if (it->is_null() && null == Null::Allowed) return nullptr;
    return &*it;
  }
  const json* require(const std::string& key) {
    auto it = j.find(key);
    if (it == j.end()) {
      r.fail(path, "missing required key \"" + key + "\"");
      return nullptr;
    }
    return &*it;
  }

  std::optional<std::string> string(const std::string& key) {
    const json* v = get(key);
    if (!v) return std::nullopt;
    if (!v->is_string()) {
      r.fail(at(key), "expected a string, got " + show(*v));
      return std::nullopt;
    }
    return v->get<std::string>();
  }
  std::optional<bool> boolean(const std::string& key, Null null = Null::Rejected) {
    const json* v = get(key, null);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) {
      r.fail(at(key), "expected true or false, got " + show(*v));
      return std::nullopt;
    }
    return v->get<bool>();
  }
  std::optional<int64_t> integer(const std::string& key, int64_t lo, int64_t hi,
                                 Null null = Null::Rejected, bool required = false) {
    const json* v = required ? require(key) : get(key, null);
    if (!v) return std::nullopt;
    return integer_value(*v, at(key), lo, hi);
  }
  std::optional<int64_t> integer_value(const json& v, const std::string& where, int64_t lo,
                                       int64_t hi) {
    // Sizes are bounded by kMaxSize only to catch typos: say so apart from the range.
    const bool size_limit = hi == kMaxSize;
    const std::string range =
        hi == std::numeric_limits<int64_t>::max() || size_limit
            ? "an integer >= " + std::to_string(lo)
            : "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
    const std::string too_big = size_limit ? "expected at most " + std::to_string(hi) +
                                                 " (the size limit), got " + show(v)
                                           : "expected " + range + ", got " + show(v);
    if (!is_integer(v)) {
      r.fail(where, "expected " + range + ", got " + show(v));
      return std::nullopt;
    }
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi)) {
      r.fail(where, too_big);
      return std::nullopt;
    }
    const auto x = v.get<int64_t>();
    if (x < lo || x > hi) {
      r.fail(where, x > hi ? too_big : "expected " + range + ", got " + show(v));
      return std::nullopt;
    }
    return x;
  }
  /// A number; `positive` asks for > 0, otherwise `min_zero` for >= 0.
  std::optional<double> number(const std::string& key, bool positive, bool min_zero,
                               Null null = Null::Rejected) {
    const json* v = get(key, null);
    if (!v) return std::nullopt;
    const char* want = positive ? "a number > 0" : min_zero ? "a number >= 0" : "a number";
    if (!v->is_number()) {
      r.fail(at(key), std::string("expected ") + want + ", got " + show(*v));
      return std::nullopt;
    }
    const double x = v->get<double>();
    if ((positive && !(x > 0)) || (min_zero && !(x >= 0))) {
      r.fail(at(key), std::string("expected ") + want + ", got " + show(*v));
      return std::nullopt;
    }
    return x;
  }
  std::optional<uint32_t> seed(const std::string& key) {
    auto s = integer(key, 0, kMaxSeed, Null::Allowed);
    if (!s) return std::nullopt;
    return static_cast<uint32_t>(*s);
  }

  Reader& r;
  const json& j;
  std::string path;
  size_t start;
};

template <class T>
void Reader::for_each_item(const json& spec, const char* key, T&& f) {
  auto it = spec.find(key);
  if (it == spec.end()) return;
  const std::string path = child("", key);
  if (!it->is_array()) {
    fail(path, "expected a list, got " + show(*it));
    return;
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const json& item = (*it)[i];
    const std::string ipath = child(path, i);
    if (!item.is_object()) {
      fail(ipath, "expected an object, got " + show(item));
      continue;
    }
    f(item, ipath, i);
  }
}

void Reader::collect_explicit_ids(const json& spec) {
  for (const char* key : {"nodes", "ensembles", "layers", "networks", "connections", "probes"}) {
    auto it = spec.find(key);
    if (it == spec.end() || !it->is_array()) continue;
    for (const auto& item : *it) {
      if (!item.is_object()) continue;
      auto id = item.find("id");
      if (id != item.end() && id->is_string()) explicit_ids_.insert(id->get<std::string>());
    }
  }
}

// Objects without an id get `<prefix><k>` as Network would name them, but never one that
// an object later in the spec claims explicitly.
std::string Reader::take_auto_id(const std::string& prefix) {
  for (;;) {
    std::string id = prefix + std::to_string(auto_next_[prefix]++);
    // Library networks (read before connections and probes) name their own parts.
    if (!explicit_ids_.count(id) && !id_paths_.count(id) && !(net_ && net_->has_id(id)))
      return id;
  }
}

std::optional<std::string> Reader::read_id(Fields& f, const std::string& prefix) {
  auto given = f.string("id");
  if (!given) {
    if (f.get("id")) return std::nullopt;  // wrong type, reported
    std::string id = take_auto_id(prefix);
    id_paths_[id] = f.path;
    return id;
  }
  const std::string& id = *given;
  if (!valid_id(id)) {
    f.r.fail(f.at("id"), "invalid id " + show(json(id)) +
                             ": use letters, digits, '_' and '-' (\".\" separates ports)");
    return std::nullopt;
  }
  auto prev = id_paths_.find(id);
  if (prev != id_paths_.end()) {
    fail(f.at("id"), "duplicate id \"" + id + "\" (already used by " + prev->second + ")");
    return std::nullopt;
  }
  id_paths_[id] = f.path;
  return id;
}

void Reader::read_settings(const json& j, const std::string& path, NetworkSettings& s) {
  if (!j.is_object()) {
    fail(path, "expected an object, got " + show(j));
    return;
  }
  Fields f(*this, j, path, "settings",
           {"lif_smoothing", "trainable", "dtype", "stateful", "keep_history", "training_mode",
            "train_synapses"});
  if (auto v = f.number("lif_smoothing", false, true)) s.lif_smoothing(*v);
  if (auto v = f.boolean("trainable")) s.trainable(*v);
  if (auto v = f.boolean("stateful")) s.stateful(*v);
  if (auto v = f.boolean("keep_history")) s.keep_history(*v);
  if (auto v = f.boolean("train_synapses")) s.train_synapses(*v);
  if (auto v = f.string("dtype")) {
    if (*v == "float32" || *v == "float64")
      s.dtype(*v);
    else
      fail(f.at("dtype"), "expected \"float32\" or \"float64\", got " + show(json(*v)));
  }
  if (auto v = f.string("training_mode")) {
    if (*v == "rate" || *v == "spiking")
      s.training_mode(*v);
    else
      fail(f.at("training_mode"), "expected \"rate\" or \"spiking\", got " + show(json(*v)));
  }
}

std::optional<Init> Reader::read_init(const json& j, const std::string& path, bool transform) {
  if (j.is_object()) {
    auto type = j.find("type");
    if (transform && type != j.end() && type->is_string() &&
        (*type == "Sparse" || *type == "Convolution" || *type == "ConvolutionTranspose")) {
      // Convolution and Sparse are read by read_connection before this.
      fail(path,
           "transform type \"" + type->get<std::string>() + "\" is not available in this build");
      return std::nullopt;
    }
    DistributionPtr d;
    if (!guarded(path, [&] { d = distribution_from_json(j, path); })) return std::nullopt;
    return Init(d);
  }
  if (j.is_number() || j.is_array()) {
    std::string error;
    auto t = json_util::tensor_from_json(j, error);
    if (!t.defined()) {
      fail(path, error);
      return std::nullopt;
    }
    return Init(t);
  }
  fail(path, "expected a number, list or distribution object, got " + show(j));
  return std::nullopt;
}

std::optional<Slice> Reader::read_slice(const json& j, const std::string& path) {
  if (j.is_array()) {
    if (j.empty()) {
      fail(path, "expected a non-empty list of indices, got []");
      return std::nullopt;
    }
    std::vector<int64_t> index;
    for (size_t i = 0; i < j.size(); ++i) {
      if (!is_integer(j[i]) || (j[i].is_number_unsigned() && j[i].get<uint64_t>() > (1ULL << 62))) {
        fail(child(path, i), "expected an integer index, got " + show(j[i]));
        return std::nullopt;
      }
      index.push_back(j[i].get<int64_t>());
    }
    return Slice::indices(std::move(index));
  }
  if (j.is_object()) {
    Fields f(*this, j, path, "a slice", {"start", "stop", "step"});
    const int64_t big = int64_t(1) << 62;
    auto bound = [&](const char* key) -> std::optional<int64_t> {
      return f.integer(key, -big, big, Null::Allowed);
    };
    auto start = bound("start"), stop = bound("stop"), step = bound("step");
    if (step && *step == 0) fail(f.at("step"), "slice step cannot be zero");
    if (!f.ok()) return std::nullopt;
    return Slice::range(start, stop, step);
  }
  fail(path, "expected an index list or {\"start\", \"stop\", \"step\"}, got " + show(j));
  return std::nullopt;
}

std::optional<ObjRef> Reader::lookup(const std::string& name, const std::string& path, bool& skip) {
  const auto dot = name.find('.');
  const std::string base = name.substr(0, dot);
  const std::string port = dot == std::string::npos ? "" : name.substr(dot + 1);
  if (dot != std::string::npos && port.empty()) {
    fail(path, "\"" + name + "\" ends with '.': name a port after it (\"" + base +
                   ".neurons\") or drop the dot");
    return std::nullopt;
  }
  if (broken_ids_.count(base)) {
    skip = true;
    return std::nullopt;
  }
  if (auto n = nodes_.find(base); n != nodes_.end()) {
    if (port.empty()) return ObjRef(n->second);
    fail(path, "node \"" + base + "\" has no port \"" + port + "\"" +
                   (port == "neurons" ? " (only ensembles have neurons)" : ""));
    return std::nullopt;
  }
  if (auto e = ensembles_.find(base); e != ensembles_.end()) {
    // A Neurons layer is referred to by its id for its neurons' output.
    if (neurons_layers_.count(base) && (port.empty() || port == "neurons"))
      return e->second->neurons();
    if (neurons_layers_.count(base)) {
      fail(path, "layer \"" + base + "\" has no port \"" + port + "\" (expected \"" + base + "\")");
      return std::nullopt;
    }
    if (port.empty()) return ObjRef(e->second);
    if (port == "neurons") return e->second->neurons();
    fail(path, "ensemble \"" + base + "\" has no port \"" + port + "\" (expected \"" + base +
                   "\" or \"" + base + ".neurons\")");
    return std::nullopt;
  }
  if (auto ln = library_.find(base); ln != library_.end()) {
    if (!port.empty()) return library_port(base, port, path);
    fail(path, "network \"" + base + "\" is referred to by its ports (\"" + base +
                   ".input\", \"" + base + ".output\", ...)");
    return std::nullopt;
  }
  if (other_ids_.count(base)) {
    fail(path, "\"" + base + "\" is a connection or probe, not a node or ensemble" +
                   std::string(" (probe a connection with {\"connection\": <position>})"));
    return std::nullopt;
  }
  fail(path,
       "no object \"" + name + "\" (nodes: " + (node_order_.empty() ? "none" : join(node_order_)) +
           "; ensembles: " + (ensemble_order_.empty() ? "none" : join(ensemble_order_)) + ")");
  return std::nullopt;
}

std::optional<ObjRef> Reader::read_ref(const json& j, const std::string& path,
                                       bool allow_connection, bool& skip) {
  if (j.is_string()) return lookup(j.get<std::string>(), path, skip);
  if (!j.is_object()) {
    fail(path, std::string("expected an object id, {\"ref\": id, \"slice\": ...}") +
                   (allow_connection ? " or {\"connection\": <position>}" : "") + ", got " +
                   show(j));
    return std::nullopt;
  }
  if (j.contains("learning_rule_of")) {  // the error input of a connection's learning rule
    Fields f(*this, j, path, "a learning rule reference", {"learning_rule_of"});
    auto i = f.integer("learning_rule_of", 0, std::numeric_limits<int64_t>::max());
    if (!f.ok() || !i) return std::nullopt;
    const auto at = f.at("learning_rule_of");
    if (*i >= static_cast<int64_t>(connections_.size())) {
      fail(at, "expected the position of a connection (0 to " +
                   std::to_string(static_cast<int64_t>(connections_.size()) - 1) + "), got " +
                   std::to_string(*i));
      return std::nullopt;
    }
    const auto& target = connections_[static_cast<size_t>(*i)];
    if (!target) {  // later in the list, or invalid itself (reported there)
      fail(at, "connection " + std::to_string(*i) +
                   " is not defined before this one (list the error connection after the "
                   "connection whose learning rule it feeds)");
      return std::nullopt;
    }
    if (!target->options().learning_rule()) {
      fail(at, target->describe() + " has no learning_rule");
      return std::nullopt;
    }
    return ObjRef::learning_rule(target);
  }
  if (j.contains("connection")) {
    if (!allow_connection) {
      fail(path, "a connection can only be the target of a probe");
      return std::nullopt;
    }
    Fields f(*this, j, path, "a connection reference", {"connection"});
    auto i = f.integer("connection", 0, std::numeric_limits<int64_t>::max());
    if (!f.ok() || !i) return std::nullopt;
    if (*i >= static_cast<int64_t>(connections_.size())) {
      fail(f.at("connection"), "expected the position of a connection (0 to " +
                                   std::to_string(static_cast<int64_t>(connections_.size()) - 1) +
                                   "), got " + std::to_string(*i));
      return std::nullopt;
    }
    if (!connections_[static_cast<size_t>(*i)]) {
      skip = true;
      return std::nullopt;
    }
    return ObjRef(connections_[static_cast<size_t>(*i)]);
  }
  Fields f(*this, j, path, "a reference", {"ref", "slice"});
  const json* ref = f.require("ref");
  std::optional<Slice> slice;
  if (const json* s = f.get("slice", Null::Allowed)) slice = read_slice(*s, f.at("slice"));
  if (!ref) return std::nullopt;
  if (!ref->is_string()) {
    fail(f.at("ref"), "expected an object id string, got " + show(*ref));
    return std::nullopt;
  }
  auto obj = lookup(ref->get<std::string>(), f.at("ref"), skip);
  if (!f.ok() || !obj) return std::nullopt;
  if (!slice) return obj;
  return (*obj)[*slice];
}

std::optional<Function> Reader::read_function(const json& j, const std::string& path) {
  if (!j.is_object() || !j.contains("expr")) {
    fail(path, "expected {\"expr\": \"<muParser expression>\"}, got " + show(j));
    return std::nullopt;
  }
  Fields f(*this, j, path, "a function", {"expr"});
  auto src = f.string("expr");
  if (!f.ok() || !src) return std::nullopt;
  std::optional<Function> fn;
  if (!guarded(f.at("expr"), [&] { fn = expr(*src); })) return std::nullopt;
  return fn;
}

void Reader::read_node(const json& j, const std::string& path) {
  Fields f(*this, j, path, "a node", {"id", "label", "output", "size_in", "size_out"});
  auto id = read_id(f, "node_");
  NodeOptions o;
  if (auto v = f.string("label")) o.label(*v);
  if (auto v = f.integer("size_in", 0, kMaxSize)) o.size_in(*v);
  if (auto v = f.integer("size_out", 1, kMaxSize, Null::Allowed))
    o.size_out(*v);
  if (const json* out = f.get("output", Null::Allowed)) {
    const std::string opath = f.at("output");
    if (out->is_number()) {
      o.output(out->get<double>());
    } else if (out->is_array()) {
      std::string error;
      auto t = json_util::tensor_from_json(*out, error);
      if (!t.defined())
        fail(opath, error);
      else if (t.dim() != 1)
        fail(opath, "expected a number or a flat list of numbers, got " + show(*out));
      else
        o.output(t);
    } else if (out->is_object() && out->contains("expr")) {
      if (auto fn = read_function(*out, opath)) o.output(*fn);
    } else if (out->is_object() && out->contains("type") && (*out)["type"].is_string()) {
      const auto type = (*out)["type"].get<std::string>();
      const auto known = process_type_names();
      if (std::find(known.begin(), known.end(), type) == known.end() && process_types().count(type))
        fail(child(opath, "type"), type + " is not available in this build");
      else
        guarded(opath, [&] {
          auto p = process_from_json(*out, opath);
          read_process_check(*p, net_->dt(), opath);
          o.output(p);
        });
    } else {
      fail(opath,
           "expected a number, a list of numbers, {\"expr\": ...} or a process object, got " +
               show(*out));
    }
  }
  if (!f.ok() || !id) {
    if (id) broken_ids_.insert(*id);
    return;
  }
  o.id(*id);
  NodePtr node;
  if (guarded(path, [&] { node = net_->node(o); })) {
    nodes_[*id] = node;
    node_order_.push_back(*id);
  } else {
    broken_ids_.insert(*id);
  }
}

void Reader::read_ensemble(const json& j, const std::string& path) {
  Fields f(*this, j, path, "an ensemble",
           {"id", "label", "n_neurons", "dimensions", "neuron_type", "radius", "max_rates",
            "intercepts", "encoders", "gain", "bias", "eval_points", "n_eval_points",
            "normalize_encoders", "noise", "seed", "trainable"});
  auto id = read_id(f, "ensemble_");
  const auto big = kMaxSize;
  auto n = f.integer("n_neurons", 1, big, Null::Rejected, true);
  auto d = f.integer("dimensions", 1, big, Null::Rejected, true);
  EnsembleOptions o(n.value_or(1), d.value_or(1));
  if (auto v = f.string("label")) o.label(*v);
  read_ensemble_fields(f, o);
  if (auto v = f.seed("seed")) o.seed(*v);
  if (!f.ok() || !id) {
    if (id) broken_ids_.insert(*id);
    return;
  }
  o.id(*id);
  EnsemblePtr ens;
  if (guarded(path, [&] { ens = net_->ensemble(o); })) {
    ensembles_[*id] = ens;
    ensemble_order_.push_back(*id);
  } else {
    broken_ids_.insert(*id);
  }
}

void Reader::read_ensemble_fields(Fields& f, EnsembleOptions& o) {
  const auto big = kMaxSize;
  if (const json* nt = f.get("neuron_type", Null::Allowed)) {
    const std::string npath = f.at("neuron_type");
    guarded(npath, [&] { o.neuron_type(neuron_type_from_json(*nt, npath)); });
  }
  if (auto v = f.number("radius", true, false)) o.radius(*v);
  const std::pair<const char*, EnsembleOptions& (EnsembleOptions::*)(const Init&)> inits[] = {
      {"max_rates", &EnsembleOptions::max_rates}, {"intercepts", &EnsembleOptions::intercepts},
      {"encoders", &EnsembleOptions::encoders},   {"gain", &EnsembleOptions::gain},
      {"bias", &EnsembleOptions::bias},           {"eval_points", &EnsembleOptions::eval_points}};
  for (const auto& [key, setter] : inits) {
    // null keeps Nengo's default (for gain and bias: derived from max_rates/intercepts).
    if (const json* v = f.get(key, Null::Allowed))
      if (auto init = read_init(*v, f.at(key), false)) (o.*setter)(*init);
  }
  if (const json* v = f.get("n_eval_points", Null::Allowed))
    if (auto k = f.integer_value(*v, f.at("n_eval_points"), 1, big)) o.n_eval_points(*k);
  if (auto v = f.boolean("normalize_encoders")) o.normalize_encoders(*v);
  if (const json* v = f.get("noise", Null::Allowed)) {
    const std::string npath = f.at("noise");
    guarded(npath, [&] {
      auto p = process_from_json(*v, npath);
      read_process_check(*p, net_->dt(), npath);
      if (p->fixed_size() && p->default_size_out() != o.n_neurons())
        throw SpecError(npath + ": " + p->type() + " gives " +
                        std::to_string(p->default_size_out()) +
                        " values per step, but noise needs one per neuron (" +
                        std::to_string(o.n_neurons()) + ")");
      o.noise(p);
    });
  }
  if (auto v = f.boolean("trainable", Null::Allowed)) o.trainable(*v);
}

void Reader::read_connection(const json& j, const std::string& path, size_t index) {
  Fields f(*this, j, path, "a connection",
           {"id", "label", "pre", "post", "transform", "function", "synapse", "solver",
            "eval_points", "scale_eval_points", "learning_rule", "seed", "trainable"});
  auto id = read_id(f, "c");
  bool skip = false;
  std::optional<ObjRef> pre, post;
  if (const json* v = f.require("pre")) pre = read_ref(*v, f.at("pre"), false, skip);
  if (const json* v = f.require("post")) post = read_ref(*v, f.at("post"), false, skip);
  // Slices are checked here so that the message points into pre/post rather than at the
  // whole connection.
  auto check_slice = [&](const std::optional<ObjRef>& r, const char* key, bool is_post) {
    if (!r || r->slice.is_all()) return;
    const int64_t size = is_post ? r->size_in() : r->size_out();
    guarded(child(f.at(key), "slice"), [&] {
      try {
        r->slice.resolve(size);
      } catch (const BuildError& e) {
        throw SpecError(std::string(e.what()) + " (" + r->describe() + ")");
      }
    });
  };
  check_slice(pre, "pre", false);
  check_slice(post, "post", true);

  ConnectionOptions o;
  if (auto v = f.string("label")) o.label(*v);
  if (const json* v = f.get("transform", Null::Allowed)) {
    const std::string tpath = f.at("transform");
    const json* type = v->is_object() && v->contains("type") ? &(*v)["type"] : nullptr;
    if (type && *type == "Convolution") {
      guarded(tpath, [&] {
        o.convolution(std::make_shared<Convolution>(Convolution::from_json(*v, tpath)));
      });
    } else if (type && *type == "Sparse") {
      guarded(tpath, [&] { o.sparse(std::make_shared<Sparse>(Sparse::from_json(*v, tpath))); });
    } else if (auto init = read_init(*v, tpath, true)) {
      o.transform(*init);
    }
  }
  if (const json* v = f.get("function", Null::Allowed))
    if (auto fn = read_function(*v, f.at("function"))) o.function(*fn);
  if (const json* v = f.get("synapse")) {  // absent: Nengo's default Lowpass(0.005)
    const std::string spath = f.at("synapse");
    guarded(spath, [&] { o.synapse(synapse_from_json(*v, spath)); });
  }
  if (const json* v = f.get("solver")) {
    const std::string spath = f.at("solver");
    guarded(spath, [&] { o.solver(solver_from_json(*v, spath)); });
  }
  if (const json* v = f.get("eval_points", Null::Allowed))
    if (auto init = read_init(*v, f.at("eval_points"), false)) o.eval_points(*init);
  if (auto v = f.boolean("scale_eval_points")) o.scale_eval_points(*v);
  if (auto v = f.seed("seed")) o.seed(*v);
  if (auto v = f.boolean("trainable", Null::Allowed)) o.trainable(*v);
  if (const json* v = f.get("learning_rule", Null::Allowed)) {
    const std::string lpath = f.at("learning_rule");
    guarded(lpath, [&] { o.learning_rule(learning_rule_from_json(*v, lpath)); });
  }
  if (id) other_ids_.insert(*id);
  if (!f.ok() || !id || skip || !pre || !post) {
    if (id) broken_ids_.insert(*id);
    return;
  }
  o.id(*id);
  guarded(path, [&] { connections_[index] = net_->connect(*pre, *post, o); });
}

void Reader::read_probe(const json& j, const std::string& path) {
  Fields f(*this, j, path, "a probe",
           {"id", "label", "target", "attr", "synapse", "sample_every", "keep_history", "solver",
            "seed"});
  auto id = read_id(f, "probe_");
  bool skip = false;
  std::optional<ObjRef> target;
  if (const json* v = f.require("target")) target = read_ref(*v, f.at("target"), true, skip);
  ProbeOptions o;
  if (auto v = f.string("label")) o.label(*v);
  if (auto v = f.string("attr")) o.attr(*v);
  if (const json* v = f.get("synapse")) {  // absent or null: unfiltered, as Nengo
    const std::string spath = f.at("synapse");
    guarded(spath, [&] { o.synapse(synapse_from_json(*v, spath)); });
  }
  if (auto v = f.number("sample_every", true, false, Null::Allowed)) o.sample_every(*v);
  if (auto v = f.boolean("keep_history", Null::Allowed)) o.keep_history(*v);
  if (const json* v = f.get("solver")) {
    const std::string spath = f.at("solver");
    guarded(spath, [&] { o.solver(solver_from_json(*v, spath)); });
  }
  if (auto v = f.seed("seed")) o.seed(*v);
  if (id) other_ids_.insert(*id);
  if (!f.ok() || !id || skip || !target) return;
  o.id(*id);
  guarded(path, [&] { net_->probe(*target, o); });
}

std::optional<int64_t> Reader::infer_size_in(const std::string& id, const json& spec) const {
  auto conns = spec.find("connections");
  if (conns == spec.end() || !conns->is_array()) return std::nullopt;
  for (const auto& c : *conns) {
    if (!c.is_object()) continue;
    auto post = c.find("post");
    if (post == c.end() || !post->is_string() || post->get<std::string>() != id) continue;
    if (c.contains("function") && !c["function"].is_null()) continue;
    auto tr = c.find("transform");
    if (tr != c.end() && tr->is_array() && !tr->empty() && (*tr)[0].is_array())
      return static_cast<int64_t>(tr->size());  // a matrix [post][pre]
    if (tr != c.end() && tr->is_object() && tr->contains("type") &&
        ((*tr)["type"] == "Convolution" || (*tr)["type"] == "Sparse")) {
      // Its output size; a malformed one is reported when the connection is read.
      try {
        if ((*tr)["type"] == "Convolution") return Convolution::from_json(*tr, "").size_out();
        return Sparse::from_json(*tr, "").size_out();
      } catch (const SpecError&) {
        continue;
      }
    }
    if (tr != c.end() && !tr->is_null() && !tr->is_number() && !tr->is_array())
      continue;  // a distribution: its rows are what is being inferred
    auto pre = c.find("pre");
    if (pre == c.end()) continue;
    const json* ref = &*pre;
    const json* slice = nullptr;
    if (pre->is_object()) {
      ref = pre->contains("ref") ? &(*pre)["ref"] : nullptr;
      slice = pre->contains("slice") && !(*pre)["slice"].is_null() ? &(*pre)["slice"] : nullptr;
    }
    if (!ref || !ref->is_string()) continue;
    const auto name = ref->get<std::string>();
    const auto dot = name.find('.');
    const auto base = name.substr(0, dot);
    const auto port = dot == std::string::npos ? "" : name.substr(dot + 1);
    int64_t size = 0;
    if (auto n = nodes_.find(base); n != nodes_.end() && port.empty()) {
      size = n->second->size_out();
    } else if (auto e = ensembles_.find(base); e != ensembles_.end()) {
      const bool neurons = port == "neurons" || (port.empty() && neurons_layers_.count(base));
      if (!neurons && !port.empty()) continue;
      size = neurons ? e->second->n_neurons() : e->second->dimensions();
    } else {
      continue;
    }
    if (slice) {
      if (slice->is_array()) return static_cast<int64_t>(slice->size());
      if (!slice->is_object()) continue;
      auto bound = [&](const char* k) -> std::optional<int64_t> {
        auto it = slice->find(k);
        if (it == slice->end() || !is_integer(*it)) return std::nullopt;
        return it->get<int64_t>();
      };
      try {
        return static_cast<int64_t>(
            Slice::range(bound("start"), bound("stop"), bound("step")).resolve(size).size());
      } catch (const std::exception&) {
        continue;  // reported with the connection
      }
    }
    return size;
  }
  return std::nullopt;
}

void Reader::read_layer(const json& j, const std::string& path, const json& spec) {
  // Every key is let through here: the layer type checks its own (check_layer_keys).
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  Fields f(*this, j, path, "a layer", keys);
  auto id = read_id(f, "layer_");
  auto type = f.string("type");
  if (!f.get("type"))
    fail(path, "missing required key \"type\" (one of " + join(layer_type_names(), 99) + ")");
  std::optional<std::vector<int64_t>> shape;
  if (const json* s = f.get("shape_in", Null::Allowed)) {
    const std::string spath = f.at("shape_in");
    if (!s->is_array() || s->empty()) {
      fail(spath, "expected a list of sizes (integers >= 1), got " + show(*s));
    } else {
      std::vector<int64_t> v;
      for (size_t i = 0; i < s->size(); ++i) {
        auto d = f.integer_value((*s)[i], child(spath, i), 1, std::numeric_limits<int64_t>::max());
        if (!d) break;
        v.push_back(*d);
      }
      if (v.size() == s->size()) shape = v;
    }
  }
  auto label = f.string("label");
  auto trainable = f.boolean("trainable", Null::Allowed);
  auto seed = f.seed("seed");
  auto broken = [&] {
    if (id) broken_ids_.insert(*id);
  };
  if (!f.ok() || !id || !type) return broken();
  const bool given = shape.has_value();
  if (!shape)
    if (auto n = infer_size_in(*id, spec)) shape = std::vector<int64_t>{*n};
  const std::string cannot_infer =
      "missing, and the size of the input cannot be inferred from the connections into \"" + *id +
      "\" (give it)";

  if (*type == "Neurons") {
    if (!guarded(path, [&] { check_layer_keys(j, path, "Neurons", {"neuron_type", "size"}); }))
      return broken();
    NeuronTypePtr nt;
    if (const json* v = f.require("neuron_type")) {
      const std::string npath = f.at("neuron_type");
      guarded(npath, [&] { nt = neuron_type_from_json(*v, npath); });
    }
    auto size = f.integer("size", 1, kMaxSize);
    int64_t from_shape = 0;
    if (shape) {
      from_shape = 1;
      for (int64_t d : *shape) from_shape *= d;
    }
    if (size && given && *size != from_shape)
      fail(f.at("size"), "size " + std::to_string(*size) + " does not match shape_in (" +
                             std::to_string(from_shape) + " values)");
    if (!size && !shape) fail(f.at("size"), cannot_infer);
    if (!f.ok() || !nt) return broken();
    EnsembleOptions o(size ? *size : from_shape, 1);
    o.id(*id).neuron_type(nt).gain(Init(1.0)).bias(Init(0.0)).neurons_layer(true);
    if (label) o.label(*label);
    if (trainable) o.trainable(*trainable);
    if (seed) o.seed(*seed);
    EnsemblePtr ens;
    if (!guarded(path, [&] { ens = net_->ensemble(o); })) return broken();
    ensembles_[*id] = ens;
    ensemble_order_.push_back(*id);
    neurons_layers_.insert(*id);
    return;
  }

  if (!shape) {
    fail(f.at("shape_in"), cannot_infer);
    return broken();
  }
  TensorNodeOptions o;
  if (!guarded(path, [&] { o = layer_from_json(j, path, *shape); })) return broken();
  o.id(*id);
  if (label) o.label(*label);
  if (trainable) o.trainable(*trainable);
  if (seed) o.seed(*seed);
  NodePtr node;
  if (!guarded(path, [&] { node = tensor_node(*net_, o); })) return broken();
  nodes_[*id] = node;
  node_order_.push_back(*id);
}

// ---- networks: the networks library (EnsembleArray, Product, ...) --------------------------

void Reader::read_library_network(const json& j, const std::string& path) {
  static const std::map<std::string, std::vector<std::string>> kKeys = {
      {"EnsembleArray",
       {"n_neurons", "n_ensembles", "ens_dimensions", "neuron_type", "radius", "ensemble"}},
      {"Product", {"n_neurons", "dimensions", "input_magnitude", "neuron_type", "ensemble"}},
      {"CircularConvolution",
       {"n_neurons", "dimensions", "invert_a", "invert_b", "input_magnitude", "neuron_type",
        "ensemble"}},
      {"BasalGanglia",
       {"dimensions", "n_neurons_per_ensemble", "output_weight", "input_bias", "neuron_type"}},
      {"Thalamus",
       {"dimensions", "n_neurons_per_ensemble", "mutual_inhib", "threshold", "neuron_type"}},
      {"Integrator", {"n_neurons", "dimensions", "recurrent_tau", "neuron_type", "ensemble"}},
      {"Oscillator", {"n_neurons", "recurrent_tau", "frequency", "neuron_type", "ensemble"}},
      {"LMU", {"units", "order", "theta", "input_dimensions"}},
  };
  auto type_it = j.find("type");
  if (type_it == j.end() || !type_it->is_string()) {
    fail(type_it == j.end() ? path : child(path, "type"),
         type_it == j.end() ? "missing required key \"type\""
                            : "expected a network type name, got " + show(*type_it));
    return;
  }
  const std::string type = type_it->get<std::string>();
  auto keys = kKeys.find(type);
  if (keys == kKeys.end()) {
    std::vector<std::string> names;
    for (const auto& [name, unused] : kKeys) names.push_back(name);
    fail(child(path, "type"),
         "unknown network type \"" + type + "\" (known: " + join(names) + ")");
    return;
  }
  std::vector<std::string> allowed = {"type", "id", "label", "seed"};
  allowed.insert(allowed.end(), keys->second.begin(), keys->second.end());
  Fields f(*this, j, path, "a " + type + " network", allowed);
  auto id = read_id(f, "network_");
  const auto big = kMaxSize;
  auto integer = [&](const char* key, bool required) {
    return f.integer(key, 1, big, Null::Rejected, required);
  };
  auto number = [&](const char* key) { return f.number(key, false, false); };
  auto positive = [&](const char* key, bool required) {
    if (required && !f.get(key)) f.require(key);
    return f.number(key, true, false);
  };
  EnsembleOptions ens(1, 1);
  // `ensemble`: the options of every ensemble inside (sizes come from the network).
  if (const json* t = f.get("ensemble", Null::Allowed)) {
    const std::string tpath = f.at("ensemble");
    if (!t->is_object()) {
      fail(tpath, "expected an ensemble object (without id and sizes), got " + show(*t));
    } else {
      Fields tf(*this, *t, tpath, "an ensemble template",
                {"neuron_type", "radius", "max_rates", "intercepts", "encoders", "gain", "bias",
                 "eval_points", "n_eval_points", "normalize_encoders", "noise", "trainable"});
      read_ensemble_fields(tf, ens);
    }
  }
  NeuronTypePtr neuron_type;
  if (const json* nt = f.get("neuron_type", Null::Allowed)) {
    const std::string npath = f.at("neuron_type");
    guarded(npath, [&] { neuron_type = neuron_type_from_json(*nt, npath); });
    if (neuron_type) ens.neuron_type(neuron_type);
  }
  auto label = f.string("label");
  auto seed = f.seed("seed");
  std::function<NetworkPtr()> make;
  if (type == "EnsembleArray") {
    auto n = integer("n_neurons", true), k = integer("n_ensembles", true);
    auto d = integer("ens_dimensions", false);
    if (n && k && *n * *k > kMaxSize)
      fail(f.at("n_ensembles"), std::to_string(*k) + " ensembles of " + std::to_string(*n) +
                                    " neurons: more than " + std::to_string(kMaxSize) +
                                    " neurons in all");
    if (auto r = f.number("radius", true, false)) ens.radius(*r);
    make = [=] {
      EnsembleArrayOptions o(n.value_or(1), k.value_or(1));
      o.ens_dimensions(d.value_or(1)).ensemble(ens).id(*id).seed(seed);
      if (label) o.label(*label);
      return ensemble_array(*net_, o).network;
    };
  } else if (type == "Product" || type == "CircularConvolution") {
    auto n = integer("n_neurons", true), d = integer("dimensions", true);
    auto mag = f.number("input_magnitude", true, false);
    auto ia = type == "Product" ? std::nullopt : f.boolean("invert_a");
    auto ib = type == "Product" ? std::nullopt : f.boolean("invert_b");
    make = [=] {
      if (type == "Product") {
        ProductOptions o(n.value_or(1), d.value_or(1));
        o.ensemble(ens).id(*id).seed(seed).input_magnitude(mag.value_or(1.0));
        if (label) o.label(*label);
        return product(*net_, o).network;
      }
      CircularConvolutionOptions o(n.value_or(1), d.value_or(1));
      o.ensemble(ens).id(*id).seed(seed).input_magnitude(mag.value_or(1.0));
      o.invert_a(ia.value_or(false)).invert_b(ib.value_or(false));
      if (label) o.label(*label);
      return circular_convolution(*net_, o).network;
    };
  } else if (type == "BasalGanglia") {
    auto d = integer("dimensions", true), n = integer("n_neurons_per_ensemble", false);
    auto w = number("output_weight"), b = number("input_bias");
    make = [=] {
      BasalGangliaOptions o(d.value_or(1));
      o.id(*id).seed(seed).neuron_type(neuron_type);
      if (n) o.n_neurons_per_ensemble(*n);
      if (w) o.output_weight(*w);
      if (b) o.input_bias(*b);
      if (label) o.label(*label);
      return basal_ganglia(*net_, o).network;
    };
  } else if (type == "Thalamus") {
    auto d = integer("dimensions", true), n = integer("n_neurons_per_ensemble", false);
    auto mi = number("mutual_inhib"), th = number("threshold");
    make = [=] {
      ThalamusOptions o(d.value_or(1));
      o.id(*id).seed(seed).neuron_type(neuron_type);
      if (n) o.n_neurons_per_ensemble(*n);
      if (mi) o.mutual_inhib(*mi);
      if (th) o.threshold(*th);
      if (label) o.label(*label);
      return thalamus(*net_, o).network;
    };
  } else if (type == "Integrator") {
    auto n = integer("n_neurons", true), d = integer("dimensions", true);
    auto tau = positive("recurrent_tau", true);
    make = [=] {
      IntegratorOptions o(tau.value_or(0.1), n.value_or(1), d.value_or(1));
      o.ensemble(ens).id(*id).seed(seed);
      if (label) o.label(*label);
      return integrator(*net_, o).network;
    };
  } else if (type == "LMU") {
    auto units = integer("units", true), order = integer("order", true);
    auto d = integer("input_dimensions", true);
    auto theta = positive("theta", true);
    make = [=] {
      LMUOptions o(units.value_or(1), order.value_or(1), theta.value_or(1.0), d.value_or(1));
      o.id(*id).seed(seed);
      if (label) o.label(*label);
      return lmu(*net_, o).network;
    };
  } else {  // Oscillator
    auto n = integer("n_neurons", true);
    auto tau = positive("recurrent_tau", true), freq = number("frequency");
    if (!freq && !f.get("frequency")) f.require("frequency");
    make = [=] {
      OscillatorOptions o(tau.value_or(0.1), freq.value_or(0.0), n.value_or(1));
      o.ensemble(ens).id(*id).seed(seed);
      if (label) o.label(*label);
      return oscillator(*net_, o).network;
    };
  }
  if (!f.ok() || !id) {
    if (id) broken_ids_.insert(*id);
    return;
  }
  NetworkPtr made;
  if (guarded(path, [&] { made = make(); })) {
    // Saved back as the entry it came from (its parts are not listed).
    json entry = j;
    entry["id"] = *id;
    made->set_library_spec(entry.dump());
    library_[*id] = made;
    library_order_.push_back(*id);
  } else {
    broken_ids_.insert(*id);
  }
}

std::optional<ObjRef> Reader::library_port(const std::string& net_id, const std::string& port,
                                           const std::string& path) {
  const auto& sub = *library_.at(net_id);
  const auto dot = port.find('.');
  const std::string part = port.substr(0, dot);
  const std::string tail = dot == std::string::npos ? "" : port.substr(dot + 1);
  const std::string object_id = net_id + "_" + part;
  if (tail.empty() || tail == "neurons") {
    if (auto n = sub.find_node(object_id); n && tail.empty()) return ObjRef(n);
    if (auto e = sub.find_ensemble(object_id))
      return tail.empty() ? ObjRef(e) : e->neurons();
  }
  std::vector<std::string> ports;
  const std::string prefix = net_id + "_";
  for (const auto& n : sub.all_nodes())
    if (n->id().rfind(prefix, 0) == 0) ports.push_back(net_id + "." + n->id().substr(prefix.size()));
  for (const auto& e : sub.all_ensembles())
    if (e->id().rfind(prefix, 0) == 0) ports.push_back(net_id + "." + e->id().substr(prefix.size()));
  fail(path, "network \"" + net_id + "\" has no port \"" + port + "\" (ports: " + join(ports) +
                 "; an ensemble's neurons: <port>.neurons)");
  return std::nullopt;
}

NetworkPtr Reader::read(const json& spec) {
  if (!spec.is_object()) {
    fail("", "expected a JSON object (an " + std::string(kFormat) + " spec), got " + show(spec));
    return nullptr;
  }
  // Helpers recurse over values (and print them); no real spec nests anywhere near this.
  if (auto deep = json_util::too_deep(spec, kMaxDepth); !deep.empty()) {
    fail(deep, "values nested deeper than " + std::to_string(kMaxDepth) + " levels");
    return nullptr;
  }
  Fields top(*this, spec, "", "the network",
             {"format", "id", "label", "seed", "dt", "settings", "nodes", "ensembles", "layers",
              "networks", "connections", "probes", "train"});
  if (const json* fmt = top.require("format")) {
    if (!fmt->is_string() || *fmt != kFormat)
      fail("/format", "expected \"" + std::string(kFormat) + "\", got " + show(*fmt));
  }
  NetworkOptions no;
  if (auto v = top.string("id")) {
    if (valid_id(*v))
      no.id(*v);
    else
      fail("/id", "invalid id " + show(json(*v)) + ": use letters, digits, '_' and '-'");
  }
  if (auto v = top.string("label")) no.label(*v);
  if (auto v = top.seed("seed")) no.seed(*v);
  if (auto v = top.number("dt", true, false)) no.dt(*v);
  // `train` belongs to snn-train (which checks it); kept whole so the spec saves back.
  if (const json* t = top.get("train", Null::Allowed)) {
    if (!t->is_object())
      fail("/train", "expected an object, got " + show(*t));
    else
      no.train(t->dump());
  }
  if (!guarded("", [&] { net_ = std::make_shared<Network>(no); })) return nullptr;
  if (const json* s = top.get("settings")) read_settings(*s, "/settings", net_->settings());

  collect_explicit_ids(spec);
  for_each_item(spec, "nodes", [&](const json& j, const std::string& p, size_t) {
    guarded(p, [&] { read_node(j, p); });
  });
  for_each_item(spec, "ensembles", [&](const json& j, const std::string& p, size_t) {
    guarded(p, [&] { read_ensemble(j, p); });
  });
  // After nodes and ensembles, so that a layer's input size can be inferred from them (and
  // from the layers before it).
  for_each_item(spec, "layers", [&](const json& j, const std::string& p, size_t) {
    guarded(p, [&] { read_layer(j, p, spec); });
  });
  // Library networks after the objects that do not depend on them, before what connects
  // to their ports.
  for_each_item(spec, "networks", [&](const json& j, const std::string& p, size_t) {
    guarded(p, [&] { read_library_network(j, p); });
  });
  if (auto it = spec.find("connections"); it != spec.end() && it->is_array())
    connections_.assign(it->size(), nullptr);
  for_each_item(spec, "connections", [&](const json& j, const std::string& p, size_t i) {
    guarded(p, [&] { read_connection(j, p, i); });
  });
  for_each_item(spec, "probes", [&](const json& j, const std::string& p, size_t) {
    guarded(p, [&] { read_probe(j, p); });
  });
  return net_;
}

}  // namespace

NetworkPtr network_from_json(const nlohmann::json& spec, const std::string& source) {
  Reader reader(source, /*collect=*/false);
  try {
    auto net = reader.read(spec);
    if (!net) throw SpecError(source + ": invalid spec");  // unreachable: read() threw
    return net;
  } catch (const Reported& e) {
    throw SpecError(e.what());
  } catch (const std::exception& e) {
    throw SpecError(source + ": " + e.what());  // not expected: read() reports with paths
  }
}

std::vector<std::string> check_network_json(const nlohmann::json& spec) {
  Reader reader("<spec>", /*collect=*/true);
  try {
    reader.read(spec);
  } catch (const std::exception& e) {
    // Every problem should have been recorded; this is a last line of defence.
    reader.problems.push_back(std::string("/: ") + e.what());
  }
  return reader.problems;
}

NetworkPtr load_network(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SpecError(path + ": cannot open the network spec: " + std::strerror(errno));
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw SpecError(path + ": cannot read the network spec: " + std::strerror(errno));
  nlohmann::json spec;
  try {
    spec = nlohmann::json::parse(buffer.str());
  } catch (const nlohmann::json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 3, column 5: ...".
    throw SpecError(path + ": not valid JSON (byte " + std::to_string(e.byte) +
                    "): " + without_json_prefix(e.what()));
  } catch (const nlohmann::json::exception& e) {  // a number beyond a double (1e400)
    throw SpecError(path + ": not valid JSON: " + without_json_prefix(e.what()));
  }
  return network_from_json(spec, path);
}

}  // namespace snn
