// Online learning rules (PES, BCM, Oja, Voja) against updates computed here by hand from
// Nengo's formulas (nengo/builder/learning_rules.py), on tiny rectified-linear networks with
// explicit gains, biases and encoders, so every activity follows from a few lines of
// arithmetic. Step order under test: a rule's delta of step k joins the weights in step
// k + 1; the rule's own filters have no delay; the error connection's synapse delays by one.
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <vector>

#include "snn/errors.h"
#include "snn/learning_rules.h"
#include "snn/network.h"
#include "snn/simulator.h"
#include "snn/spec.h"

namespace {

using Vec = std::vector<double>;
using Mat = std::vector<Vec>;
constexpr double kDt = 0.001;

snn::SimulatorOptions f64(int64_t batch = 1) {
  return snn::SimulatorOptions().dtype(torch::kFloat64).minibatch_size(batch).progress_bar(false);
}
double relu(double x) { return x > 0 ? x : 0.0; }
/// Nengo's Lowpass(tau) at dt (zero-order hold): y = a y + (1 - a) u, no delay.
struct Low {
  explicit Low(double tau) : a(std::exp(-kDt / tau)) {}
  double a;
  Vec y;
  const Vec& step(const Vec& u) {
    if (y.empty()) y.assign(u.size(), 0.0);
    for (size_t i = 0; i < u.size(); ++i) y[i] = a * y[i] + (1 - a) * u[i];
    return y;
  }
};
/// A probe sample (batch item b, sample k) as a vector.
Vec row(const torch::Tensor& data, int64_t b, int64_t k) {
  auto r = data[b][k].contiguous();
  return Vec(r.data_ptr<double>(), r.data_ptr<double>() + r.numel());
}
void check_close(const Vec& got, const Vec& want, double tol, const std::string& what) {
  INFO(what);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).margin(tol));
}

snn::EnsembleOptions relu_ens(int64_t n, int64_t d, Vec gain, Vec bias, Mat enc,
                              double radius = 1.0) {
  return snn::EnsembleOptions(n, d)
      .neuron_type(snn::RectifiedLinear())
      .gain(snn::Init(gain))
      .bias(snn::Init(bias))
      .encoders(snn::Init(enc))
      .normalize_encoders(false)
      .radius(radius);
}

/// stim (constant x) -> pre (2 ReLU neurons) -[PES]-> out node; error = out - target,
/// through the error connections' synapse (tau_err; 0 = none).
struct PesNet {
  snn::NetworkPtr net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(1));
  snn::ConnectionPtr conn;
  snn::ProbePtr p_w, p_out;
  PesNet(double x, double target_value, double lr, double tau_err, bool target_from_data) {
    auto stim = net->node(snn::NodeOptions().id("stim").output(x));
    auto target = target_from_data
                      ? net->node(snn::NodeOptions().id("target").size_out(1))
                      : net->node(snn::NodeOptions().id("target").output(target_value));
    auto pre = net->ensemble(relu_ens(2, 1, {1.0, 2.0}, {0.5, 0.1}, {{1.0}, {-1.0}}).id("pre"));
    auto out = net->node(snn::NodeOptions().id("out").size_in(1));
    net->connect(stim, pre, snn::ConnectionOptions().synapse(nullptr));
    conn = net->connect(
        pre, out,
        snn::ConnectionOptions()
            .id("learn")
            .synapse(nullptr)
            .solver(std::make_shared<snn::NoSolver>(torch::tensor({{0.3}, {-0.2}}, torch::kFloat64)))
            .learning_rule(snn::PES::make(snn::PESOptions().learning_rate(lr).pre_synapse(0.005))));
    auto err_syn = [&] {
      auto o = snn::ConnectionOptions();
      return tau_err > 0 ? o.synapse(tau_err) : o.synapse(nullptr);
    };
    net->connect(out, snn::ObjRef::learning_rule(conn), err_syn());
    net->connect(target, snn::ObjRef::learning_rule(conn), err_syn().transform(-1.0));
    p_w = net->probe(conn, snn::ProbeOptions().attr("weights"));
    p_out = net->probe(out);
  }
};

/// The same by hand: weights after each step (as probed: before that step's delta).
std::vector<Vec> pes_by_hand(double x, double target, double lr, double tau_err, int steps,
                             std::vector<double>* outs = nullptr) {
  const Vec a = {relu(1.0 * x + 0.5), relu(2.0 * -x + 0.1)};
  Vec W = {0.3, -0.2};
  Low pre_f(0.005);
  Low err_f(tau_err > 0 ? tau_err : 1.0);
  double err_delivered = 0.0;  // the error connection's output seen this step
  std::vector<Vec> probed;
  for (int k = 1; k <= steps; ++k) {
    const double y = W[0] * a[0] + W[1] * a[1];
    if (outs) outs->push_back(y);
    const double u = y - target;
    double e;
    if (tau_err > 0) {
      e = err_delivered;                 // last step's filter output
      err_delivered = err_f.step({u})[0];  // ... this step's, seen next step
    } else {
      e = u;
    }
    const Vec& af = pre_f.step(a);
    probed.push_back(W);
    for (int i = 0; i < 2; ++i) W[i] += -lr * kDt / 2.0 * e * af[i];
  }
  return probed;
}

}  // namespace

