// Slices with Python semantics: ranges clip like Python's slice.indices, index lists are
// checked and may repeat or permute.
#include <nlohmann/json.hpp>

#include "snn/errors.h"
#include "snn/network.h"

namespace snn {

Slice Slice::range(std::optional<int64_t> start, std::optional<int64_t> stop,
                   std::optional<int64_t> step) {
  if (step && *step == 0) throw SpecError("slice step cannot be zero");
  Slice s;
  s.kind = Kind::Range;
  s.start = start;
  s.stop = stop;
  s.step = step;
  return s;
}

Slice Slice::indices(std::vector<int64_t> index) {
  Slice s;
  s.kind = Kind::Indices;
  s.index = std::move(index);
  return s;
}

std::vector<int64_t> Slice::resolve(int64_t size) const {
  std::vector<int64_t> out;
  if (kind == Kind::All) {
    out.resize(size);
    for (int64_t i = 0; i < size; ++i) out[i] = i;
    return out;
  }
  if (kind == Kind::Indices) {
    for (int64_t i : index) {
      int64_t j = i < 0 ? i + size : i;
      if (j < 0 || j >= size)
        throw BuildError("slice index " + std::to_string(i) + " is out of range for size " +
                         std::to_string(size));
      out.push_back(j);
    }
    return out;
  }
  // Python's slice.indices(size).
  int64_t st = step.value_or(1);
  auto clamp_bound = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t x = *v;
    if (x < 0) {
      x += size;
      if (x < 0) x = st < 0 ? -1 : 0;
    } else if (x >= size) {
      x = st < 0 ? size - 1 : size;
    }
    return x;
  };
  int64_t b = clamp_bound(start, st < 0 ? size - 1 : 0);
  int64_t e = clamp_bound(stop, st < 0 ? -1 : size);
  if (st > 0)
    for (int64_t i = b; i < e; i += st) out.push_back(i);
  else
    for (int64_t i = b; i > e; i += st) out.push_back(i);
  return out;
}

nlohmann::json Slice::to_json() const {
  if (kind == Kind::Indices) return nlohmann::json(index);
  nlohmann::json j = nlohmann::json::object();
  j["start"] = start ? nlohmann::json(*start) : nlohmann::json(nullptr);
  j["stop"] = stop ? nlohmann::json(*stop) : nlohmann::json(nullptr);
  j["step"] = step ? nlohmann::json(*step) : nlohmann::json(nullptr);
  return j;
}

}  // namespace snn
