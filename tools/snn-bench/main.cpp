// snn-bench: throughput of libsnn against a naive LibTorch baseline measured in the same run.
//
//     snn-bench mnist [--neurons 512] [--steps 10] [--eval-steps 50] [--minibatch 64]
//                     [--batches 20] [--device cpu] [--json]
//     snn-bench integrator|cconv|basal_ganglia|pes|random_network [--dimensions 128]
//                     [--neurons-per-d 64] [--neuron-type RectifiedLinear] [--steps 150]
//                     [--minibatch 1] [--train] [--json]
//
// `mnist` is the Fashion-MNIST MLP of models/fashion_mnist_mlp.json (784 -> LIF -> 10, rate
// trained, run spiking) on random images (throughput does not depend on the pixels). It
// reports samples/s for
//   - training in rate mode and in spiking mode (libsnn's fit, one optimizer step per batch),
//   - spiking inference (predict over --eval-steps steps),
// each next to the same computation written as a plain step-by-step LibTorch loop (the way
// one would code it without libsnn: input currents recomputed every step, one matmul per
// layer per step; spiking-mode training through its spikes with the LIF rate's derivative
// straight through), and the ratio libsnn / baseline. Timings are medians of 3 repeats.
//
// NengoDL's benchmark networks (integrator, cconv, basal_ganglia, pes, random_network; see
// bench_networks.cpp) report their build time and steps/s.
//
//     snn-bench serve [--neurons 512] [--eval-steps 50] [--minibatch 16] [--clients 16]
//                     [--batches 20] [--json]
//
// `serve` measures snn::InferenceService (what snn-serve runs) answering --clients threads of
// single-image infer requests for the same MLP, requests/s with dynamic batching up to
// --minibatch against max_batch 1 in the same run.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "bench_networks.h"
#include "common/cli_support.h"
#include "snn/snn.h"

namespace {

struct Args {
  std::string name;
  int64_t neurons = 512;
  int64_t steps = -1;  // mnist: 10 training steps; the networks: 150 simulation steps
  int64_t eval_steps = 50;
  int64_t minibatch = -1;  // mnist: 64; the networks: 1 (as NengoDL's benchmarks)
  int64_t batches = 20;
  std::string device = "cpu";
  bool json = false;
  bool quiet = false;  // no "timing ..." lines on stderr
  bool train = false;
  int64_t clients = 16;  // serve: concurrent client threads
  bench::NetworkArgs network;
};

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

/// Median seconds of `repeats` runs of f (after one warm-up run).
template <class F>
double median_seconds(F&& f, int repeats = 3) {
  f();
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    const double s = now();
    f();
    t.push_back(now() - s);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

snn::NetworkPtr mlp(const Args& a, const std::string& mode) {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().seed(0));
  net->settings().training_mode(mode);
  auto img = net->node(snn::NodeOptions().id("img").size_out(784));
  auto out = net->node(snn::NodeOptions().id("out").size_in(10));
  auto hidden = net->ensemble(snn::EnsembleOptions(a.neurons, 1)
                                  .id("hidden")
                                  .neuron_type(std::make_shared<snn::LIF>(
                                      snn::LIFOptions().amplitude(0.01)))
                                  .gain(1.0)
                                  .bias(0.0));
  net->connect(img, hidden->neurons(),
               snn::ConnectionOptions().transform(snn::Glorot()).synapse(nullptr));
  net->connect(hidden->neurons(), out,
               snn::ConnectionOptions().transform(snn::Glorot()).synapse(0.005));
  net->probe(out, snn::ProbeOptions().id("p_out"));
  return net;
}

/// The naive baseline: the same MLP as plain tensors, stepped one timestep at a time.
struct Baseline {
  torch::Tensor w1, b1, w2;
  double dt = 0.001, tau_rc = 0.02, tau_ref = 0.002, amp = 0.01, decay = std::exp(-1.0 / 5.0);
  torch::Device device;