TEST_CASE("PES matches Nengo's update, including when the error first reaches the weights",
          "[learning]") {
  const double x = 0.4, target = 0.7, lr = 0.5, tau = 0.005;
  PesNet n(x, target, lr, tau, false);
  snn::Simulator sim(n.net, f64());
  const int steps = 12;
  sim.run_steps(steps);
  std::vector<double> outs;
  auto want = pes_by_hand(x, target, lr, tau, steps, &outs);
  auto w = sim.data(n.p_w), y = sim.data(n.p_out);
  for (int k = 0; k < steps; ++k) {
    check_close(row(w, 0, k), want[k], 1e-12, "weights at step " + std::to_string(k + 1));
    CHECK(y[0][k][0].item<double>() == Approx(outs[k]).margin(1e-12));
  }
  // The error connection's synapse delays the error by a step, and the delta by another:
  // the weights of steps 1 and 2 are the built ones, step 3 is the first to change.
  CHECK(row(w, 0, 0) == Vec{0.3, -0.2});
  CHECK(row(w, 0, 1) == Vec{0.3, -0.2});
  CHECK(row(w, 0, 2)[0] != 0.3);

  SECTION("without a synapse on the error the weights change from step 2") {
    PesNet m(x, target, lr, 0.0, false);
    snn::Simulator s(m.net, f64());
    s.run_steps(6);
    auto want0 = pes_by_hand(x, target, lr, 0.0, 6);
    auto w0 = s.data(m.p_w);
    CHECK(row(w0, 0, 0) == Vec{0.3, -0.2});
    CHECK(row(w0, 0, 1)[0] != 0.3);
    for (int k = 0; k < 6; ++k) check_close(row(w0, 0, k), want0[k], 1e-12, "no-synapse step");
  }
  SECTION("reset restores the built weights and learning starts over") {
    sim.reset();
    sim.run_steps(steps);
    auto w2 = sim.data(n.p_w);
    for (int k = 0; k < steps; ++k) check_close(row(w2, 0, k), want[k], 1e-12, "after reset");
  }
}

TEST_CASE("PES on neurons projects the error through the post's scaled encoders",
          "[learning]") {
  // pre (2 neurons) -> post.neurons (3 neurons) with a 3x2 matrix; error (post's 1-D value)
  // = a node's constant, without synapse. Local error = scaled_encoders @ error.
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(2));
  auto stim = net->node(snn::NodeOptions().id("stim").output(0.5));
  auto err = net->node(snn::NodeOptions().id("err").output(0.2));
  auto pre = net->ensemble(relu_ens(2, 1, {1.0, 1.0}, {0.2, 0.6}, {{1.0}, {-1.0}}).id("pre"));
  const Vec g = {1.0, 2.0, 0.5}, b = {0.1, 0.0, 0.3}, enc = {1.0, -1.0, 1.0};
  const double radius = 2.0;
  auto post = net->ensemble(relu_ens(3, 1, g, b, {{enc[0]}, {enc[1]}, {enc[2]}}, radius).id("post"));
  net->connect(stim, pre, snn::ConnectionOptions().synapse(nullptr));
  const Mat W0 = {{0.1, 0.2}, {-0.3, 0.4}, {0.5, -0.6}};
  const double lr = 0.3;
  auto conn = net->connect(pre->neurons(), post->neurons(),
                           snn::ConnectionOptions()
                               .synapse(nullptr)
                               .transform(snn::Init(W0))
                               .learning_rule(snn::PES::make(
                                   snn::PESOptions().learning_rate(lr).pre_synapse(nullptr))));
  CHECK(snn::ObjRef::learning_rule(conn).size_in() == 1);  // the post ensemble's dimensions
  net->connect(err, snn::ObjRef::learning_rule(conn), snn::ConnectionOptions().synapse(nullptr));
  auto p_w = net->probe(conn, snn::ProbeOptions().attr("weights"));
  snn::Simulator sim(net, f64());
  sim.run_steps(3);
  const Vec a = {relu(0.5 + 0.2), relu(-0.5 + 0.6)};
  Mat W = W0;
  auto w = sim.data(p_w);
  for (int k = 0; k < 3; ++k) {
    Vec flat;
    for (const auto& r : W) flat.insert(flat.end(), r.begin(), r.end());
    check_close(row(w, 0, k), flat, 1e-12, "step " + std::to_string(k + 1));
    for (int i = 0; i < 3; ++i) {
      const double local = enc[i] * g[i] / radius * 0.2;
      for (int j = 0; j < 2; ++j) W[i][j] += -lr * kDt / 2.0 * local * a[j];
    }
  }
}

