// Learning rule types (their options and spec form) and their build: which signals each rule
// reads and which tensor it changes, checked against the connection it sits on.
#include "snn/learning_rules.h"

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "build/model.h"
#include "snn/errors.h"

namespace snn {

namespace {

void check_rate(double lr, const char* type) {
  if (!(lr >= 0) || !std::isfinite(lr))
    throw SpecError(std::string(type) + ": learning_rate must be a finite number >= 0, got " +
                    std::to_string(lr));
}

}  // namespace

PES::PES(PESOptions o) : options_(std::move(o)) {
  check_rate(options_.learning_rate(), "PES");
  // Nengo refuses these too: with rate >= 1 the decoders oscillate and blow up.
  if (options_.learning_rate() >= 1.0)
    throw SpecError("PES: learning_rate must be below 1 (Nengo's rates are ~1e-4), got " +
                    std::to_string(options_.learning_rate()));
}
BCM::BCM(BCMOptions o) : options_(std::move(o)) { check_rate(options_.learning_rate(), "BCM"); }
Oja::Oja(OjaOptions o) : options_(std::move(o)) {
  check_rate(options_.learning_rate(), "Oja");
  if (!(options_.beta() >= 0))
    throw SpecError("Oja: beta must be >= 0, got " + std::to_string(options_.beta()));
}
Voja::Voja(VojaOptions o) : options_(std::move(o)) { check_rate(options_.learning_rate(), "Voja"); }

nlohmann::json PES::to_json() const {
  return {{"type", "PES"},
          {"learning_rate", options_.learning_rate()},
          {"pre_synapse", synapse_to_json(options_.pre_synapse())}};
}

nlohmann::json BCM::to_json() const {
  nlohmann::json j = {{"type", "BCM"},
                      {"learning_rate", options_.learning_rate()},
                      {"pre_synapse", synapse_to_json(options_.pre_synapse())},
                      {"theta_synapse", synapse_to_json(options_.theta_synapse())}};
  if (options_.post_synapse()) j["post_synapse"] = synapse_to_json(*options_.post_synapse());
  return j;
}

nlohmann::json Oja::to_json() const {
  nlohmann::json j = {{"type", "Oja"},
                      {"learning_rate", options_.learning_rate()},
                      {"pre_synapse", synapse_to_json(options_.pre_synapse())},
                      {"beta", options_.beta()}};
  if (options_.post_synapse()) j["post_synapse"] = synapse_to_json(*options_.post_synapse());
  return j;
}

nlohmann::json Voja::to_json() const {
  return {{"type", "Voja"},
          {"learning_rate", options_.learning_rate()},
          {"post_synapse", synapse_to_json(options_.post_synapse())}};
}

LearningRulePtr learning_rule_from_json(const nlohmann::json& j, const std::string& path) {
  const std::string where = path.empty() ? "learning_rule" : path;
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    throw SpecError(where + ": expected an object with \"type\" (PES, BCM, Oja, Voja), got " +
                    j.dump());
  const auto type = j["type"].get<std::string>();
  auto allow = [&](std::initializer_list<const char*> keys) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      bool ok = it.key() == "type";
      for (const char* k : keys) ok = ok || it.key() == k;
      if (!ok) throw SpecError(where + ": unknown key \"" + it.key() + "\" for " + type);
    }
  };
  auto number = [&](const char* key, double dflt) {
    if (!j.contains(key)) return dflt;
    if (!j[key].is_number())
      throw SpecError(where + "/" + key + ": expected a number, got " + j[key].dump());
    return j[key].get<double>();
  };
  auto synapse = [&](const char* key) { return synapse_from_json(j[key], where + "/" + key); };
  try {
    if (type == "PES") {
      allow({"learning_rate", "pre_synapse"});
      PESOptions o;
      o.learning_rate(number("learning_rate", o.learning_rate()));
      if (j.contains("pre_synapse")) o.pre_synapse(synapse("pre_synapse"));
      return std::make_shared<const PES>(o);
    }
    if (type == "BCM") {
      allow({"learning_rate", "pre_synapse", "post_synapse", "theta_synapse"});
      BCMOptions o;
      o.learning_rate(number("learning_rate", o.learning_rate()));
      if (j.contains("pre_synapse")) o.pre_synapse(synapse("pre_synapse"));
      if (j.contains("post_synapse")) o.post_synapse(synapse("post_synapse"));
      if (j.contains("theta_synapse")) o.theta_synapse(synapse("theta_synapse"));
      return std::make_shared<const BCM>(o);
    }
    if (type == "Oja") {
      allow({"learning_rate", "pre_synapse", "post_synapse", "beta"});
      OjaOptions o;
      o.learning_rate(number("learning_rate", o.learning_rate()));
      o.beta(number("beta", o.beta()));
      if (j.contains("pre_synapse")) o.pre_synapse(synapse("pre_synapse"));
      if (j.contains("post_synapse")) o.post_synapse(synapse("post_synapse"));
      return std::make_shared<const Oja>(o);
    }
    if (type == "Voja") {
      allow({"learning_rate", "post_synapse"});
      VojaOptions o;
      o.learning_rate(number("learning_rate", o.learning_rate()));
      if (j.contains("post_synapse")) o.post_synapse(synapse("post_synapse"));
      return std::make_shared<const Voja>(o);
    }
  } catch (const SpecError& e) {
    const std::string msg = e.what();
    if (msg.rfind(where, 0) == 0) throw;
    throw SpecError(where + ": " + msg);
  }
  throw SpecError(where + "/type: unknown learning rule \"" + type +
                  "\" (expected PES, BCM, Oja, Voja)");
}

