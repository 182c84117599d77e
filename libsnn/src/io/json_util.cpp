// JSON helpers for the spec loader/saver (see json_util.h).
#include "io/json_util.h"

#include <torch/torch.h>

namespace snn::json_util {

std::string child(const std::string& path, const std::string& key) {
  std::string out = path + "/";
  for (char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

std::string child(const std::string& path, size_t index) {
  return path + "/" + std::to_string(index);
}

namespace {
// Renders `j` compactly into `out` until `out` exceeds `limit` characters; the budget also
// bounds the recursion depth, so huge or deeply nested values cost little.
void render(const nlohmann::json& j, std::string& out, size_t limit) {
  if (out.size() > limit) return;
  if (j.is_object()) {
    out += "{";
    bool first = true;
    for (auto it = j.begin(); it != j.end() && out.size() <= limit; ++it) {
      out += first ? "" : ", ";
      first = false;
      out +=
          nlohmann::json(it.key()).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      out += ": ";
      render(it.value(), out, limit);
    }
    out += "}";
  } else if (j.is_array()) {
    out += "[";
    for (size_t i = 0; i < j.size() && out.size() <= limit; ++i) {
      out += i ? ", " : "";
      render(j[i], out, limit);
    }
    out += "]";
  } else {
    // `replace` keeps the dump from throwing on invalid UTF-8 in user strings.
    out += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}
}  // namespace

std::string show(const nlohmann::json& j, size_t max_len) {
  std::string s;
  render(j, s, max_len);
  if (s.size() > max_len) s = s.substr(0, max_len) + "...";
  return s;
}

std::string too_deep(const nlohmann::json& root, size_t max_depth) {
  // Iterative walk: the point is to protect recursive code from hostile nesting.
  std::vector<std::pair<const nlohmann::json*, std::string>> stack = {{&root, ""}};
  std::vector<size_t> depth = {0};
  while (!stack.empty()) {
    auto [j, path] = stack.back();
    const size_t d = depth.back();
    stack.pop_back();
    depth.pop_back();
    if (!j->is_structured()) continue;
    if (d >= max_depth) return path.empty() ? "/" : path;
    if (j->is_object()) {
      for (auto it = j->begin(); it != j->end(); ++it) {
        stack.emplace_back(&it.value(), child(path, it.key()));
        depth.push_back(d + 1);
      }
    } else {
      for (size_t i = 0; i < j->size(); ++i) {
        stack.emplace_back(&(*j)[i], child(path, i));
        depth.push_back(d + 1);
      }
    }
  }
  return "";
}

bool is_integer(const nlohmann::json& j) {
  return j.is_number_integer() || j.is_number_unsigned();
}

namespace {

// The shape a nested list claims, read along its first elements.
std::vector<int64_t> claimed_shape(const nlohmann::json& j) {
  std::vector<int64_t> shape;
  const nlohmann::json* cur = &j;
  while (cur->is_array()) {
    shape.push_back(static_cast<int64_t>(cur->size()));
    if (cur->empty()) break;
    cur = &(*cur)[0];
  }
  return shape;
}

// Whether `j` has exactly `shape` from `depth` on, with numbers as leaves.
bool matches_shape(const nlohmann::json& j, const std::vector<int64_t>& shape, size_t depth,
                   std::string& error) {
  if (depth == shape.size()) {
    if (j.is_number()) return true;
    error = j.is_array() ? "expected a rectangular list of numbers (nesting differs between "
                           "elements)"
                         : "expected numbers in the list, got " + show(j);
    return false;
  }
  if (!j.is_array()) {
    error = j.is_number() ? "expected a rectangular list of numbers (nesting differs between "
                            "elements)"
                          : "expected numbers in the list, got " + show(j);
    return false;
  }
  if (static_cast<int64_t>(j.size()) != shape[depth]) {
    error = "expected a rectangular list of numbers (rows of different lengths)";
    return false;
  }
  for (const auto& e : j)
    if (!matches_shape(e, shape, depth + 1, error)) return false;
  return true;
}

void flatten(const nlohmann::json& j, std::vector<double>& out) {
  if (j.is_number()) {
    out.push_back(j.get<double>());
    return;
  }
  for (const auto& e : j) flatten(e, out);
}

nlohmann::json nested(const double* data, const std::vector<int64_t>& sizes, size_t dim,
                      int64_t& offset) {
  auto out = nlohmann::json::array();
  for (int64_t i = 0; i < sizes[dim]; ++i) {
    if (dim + 1 == sizes.size())
      out.push_back(data[offset++]);
    else
      out.push_back(nested(data, sizes, dim + 1, offset));
  }
  return out;
}

}  // namespace

torch::Tensor tensor_from_json(const nlohmann::json& j, std::string& error) {
  if (j.is_number()) return torch::scalar_tensor(j.get<double>(), torch::kFloat64);
  if (!j.is_array()) {
    error = "expected a number or a list of numbers, got " + show(j);
    return {};
  }
  const auto shape = claimed_shape(j);
  // `[[], []]` is (2, 0) as numpy reads it; `[[], [1]]` is ragged.
  if (!matches_shape(j, shape, 0, error)) return {};
  std::vector<double> values;
  flatten(j, values);
  return torch::tensor(values, torch::kFloat64).reshape(shape).clone();
}

nlohmann::json tensor_to_json(const torch::Tensor& t_in) {
  auto t = t_in.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  if (t.dim() == 0) return t.item<double>();
  std::vector<int64_t> sizes(t.sizes().begin(), t.sizes().end());
  int64_t offset = 0;
  return nested(t.data_ptr<double>(), sizes, 0, offset);
}

nlohmann::json init_to_json(const Init& init) {
  if (init.empty()) return nullptr;
  if (init.is_distribution()) return init.distribution()->to_json();
  return tensor_to_json(init.literal());
}

}  // namespace snn::json_util