namespace {
/// stim -> pre (2 ReLU) ; pre.neurons -> post.neurons (2 ReLU) with W0 and `rule`.
struct WeightNet {
  snn::NetworkPtr net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(3));
  snn::ProbePtr p_w, p_post;
  const Vec gpre = {1.0, 2.0}, bpre = {0.5, 0.1};
  const Vec gpost = {1.5, 0.5}, bpost = {0.2, 0.4};
  const Mat W0 = {{0.6, -0.2}, {0.3, 0.8}};
  const double x = 0.3;
  explicit WeightNet(snn::LearningRulePtr rule) {
    auto stim = net->node(snn::NodeOptions().id("stim").output(x));
    auto pre = net->ensemble(relu_ens(2, 1, gpre, bpre, {{1.0}, {-1.0}}).id("pre"));
    auto post = net->ensemble(relu_ens(2, 1, gpost, bpost, {{1.0}, {1.0}}).id("post"));
    net->connect(stim, pre, snn::ConnectionOptions().synapse(nullptr));
    auto c = net->connect(
        pre->neurons(), post->neurons(),
        snn::ConnectionOptions().synapse(nullptr).transform(snn::Init(W0)).learning_rule(rule));
    p_w = net->probe(c, snn::ProbeOptions().attr("weights"));
    p_post = net->probe(post->neurons());
  }
  Vec pre_acts() const { return {relu(gpre[0] * x + bpre[0]), relu(-gpre[1] * x + bpre[1])}; }
  /// post activities for weights W: the connection into neurons is scaled by their gain.
  Vec post_acts(const Mat& W, const Vec& a) const {
    Vec out(2);
    for (int i = 0; i < 2; ++i) out[i] = relu(gpost[i] * (W[i][0] * a[0] + W[i][1] * a[1]) + bpost[i]);
    return out;
  }
};
Vec flat(const Mat& W) {
  Vec f;
  for (const auto& r : W) f.insert(f.end(), r.begin(), r.end());
  return f;
}
}  // namespace

TEST_CASE("BCM matches Nengo's update", "[learning]") {
  const double lr = 0.05;
  WeightNet n(snn::BCM::make(
      snn::BCMOptions().learning_rate(lr).pre_synapse(0.005).theta_synapse(0.02)));
  snn::Simulator sim(n.net, f64());
  const int steps = 10;
  sim.run_steps(steps);
  const Vec a = n.pre_acts();
  Mat W = n.W0;
  Low pre_f(0.005), post_f(0.005), theta_f(0.02);  // post_synapse defaults to pre_synapse
  auto w = sim.data(n.p_w), post = sim.data(n.p_post);
  for (int k = 0; k < steps; ++k) {
    const Vec ap = n.post_acts(W, a);
    check_close(row(post, 0, k), ap, 1e-12, "post activities, step " + std::to_string(k + 1));
    check_close(row(w, 0, k), flat(W), 1e-12, "weights, step " + std::to_string(k + 1));
    const Vec pf = pre_f.step(a), qf = post_f.step(ap), th = theta_f.step(ap);
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) W[i][j] += lr * kDt * qf[i] * (qf[i] - th[i]) * pf[j];
  }
  CHECK(row(w, 0, steps - 1) != flat(n.W0));
}

TEST_CASE("Oja matches Nengo's update", "[learning]") {
  const double lr = 0.2, beta = 0.7;
  WeightNet n(snn::Oja::make(
      snn::OjaOptions().learning_rate(lr).beta(beta).pre_synapse(0.005).post_synapse(0.01)));
  snn::Simulator sim(n.net, f64());
  const int steps = 10;
  sim.run_steps(steps);
  const Vec a = n.pre_acts();
  Mat W = n.W0;
  Low pre_f(0.005), post_f(0.01);
  auto w = sim.data(n.p_w);
  for (int k = 0; k < steps; ++k) {
    const Vec ap = n.post_acts(W, a);
    check_close(row(w, 0, k), flat(W), 1e-12, "weights, step " + std::to_string(k + 1));
    const Vec pf = pre_f.step(a), qf = post_f.step(ap);
    Mat d(2, Vec(2));
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j)
        d[i][j] = lr * kDt * (qf[i] * pf[j] - beta * qf[i] * qf[i] * W[i][j]);
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) W[i][j] += d[i][j];
  }
  CHECK(row(w, 0, steps - 1) != flat(n.W0));
}

TEST_CASE("Voja moves the post's scaled encoders as Nengo does", "[learning]") {
  // stim (2-D) -[Voja]-> post (3 ReLU neurons, radius 2); learning signal 1 + (-0.5).
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(4));
  const Vec x = {0.6, -0.3};
  auto stim = net->node(snn::NodeOptions().id("stim").output(x));
  auto half = net->node(snn::NodeOptions().id("half").output(-0.5));
  const Vec g = {1.0, 2.0, 3.0}, b = {0.5, 0.2, 0.1};
  const Mat enc = {{1.0, 0.0}, {0.0, 1.0}, {0.6, -0.8}};
  const double radius = 2.0, lr = 0.5;
  auto post = net->ensemble(relu_ens(3, 2, g, b, enc, radius).id("post"));
  auto c = net->connect(stim, post,
                        snn::ConnectionOptions().synapse(nullptr).learning_rule(snn::Voja::make(
                            snn::VojaOptions().learning_rate(lr).post_synapse(0.005))));
  CHECK(snn::ObjRef::learning_rule(c).size_in() == 1);
  net->connect(half, snn::ObjRef::learning_rule(c), snn::ConnectionOptions().synapse(nullptr));
  auto p_enc = net->probe(post, snn::ProbeOptions().attr("scaled_encoders"));
  auto p_act = net->probe(post->neurons());
  snn::Simulator sim(net, f64());
  const int steps = 8;
  sim.run_steps(steps);
  Mat E(3, Vec(2));
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) E[i][j] = enc[i][j] * g[i] / radius;
  Low post_f(0.005);
  auto pe = sim.data(p_enc), pa = sim.data(p_act);
  const double L = 1.0 - 0.5;
  for (int k = 0; k < steps; ++k) {
    Vec a(3);
    for (int i = 0; i < 3; ++i) a[i] = relu(E[i][0] * x[0] + E[i][1] * x[1] + b[i]);
    check_close(row(pa, 0, k), a, 1e-12, "activities, step " + std::to_string(k + 1));
    check_close(row(pe, 0, k), flat(E), 1e-12, "scaled encoders, step " + std::to_string(k + 1));
    const Vec& af = post_f.step(a);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 2; ++j)
        E[i][j] += lr * kDt * L * (g[i] / radius * af[i] * x[j] - af[i] * E[i][j]);
  }
  CHECK(row(pe, 0, steps - 1)[0] != Approx(g[0] / radius));
}

