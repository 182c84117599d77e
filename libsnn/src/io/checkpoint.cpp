// Checkpoints (shared/spec/tools.md): LibTorch serialization of the compiled module's
// parameters and buffers, nested by their stable names (ensembles/<id>/bias, ...), with the
// spec's content hash and, for training checkpoints, the optimizer state and the epoch.
// Written to a temporary file in the same folder and renamed, so a crash at any moment
// leaves either the old or the new checkpoint, never a torn one.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>

#if defined(__GLIBC__)  // defined by the C++ headers above
#include <malloc.h>
#endif

#include "first_line.h"
#include "io/output_path.h"
#include "runtime/simulator_impl.h"
#include "snn/checkpoint.h"
#include "snn/io.h"
#include "snn/spec.h"

namespace snn {

namespace {

constexpr const char* kFormat = "snn-checkpoint/1";


/// Destination tensors and the checkpoint's values for them.
using Copies = std::vector<std::pair<torch::Tensor, torch::Tensor>>;

/// The bytes really behind the storage of a tensor just read from a checkpoint. LibTorch
/// gives the storage the size the archive's pickle declares, over a buffer the size of the
/// data record: in a damaged file the record can be shorter. On glibc the buffer's own size
/// is known (LibTorch's CPU allocator is posix_memalign), so a shorter record shows.
size_t bytes_behind(const torch::Tensor& t) {
  const size_t declared = t.storage().nbytes();
  if (declared > 0 && t.storage().data() == nullptr) return 0;  // an empty data record
#if defined(__GLIBC__)
  if (t.device().is_cpu() && declared > 0)
    return std::min(declared, ::malloc_usable_size(const_cast<void*>(t.storage().data())));
#endif
  return declared;
}

/// Why a tensor read from a checkpoint cannot be used, or "" when it can. The archive gives
/// back whatever sizes, strides and storage the file declares: a damaged or crafted file can
/// declare a view reaching past its storage (reading it would read past the allocation), a
/// storage of another type, or (`finite`: parameters) values that are not finite.
std::string unusable(const torch::Tensor& t, const torch::Tensor& dst, bool finite) {
  if (!t.defined()) return "is empty";
  if (t.scalar_type() != dst.scalar_type() && t.scalar_type() != torch::kFloat32 &&
      t.scalar_type() != torch::kFloat64)
    return std::string("holds ") + c10::toString(t.scalar_type()) + " values, expected " +
           c10::toString(dst.scalar_type());
  if (!t.device().is_cpu() && !t.device().is_cuda()) return "is on an unknown device";
  if (t.numel() > 0) {
    if (t.storage_offset() < 0) return "has a negative storage offset";
    // The last element the view reaches, in elements from the storage's start.
    int64_t last = t.storage_offset();
    for (int64_t d = 0; d < t.dim(); ++d) {
      if (t.stride(d) < 0) return "has a negative stride";
      const int64_t reach = (t.size(d) - 1) * t.stride(d);
      if (t.size(d) > 1 && reach / (t.size(d) - 1) != t.stride(d)) return "has an impossible stride";
      if (last > std::numeric_limits<int64_t>::max() - reach) return "has an impossible stride";
      last += reach;
    }
    const auto item = static_cast<int64_t>(t.element_size());
    const auto have = static_cast<int64_t>(bytes_behind(t));
    if (last >= have / item)
      return "needs " + std::to_string(last + 1) + " values, its data holds " +
             std::to_string(have / item) + " (a truncated or damaged file)";
    if (finite && t.is_floating_point() && !torch::isfinite(t).all().item<bool>())
      return "holds NaN or infinite values";
  }
  return "";
}

/// Reads every parameter and buffer of `m` (recursively) from `ar` and checks its shape,
/// then checks that the checkpoint holds nothing else: a structural difference either way
/// names the first parameter at fault. Nothing is copied yet, so a failed load leaves the
/// simulator as it was.
void read_module(torch::nn::Module& m, torch::serialize::InputArchive& ar,
                 const std::string& prefix, const std::string& path, Copies& copies) {
  std::set<std::string> known;
  auto read_tensor = [&](const std::string& key, const torch::Tensor& dst, bool buffer) {
    torch::Tensor t;
    if (!ar.try_read(key, t, buffer))
      throw DataError(path + ": parameter " + prefix + key +
                      " is missing (the checkpoint was made from another network)");
    if (t.sizes() != dst.sizes())
      throw DataError(path + ": parameter " + prefix + key + " has shape " +
                      c10::str(t.sizes()) + ", this network has " + c10::str(dst.sizes()));
    if (const std::string why = unusable(t, dst, !buffer); !why.empty())
      throw DataError(path + ": parameter " + prefix + key + " " + why);
    copies.emplace_back(dst, t);
    known.insert(key);
  };
  for (auto& p : m.named_parameters(false)) read_tensor(p.key(), p.value(), false);
  for (auto& b : m.named_buffers(false)) read_tensor(b.key(), b.value(), true);
  for (auto& c : m.named_children()) {
    torch::serialize::InputArchive sub;
    if (!ar.try_read(c.key(), sub))
      throw DataError(path + ": parameters of " + prefix + c.key() +
                      " are missing (the checkpoint was made from another network)");
    read_module(*c.value(), sub, prefix + c.key() + ".", path, copies);
    known.insert(c.key());
  }
  for (const auto& key : ar.keys()) {
    if (key == "training" || known.count(key)) continue;  // every jit module has `training`
    throw DataError(path + ": parameter " + prefix + key +
                    " is not in this network (the checkpoint was made from another network)");
  }
}

/// Every tensor of the optimizer state in `ar` (and its sub-archives) passes unusable(),
/// checked before the optimizer loads it: the moments are read at every step, and a crafted
/// one could make them read past their data. Generic over the optimizer types: LibTorch
/// keeps each one's state as named tensors in nested archives.
void check_optimizer_archive(torch::serialize::InputArchive& ar, const std::string& path) {
  for (const auto& key : ar.keys()) {
    torch::Tensor t;
    torch::serialize::InputArchive sub;
    if (ar.try_read(key, t)) {
      if (const std::string why = unusable(t, t, false); !why.empty())
        throw DataError(path + ": optimizer state " + key + " " + why);
    } else if (ar.try_read(key, sub)) {
      check_optimizer_archive(sub, path);
    }
  }
}

// ---- The simulation state (include_state) ----------------------------------------------
// Every tensor of a SimState under a flat archive name ("block0_voltage", "conn_x3", ...);
// undefined slots (a connection without synapse) are left out. The layout is the network's,
// so two simulators of one network (and minibatch size) have the same names.

/// The state's tensor slots by archive name, in a fixed order.
std::vector<std::pair<std::string, torch::Tensor*>> state_slots(SimState& s) {
  std::vector<std::pair<std::string, torch::Tensor*>> out;
  for (size_t b = 0; b < s.blocks.size(); ++b)
    for (auto& [name, t] : s.blocks[b]) out.emplace_back("block" + std::to_string(b) + "_" + name, &t);
  auto list = [&out](const std::string& kind, std::vector<torch::Tensor>& v) {
    for (size_t i = 0; i < v.size(); ++i) out.emplace_back(kind + std::to_string(i), &v[i]);
  };
  list("conn_out", s.conn_out);
  list("conn_x", s.conn_x);
  list("probe_out", s.probe_out);
  list("probe_x", s.probe_x);
  list("learned", s.learned);
  list("learn_x", s.learn_x);
  return out;
}

constexpr const char* kStateCounters[] = {"step", "batch", "process_seed", "process_steps"};

void write_state(torch::serialize::OutputArchive& ar, const SimState& state) {
  SimState s = state;  // shallow: state_slots wants to point into it
  ar.write("step", c10::IValue(s.step));
  ar.write("batch", c10::IValue(s.batch));
  ar.write("process_seed", c10::IValue(static_cast<int64_t>(s.process_seed)));
  ar.write("process_steps", c10::IValue(s.process_steps));
  for (auto& [name, t] : state_slots(s))
    if (t->defined()) ar.write(name, *t, /*is_buffer=*/true);
}

/// The state in `ar`, checked against `now` (this simulator's): the same slots, shapes and
/// minibatch size, finite values, counters in range. Nothing of `now` changes.
SimState read_state(torch::serialize::InputArchive& ar, const SimState& now,
                    const std::string& path) {
  const std::string where = path + ": simulation state";
  auto counter = [&](const char* key, int64_t lo, int64_t hi) {
    c10::IValue v;
    if (!ar.try_read(key, v) || !v.isInt())
      throw DataError(where + " has no " + key + " (a damaged file)");
    if (v.toInt() < lo || v.toInt() > hi)
      throw DataError(where + ": " + key + " " + std::to_string(v.toInt()) + " is out of range");
    return v.toInt();
  };
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max() / 2;
  SimState s = now;
  s.batch = counter("batch", 1, kMax);
  if (s.batch != now.batch)
    throw DataError(where + " is of minibatch size " + std::to_string(s.batch) +
                    ", this simulator's is " + std::to_string(now.batch));
  s.step = counter("step", 0, kMax);
  s.process_seed = static_cast<uint32_t>(counter("process_seed", 0, 0xffffffffLL));
  s.process_steps = counter("process_steps", 0, kMax);
  std::set<std::string> known(std::begin(kStateCounters), std::end(kStateCounters));
  known.insert("training");  // every archive module has it
  for (auto& [name, slot] : state_slots(s)) {
    if (!slot->defined()) continue;  // none saved either (same network)
    torch::Tensor t;
    if (!ar.try_read(name, t, /*is_buffer=*/true))
      throw DataError(where + " " + name + " is missing (saved from another network)");
    if (t.sizes() != slot->sizes())
      throw DataError(where + " " + name + " has shape " + c10::str(t.sizes()) +
                      ", this simulator has " + c10::str(slot->sizes()));
    if (const std::string why = unusable(t, *slot, true); !why.empty())
      throw DataError(where + " " + name + " " + why);
    *slot = t.to(slot->options()).clone();
    known.insert(name);
  }
  for (const auto& key : ar.keys())
    if (!known.count(key))
      throw DataError(where + " " + key + " is not in this simulator (saved from another network)");
  return s;
}

}  // namespace

void Simulator::save_params(const std::string& path, int64_t epoch) const {
  save_params(path, SaveParamsOptions().epoch(epoch));
}

int64_t Simulator::load_params(const std::string& path, bool training_state) {
  return load_params(path, LoadParamsOptions().training_state(training_state));
}

void Simulator::save_params(const std::string& path, SaveParamsOptions options) const {
  const auto& im = *impl_;
  const int64_t epoch = options.epoch();
  torch::serialize::OutputArchive top;
  torch::serialize::OutputArchive params(top.compilation_unit());
  im.module->save(params);
  top.write("format", c10::IValue(std::string(kFormat)));
  top.write("spec_hash", c10::IValue(spec_hash(*im.network)));
  top.write("library_version", c10::IValue(version()));
  top.write("params", params);
  if (epoch >= 0) {
    top.write("epoch", c10::IValue(epoch));
    if (im.optimizer) {
      torch::serialize::OutputArchive opt(top.compilation_unit());
      im.optimizer->save(opt);
      top.write("optimizer", opt);
    }
  }
  if (options.include_state()) {
    torch::serialize::OutputArchive state(top.compilation_unit());
    write_state(state, im.state);
    top.write("state", state);
  }
  const std::string target = detail::output_target<DataError>(path, "checkpoint");
  // Serialised in memory first: LibTorch's file writer finishes the archive in its
  // destructor, where a write error (a full disk) ends the process.
  std::ostringstream bytes;
  try {
    top.save_to(bytes);
  } catch (const c10::Error& e) {
    throw DataError(path + ": cannot write the checkpoint: " + first_line(e.what()));
  }
  if (auto failed = detail::write_atomically(target, bytes.str()))
    throw DataError(path + ": cannot write the checkpoint: " + failed->reason);
}

int64_t Simulator::load_params(const std::string& path, LoadParamsOptions options) {
  auto& im = *impl_;
  const bool training_state = options.training_state();
  if (!std::filesystem::exists(path)) throw DataError(path + ": no such checkpoint file");
  if (training_state && !im.optimizer)
    throw SpecError("load_params: compile() before loading a training state");
  // LibTorch reads records lazily, so a damaged file can fail at any read below: every
  // c10::Error becomes one DataError naming the file.
  try {
    if (!im.options.device().is_cpu()) {
      // Checked on the CPU first: reading onto a GPU copies each storage as declared, before
      // any check could see a data record shorter than that.
      torch::serialize::InputArchive on_cpu, cpu_params;
      on_cpu.load_from(path, torch::kCPU);
      if (on_cpu.try_read("params", cpu_params)) {
        Copies unused;
        read_module(*im.module, cpu_params, "", path, unused);
      }
      torch::serialize::InputArchive cpu_state, cpu_optimizer;
      if (options.include_state() && on_cpu.try_read("state", cpu_state))
        read_state(cpu_state, im.state, path);  // checked only: nothing changes yet
      if (training_state && on_cpu.try_read("optimizer", cpu_optimizer))
        check_optimizer_archive(cpu_optimizer, path);
    }
    torch::serialize::InputArchive top;
    // Straight onto the simulator's device: the optimizer state is loaded as it is read, and
    // a CUDA optimizer cannot step with CPU moments.
    top.load_from(path, im.options.device());
    c10::IValue format;
    if (!top.try_read("format", format) || !format.isString() ||
        format.toStringRef() != kFormat)
      throw DataError(path + ": not a libsnn checkpoint (no \"" + std::string(kFormat) +
                      "\" format tag)");
    torch::serialize::InputArchive params;
    if (!top.try_read("params", params))
      throw DataError(path + ": the checkpoint has no parameters");
    Copies copies;
    read_module(*im.module, params, "", path, copies);
    std::optional<SimState> state;
    if (options.include_state()) {
      torch::serialize::InputArchive saved;
      if (!top.try_read("state", saved))
        throw DataError(path + ": the checkpoint holds no simulation state (saved without "
                               "include_state)");
      state = read_state(saved, im.state, path);
    }
    int64_t epoch = 0;
    c10::IValue e;
    if (top.try_read("epoch", e) && e.isInt()) epoch = e.toInt();
    if (training_state) {
      torch::serialize::InputArchive opt;
      if (!top.try_read("optimizer", opt))
        throw DataError(path +
                        ": the checkpoint holds no optimizer state (not a training checkpoint)");
      check_optimizer_archive(opt, path);
      // The optimizer loads in place: keep its state to put back if the new one is refused.
      std::stringstream backup;
      {
        torch::serialize::OutputArchive kept;
        im.optimizer->save(kept);
        kept.save_to(backup);
      }
      try {
        im.optimizer->load(opt);
      } catch (const std::exception& err) {
        torch::serialize::InputArchive kept;
        kept.load_from(backup);
        im.optimizer->load(kept);
        throw DataError(path + ": the optimizer state does not fit this optimizer (" +
                        first_line(err.what()) + ")");
      }
    }
    // Only now, with everything read and checked, do the parameters change.
    torch::NoGradGuard no_grad;
    for (auto& [dst, value] : copies) dst.copy_(value);
    if (state) im.state = std::move(*state);
    return epoch;
  } catch (const Error&) {
    throw;  // ours, already naming the file
  } catch (const std::exception& err) {
    // c10::Error, but also TorchScript's errors on a damaged code record.
    throw DataError(path + ": not a readable checkpoint (" + first_line(err.what()) + ")");
  }
}

std::string spec_hash(const Network& network) {
  nlohmann::json j;
  try {
    j = network_to_json(network);
  } catch (const SpecError&) {
    // C++ callables and modules have no spec form: such networks can still save their
    // parameters, without a hash to compare.
    return "none";
  }
  // The label and train block do not change what is built.
  j.erase("label");
  j.erase("train");
  const std::string text = j.dump();
  uint64_t h = 1469598103934665603ull;  // FNV-1a, 64 bits
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

CheckpointInfo read_checkpoint_info(const std::string& path) {
  if (!std::filesystem::exists(path)) throw DataError(path + ": no such checkpoint file");
  CheckpointInfo info;
  try {
    torch::serialize::InputArchive top;
    top.load_from(path, torch::kCPU);
    c10::IValue v;
    if (!top.try_read("format", v) || !v.isString() || v.toStringRef() != kFormat)
      throw DataError(path + ": not a libsnn checkpoint (no \"" + std::string(kFormat) +
                      "\" format tag)");
    if (top.try_read("spec_hash", v) && v.isString()) info.spec_hash = v.toStringRef();
    if (top.try_read("library_version", v) && v.isString()) info.library_version = v.toStringRef();
    if (top.try_read("epoch", v) && v.isInt()) info.epoch = v.toInt();
    torch::serialize::InputArchive opt;
    info.has_optimizer = top.try_read("optimizer", opt);
    torch::serialize::InputArchive state;
    info.has_state = top.try_read("state", state);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& err) {
    throw DataError(path + ": not a readable checkpoint (" + first_line(err.what()) + ")");
  }
  return info;
}

std::string checkpoint_spec_mismatch(const std::string& path, const Network& network) {
  const std::string saved = read_checkpoint_info(path).spec_hash;
  const std::string here = spec_hash(network);
  if (saved.empty() || saved == "none" || here == "none" || saved == here) return "";
  return path + ": saved from another spec (content hash " + saved + ", this spec " + here +
         "); its parameters fit by name and shape, but what is not a parameter (seeds, "
         "initial states, probe decoders) comes from this spec";
}

}  // namespace snn
