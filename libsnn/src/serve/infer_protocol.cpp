#include "serve/infer_protocol.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace snn::serve {
namespace {

using nlohmann::json;

HttpError bad_request(const std::string& message) { return HttpError(400, message); }

constexpr int kMaxDepth = 8;
struct TooDeep {};

/// a * b * c, or INT64_MAX when that would overflow (the limits compare against it).
int64_t saturating_product(int64_t a, int64_t b, int64_t c) {
  int64_t ab = 0, abc = 0;
  if (__builtin_mul_overflow(a, b, &ab) || __builtin_mul_overflow(ab, c, &abc))
    return std::numeric_limits<int64_t>::max();
  return abc;
}

/// "a", "b" (or none), for messages that list what there is.
std::string quoted_names(const std::vector<ModelSignature::Port>& ports) {
  std::string names;
  for (const auto& p : ports) names += (names.empty() ? "\"" : ", \"") + p.name + "\"";
  return names.empty() ? "none" : names;
}

/// What a client value looks like in a message: short, whatever it holds.
std::string shown(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() > 40 ? text.substr(0, 37) + "..." : text;
}

std::string datatype_name(torch::Dtype dtype) {
  return dtype == torch::kFloat64 ? "FP64" : "FP32";
}

/// The protocol's numeric datatypes; BOOL and BYTES do not feed a node.
bool is_integer_datatype(const std::string& d) {
  return d == "INT8" || d == "INT16" || d == "INT32" || d == "INT64" || d == "UINT8" ||
         d == "UINT16" || d == "UINT32" || d == "UINT64";
}
bool is_float_datatype(const std::string& d) { return d == "FP16" || d == "FP32" || d == "FP64"; }

/// "data" may be flat or nested (row-major either way); numbers are appended to `out`.
/// `where` is the field's path for messages.
void flatten_numbers(const json& value, bool integers, const std::string& where,
                     std::vector<double>& out, size_t limit) {
  if (value.is_array()) {
    for (const json& v : value) {
      flatten_numbers(v, integers, where, out, limit);
      if (out.size() > limit) return;  // the caller reports the count
    }
    return;
  }
  if (!value.is_number()) {
    throw bad_request(where + "[" + std::to_string(out.size()) + "]: expected a number, got " +
                      std::string(value.type_name()));
  }
  if (integers && !value.is_number_integer()) {
    throw bad_request(where + "[" + std::to_string(out.size()) +
                      "]: expected an integer for an integer datatype, got " + shown(value));
  }
  out.push_back(value.get<double>());
}

int64_t positive_int(const json& value, const std::string& where) {
  if (!value.is_number_integer() || value.get<int64_t>() < 1)
    throw bad_request(where + ": expected a positive integer, got " + shown(value));
  return value.get<int64_t>();
}

const json& required(const json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end()) throw bad_request(where + ": missing \"" + key + "\"");
  return *it;
}

/// One entry of "inputs", as given: (batch, steps, size) or (batch, size).
struct GivenInput {
  std::string name;
  std::vector<int64_t> shape;
  torch::Tensor data;
};

GivenInput parse_input(const json& in, size_t index, const ModelSignature& sig,
                       const RequestLimits& limits) {
  const std::string where = "inputs[" + std::to_string(index) + "]";
  if (!in.is_object()) throw bad_request(where + ": expected an object");
  GivenInput g;
  const json& name = required(in, "name", where);
  if (!name.is_string()) throw bad_request(where + ".name: expected a string");
  g.name = name.get<std::string>();
  const ModelSignature::Port* port = sig.find_input(g.name);
  if (!port) {
    throw bad_request(where + ".name: no input \"" + g.name + "\" (the inputs are " +
                      quoted_names(sig.inputs) + ")");
  }
  const std::string here = where + " (\"" + g.name + "\")";

  const json& datatype = required(in, "datatype", here);
  const std::string dt = datatype.is_string() ? datatype.get<std::string>() : "";
  if (!is_float_datatype(dt) && !is_integer_datatype(dt))
    throw bad_request(here + ".datatype: expected a numeric datatype (FP32, FP64, INT32, ...), "
                      "got " + shown(datatype));

  const json& shape = required(in, "shape", here);
  if (!shape.is_array() || (shape.size() != 2 && shape.size() != 3))
    throw bad_request(here + ".shape: expected [batch, size] or [batch, n_steps, size], got " +
                      shown(shape));
  for (size_t k = 0; k < shape.size(); ++k)
    g.shape.push_back(positive_int(shape[k], here + ".shape[" + std::to_string(k) + "]"));
  if (g.shape.back() != port->size)
    throw bad_request(here + ".shape: expected size " + std::to_string(port->size) +
                      " in the last dimension, got " + std::to_string(g.shape.back()));
  if (g.shape[0] > limits.max_items)
    throw bad_request(here + ".shape: batch " + std::to_string(g.shape[0]) +
                      " exceeds the limit of " + std::to_string(limits.max_items) + " items");
  if (g.shape.size() == 3 && g.shape[1] > limits.max_steps)
    throw bad_request(here + ".shape: " + std::to_string(g.shape[1]) +
                      " steps exceed the limit of " + std::to_string(limits.max_steps));

  const int64_t count = saturating_product(
      g.shape[0], g.shape.size() == 3 ? g.shape[1] : 1, g.shape.back());
  std::vector<double> values;
  values.reserve(static_cast<size_t>(std::min<int64_t>(count, int64_t{1} << 24)));
  flatten_numbers(required(in, "data", here), is_integer_datatype(dt), here + ".data", values,
                  static_cast<size_t>(count));
  if (static_cast<int64_t>(values.size()) != count) {
    throw bad_request(here + ".data: shape " + json(g.shape).dump() + " needs " +
                      std::to_string(count) + " values, got " +
                      (static_cast<int64_t>(values.size()) > count ? "more"
                                                                   : std::to_string(values.size())));
  }
  g.data = torch::tensor(values, torch::kFloat64).reshape(g.shape).to(sig.dtype);
  if (!torch::isfinite(g.data).all().item<bool>())
    throw bad_request(here + ".data: values must be finite in " + datatype_name(sig.dtype) +
                      " (a value beyond its range overflows to infinity)");
  return g;
}