TEST_CASE("minibatch items learn independently", "[learning]") {
  // The target comes from data: item 0 wants 0.7, item 1 wants -0.4.
  const double x = 0.4, lr = 0.5, tau = 0.005;
  const int steps = 10;
  PesNet n(x, 0.0, lr, tau, true);
  snn::Simulator sim(n.net, f64(2));
  auto target = torch::empty({2, steps, 1}, torch::kFloat64);
  target[0].fill_(0.7);
  target[1].fill_(-0.4);
  sim.run_steps(steps, {{"target", target}});
  auto w = sim.data(n.p_w);
  REQUIRE(w.size(0) == 2);
  auto want0 = pes_by_hand(x, 0.7, lr, tau, steps), want1 = pes_by_hand(x, -0.4, lr, tau, steps);
  for (int k = 0; k < steps; ++k) {
    check_close(row(w, 0, k), want0[k], 1e-12, "item 0");
    check_close(row(w, 1, k), want1[k], 1e-12, "item 1");
  }
  CHECK(row(w, 0, steps - 1) != row(w, 1, steps - 1));
}

TEST_CASE("learning runs in training mode and gradients reach the initial weights",
          "[learning]") {
  // One forward pass in training mode: the loss on the learned output depends on the
  // built weights both directly and through the rule's updates.
  const double x = 0.4, lr = 0.5;
  PesNet n(x, 0.7, lr, 0.0, false);
  snn::Simulator sim(n.net, f64());
  sim.compile(snn::CompileOptions()
                  .optimizer(snn::OptimizerOptions().type("SGD").lr(0.0))
                  .loss(n.p_out->id(), snn::LossOptions().type("mse")));
  const int steps = 5;
  auto hist = sim.fit({{"stim", torch::full({1, steps, 1}, x, torch::kFloat64)}},
                      {{n.p_out->id(), torch::full({1, steps, 1}, 0.7, torch::kFloat64)}},
                      snn::FitOptions().epochs(1).shuffle(false).progress_bar(false));
  std::vector<double> outs;
  pes_by_hand(x, 0.7, lr, 0.0, steps, &outs);
  double mse = 0;
  for (double y : outs) mse += (y - 0.7) * (y - 0.7) / steps;
  // A loss computed on the learned outputs (the weights changing within the run).
  CHECK(hist.epochs.front().values.at("loss") == Approx(mse).epsilon(1e-9));
}

TEST_CASE("PES learns a communication channel", "[learning]") {
  // Nengo's learn-communication-channel example, shortened: pre and post 100 LIF each,
  // the connection starts computing 0, error = post - stim, PES(1e-4).
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(0));
  auto stim = net->node(snn::NodeOptions().id("stim").output(snn::expr("0.8*sin(2*_pi*t)")));
  auto pre = net->ensemble(snn::EnsembleOptions(100, 1).id("pre"));
  auto post = net->ensemble(snn::EnsembleOptions(100, 1).id("post"));
  auto err = net->node(snn::NodeOptions().id("err").size_in(1));
  net->connect(stim, pre);
  auto conn = net->connect(pre, post,
                           snn::ConnectionOptions()
                               .function(snn::expr("0"))
                               .learning_rule(snn::PES::make(snn::PESOptions().learning_rate(1e-4))));
  net->connect(post, err);
  net->connect(stim, err, snn::ConnectionOptions().transform(-1.0));
  net->connect(err, snn::ObjRef::learning_rule(conn));
  auto p_post = net->probe(post, snn::ProbeOptions().synapse(0.01));
  auto p_stim = net->probe(stim, snn::ProbeOptions().synapse(0.01));
  snn::Simulator sim(net, snn::SimulatorOptions().progress_bar(false));
  sim.run(4.0);
  auto y = sim.data(p_post)[0].squeeze(1), s = sim.data(p_stim)[0].squeeze(1);
  auto rmse = [&](int64_t from, int64_t to) {
    return (y.slice(0, from, to) - s.slice(0, from, to)).pow(2).mean().sqrt().item<double>();
  };
  const double first = rmse(0, 500), last = rmse(3000, 4000);
  INFO("RMSE first 0.5 s " << first << ", last 1 s " << last);
  CHECK(first > 0.3);  // it starts decoding 0 for a signal of RMS 0.57
  CHECK(last < 0.1);
}

