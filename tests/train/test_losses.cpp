// The losses on probe outputs (batch, samples, size), each against the value computed here
// element by element in plain double arithmetic from NengoDL's / Keras' definitions.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "snn/errors.h"
#include "train/losses.h"

namespace {

using snn::LossOptions;
using snn::detail::compute_loss;

constexpr int64_t B = 3, S = 4, D = 5;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

torch::Tensor random(std::vector<int64_t> shape, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::randn(shape, torch::kFloat64);
}

double el(const torch::Tensor& t, int64_t b, int64_t s, int64_t d) {
  return t[b][s][d].item<double>();
}

/// The samples a loss with `steps` looks at, as (sample index list); "mean" is handled apart.
std::vector<int64_t> samples_of(const std::string& steps) {
  if (steps == "last") return {S - 1};
  std::vector<int64_t> all;
  for (int64_t s = 0; s < S; ++s) all.push_back(s);
  return all;
}

/// Mean over (batch, selected samples, size) of err(out, target).
template <class Err>
double mean_elementwise(const torch::Tensor& out, const torch::Tensor& target,
                        const std::string& steps, Err err) {
  double sum = 0;
  int64_t count = 0;
  for (int64_t b = 0; b < B; ++b) {
    if (steps == "mean") {
      for (int64_t d = 0; d < D; ++d) {
        double o = 0, t = 0;
        for (int64_t s = 0; s < S; ++s) o += el(out, b, s, d) / S;
        for (int64_t s = 0; s < S; ++s) t += el(target, b, s, d) / S;
        sum += err(o, t);
        ++count;
      }
      continue;
    }
    for (int64_t s : samples_of(steps))
      for (int64_t d = 0; d < D; ++d) {
        sum += err(el(out, b, s, d), el(target, b, s, d));
        ++count;
      }
  }
  return sum / static_cast<double>(count);
}

double value(const torch::Tensor& t) { return t.item<double>(); }

/// log p_i per sample for one (b, s) row of logits / probabilities.
std::vector<double> log_probs(const torch::Tensor& out, int64_t b, int64_t s, bool logits) {
  std::vector<double> lp(D);
  if (logits) {
    double mx = -1e300;
    for (int64_t d = 0; d < D; ++d) mx = std::max(mx, el(out, b, s, d));
    double z = 0;
    for (int64_t d = 0; d < D; ++d) z += std::exp(el(out, b, s, d) - mx);
    for (int64_t d = 0; d < D; ++d) lp[d] = el(out, b, s, d) - mx - std::log(z);
  } else {
    // Keras: renormalise to sum 1, clip to [1e-7, 1 - 1e-7], log.
    double sum = 0;
    for (int64_t d = 0; d < D; ++d) sum += el(out, b, s, d);
    for (int64_t d = 0; d < D; ++d)
      lp[d] = std::log(std::clamp(el(out, b, s, d) / sum, 1e-7, 1.0 - 1e-7));
  }
  return lp;
}

}  // namespace

TEST_CASE("mse and mae are means over every item, sample and value", "[train][losses]") {
  auto out = random({B, S, D}, 1), target = random({B, S, D}, 2);
  const std::string steps = GENERATE("all", "last", "mean");
  INFO("steps " << steps);
  auto sq = [](double o, double t) { return (o - t) * (o - t); };
  auto ab = [](double o, double t) { return std::abs(o - t); };
  CHECK(value(compute_loss(LossOptions().type("mse").steps(steps), out, target)) ==
        Approx(mean_elementwise(out, target, steps, sq)).epsilon(1e-12));
  CHECK(value(compute_loss(LossOptions().type("mae").steps(steps), out, target)) ==
        Approx(mean_elementwise(out, target, steps, ab)).epsilon(1e-12));
  // The weight multiplies.
  CHECK(value(compute_loss(LossOptions().type("mse").steps(steps).weight(0.3), out, target)) ==
        Approx(0.3 * mean_elementwise(out, target, steps, sq)).epsilon(1e-12));
}

TEST_CASE("a (N, size) target is the same at every sample", "[train][losses]") {
  auto out = random({B, S, D}, 3), flat = random({B, D}, 4);
  auto target = flat.unsqueeze(1).expand({B, S, D}).contiguous();
  auto sq = [](double o, double t) { return (o - t) * (o - t); };
  for (std::string steps : {"all", "last", "mean"}) {
    INFO("steps " << steps);
    CHECK(value(compute_loss(LossOptions().type("mse").steps(steps), out, flat)) ==
          Approx(mean_elementwise(out, target, steps, sq)).epsilon(1e-12));
  }
}

