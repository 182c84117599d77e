#pragma once
/// \file processes.h
/// Nengo's processes: signals generated step by step, used as a Node's output
/// (`NodeOptions::output(process)`) or as an ensemble's `noise` (added to the neurons' input
/// current every step). Each is an Options struct plus one class, shared immutably:
///
///     auto ws = std::make_shared<snn::WhiteSignal>(snn::WhiteSignalOptions(1.0, 5.0).rms(0.3));
///     auto stim = net->node(snn::NodeOptions().id("stim").output(ws).size_out(2));
///     auto noisy = net->ensemble(snn::EnsembleOptions(50, 1).noise(
///         std::make_shared<snn::WhiteNoise>(snn::WhiteNoiseOptions().scale(false))));
///
/// Step k of a simulation sees the value at t = k dt (the first step t = dt), as Nengo's
/// `Node(output=process)`. Random processes (WhiteSignal, WhiteNoise) draw from their own
/// `seed` when given (then every minibatch item sees the same signal, as in NengoDL, where
/// every item's generator starts from that seed) and otherwise from the simulator seed, with
/// a separate draw per object and per minibatch item. Values are generated in float64 and
/// depend only on the seed and the step index, so several run_steps calls give the same
/// signal as one long run, and reset() starts it over.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/arg.h>
#include <torch/types.h>

#include "snn/dists.h"

namespace snn {

class Process;
using ProcessPtr = std::shared_ptr<const Process>;

/// A signal generator (Nengo's `nengo.Process`). Subclasses are immutable once shared.
class Process {
 public:
  virtual ~Process() = default;

  /// The spec's type name ("WhiteSignal", ...).
  virtual std::string type() const = 0;
  /// The parameters in spec form, without `type` and `seed`.
  virtual nlohmann::json params() const = 0;
  /// Spec form: `{"type": ..., params..., "seed": n or null}`.
  nlohmann::json to_json() const;

  /// The process's own seed; unset: drawn from the simulator seed.
  virtual std::optional<uint32_t> seed() const = 0;
  /// Whether the output is drawn at random (the same for every minibatch item otherwise).
  virtual bool random() const { return false; }
  /// Input size (0: a function of time only; every process here takes no input).
  virtual int64_t size_in() const { return 0; }
  /// The output size when the node gives none (Nengo's default_size_out): 1, or the size of
  /// the values of PresentInput and Piecewise.
  virtual int64_t default_size_out() const { return 1; }
  /// Whether the output size is fixed by the parameters (PresentInput, Piecewise).
  virtual bool fixed_size() const { return false; }

  /// Checks the parameters against the time step (WhiteSignal's `high` must not exceed the
  /// Nyquist frequency 0.5/dt); throws SpecError ("WhiteSignal: ...").
  virtual void check(double dt) const { (void)dt; }