TEST_CASE("learning rules round-trip through JSON", "[learning]") {
  PesNet n(0.4, 0.7, 0.5, 0.005, false);
  n.net->probe(snn::ObjRef::learning_rule(n.conn), snn::ProbeOptions().id("p_delta").attr("delta"));
  auto j = snn::network_to_json(*n.net);
  auto net2 = snn::network_from_json(j);
  CHECK(snn::network_to_json(*net2) == j);
  const auto& cj = j["connections"];
  bool found_rule = false, found_err = false;
  for (const auto& c : cj) {
    if (c.contains("learning_rule")) {
      found_rule = true;
      CHECK(c["learning_rule"]["type"] == "PES");
      CHECK(c["learning_rule"]["learning_rate"].get<double>() == 0.5);
      // Saved in the explicit form the connection synapses use.
      CHECK(c["learning_rule"]["pre_synapse"] == nlohmann::json({{"type", "Lowpass"}, {"tau", 0.005}}));
    }
    if (c["post"].is_object() && c["post"].contains("learning_rule_of")) found_err = true;
  }
  CHECK(found_rule);
  CHECK(found_err);
  // The loaded network learns the same.
  snn::Simulator sim(net2, f64());
  sim.run_steps(8);
  auto want = pes_by_hand(0.4, 0.7, 0.5, 0.005, 8);
  auto w = sim.data(net2->find_probe(n.p_w->id()));
  for (int k = 0; k < 8; ++k) check_close(row(w, 0, k), want[k], 1e-12, "loaded");
  // The delta probe, saved as {"learning_rule_of": i}: step k's delta is what the weights
  // gain from step k to step k + 1.
  bool found_probe = false;
  for (const auto& p : j["probes"])
    if (p["id"] == "p_delta") {
      found_probe = true;
      CHECK(p["target"].contains("learning_rule_of"));
      CHECK(p["attr"] == "delta");
    }
  CHECK(found_probe);
  auto delta = sim.data("p_delta");
  for (int k = 0; k + 1 < 8; ++k) {
    Vec d(want[k].size());
    for (size_t i = 0; i < d.size(); ++i) d[i] = want[k + 1][i] - want[k][i];
    check_close(row(delta, 0, k), d, 1e-12, "delta, step " + std::to_string(k + 1));
  }

  SECTION("other rules keep their options") {
    for (const auto& rule : std::vector<snn::LearningRulePtr>{
             snn::BCM::make(snn::BCMOptions().learning_rate(2e-9).theta_synapse(0.5)),
             snn::Oja::make(snn::OjaOptions().beta(0.3).post_synapse(nullptr)),
             snn::Voja::make(snn::VojaOptions().post_synapse(0.01))}) {
      auto back = snn::learning_rule_from_json(rule->to_json());
      CHECK(back->to_json() == rule->to_json());
      CHECK(back->type() == rule->type());
    }
    auto oja = snn::learning_rule_from_json(nlohmann::json::parse(R"({"type": "Oja"})"));
    CHECK(oja->learning_rate() == 1e-6);
    auto bcm = std::dynamic_pointer_cast<const snn::BCM>(
        snn::learning_rule_from_json(nlohmann::json::parse(R"({"type": "BCM", "pre_synapse": 0.01})")));
    REQUIRE(bcm);
    CHECK(std::dynamic_pointer_cast<const snn::Lowpass>(bcm->post_synapse())->tau == 0.01);
  }
}

