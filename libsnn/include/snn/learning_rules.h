#pragma once
/// \file learning_rules.h
/// Online learning rules (Nengo's `nengo.learning_rules`): they change a connection's
/// weights or the post ensemble's encoders while the simulation runs, in inference and in
/// training, with Nengo's update equations and step order.
///
///     auto conn = net->connect(pre, post, snn::ConnectionOptions().learning_rule(
///                                             snn::PES::make(snn::PESOptions().learning_rate(1e-4))));
///     net->connect(error, snn::ObjRef::learning_rule(conn));   // error = actual - target
///
/// A rule's delta computed in step k reaches the weights in step k + 1 (Nengo's
/// `Copy(delta, weights, inc=True)` reads delta before the rule updates it). Filters on
/// activities (pre/post/theta synapses) have no delay; the error connection's own synapse
/// delays like any other.
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>
#include <torch/arg.h>

#include "snn/synapses.h"

namespace snn {

class LearningRule {
 public:
  /// What the rule changes: a decoded connection's decoders (combined with the transform),
  /// a neuron-to-neuron weight matrix, or the post ensemble's (scaled) encoders.
  enum class Modifies { Decoders, Weights, Encoders };
  virtual ~LearningRule() = default;
  virtual std::string type() const = 0;
  virtual Modifies modifies() const = 0;
  virtual double learning_rate() const = 0;
  /// `{"type": "PES", "learning_rate": ..., ...}`.
  virtual nlohmann::json to_json() const = 0;
};
using LearningRulePtr = std::shared_ptr<const LearningRule>;  // as in snn/network.h

/// Prescribed Error Sensitivity: delta = -learning_rate * dt / n_pre * outer(error, a_pre),
/// a_pre the pre neurons' output filtered by `pre_synapse`. The error (actual - target) has
/// the post's dimensions (the post ensemble's dimensions when post is neurons; it is then
/// projected onto the neurons through their scaled encoders).
struct PESOptions {
  TORCH_ARG(double, learning_rate) = 1e-4;
  /// nullptr: unfiltered activities.
  TORCH_ARG(SynapsePtr, pre_synapse) = std::make_shared<Lowpass>(0.005);

 public:
  PESOptions& pre_synapse(double tau) { return pre_synapse(std::make_shared<Lowpass>(tau)); }
};

class PES : public LearningRule {
 public:
  explicit PES(PESOptions options = {});
  static std::shared_ptr<const PES> make(PESOptions options = {}) {
    return std::make_shared<const PES>(std::move(options));
  }
  std::string type() const override { return "PES"; }
  Modifies modifies() const override { return Modifies::Decoders; }
  double learning_rate() const override { return options_.learning_rate(); }
  nlohmann::json to_json() const override;
  const PESOptions& options() const { return options_; }

 private:
  PESOptions options_;
};

/// Bienenstock-Cooper-Munro, on a neuron-to-neuron weight matrix:
/// delta = learning_rate * dt * outer(a_post * (a_post - theta), a_pre), theta the post
/// activities filtered by `theta_synapse`.
struct BCMOptions {
  TORCH_ARG(double, learning_rate) = 1e-9;
  TORCH_ARG(SynapsePtr, pre_synapse) = std::make_shared<Lowpass>(0.005);
  /// Unset: the same as pre_synapse (Nengo's default); nullptr: unfiltered.
  TORCH_ARG(std::optional<SynapsePtr>, post_synapse);
  TORCH_ARG(SynapsePtr, theta_synapse) = std::make_shared<Lowpass>(1.0);