TEST_CASE("mse: NaN targets count as zero error but stay in the mean", "[train][losses]") {
  auto out = random({B, S, D}, 5), target = random({B, S, D}, 6);
  target[0][1][2] = kNaN;
  target[2][3].fill_(kNaN);
  double sum = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s)
      for (int64_t d = 0; d < D; ++d) {
        const double t = el(target, b, s, d);
        if (!std::isnan(t)) sum += (el(out, b, s, d) - t) * (el(out, b, s, d) - t);
      }
  const double expected = sum / (B * S * D);  // NengoDL's nan_mse: NaNs in the denominator
  auto o = out.clone().requires_grad_(true);
  auto loss = compute_loss(LossOptions().type("mse"), o, target);
  CHECK(value(loss) == Approx(expected).epsilon(1e-12));
  // Masked values pass no gradient (and no NaN) back.
  loss.backward();
  CHECK(torch::isfinite(o.grad()).all().item<bool>());
  CHECK(o.grad()[0][1][2].item<double>() == 0.0);
  CHECK(o.grad()[2][3].abs().sum().item<double>() == 0.0);
  CHECK(o.grad()[0][0][0].item<double>() ==
        Approx(2 * (el(out, 0, 0, 0) - el(target, 0, 0, 0)) / (B * S * D)));
}

TEST_CASE("categorical cross-entropy from logits and from probabilities", "[train][losses]") {
  auto logits = random({B, S, D}, 7);
  auto probs = torch::rand({B, S, D}, torch::kFloat64) * 3 + 1e-3;  // unnormalised
  probs[1][2][0] = 0.0;  // clipped to 1e-7 before the log
  auto onehot = torch::zeros({B, S, D}, torch::kFloat64);
  auto soft_t = torch::softmax(random({B, S, D}, 8), -1);  // soft targets are allowed
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s) onehot[b][s][(b + 2 * s) % D] = 1.0;
  for (bool from_logits : {true, false}) {
    const auto& out = from_logits ? logits : probs;
    for (const auto* target : {&onehot, &soft_t}) {
      for (std::string steps : {"all", "last"}) {
        double sum = 0;
        int64_t count = 0;
        for (int64_t b = 0; b < B; ++b)
          for (int64_t s : samples_of(steps)) {
            const auto lp = log_probs(out, b, s, from_logits);
            double ce = 0;
            for (int64_t d = 0; d < D; ++d) ce -= el(*target, b, s, d) * lp[d];
            sum += ce;
            ++count;
          }
        INFO("from_logits " << from_logits << ", steps " << steps);
        auto l = compute_loss(LossOptions()
                                  .type("categorical_crossentropy")
                                  .from_logits(from_logits)
                                  .steps(steps),
                              out, *target);
        CHECK(value(l) == Approx(sum / count).epsilon(1e-12));
      }
    }
  }
}

TEST_CASE("sparse categorical cross-entropy takes integer labels per item", "[train][losses]") {
  auto logits = random({B, S, D}, 9);
  auto probs = torch::rand({B, S, D}, torch::kFloat64) + 0.1;
  auto labels = torch::tensor({4, 0, 2}, torch::kLong);
  for (bool from_logits : {true, false}) {
    const auto& out = from_logits ? logits : probs;
    for (std::string steps : {"all", "last", "mean"}) {
      double sum = 0;
      int64_t count = 0;
      for (int64_t b = 0; b < B; ++b) {
        const int64_t label = labels[b].item<int64_t>();
        if (steps == "mean") {
          // The mean output over samples is classified once.
          auto mean_out = out.mean(1, true);
          sum -= log_probs(mean_out, b, 0, from_logits)[label];
          ++count;
          continue;
        }
        for (int64_t s : samples_of(steps)) {
          sum -= log_probs(out, b, s, from_logits)[label];
          ++count;
        }
      }
      INFO("from_logits " << from_logits << ", steps " << steps);
      auto l = compute_loss(LossOptions()
                                .type("sparse_categorical_crossentropy")
                                .from_logits(from_logits)
                                .steps(steps),
                            out, labels);
      CHECK(value(l) == Approx(sum / count).epsilon(1e-12));
    }
  }
}