TEST_CASE("bad learning-rule specs give clear errors", "[learning]") {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(0));
  auto stim = net->node(snn::NodeOptions().id("stim").output(0.5));
  auto sink = net->node(snn::NodeOptions().id("sink").size_in(1));
  auto a = net->ensemble(snn::EnsembleOptions(10, 1).id("a"));
  auto b = net->ensemble(snn::EnsembleOptions(10, 2).id("b"));
  using snn::SpecError;
  using Catch::Matchers::Contains;
  auto pes = snn::PES::make();
  // PES needs neural pre.
  CHECK_THROWS_WITH(net->connect(stim, sink, snn::ConnectionOptions().learning_rule(pes)),
                    Contains("pre must be an ensemble") && Contains("PES"));
  // BCM/Oja need neurons -> neurons with a matrix.
  CHECK_THROWS_WITH(net->connect(a, b, snn::ConnectionOptions()
                                           .transform(snn::Init(Mat{{1.0}, {1.0}}))
                                           .learning_rule(snn::BCM::make())),
                    Contains("neuron-to-neuron"));
  CHECK_THROWS_WITH(
      net->connect(a->neurons(), b->neurons(), snn::ConnectionOptions().learning_rule(snn::Oja::make())),
      Contains("2-D transform"));
  // Voja needs an ensemble as post.
  CHECK_THROWS_WITH(net->connect(stim, a->neurons(), snn::ConnectionOptions()
                                                         .transform(snn::Init(Vec(10, 1.0)))
                                                         .learning_rule(snn::Voja::make())),
                    Contains("post must be an ensemble"));
  // Error connections: the sizes must match, and the rule must take an error.
  auto c = net->connect(a, b, snn::ConnectionOptions()
                                  .transform(snn::Init(Mat{{1.0}, {1.0}}))
                                  .learning_rule(pes));
  CHECK(snn::ObjRef::learning_rule(c).size_in() == 2);
  CHECK_THROWS_WITH(net->connect(stim, snn::ObjRef::learning_rule(c)),
                    Contains("c0.learning_rule") && Contains("(2 dims)"));
  auto plain = net->connect(a, sink);
  CHECK_THROWS_WITH(net->connect(stim, snn::ObjRef::learning_rule(plain)), Contains("has none"));
  auto w = net->connect(a->neurons(), b->neurons(),
                        snn::ConnectionOptions()
                            .transform(snn::Init(torch::zeros({10, 10}, torch::kFloat64)))
                            .learning_rule(snn::BCM::make()));
  CHECK_THROWS_WITH(net->connect(stim, snn::ObjRef::learning_rule(w)),
                    Contains("takes no error input"));
  CHECK_THROWS_AS(snn::PES::make(snn::PESOptions().learning_rate(-1.0)), SpecError);

  SECTION("in JSON") {
    auto spec = nlohmann::json::parse(R"({
      "format": "snn-network/1",
      "nodes": [{"id": "stim", "output": 0.5}],
      "ensembles": [{"id": "a", "n_neurons": 10, "dimensions": 1}],
      "connections": [
        {"pre": "stim", "post": {"learning_rule_of": 1}},
        {"pre": "stim", "post": "a", "learning_rule": {"type": "Hebb"}},
        {"pre": "a", "post": "a", "learning_rule": {"type": "PES", "rate": 1}}
      ]})");
    // network_from_json stops at the first problem; check_network_json lists them all.
    CHECK_THROWS_AS(snn::network_from_json(spec), SpecError);
    std::string msg;
    for (const auto& line : snn::check_network_json(spec)) msg += line + "\n";
    INFO(msg);
    CHECK_THAT(msg, Contains("/connections/0/post/learning_rule_of") &&
                        Contains("not defined before this one"));
    CHECK_THAT(msg, Contains("/connections/1/learning_rule") && Contains("Hebb"));
    CHECK_THAT(msg, Contains("/connections/2/learning_rule") && Contains("unknown key \"rate\""));
  }
}

