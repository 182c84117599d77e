// Simulator: build -> plan -> SimModule, plus the state, time and probe data that NengoDL's
// simulator keeps between calls.
#include "snn/simulator.h"

#include <cmath>
#include <limits>
#include <sstream>

#include <torch/torch.h>

#include "runtime/simulator_impl.h"
#include "snn/errors.h"
#include "train/progress_bar.h"

namespace snn {

using detail::SimState;

namespace {

/// dt and 1/dt (a spike's height) must both be finite numbers of the simulation's dtype; past
/// that, every step computes inf and NaN without a word.
void check_dt_fits(double dt, torch::Dtype dtype) {
  const double limit = dtype == torch::kFloat32
                           ? static_cast<double>(std::numeric_limits<float>::max())
                           : std::numeric_limits<double>::max();
  if (std::isfinite(dt) && dt > 0 && dt <= limit && 1.0 / dt <= limit) return;
  std::ostringstream s;
  s << "Simulator: dt " << dt << " does not fit "
    << (dtype == torch::kFloat32 ? "float32" : "float64")
    << ": dt and 1/dt (a spike's height) must both be finite and at most " << limit;
  if (dtype == torch::kFloat32 && std::isfinite(dt) && dt > 0) s << " (float64 would hold it)";
  throw SpecError(s.str());
}

}  // namespace

Simulator::Simulator(NetworkPtr network, SimulatorOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (!network) throw SpecError("Simulator: network is null");
  auto& im = *impl_;
  im.network = network;
  im.options = options;
  im.dt = options.dt() > 0 ? options.dt() : network->dt();
  if (options.minibatch_size() < 1)
    throw SpecError("Simulator: expected minibatch_size >= 1, got " +
                    std::to_string(options.minibatch_size()));
  if (options.dtype()) {
    im.dtype = *options.dtype();
  } else {
    const auto& d = network->settings().dtype();
    if (d == "float32") im.dtype = torch::kFloat32;
    else if (d == "float64") im.dtype = torch::kFloat64;
    else throw SpecError("settings.dtype: expected float32 or float64, got \"" + d + "\"");
  }
  if (im.dtype != torch::kFloat32 && im.dtype != torch::kFloat64)
    throw SpecError("Simulator: dtype must be float32 or float64");
  check_dt_fits(im.dt, im.dtype);
  if (options.device().is_cuda() && !torch::cuda::is_available())
    throw SpecError("Simulator: device " + options.device().str() +
                    " requested but CUDA is not available");
  im.model = std::make_shared<detail::Model>(detail::build_model(*network, im.dt, options.seed()));
  im.plan = std::make_shared<detail::Plan>(detail::make_plan(*im.model));
  detail::SimModuleOptions mo;
  mo.trainable_default = network->settings().trainable();
  mo.lif_smoothing = network->settings().lif_smoothing();
  const auto& mode = network->settings().training_mode();
  if (mode == "rate") mo.training_mode = detail::TrainingMode::Rate;
  else if (mode == "spiking") mo.training_mode = detail::TrainingMode::Spiking;
  else throw SpecError("settings.training_mode: expected \"rate\" or \"spiking\", got \"" + mode + "\"");
  mo.layered = options.layered();
  mo.train_synapses = network->settings().train_synapses();
  im.module = detail::SimModule(im.model, im.plan, im.dtype, options.device(), mo);
  im.module->eval();
  im.state = im.module->initial_state(options.minibatch_size());
  im.probe_chunks.resize(im.model->probes.size());
}

Simulator::~Simulator() = default;
Simulator::Simulator(Simulator&&) noexcept = default;
Simulator& Simulator::operator=(Simulator&&) noexcept = default;

void Simulator::run(double seconds, const Inputs& data) {
  run_steps(static_cast<int64_t>(std::llround(seconds / impl_->dt)), data);
}
void Simulator::run_steps(int64_t n, const Inputs& data) { impl_->run(n, data); }
void Simulator::step(const Inputs& data) { impl_->run(1, data); }

void Simulator::reset(std::optional<uint32_t> seed, ResetOptions options) {
  auto& im = *impl_;
  if (seed) im.options.seed(seed);
  if (options.include_trainable()) im.module->restore_parameters();
  const uint32_t process_seed = seed ? *seed : im.state.process_seed;
  const int64_t process_steps =
      options.include_processes() ? 0 : im.state.process_steps + im.state.step;
  im.state = im.module->initial_state(im.options.minibatch_size());
  // Nengo: processes redraw from a new seed; kept, they go on where they were.
  im.state.process_seed = process_seed;
  im.state.process_steps = process_steps;
  if (options.include_probes())
    for (auto& c : im.probe_chunks) c.clear();
}

void Simulator::soft_reset(bool include_probes) {
  reset(std::nullopt, ResetOptions().include_trainable(false).include_probes(include_probes));
}

ProbeData Simulator::predict(const Inputs& inputs, int64_t n_steps) {
  auto& im = *impl_;
  const int64_t B = im.options.minibatch_size();
  int64_t N = -1;
  for (const auto& [id, t] : inputs) {
    if (t.dim() < 2) throw DataError("input data for \"" + id + "\": expected (batch, steps, size)");
    if (N >= 0 && t.size(0) != N)
      throw DataError("input data for \"" + id + "\": batch size " + std::to_string(t.size(0)) +
                      " differs from the other inputs (" + std::to_string(N) + ")");
    N = t.size(0);
    if (t.dim() == 3) {
      if (n_steps < 0) n_steps = t.size(1);
      else if (t.size(1) != n_steps)
        throw DataError("input data for \"" + id + "\": has " + std::to_string(t.size(1)) +
                        " steps, expected " + std::to_string(n_steps));
    }
  }
  if (N < 0) N = B;
  if (n_steps < 0) throw DataError("predict: n_steps not given and no (batch, steps, size) data");
  if (N % B != 0)
    throw DataError("predict: the batch size " + std::to_string(N) +
                    " is not a multiple of the minibatch size " + std::to_string(B));
  torch::NoGradGuard no_grad;
  std::vector<std::vector<torch::Tensor>> parts(im.model->probes.size());
  for (int64_t start = 0; start < N; start += B) {
    Inputs chunk;
    for (const auto& [id, t] : inputs) chunk[id] = t.narrow(0, start, B);
    auto prepared = im.prepare(chunk, B, n_steps);
    SimState s = im.state.clone();  // NengoDL's stateful=False: each minibatch starts here
    auto out = im.module->forward(s, prepared, n_steps);
    for (size_t p = 0; p < out.size(); ++p) parts[p].push_back(out[p]);
  }
  ProbeData result;
  for (size_t p = 0; p < parts.size(); ++p) {
    auto all = torch::cat(parts[p], 0);
    if (!im.keep_history(p) && all.size(1) > 1) all = all.narrow(1, all.size(1) - 1, 1);
    result[im.model->probes[p].probe->id()] = all.to(torch::kCPU);
  }
  return result;
}

torch::Tensor Simulator::trange(std::optional<double> sample_every) const {
  const auto& im = *impl_;
  const double period = sample_every ? *sample_every / im.dt : 1.0;
  std::vector<double> t;
  for (int64_t k = 1; k <= im.state.step; ++k)
    if (std::fmod(static_cast<double>(k), period) < 1.0) t.push_back(static_cast<double>(k) * im.dt);
  return torch::tensor(t, torch::kFloat64);
}

torch::Tensor Simulator::data(const ProbePtr& probe) const {
  if (!probe) throw SpecError("Simulator::data: probe is null");
  const auto& im = *impl_;
  const auto& chunks = im.probe_chunks[im.probe_position(probe.get())];
  if (chunks.empty())
    return torch::zeros({im.options.minibatch_size(), 0, probe->size()}, torch::kFloat64);
  return torch::cat(chunks, 1).to(torch::kCPU, torch::kFloat64);
}

torch::Tensor Simulator::data(const std::string& probe_id) const {
  auto p = impl_->network->find_probe(probe_id);
  if (!p) throw SpecError("Simulator::data: no probe \"" + probe_id + "\"");
  return data(p);
}

EnsembleData Simulator::data(const EnsemblePtr& ensemble) const {
  const auto& im = *impl_;
  auto it = im.model->ensemble_index.find(ensemble.get());
  if (it == im.model->ensemble_index.end())
    throw SpecError("Simulator::data: " + (ensemble ? ensemble->describe() : std::string("null")) +
                    " is not part of this simulator's network");
  const auto& b = im.model->ensembles[it->second];
  const double radius = ensemble->options().radius();
  EnsembleData d;
  if (b.direct()) {  // Nengo gives None for what needs neurons
    d.encoders = b.encoders;
    d.scaled_encoders = b.scaled_encoders;
    d.eval_points = b.eval_points;
    return d;
  }
  // Live values: training may have changed the scaled encoders and biases (NengoDL's way of
  // reading gain and encoders back out of the scaled encoders).
  auto se = im.module->scaled_encoders(it->second).detach().to(torch::kCPU, torch::kFloat64);
  d.bias = im.module->bias(it->second).detach().to(torch::kCPU, torch::kFloat64);
  d.gain = radius * se.norm(2, 1) / b.encoders.norm(2, 1);
  d.encoders = radius * se / d.gain.unsqueeze(1);
  d.scaled_encoders = se;
  d.eval_points = b.eval_points;
  std::tie(d.max_rates, d.intercepts) = b.neuron_type->max_rates_intercepts(d.gain, d.bias);
  return d;
}

ConnectionData Simulator::data(const ConnectionPtr& connection) const {
  const auto& im = *impl_;
  auto it = im.model->connection_index.find(connection.get());
  if (it == im.model->connection_index.end())
    throw SpecError("Simulator::data: " +
                    (connection ? connection->describe() : std::string("null")) +
                    " is not part of this simulator's network");
  const auto& b = im.model->connections[it->second];
  ConnectionData d;
  const auto& w = im.module->weights(it->second);
  if (w.defined()) d.weights = w.detach().to(torch::kCPU, torch::kFloat64);
  d.decoders = b.decoders;
  d.eval_points = b.eval_points;
  return d;
}

int64_t Simulator::n_steps() const { return impl_->state.step; }
double Simulator::time() const { return static_cast<double>(impl_->state.step) * impl_->dt; }
double Simulator::dt() const { return impl_->dt; }
int64_t Simulator::minibatch_size() const { return impl_->options.minibatch_size(); }
torch::Dtype Simulator::dtype() const { return impl_->dtype; }
torch::Device Simulator::device() const { return impl_->options.device(); }
const Network& Simulator::network() const { return *impl_->network; }
torch::nn::Module& Simulator::module() { return *impl_->module; }

}  // namespace snn