  /// The outputs of steps `first_step + 1 ... first_step + n_steps` (step k at t = k dt) of one
  /// draw with `seed`, as a (n_steps, size) float64 tensor on the CPU. Deterministic: the same
  /// arguments give the same values, and consecutive ranges join up seamlessly.
  virtual torch::Tensor sample(int64_t size, double dt, int64_t first_step, int64_t n_steps,
                               uint32_t seed) const = 0;
};

// ------------------------------------------------------------------------------------------
struct WhiteSignalOptions {
  WhiteSignalOptions(double period, double high) : period_(period), high_(high) {}
  /// Seconds after which the signal repeats (> 0).
  TORCH_ARG(double, period);
  /// Cut-off frequency in Hz: 1/period <= high <= 0.5/dt.
  TORCH_ARG(double, high);
  /// Root mean square of the signal (> 0).
  TORCH_ARG(double, rms) = 0.5;
  /// Shift each dimension so that it starts at the sample closest to y0.
  TORCH_ARG(std::optional<double>, y0);
  TORCH_ARG(std::optional<uint32_t>, seed);
};

/// Band-limited white noise made in the frequency domain (Nengo's algorithm): with
/// N = ceil(period/dt/2), N+1 complex coefficients per dimension are drawn N(0, rms^2/2)
/// (imaginary parts first, then real), the constant term and the Nyquist term's imaginary
/// part are zeroed, so are the bins above `high`; the rest are scaled by
/// sqrt(2N / (1 - zeroed/N)) and inverse-FFT'd to 2N samples, periodic with `period`.
/// Step k outputs sample k mod 2N (so the signal has equal power at every frequency up to
/// `high`, none above, and RMS `rms` in expectation).
class WhiteSignal : public Process {
 public:
  /// Throws SpecError when period <= 0, rms <= 0 or high < 1/period.
  explicit WhiteSignal(WhiteSignalOptions o);
  std::string type() const override { return "WhiteSignal"; }
  nlohmann::json params() const override;
  std::optional<uint32_t> seed() const override { return options.seed(); }
  bool random() const override { return true; }
  void check(double dt) const override;
  torch::Tensor sample(int64_t size, double dt, int64_t first_step, int64_t n_steps,
                       uint32_t seed) const override;
  /// One whole period, (2N, size): step k outputs row k mod 2N.
  torch::Tensor period_signal(int64_t size, double dt, uint32_t seed) const;
  const WhiteSignalOptions options;
};

struct WhiteNoiseOptions {
  /// The distribution of each sample.
  TORCH_ARG(DistributionPtr, dist) = std::make_shared<Gaussian>(0.0, 1.0);
  /// Divide the samples by sqrt(dt), so that integrated noise does not depend on dt.
  TORCH_ARG(bool, scale) = true;
  TORCH_ARG(std::optional<uint32_t>, seed);
};

/// A fresh sample of `dist` every step (Nengo's WhiteNoise), times 1/sqrt(dt) with `scale`.
/// Samples are drawn in blocks of steps, each block from its own generator derived from the
/// seed and the block index, so any range of steps can be produced without replaying the
/// ones before it.
class WhiteNoise : public Process {
 public:
  explicit WhiteNoise(WhiteNoiseOptions o = {});
  std::string type() const override { return "WhiteNoise"; }
  nlohmann::json params() const override;
  std::optional<uint32_t> seed() const override { return options.seed(); }
  bool random() const override { return true; }
  torch::Tensor sample(int64_t size, double dt, int64_t first_step, int64_t n_steps,
                       uint32_t seed) const override;
  const WhiteNoiseOptions options;
};

struct PresentInputOptions {
  /// One input per row (each row is flattened); at least one row.
  PresentInputOptions(torch::Tensor inputs, double presentation_time)
      : inputs_(std::move(inputs)), presentation_time_(presentation_time) {}
  PresentInputOptions(const std::vector<std::vector<double>>& inputs, double presentation_time);
  TORCH_ARG(torch::Tensor, inputs);
  /// Seconds each input is shown (> 0).
  TORCH_ARG(double, presentation_time);
  TORCH_ARG(std::optional<uint32_t>, seed);
};

/// Shows each input for presentation_time seconds, cycling: step k (t = k dt) outputs
/// inputs[floor((t - dt) / presentation_time + 1e-7) mod n] (Nengo's rule).
class PresentInput : public Process {
 public:
  /// The inputs as (n, size) float64.
  const torch::Tensor& rows() const { return rows_; }
  /// Throws SpecError when there are no inputs or presentation_time <= 0.
  explicit PresentInput(PresentInputOptions o);
  std::string type() const override { return "PresentInput"; }
  nlohmann::json params() const override;
  std::optional<uint32_t> seed() const override { return options.seed(); }
  int64_t default_size_out() const override;
  bool fixed_size() const override { return true; }
  torch::Tensor sample(int64_t size, double dt, int64_t first_step, int64_t n_steps,
                       uint32_t seed) const override;
  const PresentInputOptions options;

 private:
  torch::Tensor rows_;
};

/// Piecewise's points: time (s) -> value.
using PiecewiseData = std::map<double, std::vector<double>>;

struct PiecewiseOptions {
  /// Every value has the same size (at least one point).
  explicit PiecewiseOptions(PiecewiseData data) : data_(std::move(data)) {}
  TORCH_ARG(PiecewiseData, data);
  /// "zero": each value holds from its time until the next one (zeros before the first);
  /// "linear": linear interpolation between the points, zero outside [first, last] time
  /// (scipy's interp1d with fill_value=0, as Nengo).
  TORCH_ARG(std::string, interpolation) = "zero";
  TORCH_ARG(std::optional<uint32_t>, seed);
};

/// A piecewise function of time (Nengo's Piecewise). With "zero", step k (t = k dt) outputs
/// the value of the last time <= t + dt/2 (so a value given for t0 appears from the step
/// nearest t0, without float rounding trouble).
class Piecewise : public Process {
 public:
  /// Throws SpecError on empty data, values of different sizes or an unknown interpolation.
  explicit Piecewise(PiecewiseOptions o);
  std::string type() const override { return "Piecewise"; }
  nlohmann::json params() const override;
  std::optional<uint32_t> seed() const override { return options.seed(); }
  int64_t default_size_out() const override;
  bool fixed_size() const override { return true; }
  torch::Tensor sample(int64_t size, double dt, int64_t first_step, int64_t n_steps,
                       uint32_t seed) const override;
  /// The value at time t (float64, size default_size_out()).
  std::vector<double> value_at(double t, double dt) const;
  const PiecewiseOptions options;
};

// ------------------------------------------------------------------------------------------
/// A process from its spec form (`{"type": "WhiteSignal", "period": 1, "high": 5}`); throws
/// SpecError naming `path` (and the field) on unknown types, unknown fields or bad values.
ProcessPtr process_from_json(const nlohmann::json& j, const std::string& path = "");
/// The process types process_from_json knows.
std::vector<std::string> process_type_names();

}  // namespace snn