TEST_CASE("learning-rule probes read Nengo's deltas and rule signals", "[learning]") {
  // Nengo's numbers (scripts/nengo_golden/learning_rule_probes.py; Nengo 4.1, float64): each
  // rule's delta and probeable signals at steps 1, 2, 6 and 12, flattened row by row. Voja moves b's encoders while
  // the PES into b's neurons reads them for its local error: every rule sees what the others
  // learned up to the last step only.
  const std::map<std::string, Mat> nengo = {
  {"voja", {{0.0, 7.561629754498987e-05, 0.0, 0.0, -3.3537158108475166e-05}, {0.0, 0.00013761178687707903, 0.0, 0.0, -6.0975038605887995e-05}, {0.0, 0.0002937160133255611, 0.0, 0.0, -0.00012864361983793568}, {0.0, 0.0001560531793996795, -0.004056709087167359, 0.0029663937119031518, -0.0011851567172736343}}},
  {"pes_w", {{0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.0, -0.0, -0.0, -0.0, -0.0, -0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.0, -0.0, -0.0, -0.0, -0.0, -0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.0, -0.0, -0.0, -0.0, -0.0, -0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.0, -0.0, -0.0, -0.0, -0.0, -0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.0, -0.0, -0.0, -0.0, -0.0, -0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.0, -0.0, -0.0, -0.0, -0.0, -0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 1.501282907400246e-05, 3.341166555665416e-05, 3.341166555665416e-05, -0.0, -0.0, -0.0, -7.487341295254266e-06, -1.6663384498180178e-05, -1.6663384498180178e-05, 0.0, 0.0, 0.0, 2.2462349098617038e-05, 4.999087726905812e-05, 4.999087726905812e-05, -0.0, -0.0, -0.0, -1.1219912256071206e-05, -2.4970373939980736e-05, -2.4970373939980736e-05, 0.0, 0.0, 0.0, 5.2306763805983865e-06, 1.1641084368720556e-05, 1.1641084368720556e-05}}},
  {"pes_d", {{-0.0, -0.0, -0.0, -0.0, -0.0, -0.0}, {-0.0, -0.0, -0.0, -0.0, -0.0, -0.0}, {-0.0, -0.0, -0.0, -0.0, -0.0, -0.0}, {-0.0, -0.0, -0.0, -1.3488407358558244e-05, -3.0019002636650353e-05, -3.0019002636650353e-05}}},
  {"bcm", {{0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 7.1552500821435525e-06, 1.592430191140957e-05, 1.592430191140957e-05, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.003056286836902295, 0.006801891444738841, 0.006801891444738841, 0.0, 0.0, 0.0, 0.003888706305419197, 0.008654475041597155, 0.008654475041597155}}},
  {"oja", {{4.016932049974505e-08, 4.590779485685148e-08, 5.1646269213957916e-08, 5.7384743571064354e-08, 6.312321792817078e-08, 6.886169228527722e-08, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.9337787453287048e-07, -1.7579806775715502e-07, -1.582182609814395e-07, -1.40638454205724e-07, -1.2305864743000849e-07, -1.0547884065429301e-07}, {1.3287130681397815e-07, 1.5185292207311788e-07, 1.7083453733225762e-07, 1.8981615259139735e-07, 2.0879776785053706e-07, 2.2777938310967682e-07, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -6.396513161836734e-07, -5.815011965306123e-07, -5.23351076877551e-07, -4.6520095722448976e-07, -4.070508375714285e-07, -3.489007179183674e-07}, {5.969748458841069e-07, 6.822569667246935e-07, 7.675390875652803e-07, 8.528212084058669e-07, 9.381033292464534e-07, 1.0233854500870402e-06, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -2.8738345973448995e-06, -2.612576906677182e-06, -2.3513192160094636e-06, -2.090061525341745e-06, -1.828803834674027e-06, -1.567546144006309e-06}, {1.572108093032049e-07, 1.7966949634651987e-07, 2.021281833898349e-07, 7.94448509150789e-06, 1.7428180085436933e-05, 1.7450638772480247e-05, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -4.722944515313629e-05, -3.778355612250904e-05, -2.833766709188178e-05, 0.00013930895282728183, 0.0003429890295969751, 0.00035243491862760237, -0.00013231353653168494, -0.0001202850332106227, -0.00010825652988956041, 8.221224899769133e-05, 0.00031356530768191626, 0.00032559381100297853}}},
  {"voja-post_filtered", {{0.0, 7.561629754498987, 0.0, 0.0, 4.791022586925023}, {0.0, 13.737316337858068, 0.0, 0.0, 8.726956936784152}, {0.0, 28.780289641400966, 0.0, 0.0, 18.791236834788236}, {0.0, 14.622673083391518, 145.75713938884334, 185.47826923880595, 182.8920618347432}}},
  {"voja-scaled_encoders", {{2.0, -1.0, 3.0, -1.5, 0.7}, {2.0, -0.999924383702455, 3.0, -1.5, 0.6999664628418915}, {2.0, -0.9991024774493849, 3.0, -1.5, 0.6996039481964024}, {2.0, -0.9974590742820095, 2.9924205475055765, -1.4947099178662595, 0.6968275406074246}}},
  {"pes_w-error", {{-0.9527204308780975}, {-0.9518660629292325}, {-0.942673680515071}, {-0.5529619523000694}}},
  {"pes_w-activities", {{0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 81.44952294577924, 181.2692469220181, 181.2692469220181}}},
  {"pes_d-error", {{0.0}, {0.3934597003278929}, {0.9175386564128614}, {0.993626987910349}}},
  {"pes_d-activities", {{0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 81.44952294577924, 181.2692469220181, 181.2692469220181}}},
  {"bcm-pre_filtered", {{0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 81.44952294577924, 181.2692469220181, 181.2692469220181}}},
  {"bcm-post_filtered", {{4.791022586925023, 0.0, 0.0, 8.38565603294471}, {8.713580117531768, 0.0, 0.0, 15.251250511850452}, {18.469731471013862, 0.0, 0.0, 32.32729805103712}, {9.478240142604982, 0.0, 194.4262055544477, 219.43315685559736}}},
  {"bcm-theta", {{0.02641721061485848, 0.0, 0.0, 0.046237653349958156}, {0.05280801722330564, 0.0, 0.0, 0.09242909215768869}, {0.15810773101365105, 0.0, 0.0, 0.2767336251029391}, {0.2097591319392041, 0.0, 1.429113460800559, 1.8554735451717776}}},
  {"oja-pre_filtered", {{0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 0.0, 0.0, 0.0}, {0.0, 0.0, 0.0, 81.44952294577924, 181.2692469220181, 181.2692469220181}}},
  {"oja-post_filtered", {{4.791022586925023, 0.0, 0.0, 8.38565603294471}, {8.713580117531768, 0.0, 0.0, 15.251250511850452}, {18.469731471013862, 0.0, 0.0, 32.32729805103712}, {9.478240142604982, 0.0, 194.4262055544477, 219.43315685559736}}},
  };
  auto f64t = [](Vec v, int64_t cols) {
    return torch::tensor(v, torch::kFloat64).reshape({-1, cols});
  };
  auto n = std::make_shared<snn::Network>(snn::NetworkOptions().seed(3));  // as the script
  auto stim = n->node(snn::NodeOptions().id("stim").output(snn::Function::of_t([](double t) {
    return Vec{std::sin(10 * t), std::cos(7 * t)};
  })));
  Vec grid;
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) grid.insert(grid.end(), {-1 + 0.5 * i, -1 + 0.5 * j});
  const auto eval_1d = torch::linspace(-1, 1, 9, torch::kFloat64).unsqueeze(1);
  auto a = n->ensemble(snn::EnsembleOptions(6, 2)
                           .id("a")
                           .neuron_type(snn::LIF())
                           .gain(Vec{1.5, 2.0, 1.2, 0.9, 2.5, 1.7})
                           .bias(Vec{1.1, 0.4, 0.8, 1.9, -0.2, 1.3})
                           .encoders(f64t({1, 0, 0, 1, -1, 0, 0, -1, 0.6, 0.8, -0.8, 0.6}, 2))
                           .eval_points(f64t(grid, 2)));
  auto b = n->ensemble(snn::EnsembleOptions(5, 1)
                           .id("b")
                           .neuron_type(snn::LIFRate())
                           .gain(Vec{2.0, 1.0, 3.0, 1.5, 0.7})
                           .bias(Vec{0.5, 1.5, -0.4, 0.9, 1.2})
                           .encoders(f64t({1, -1, 1, -1, 1}, 1))
                           .eval_points(eval_1d));
  auto c = n->ensemble(snn::EnsembleOptions(4, 1)
                           .id("c")
                           .neuron_type(snn::LIFRate())
                           .gain(Vec{1.0, 2.0, 1.5, 0.5})
                           .bias(Vec{1.2, 0.3, 0.8, 1.6})
                           .encoders(f64t({1, -1, 1, -1}, 1))
                           .eval_points(eval_1d));
  auto out = n->node(snn::NodeOptions().id("out").size_in(1));
  auto err = n->node(snn::NodeOptions().id("err").size_in(1));
  using CO = snn::ConnectionOptions;
  n->connect(stim, a, CO().synapse(0.005));
  auto c_voja = n->connect((*stim)[snn::Slice::range(0, 1)], b,
                           CO().synapse(0.005).learning_rule(
                               snn::Voja::make(snn::VojaOptions().learning_rate(1e-2))));
  auto w_ab = torch::arange(30, torch::kFloat64).reshape({5, 6}) / 50.0 - 0.25;
  auto c_pes_w = n->connect(a->neurons(), b->neurons(),
                            CO().synapse(0.01).transform(w_ab).learning_rule(
                                snn::PES::make(snn::PESOptions().learning_rate(1e-3))));
  n->connect(b, err, CO().synapse(nullptr));
  n->connect((*stim)[snn::Slice::indices({1})], err, CO().synapse(nullptr).transform(-1.0));
  n->connect(err, snn::ObjRef::learning_rule(c_pes_w), CO().synapse(nullptr));
  auto c_pes_d = n->connect(
      a, out,
      CO().synapse(0.005)
          .function(snn::Function::of_x([](const Vec& x) { return Vec{x[0]}; }))
          .learning_rule(snn::PES::make(snn::PESOptions().learning_rate(1e-3))));
  n->connect((*stim)[snn::Slice::indices({1})], snn::ObjRef::learning_rule(c_pes_d),
             CO().synapse(0.002));
  auto w_ac = torch::arange(24, torch::kFloat64).reshape({4, 6}) / 40.0 - 0.3;
  auto c_bcm = n->connect(a->neurons(), c->neurons(),
                          CO().synapse(0.005).transform(w_ac).learning_rule(
                              snn::BCM::make(snn::BCMOptions().learning_rate(1e-6))));
  auto c_oja = n->connect(a->neurons(), c->neurons(),
                          CO().synapse(0.005).transform(w_ac.flip(1)).learning_rule(
                              snn::Oja::make(snn::OjaOptions().learning_rate(1e-5))));
  const std::map<std::string, snn::ConnectionPtr> rules = {
      {"voja", c_voja}, {"pes_w", c_pes_w}, {"pes_d", c_pes_d}, {"bcm", c_bcm}, {"oja", c_oja}};
  for (const auto& [id, unused] : nengo) {  // "<rule>" is its delta, "<rule>-<attr>" the rest
    const auto dot = id.find('-');
    const auto& conn = rules.at(id.substr(0, dot));
    n->probe(snn::ObjRef::learning_rule(conn),
             snn::ProbeOptions().id(id).attr(dot == std::string::npos ? "delta" : id.substr(dot + 1)));
  }
  snn::Simulator sim(n, f64());
  sim.run_steps(12);
  for (const auto& [id, rows] : nengo) {
    INFO(id);
    auto got = sim.data(id)[0];
    REQUIRE(got.size(0) == 12);
    REQUIRE(got.size(1) == static_cast<int64_t>(rows[0].size()));
    const int64_t steps[4] = {0, 1, 5, 11};
    for (int r = 0; r < 4; ++r) {
      INFO("step " << steps[r] + 1 << ": " << got[steps[r]]);
      CHECK(torch::allclose(got[steps[r]], torch::tensor(rows[r], torch::kFloat64), 1e-9, 1e-12));
    }
  }
  // What cannot be probed.
  CHECK_THROWS_WITH(n->probe(snn::ObjRef::learning_rule(c_oja), snn::ProbeOptions().attr("theta")),
                    Catch::Matchers::Contains("cannot probe \"theta\" of the learning rule of") &&
                        Catch::Matchers::Contains("(a Oja rule has delta, pre_filtered, "
                                                  "post_filtered)"));
  auto c_sliced = n->connect(a->neurons()[snn::Slice::range(0, 3)], out,
                             CO().synapse(nullptr).transform(f64t({0.1, 0.2, 0.3}, 3)).learning_rule(
                                 snn::PES::make(snn::PESOptions())));
  CHECK_THROWS_WITH(
      n->probe(snn::ObjRef::learning_rule(c_sliced), snn::ProbeOptions().attr("activities")),
      Catch::Matchers::Contains("of a rule whose pre is a slice of neurons is not available"));
  auto plain = n->connect(stim, out, CO().synapse(nullptr).transform(f64t({0, 0}, 2)));
  CHECK_THROWS_WITH(n->probe(snn::ObjRef::learning_rule(plain), snn::ProbeOptions().attr("delta")),
                    Catch::Matchers::Contains("has no learning rule"));
}