 public:
  BCMOptions& pre_synapse(double tau) { return pre_synapse(std::make_shared<Lowpass>(tau)); }
  BCMOptions& post_synapse(double tau) {
    return post_synapse(SynapsePtr(std::make_shared<Lowpass>(tau)));
  }
  BCMOptions& theta_synapse(double tau) { return theta_synapse(std::make_shared<Lowpass>(tau)); }
};

class BCM : public LearningRule {
 public:
  explicit BCM(BCMOptions options = {});
  static std::shared_ptr<const BCM> make(BCMOptions options = {}) {
    return std::make_shared<const BCM>(std::move(options));
  }
  std::string type() const override { return "BCM"; }
  Modifies modifies() const override { return Modifies::Weights; }
  double learning_rate() const override { return options_.learning_rate(); }
  nlohmann::json to_json() const override;
  const BCMOptions& options() const { return options_; }
  /// The post synapse in effect (pre_synapse unless set).
  SynapsePtr post_synapse() const { return options_.post_synapse().value_or(options_.pre_synapse()); }

 private:
  BCMOptions options_;
};

/// Oja's rule, on a neuron-to-neuron weight matrix W:
/// delta = learning_rate * dt * (outer(a_post, a_pre) - beta * a_post^2 [:, None] * W).
struct OjaOptions {
  TORCH_ARG(double, learning_rate) = 1e-6;
  TORCH_ARG(SynapsePtr, pre_synapse) = std::make_shared<Lowpass>(0.005);
  /// Unset: the same as pre_synapse (Nengo's default); nullptr: unfiltered.
  TORCH_ARG(std::optional<SynapsePtr>, post_synapse);
  TORCH_ARG(double, beta) = 1.0;

 public:
  OjaOptions& pre_synapse(double tau) { return pre_synapse(std::make_shared<Lowpass>(tau)); }
  OjaOptions& post_synapse(double tau) {
    return post_synapse(SynapsePtr(std::make_shared<Lowpass>(tau)));
  }
};

class Oja : public LearningRule {
 public:
  explicit Oja(OjaOptions options = {});
  static std::shared_ptr<const Oja> make(OjaOptions options = {}) {
    return std::make_shared<const Oja>(std::move(options));
  }
  std::string type() const override { return "Oja"; }
  Modifies modifies() const override { return Modifies::Weights; }
  double learning_rate() const override { return options_.learning_rate(); }
  nlohmann::json to_json() const override;
  const OjaOptions& options() const { return options_; }
  SynapsePtr post_synapse() const { return options_.post_synapse().value_or(options_.pre_synapse()); }

 private:
  OjaOptions options_;
};

/// Vector Oja, on the post ensemble's scaled encoders E:
/// delta = learning_rate * dt * L * ((gain / radius)[:, None] * outer(a_post, x) - a_post[:, None] * E),
/// x this connection's output, a_post the post neurons' output filtered by `post_synapse`,
/// L the learning signal: 1 plus whatever is connected to the rule (connect -1 to stop it).
struct VojaOptions {
  TORCH_ARG(double, learning_rate) = 1e-2;
  TORCH_ARG(SynapsePtr, post_synapse) = std::make_shared<Lowpass>(0.005);

 public:
  VojaOptions& post_synapse(double tau) { return post_synapse(std::make_shared<Lowpass>(tau)); }
};

class Voja : public LearningRule {
 public:
  explicit Voja(VojaOptions options = {});
  static std::shared_ptr<const Voja> make(VojaOptions options = {}) {
    return std::make_shared<const Voja>(std::move(options));
  }
  std::string type() const override { return "Voja"; }
  Modifies modifies() const override { return Modifies::Encoders; }
  double learning_rate() const override { return options_.learning_rate(); }
  nlohmann::json to_json() const override;
  const VojaOptions& options() const { return options_; }

 private:
  VojaOptions options_;
};

/// A rule from its spec form `{"type": "PES" | "BCM" | "Oja" | "Voja", ...}` (missing
/// fields take Nengo's defaults; synapses as in a connection's `synapse`). Throws SpecError
/// naming `path` and the field at fault.
LearningRulePtr learning_rule_from_json(const nlohmann::json& j, const std::string& path = "");

}  // namespace snn