/// Shortest text that reads back as the same float (or double).
template <class T>
void append_number(std::string& out, T value) {
  if (!std::isfinite(value)) {
    out += "null";
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, end);
}

template <class T>
void append_data(std::string& out, const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  const T* p = c.data_ptr<T>();
  const int64_t n = c.numel();
  out += '[';
  for (int64_t i = 0; i < n; ++i) {
    if (i) out += ',';
    append_number(out, p[i]);
  }
  out += ']';
}

}  // namespace

ModelSignature ModelSignature::of(const Network& network, torch::Dtype dtype) {
  ModelSignature s;
  for (const NodePtr& n : network.all_nodes())
    if (n->kind() == Node::Kind::Input) s.inputs.push_back({n->id(), n->size_out()});
  for (const ProbePtr& p : network.all_probes()) s.outputs.push_back({p->id(), p->size()});
  s.dtype = dtype;
  s.dt = network.dt();
  return s;
}

const ModelSignature::Port* ModelSignature::find_input(const std::string& name) const {
  for (const Port& p : inputs)
    if (p.name == name) return &p;
  return nullptr;
}

const ModelSignature::Port* ModelSignature::find_output(const std::string& name) const {
  for (const Port& p : outputs)
    if (p.name == name) return &p;
  return nullptr;
}