TEST_CASE("regularize is NengoDL's mean of per-step norms", "[train][losses]") {
  auto out = random({B, S, D}, 10);
  const int64_t order = GENERATE(1, 2, 3);
  // NengoDL's Regularize(order, axis=None): the norm of each step's signal, averaged over
  // batch and steps; needs no target.
  double sum = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s) {
      double acc = 0;
      for (int64_t d = 0; d < D; ++d) acc += std::pow(std::abs(el(out, b, s, d)), order);
      sum += std::pow(acc, 1.0 / order);
    }
  INFO("order " << order);
  CHECK(value(compute_loss(LossOptions().type("regularize").order(order), out, {})) ==
        Approx(sum / (B * S)).epsilon(1e-12));
  CHECK(value(compute_loss(LossOptions().type("regularize").order(order).weight(0.01), out,
                           {})) == Approx(0.01 * sum / (B * S)).epsilon(1e-12));
  // An explicit axis counts over one sample's signal, as NengoDL (not batch and time): on
  // a vector signal axis 0 is the whole vector; on a (rows, cols) signal (2 x 3 here) axis 0
  // is the norm of each column, axis 1 of each row, the mean over the rest.
  CHECK(value(compute_loss(LossOptions().type("regularize").order(order).axis(0), out, {})) ==
        Approx(sum / (B * S)).epsilon(1e-12));
  auto w = random({B, S, 6}, 11);
  for (int64_t axis = 0; axis < 2; ++axis) {
    const int64_t rows = 2, cols = 3;
    double total = 0;
    int64_t count = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t s = 0; s < S; ++s)
        for (int64_t other = 0; other < (axis == 0 ? cols : rows); ++other) {
          double acc = 0;
          for (int64_t k = 0; k < (axis == 0 ? rows : cols); ++k) {
            const int64_t r = axis == 0 ? k : other, c = axis == 0 ? other : k;
            acc += std::pow(std::abs(el(w, b, s, r * cols + c)), order);
          }
          total += std::pow(acc, 1.0 / order);
          ++count;
        }
    INFO("axis " << axis);
    CHECK(value(compute_loss(LossOptions().type("regularize").order(order).axis(axis), w, {},
                             {rows, cols})) == Approx(total / count).epsilon(1e-12));
  }
  CHECK_THROWS_WITH(snn::detail::check_regularize_axis(LossOptions().type("regularize").axis(1),
                                                       {6}, "p"),
                    Catch::Matchers::Contains("\"p\"") && Catch::Matchers::Contains("axis 1") &&
                        Catch::Matchers::Contains("NengoDL"));
  CHECK_NOTHROW(snn::detail::check_regularize_axis(LossOptions().type("regularize").axis(1),
                                                   {2, 3}, "p"));
}

TEST_CASE("check_target rejects targets that do not fit, naming the probe", "[train][losses]") {
  using snn::detail::check_target;
  using Catch::Matchers::Contains;
  const auto mse = LossOptions().type("mse");
  const auto sparse = LossOptions().type("sparse_categorical_crossentropy");
  CHECK_NOTHROW(check_target(mse, torch::zeros({2, 4, 3}), 4, 3, "p"));
  CHECK_NOTHROW(check_target(mse, torch::zeros({2, 3}), 4, 3, "p"));
  CHECK_NOTHROW(check_target(LossOptions().type("regularize"), {}, 4, 3, "p"));
  CHECK_THROWS_WITH(check_target(mse, torch::zeros({2, 4, 2}), 4, 3, "p"),
                    Contains("probe \"p\"") && Contains("expected shape (N, 4, 3)"));
  CHECK_THROWS_WITH(check_target(mse, {}, 4, 3, "p"), Contains("missing"));
  CHECK_THROWS_WITH(check_target(mse, torch::zeros({2}, torch::kLong), 4, 3, "p"),
                    Contains("sparse_categorical_crossentropy"));
  CHECK_THROWS_WITH(check_target(sparse, torch::zeros({2, 3}), 4, 3, "p"),
                    Contains("integer labels"));
  CHECK_THROWS_WITH(check_target(sparse, torch::tensor({0, 3}, torch::kLong), 4, 3, "p"),
                    Contains("label 3 at item 1") && Contains("[0, 3)"));
}

TEST_CASE("count_correct compares the argmax with labels or one-hot targets",
          "[train][losses]") {
  auto out = torch::zeros({2, 3, 4}, torch::kFloat64);
  // item 0 predicts class 1 at every sample; item 1 predicts 0, 2, 3.
  out[0].select(1, 1).fill_(1.0);
  out[1][0][0] = 1;
  out[1][1][2] = 1;
  out[1][2][3] = 1;
  auto labels = torch::tensor({1, 3}, torch::kLong);
  CHECK(snn::detail::count_correct(out, labels, "all") == std::pair<int64_t, int64_t>{4, 6});
  CHECK(snn::detail::count_correct(out, labels, "last") == std::pair<int64_t, int64_t>{2, 2});
  auto onehot = torch::zeros({2, 4}, torch::kFloat64);
  onehot[0][1] = 1;
  onehot[1][2] = 1;
  CHECK(snn::detail::count_correct(out, onehot, "all") == std::pair<int64_t, int64_t>{4, 6});
}