  Baseline(int64_t n, torch::Device d) : device(d) {
    const double s1 = std::sqrt(6.0 / (784 + n)), s2 = std::sqrt(6.0 / (n + 10));
    w1 = (torch::rand({n, 784}) * 2 - 1).mul(s1).to(d).requires_grad_();
    b1 = torch::zeros({n}).to(d).requires_grad_();
    w2 = (torch::rand({10, n}) * 2 - 1).mul(s2).to(d).requires_grad_();
  }
  torch::Tensor lif_rate(const torch::Tensor& J) const {
    auto j = torch::clamp(J - 1, 1e-9);
    auto r = amp / (tau_ref + tau_rc * torch::log1p(1 / j));
    return torch::where(J > 1, r, torch::zeros_like(r));
  }
  /// Rate-mode forward over T steps: currents, rates, output synapse, mean over steps.
  torch::Tensor rate_forward(const torch::Tensor& x, int64_t T) const {
    auto y = torch::zeros({x.size(0), 10}, x.options());
    auto acc = torch::zeros_like(y);
    for (int64_t t = 0; t < T; ++t) {
      auto J = torch::matmul(x, w1.t()) + b1;
      auto r = lif_rate(J);
      acc = acc + y;  // the synapse output reaches the node one step later
      y = decay * y + (1 - decay) * torch::matmul(r, w2.t());
    }
    return acc / static_cast<double>(T);
  }
  /// Spiking forward (LIF with refractory period), no gradient.
  torch::Tensor spike_forward(const torch::Tensor& x, int64_t T) const {
    torch::NoGradGuard g;
    return spike_steps(x, T, false);
  }
  /// Spiking forward for training through the spikes: the spikes go forward, the LIF rate's
  /// derivative backward (straight-through), as libsnn's spiking training mode.
  torch::Tensor spike_train_forward(const torch::Tensor& x, int64_t T) const {
    return spike_steps(x, T, true);
  }
  torch::Tensor spike_steps(const torch::Tensor& x, int64_t T, bool surrogate) const {
    auto v = torch::rand({x.size(0), w1.size(0)}, x.options());
    auto ref = torch::zeros_like(v);
    auto y = torch::zeros({x.size(0), 10}, x.options());
    auto acc = torch::zeros_like(y);
    for (int64_t t = 0; t < T; ++t) {
      auto J = torch::matmul(x, w1.t()) + b1;
      ref = ref - dt;
      auto delta = torch::clamp(dt - ref, 0.0, dt);
      v = v - (J - v) * torch::expm1(-delta / tau_rc);
      auto spiked = v > 1;
      auto s = spiked.to(x.scalar_type()) * (amp / dt);
      if (surrogate) {
        auto r = lif_rate(J);
        s = s + (r - r.detach());
      }
      v = torch::where(spiked, torch::zeros_like(v), torch::clamp_min(v, 0)).detach();
      ref = torch::where(spiked, torch::full_like(ref, tau_ref), ref);
      acc = acc + y;
      y = decay * y + (1 - decay) * torch::matmul(s, w2.t());
    }
    return acc / static_cast<double>(T);
  }
};

/// What is being timed now, on stderr (the figures go to stdout), unless --quiet.
void timing(const Args& a, const std::string& what) {
  if (!a.quiet) std::cerr << "snn-bench: timing " << what << "..." << std::endl;
}

int run_mnist(const Args& a) {
  const torch::Device device(a.device);
  const int64_t N = a.minibatch * a.batches;
  torch::manual_seed(0);
  auto x = torch::rand({N, 784});
  auto labels = torch::randint(0, 10, {N}, torch::kLong);
  auto loss = snn::LossOptions()
                  .type("sparse_categorical_crossentropy")
                  .from_logits(true)
                  .steps("mean");
  nlohmann::json result = {{"benchmark", "mnist"},     {"neurons", a.neurons},
                           {"steps", a.steps},         {"eval_steps", a.eval_steps},
                           {"minibatch", a.minibatch}, {"items", N},
                           {"device", a.device},       {"threads", torch::get_num_threads()}};

  // --- libsnn -------------------------------------------------------------------------------
  auto fit_rate = [&](const std::string& mode) {
    timing(a, "libsnn " + mode + "-mode training");
    snn::Simulator sim(mlp(a, mode), snn::SimulatorOptions()
                                         .minibatch_size(a.minibatch)
                                         .device(device)
                                         .progress_bar(false));
    sim.compile(snn::CompileOptions().loss("p_out", loss));
    return N / median_seconds([&] {
             sim.fit({{"img", x}}, {{"p_out", labels}},
                     snn::FitOptions().n_steps(a.steps).progress_bar(false));
           });
  };
  const double snn_train_rate = fit_rate("rate");
  const double snn_train_spiking = fit_rate("spiking");
  snn::Simulator infer(mlp(a, "rate"),
                       snn::SimulatorOptions().minibatch_size(a.minibatch).device(device).progress_bar(false));
  timing(a, "libsnn spiking inference");
  const double snn_infer = N / median_seconds([&] { infer.predict({{"img", x}}, a.eval_steps); });
  snn::Simulator infer_steps(mlp(a, "rate"), snn::SimulatorOptions()
                                                 .minibatch_size(a.minibatch)
                                                 .device(device)
                                                 .progress_bar(false)
                                                 .layered(false));
  timing(a, "libsnn spiking inference, step loop");
  const double snn_infer_steps =
      N / median_seconds([&] { infer_steps.predict({{"img", x}}, a.eval_steps); });

  // --- naive LibTorch baseline ---------------------------------------------------------------
  timing(a, "the LibTorch baseline");
  Baseline base(a.neurons, device);
  torch::optim::Adam opt({base.w1, base.b1, base.w2}, torch::optim::AdamOptions(1e-3));
  const double base_train = N / median_seconds([&] {
                              for (int64_t s = 0; s < N; s += a.minibatch) {
                                auto xb = x.narrow(0, s, a.minibatch).to(device);
                                auto yb = labels.narrow(0, s, a.minibatch).to(device);
                                auto l = torch::cross_entropy_loss(base.rate_forward(xb, a.steps), yb);
                                opt.zero_grad();
                                l.backward();
                                opt.step();
                              }
                            });
  const double base_train_spiking = N / median_seconds([&] {
    for (int64_t s = 0; s < N; s += a.minibatch) {
      auto xb = x.narrow(0, s, a.minibatch).to(device);
      auto yb = labels.narrow(0, s, a.minibatch).to(device);
      auto l = torch::cross_entropy_loss(base.spike_train_forward(xb, a.steps), yb);
      opt.zero_grad();
      l.backward();
      opt.step();
    }
  });
  const double base_infer = N / median_seconds([&] {
                              for (int64_t s = 0; s < N; s += a.minibatch)
                                base.spike_forward(x.narrow(0, s, a.minibatch).to(device),
                                                   a.eval_steps);
                            });

  result["samples_per_s"] = {{"train_rate", snn_train_rate},
                             {"train_spiking", snn_train_spiking},
                             {"inference_spiking", snn_infer},
                             {"inference_spiking_step_loop", snn_infer_steps},
                             {"baseline_train_rate", base_train},
                             {"baseline_train_spiking", base_train_spiking},
                             {"baseline_inference_spiking", base_infer}};
  result["ratio_vs_baseline"] = {{"train_rate", snn_train_rate / base_train},
                                 {"train_spiking", snn_train_spiking / base_train_spiking},
                                 {"inference_spiking", snn_infer / base_infer}};
  if (a.json) {
    std::cout << result.dump() << "\n";
    return 0;
  }
  std::printf("snn-bench mnist: 784-%lld(LIF)-10, minibatch %lld, %lld items, %d threads, %s\n",
              static_cast<long long>(a.neurons), static_cast<long long>(a.minibatch),
              static_cast<long long>(N), torch::get_num_threads(), a.device.c_str());
  std::printf("  %-44s %12s %12s %8s\n", "", "libsnn", "baseline", "ratio");
  std::printf("  %-44s %12.0f %12.0f %7.1fx\n",
              ("train, rate mode (" + std::to_string(a.steps) + " steps), samples/s").c_str(),
              snn_train_rate, base_train, snn_train_rate / base_train);
  std::printf("  %-44s %12.0f %12.0f %7.1fx\n",
              ("train, spiking mode (" + std::to_string(a.steps) + " steps), samples/s").c_str(),
              snn_train_spiking, base_train_spiking, snn_train_spiking / base_train_spiking);
  std::printf("  %-44s %12.0f %12.0f %7.1fx\n",
              ("inference, spiking (" + std::to_string(a.eval_steps) + " steps), samples/s").c_str(),
              snn_infer, base_infer, snn_infer / base_infer);
  std::printf("  %-44s %12.0f\n", "inference, libsnn step loop (layered off)", snn_infer_steps);
  return 0;
}

/// A NengoDL benchmark network: build time, then simulation (or, with --train, training)
/// throughput over --steps steps for a minibatch.
int run_network(const Args& a) {
  const torch::Device device(a.device);
  timing(a, a.name + ": build");
  const double t0 = now();
  snn::NetworkPtr net = bench::build_benchmark(a.network);
  snn::Simulator sim(net, snn::SimulatorOptions()
                              .minibatch_size(a.minibatch)
                              .device(device)
                              .progress_bar(false));
  const double build_s = now() - t0;
  nlohmann::json result = {{"benchmark", a.name},
                           {"dimensions", a.network.dimensions},
                           {"neurons_per_d", a.network.neurons_per_d},
                           {"neuron_type", a.network.neuron_type},
                           {"steps", a.steps},
                           {"minibatch", a.minibatch},
                           {"device", a.device},
                           {"threads", torch::get_num_threads()},
                           {"neurons", 0},
                           {"build_seconds", build_s}};
  int64_t neurons = 0;
  for (const auto& e : net->all_ensembles()) neurons += e->n_neurons();
  result["neurons"] = neurons;
  double rate = 0;
  timing(a, a.name + (a.train ? ": training" : ": simulation"));
  if (a.train) {
    const int64_t size = net->find_probe("p")->size();
    const int64_t items = a.minibatch * 4;
    sim.compile(snn::CompileOptions().loss("p", snn::LossOptions().type("mse")));
    auto y = torch::zeros({items, a.steps, size});
    const double s = median_seconds([&] {
      sim.fit({}, {{"p", y}}, snn::FitOptions().n_steps(a.steps).progress_bar(false));
    });
    rate = static_cast<double>(items * a.steps) / s;
    result["train_steps_per_s"] = rate;
  } else {
    const double s = median_seconds([&] { sim.run_steps(a.steps); });
    rate = static_cast<double>(a.steps) / s;
    result["steps_per_s"] = rate;
  }
  if (a.json) {
    std::cout << result.dump() << "\n";
    return 0;
  }
  std::printf("snn-bench %s: %lld dimensions x %lld neurons/d (%s), %lld neurons, minibatch %lld, %s\n",
              a.name.c_str(), static_cast<long long>(a.network.dimensions),
              static_cast<long long>(a.network.neurons_per_d), a.network.neuron_type.c_str(),
              static_cast<long long>(neurons), static_cast<long long>(a.minibatch),
              a.device.c_str());
  std::printf("  build: %.2f s\n", build_s);
  if (a.train)
    std::printf("  training: %.0f item-steps/s (%lld steps per item)\n", rate,
                static_cast<long long>(a.steps));
  else
    std::printf("  simulation: %.0f steps/s (%lld steps, minibatch %lld)\n", rate,
                static_cast<long long>(a.steps), static_cast<long long>(a.minibatch));
  return 0;
}

/// `serve`: requests/s of snn::InferenceService answering concurrent single-image infer
/// requests for the mnist MLP (spiking, --eval-steps steps), with dynamic batching (up to
/// --minibatch items, 2 ms delay) against the same service with max_batch 1 as the baseline.
/// Requests go through handle(), JSON parsing and formatting included, from --clients
/// threads.
int run_serve(const Args& a) {
  const torch::Device device(a.device);
  auto net = mlp(a, "rate");
  torch::manual_seed(0);
  const int64_t per_client = a.batches;
  std::vector<std::string> bodies;
  for (int64_t i = 0; i < a.clients * per_client; ++i) {
    auto x = torch::rand({784});
    std::vector<double> data(x.data_ptr<float>(), x.data_ptr<float>() + 784);
    bodies.push_back(nlohmann::json{{"inputs", {{{"name", "img"},
                                                 {"datatype", "FP32"},
                                                 {"shape", {1, 784}},
                                                 {"data", data}}}},
                                    {"parameters", {{"n_steps", a.eval_steps}}}}
                         .dump());
  }
  auto requests_per_s = [&](int64_t max_batch) {
    timing(a, "snn::InferenceService with max batch " + std::to_string(max_batch));
    snn::InferenceService service(net, "",
                                  snn::ServeOptions()
                                      .name("mlp")
                                      .device(device)
                                      .max_batch(max_batch)
                                      .max_delay_ms(max_batch > 1 ? 2.0 : 0.0));
    const double s = median_seconds([&] {
      std::vector<std::thread> clients;
      std::atomic<int64_t> failed{0};
      for (int64_t c = 0; c < a.clients; ++c) {
        clients.emplace_back([&, c] {
          for (int64_t i = 0; i < per_client; ++i) {
            auto r = service.handle("POST", "/v2/models/mlp/infer",
                                    bodies[static_cast<size_t>(c * per_client + i)]);
            if (r.status != 200) ++failed;
          }
        });
      }
      for (auto& t : clients) t.join();
      if (failed > 0) throw std::runtime_error("serve: " + std::to_string(failed.load()) +
                                               " requests failed");
    });
    return static_cast<double>(a.clients * per_client) / s;
  };
  const double baseline = requests_per_s(1);
  const double batched = requests_per_s(a.minibatch);
  const nlohmann::json result = {{"benchmark", "serve"},
                                 {"neurons", a.neurons},
                                 {"steps", a.eval_steps},
                                 {"clients", a.clients},
                                 {"max_batch", a.minibatch},
                                 {"device", a.device},
                                 {"threads", torch::get_num_threads()},
                                 {"requests_per_s", batched},
                                 {"baseline_requests_per_s", baseline},
                                 {"ratio", batched / baseline}};
  if (a.json) {
    std::cout << result.dump() << "\n";
    return 0;
  }
  std::printf("snn-bench serve: MLP 784 -> %lld LIF -> 10, %lld steps per request, %lld clients, "
              "%s\n",
              static_cast<long long>(a.neurons), static_cast<long long>(a.eval_steps),
              static_cast<long long>(a.clients), a.device.c_str());
  std::printf("  batched (max batch %lld): %.1f requests/s\n",
              static_cast<long long>(a.minibatch), batched);
  std::printf("  one at a time (max batch 1): %.1f requests/s\n", baseline);
  std::printf("  ratio: %.2fx\n", batched / baseline);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"snn-bench: libsnn throughput next to a naive LibTorch baseline"};
  app.add_option("name", a.name,
                 "benchmark: mnist, serve, integrator, cconv, basal_ganglia, pes, random_network")
      ->required();
  app.add_option("--neurons", a.neurons, "mnist: hidden LIF neurons")->check(snn::cli::kPositive);
  app.add_option("--steps", a.steps,
                 "mnist: training steps per item (10); networks: simulation steps (150)")
      ->check(snn::cli::kPositive);
  app.add_option("--dimensions", a.network.dimensions, "networks: vector dimensions")
      ->capture_default_str()
      ->check(snn::cli::kPositive);
  app.add_option("--neurons-per-d", a.network.neurons_per_d, "networks: neurons per dimension")
      ->capture_default_str()
      ->check(snn::cli::kPositive);
  app.add_option("--neuron-type", a.network.neuron_type, "networks: neuron type")
      ->capture_default_str();
  app.add_option("--ensembles", a.network.n_ensembles, "random_network: ensembles")
      ->capture_default_str()
      ->check(snn::cli::kPositive);
  app.add_option("--connections", a.network.connections_per_ensemble,
                 "random_network: outgoing connections per ensemble")
      ->capture_default_str()
      ->check(snn::cli::kNonNegative);
  app.add_flag("--train", a.train,
               "networks: measure training (fit on an mse loss) instead of simulation; mnist "
               "always measures both");
  app.add_option("--eval-steps", a.eval_steps, "inference steps per item")->check(snn::cli::kPositive);
  app.add_option("--minibatch", a.minibatch, "minibatch size (mnist: 64, networks: 1)")->check(snn::cli::kPositive);
  app.add_option("--batches", a.batches, "minibatches per timing (serve: requests per client)")
      ->check(snn::cli::kPositive);
  app.add_option("--clients", a.clients, "serve: concurrent clients")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--device", a.device, "cpu or cuda[:i]");
  app.add_flag("--json", a.json, "print one JSON object");
  app.add_flag("--quiet,-q", a.quiet, "no \"timing ...\" lines on stderr, only the figures");
  app.set_version_flag("--version", snn::version());
  if (auto status = snn::cli::parse_command_line(app, argc, argv, "snn-bench")) return *status;
  return snn::cli::report_errors("snn-bench", [&] {
    if (a.device != "cpu" && !torch::cuda::is_available())
      throw snn::cli::UsageError("--device " + a.device + ": CUDA is not available");
    if (a.name == "serve") {
      if (a.minibatch < 0) a.minibatch = 16;
      return run_serve(a);
    }
    if (a.name == "mnist") {
      if (a.steps < 0) a.steps = 10;
      // The output synapse delays by a step: over one step nothing reaches the output.
      if (a.steps < 2)
        throw snn::cli::UsageError("--steps " + std::to_string(a.steps) +
                                   ": mnist trains over at least 2 steps (its output synapse "
                                   "delays by one)");
      if (a.minibatch < 0) a.minibatch = 64;
      return run_mnist(a);
    }
    const std::vector<std::string> networks = {"integrator", "cconv", "basal_ganglia", "pes",
                                               "random_network"};
    if (std::find(networks.begin(), networks.end(), a.name) != networks.end()) {
      if (a.steps < 0) a.steps = 150;
      if (a.minibatch < 0) a.minibatch = 1;
      a.network.name = a.name;
      return run_network(a);
    }
    throw snn::cli::UsageError("unknown benchmark \"" + a.name +
                               "\" (known: mnist, serve, integrator, cconv, basal_ganglia, pes, "
                               "random_network)");
  });
}
