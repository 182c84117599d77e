// Optimizers by name and the JSON forms of optimizer and loss options.
#include <torch/torch.h>

#include "snn/errors.h"
#include "snn/training.h"

namespace snn {

namespace {

using nlohmann::json;

const std::vector<std::string> kOptimizers = {"SGD", "Adam", "AdamW", "RMSprop", "Adagrad"};
const std::vector<std::string> kLosses = {"mse", "mae", "categorical_crossentropy",
                                          "sparse_categorical_crossentropy", "regularize"};

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

bool known(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

double number(const json& j, const std::string& where) {
  if (!j.is_number()) throw SpecError(where + ": expected a number, got " + j.dump());
  return j.get<double>();
}

}  // namespace

OptimizerOptions optimizer_from_json(const json& j, const std::string& where) {
  OptimizerOptions o;
  if (!j.is_object()) throw SpecError(where + ": expected an object such as {\"type\": \"Adam\"}");
  for (const auto& [key, v] : j.items()) {
    const std::string at = where + "/" + key;
    if (key == "type") {
      if (!v.is_string() || !known(kOptimizers, v.get<std::string>()))
        throw SpecError(at + ": unknown optimizer " + v.dump() + " (known: " + join(kOptimizers) +
                        ")");
      o.type(v.get<std::string>());
    } else if (key == "lr") {
      o.lr(number(v, at));
      if (!(o.lr() > 0)) throw SpecError(at + ": expected lr > 0");
    } else if (key == "momentum") {
      o.momentum(number(v, at));
    } else if (key == "nesterov") {
      if (!v.is_boolean()) throw SpecError(at + ": expected true or false");
      o.nesterov(v.get<bool>());
    } else if (key == "weight_decay") {
      o.weight_decay(number(v, at));
    } else if (key == "beta1") {
      o.beta1(number(v, at));
    } else if (key == "beta2") {
      o.beta2(number(v, at));
    } else if (key == "eps") {
      o.eps(number(v, at));
    } else if (key == "alpha" || key == "rho") {
      o.alpha(number(v, at));
    } else if (key == "schedule") {
      if (!v.is_string() || (v != "none" && v != "step" && v != "cosine"))
        throw SpecError(at + ": expected \"none\", \"step\" or \"cosine\", got " + v.dump());
      o.schedule(v.get<std::string>());
    } else if (key == "step_size") {
      if (!v.is_number_integer() || v.get<int64_t>() < 1)
        throw SpecError(at + ": expected an integer >= 1");
      o.step_size(v.get<int64_t>());
    } else if (key == "gamma") {
      o.gamma(number(v, at));
    } else {
      throw SpecError(at + ": unknown optimizer option");
    }
  }
  // LibTorch checks these only when the optimizer is made, in words that name no file.
  auto require = [&](bool ok, const char* key, const char* what) {
    if (!ok) throw SpecError(where + "/" + key + ": expected " + what);
  };
  require(o.momentum() >= 0, "momentum", "momentum >= 0");
  require(o.weight_decay() >= 0, "weight_decay", "weight_decay >= 0");
  require(o.beta1() >= 0 && o.beta1() < 1, "beta1", "0 <= beta1 < 1");
  require(o.beta2() >= 0 && o.beta2() < 1, "beta2", "0 <= beta2 < 1");
  require(o.eps() >= 0, "eps", "eps >= 0");
  require(o.alpha() >= 0, "alpha", "alpha >= 0");
  require(o.gamma() > 0, "gamma", "gamma > 0");
  return o;
}

LossOptions loss_from_json(const json& j, const std::string& where) {
  LossOptions l;
  if (!j.is_object()) throw SpecError(where + ": expected an object such as {\"type\": \"mse\"}");
  for (const auto& [key, v] : j.items()) {
    const std::string at = where + "/" + key;
    if (key == "type") {
      if (v == "custom")
        throw SpecError(at + ": a custom loss is a C++ function (snn::LossOptions::function); "
                             "a spec names one of " + join(kLosses));
      if (!v.is_string() || !known(kLosses, v.get<std::string>()))
        throw SpecError(at + ": unknown loss " + v.dump() + " (known: " + join(kLosses) + ")");
      l.type(v.get<std::string>());
    } else if (key == "from_logits") {
      if (!v.is_boolean()) throw SpecError(at + ": expected true or false");
      l.from_logits(v.get<bool>());
    } else if (key == "steps") {
      if (!v.is_string() || (v != "all" && v != "last" && v != "mean"))
        throw SpecError(at + ": expected \"all\", \"last\" or \"mean\", got " + v.dump());
      l.steps(v.get<std::string>());
    } else if (key == "order") {
      if (!v.is_number_integer() || v.get<int64_t>() < 1)
        throw SpecError(at + ": expected an integer >= 1");
      l.order(v.get<int64_t>());
    } else if (key == "axis") {
      if (!v.is_null() && (!v.is_number_integer() || v.get<int64_t>() < 0))
        throw SpecError(at + ": expected null or an axis (0, 1, ...) of the probed signal");
      l.axis(v.is_null() ? -1 : v.get<int64_t>());
    } else if (key == "weight") {
      l.weight(number(v, at));
    } else {
      throw SpecError(at + ": unknown loss option");
    }
  }
  return l;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerOptions& o,
                                                        std::vector<torch::Tensor> params) {
  const auto& t = o.type();
  if (t == "SGD")
    return std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(o.lr())
                    .momentum(o.momentum())
                    .nesterov(o.nesterov())
                    .weight_decay(o.weight_decay()));
  if (t == "Adam")
    return std::make_unique<torch::optim::Adam>(
        params, torch::optim::AdamOptions(o.lr())
                    .betas({o.beta1(), o.beta2()})
                    .eps(o.eps())
                    .weight_decay(o.weight_decay()));
  if (t == "AdamW")
    return std::make_unique<torch::optim::AdamW>(
        params, torch::optim::AdamWOptions(o.lr())
                    .betas({o.beta1(), o.beta2()})
                    .eps(o.eps())
                    .weight_decay(o.weight_decay()));
  if (t == "RMSprop")
    return std::make_unique<torch::optim::RMSprop>(
        params, torch::optim::RMSpropOptions(o.lr())
                    .alpha(o.alpha())
                    .eps(o.eps())
                    .momentum(o.momentum())
                    .weight_decay(o.weight_decay()));
  if (t == "Adagrad")
    return std::make_unique<torch::optim::Adagrad>(
        params, torch::optim::AdagradOptions(o.lr()).eps(o.eps()).weight_decay(o.weight_decay()));
  throw SpecError("optimizer: unknown type \"" + t + "\" (known: " + join(kOptimizers) + ")");
}

}  // namespace snn