InferRequest parse_infer_request(const std::string& body, const ModelSignature& sig,
                                 const RequestLimits& limits) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos)
    throw bad_request("empty body: expected a JSON infer request");
  json doc;
  try {
    // A request nests 4 levels at most ({"inputs": [{"data": [[[...]]]}]}); far deeper
    // bodies would only exhaust the stack of whatever walks them.
    doc = json::parse(body, [](int depth, json::parse_event_t, json&) {
      if (depth > kMaxDepth) throw TooDeep();
      return true;
    });
  } catch (const TooDeep&) {
    throw bad_request("invalid JSON: nested deeper than " + std::to_string(kMaxDepth) +
                      " levels");
  } catch (const json::exception& e) {  // syntax, and numbers beyond a double (1e400)
    throw bad_request(std::string("invalid JSON: ") + e.what());
  }
  if (!doc.is_object()) throw bad_request("expected a JSON object as the request body");
  for (const auto& [key, value] : doc.items()) {
    if (key != "id" && key != "inputs" && key != "outputs" && key != "parameters")
      throw bad_request("unknown field \"" + key +
                        "\" (expected id, inputs, outputs, parameters)");
  }

  InferRequest r;
  if (doc.contains("id") && !doc["id"].is_null()) {
    if (!doc["id"].is_string()) throw bad_request("id: expected a string");
    r.id = doc["id"].get<std::string>();
  }

  std::optional<int64_t> n_steps;
  if (doc.contains("parameters")) {
    const json& params = doc["parameters"];
    if (!params.is_object()) throw bad_request("parameters: expected an object");
    // Other parameters are the protocol's or a client's own (tritonclient sends
    // binary_data_output, priority, timeout): answered in JSON, they change nothing here.
    if (params.contains("n_steps")) {
      n_steps = positive_int(params["n_steps"], "parameters.n_steps");
      if (*n_steps > limits.max_steps)
        throw bad_request("parameters.n_steps: " + std::to_string(*n_steps) +
                          " exceeds the limit of " + std::to_string(limits.max_steps) + " steps");
    }
  }

  const json& inputs = required(doc, "inputs", "request");
  if (!inputs.is_array()) throw bad_request("inputs: expected an array");
  std::vector<GivenInput> given;
  for (size_t i = 0; i < inputs.size(); ++i) {
    GivenInput g = parse_input(inputs[i], i, sig, limits);
    for (const GivenInput& other : given) {
      if (other.name == g.name)
        throw bad_request("inputs[" + std::to_string(i) + "]: input \"" + g.name +
                          "\" given twice");
      if (other.shape[0] != g.shape[0])
        throw bad_request("inputs[" + std::to_string(i) + "] (\"" + g.name + "\"): batch " +
                          std::to_string(g.shape[0]) + " differs from input \"" + other.name +
                          "\" (" + std::to_string(other.shape[0]) + ")");
    }
    if (g.shape.size() == 3) {
      if (n_steps && *n_steps != g.shape[1])
        throw bad_request("inputs[" + std::to_string(i) + "] (\"" + g.name + "\"): " +
                          std::to_string(g.shape[1]) + " steps, but n_steps is " +
                          std::to_string(*n_steps));
      n_steps = g.shape[1];
    }
    given.push_back(std::move(g));
  }
  if (!n_steps)
    throw bad_request("parameters.n_steps: required when no input has a steps dimension "
                      "([batch, n_steps, size])");
  r.n_steps = *n_steps;
  r.batch = given.empty() ? 1 : given.front().shape[0];

  if (doc.contains("outputs")) {
    const json& outputs = doc["outputs"];
    if (!outputs.is_array()) throw bad_request("outputs: expected an array");
    for (size_t i = 0; i < outputs.size(); ++i) {
      const std::string where = "outputs[" + std::to_string(i) + "]";
      if (!outputs[i].is_object() || !outputs[i].contains("name") ||
          !outputs[i]["name"].is_string())
        throw bad_request(where + ": expected {\"name\": \"<probe id>\"}");
      const std::string name = outputs[i]["name"].get<std::string>();
      if (!sig.find_output(name)) {
        throw bad_request(where + ".name: no output \"" + name + "\" (the outputs are " +
                          quoted_names(sig.outputs) + ")");
      }
      r.outputs.push_back(name);
    }
  }
  if (r.outputs.empty())
    for (const auto& p : sig.outputs) r.outputs.push_back(p.name);

  // Checked before any input is held for its steps. Every probe counts, asked for or not:
  // the simulation records them all.
  int64_t width = 0;
  for (const auto& p : sig.inputs) width += p.size;
  for (const auto& p : sig.outputs) width += p.size;
  if (saturating_product(r.batch, r.n_steps, width) > limits.max_values)
    throw bad_request("request too large: " + std::to_string(r.batch) + " items x " +
                      std::to_string(r.n_steps) + " steps x " + std::to_string(width) +
                      " values per step (inputs and outputs) exceed the limit of " +
                      std::to_string(limits.max_values) + " values");

  for (const auto& port : sig.inputs) {
    auto it = std::find_if(given.begin(), given.end(),
                           [&](const GivenInput& g) { return g.name == port.name; });
    if (it == given.end()) {
      r.inputs[port.name] = torch::zeros({r.batch, r.n_steps, port.size}, sig.dtype);
    } else if (it->data.dim() == 2) {
      r.inputs[port.name] = it->data.unsqueeze(1).expand({r.batch, r.n_steps, port.size});
    } else {
      r.inputs[port.name] = it->data;
    }
  }
  return r;
}

std::string format_infer_response(const std::string& model_name, const InferRequest& request,
                                  const ProbeData& data, const ModelSignature& sig) {
  std::string out = "{\"model_name\":" + json(model_name).dump() + ",\"model_version\":\"1\"";
  if (!request.id.empty()) out += ",\"id\":" + json(request.id).dump();
  out += ",\"outputs\":[";
  bool first = true;
  for (const std::string& name : request.outputs) {
    const torch::Tensor t = data.at(name).to(torch::kCPU, sig.dtype);
    if (!first) out += ',';
    first = false;
    out += "{\"name\":" + json(name).dump() + ",\"datatype\":\"" + datatype_name(sig.dtype) +
           "\",\"shape\":" + json(t.sizes().vec()).dump() + ",\"data\":";
    if (sig.dtype == torch::kFloat64)
      append_data<double>(out, t);
    else
      append_data<float>(out, t);
    out += '}';
  }
  out += "]}";
  return out;
}

std::string model_metadata(const std::string& model_name, const ModelSignature& sig,
                           const RequestLimits& limits, int64_t max_batch) {
  auto ports = [&](const std::vector<ModelSignature::Port>& list) {
    json a = json::array();
    for (const auto& p : list)
      a.push_back({{"name", p.name},
                   {"datatype", datatype_name(sig.dtype)},
                   {"shape", {-1, -1, p.size}}});
    return a;
  };
  json m = {{"name", model_name},
            {"versions", {"1"}},
            {"platform", "libsnn"},
            {"inputs", ports(sig.inputs)},
            {"outputs", ports(sig.outputs)},
            {"parameters",
             {{"dt", sig.dt},
              {"max_batch", max_batch},
              {"max_steps", limits.max_steps},
              {"max_items", limits.max_items}}}};
  return m.dump();
}

std::string error_body(const std::string& message) {
  return json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace snn::serve