namespace detail {

void build_learning_rules(Model& model) {
  using K = ObjRef::Kind;
  const double dt = model.dt;
  for (size_t ci = 0; ci < model.connections.size(); ++ci) {
    const auto& bc = model.connections[ci];
    const auto& c = *bc.connection;
    const auto& rule = c.options().learning_rule();
    if (!rule) continue;
    const auto name = c.describe() + ": " + rule->type();
    BuiltLearningRule r;
    r.rule = rule;
    r.connection = ci;
    const auto& pre = c.pre();
    const auto& post = c.post();
    if (pre.kind == K::Ensemble || pre.kind == K::Neurons)
      r.pre_ensemble = model.ensemble_index.at(pre.ensemble.get());
    if (post.kind == K::Ensemble || post.kind == K::Neurons)
      r.post_ensemble = model.ensemble_index.at(post.ensemble.get());
    for (size_t e : {r.pre_ensemble, r.post_ensemble})
      if (e != BuiltLearningRule::kNone && model.ensembles[e].direct())
        throw BuildError(name + ": learning rules need neurons; " +
                         model.ensembles[e].ensemble->describe() + " is in Direct mode");
    auto filter = [&](const SynapsePtr& s) {
      return s ? std::optional<StateSpace>(s->discretize(dt)) : std::nullopt;
    };
    if (auto* pes = dynamic_cast<const PES*>(rule.get())) {
      r.kind = BuiltLearningRule::Kind::PES;
      r.pre_filter = filter(pes->options().pre_synapse());
      if (pre.kind == K::Neurons) {
        r.pre_index = bc.pre_index;
        r.pre_full = bc.pre_full;
      }
      const int64_t n_pre = pre.kind == K::Neurons ? static_cast<int64_t>(bc.pre_index.size())
                                                   : pre.ensemble->n_neurons();
      r.alpha = -pes->learning_rate() * dt / static_cast<double>(n_pre);
      if (post.kind == K::Neurons) {
        r.to_neurons = true;
        r.post_index = bc.post_index;
        r.post_full = bc.post_full;
      }
      if (!bc.weights.defined() || bc.weights.dim() != 2)
        throw BuildError(name + ": PES needs a weight matrix (a decoded connection, or a 2-D "
                                "transform from neurons)");
    } else if (auto* bcm = dynamic_cast<const BCM*>(rule.get())) {
      r.kind = BuiltLearningRule::Kind::BCM;
      r.alpha = bcm->learning_rate() * dt;
      r.pre_filter = filter(bcm->options().pre_synapse());
      r.post_filter = filter(bcm->post_synapse());
      r.theta_filter = filter(bcm->options().theta_synapse());
    } else if (auto* oja = dynamic_cast<const Oja*>(rule.get())) {
      r.kind = BuiltLearningRule::Kind::Oja;
      r.alpha = oja->learning_rate() * dt;
      r.beta = oja->options().beta();
      r.pre_filter = filter(oja->options().pre_synapse());
      r.post_filter = filter(oja->post_synapse());
    } else if (auto* voja = dynamic_cast<const Voja*>(rule.get())) {
      r.kind = BuiltLearningRule::Kind::Voja;
      r.alpha = voja->learning_rate() * dt;
      r.post_filter = filter(voja->options().post_synapse());
    } else {
      throw BuildError(name + ": unknown learning rule type");
    }
    if (r.kind == BuiltLearningRule::Kind::BCM || r.kind == BuiltLearningRule::Kind::Oja) {
      const auto& w = bc.weights;
      const int64_t n_post = post.ensemble->n_neurons(), n_pre = pre.ensemble->n_neurons();
      if (!w.defined() || w.dim() != 2 || w.size(0) != n_post || w.size(1) != n_pre)
        throw BuildError(name + ": needs a 2-D transform of shape (" + std::to_string(n_post) +
                         ", " + std::to_string(n_pre) + ") [post neurons][pre neurons]");
    }
    r.error_size = ObjRef::learning_rule(bc.connection).size_in();
    model.learning_rule_index[&c] = model.learning_rules.size();
    model.learning_rules.push_back(std::move(r));
  }
  // Error connections must end on a rule of this network that accepts an error.
  for (const auto& bc : model.connections) {
    const auto& post = bc.connection->post();
    if (post.kind != K::LearningRule) continue;
    auto it = model.learning_rule_index.find(post.connection.get());
    if (it == model.learning_rule_index.end())
      throw BuildError(bc.connection->describe() + ": its post " + post.describe() +
                       " is not a learning rule of this network");
  }
}

}  // namespace detail
}  // namespace snn
