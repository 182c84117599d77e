// NengoDL's benchmark networks in libsnn's C++ API.
#include "bench_networks.h"

#include <algorithm>
#include <random>
#include <stdexcept>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "snn/learning_rules.h"
#include "snn/networks.h"
#include "snn/neurons.h"

namespace bench {

namespace {

/// The ensemble settings of NengoDL's integrator and cconv benchmarks: gains of +-1 and
/// biases in [-1, 1] instead of max_rates/intercepts.
snn::EnsembleOptions benchmark_ensemble(const snn::NeuronTypePtr& type, bool random_gain_bias) {
  snn::EnsembleOptions e(1, 1);
  e.neuron_type(type);
  if (random_gain_bias)
    e.gain(snn::Choice(std::vector<double>{1.0, -1.0})).bias(snn::Uniform(-1.0, 1.0));
  return e;
}

}  // namespace

snn::NetworkPtr build_benchmark(const NetworkArgs& a) {
  const auto type = snn::neuron_type_from_json(nlohmann::json{{"type", a.neuron_type}}, "--neuron-type");
  const int64_t d = a.dimensions, n = a.neurons_per_d;
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().label(a.name).seed(0));
  if (a.name == "integrator") {
    auto integ = snn::ensemble_array(
        *net, snn::EnsembleArrayOptions(n, d).id("integ").ensemble(benchmark_ensemble(type, true)));
    net->connect(integ.output, integ.input, snn::ConnectionOptions().synapse(0.01));
    auto inp = net->node(snn::NodeOptions().id("inp").output(std::vector<double>(d, 0.0)));
    net->connect(inp, integ.input, snn::ConnectionOptions().transform(0.01));
    net->probe(integ.output, snn::ProbeOptions().id("p"));
  } else if (a.name == "cconv") {
    auto cc = snn::circular_convolution(
        *net, snn::CircularConvolutionOptions(n, d).id("cconv").ensemble(benchmark_ensemble(type, true)));
    auto inp_a = net->node(snn::NodeOptions().id("inp_a").output(std::vector<double>(d, 0.0)));
    auto inp_b = net->node(snn::NodeOptions().id("inp_b").output(std::vector<double>(d, 1.0)));
    net->connect(inp_a, cc.input_a);
    net->connect(inp_b, cc.input_b);
    net->probe(cc.output, snn::ProbeOptions().id("p"));
  } else if (a.name == "pes") {
    // A decoded connection learning with PES to output the (constant) input: error =
    // input - output, the reverse of Nengo's usual sign convention, as the benchmark has it.
    auto e = benchmark_ensemble(type, true);
    auto inp = net->node(snn::NodeOptions().id("inp").output(std::vector<double>(d, 1.0)));
    auto pre = net->ensemble(e.n_neurons(n * d).dimensions(d).id("pre"));
    auto post = net->node(snn::NodeOptions().id("post").size_in(d));
    net->connect(inp, pre);
    auto conn = net->connect(pre, post, snn::ConnectionOptions().learning_rule(snn::PES::make()));
    net->connect(post, snn::ObjRef::learning_rule(conn), snn::ConnectionOptions().transform(-1.0));
    net->connect(inp, snn::ObjRef::learning_rule(conn));
    net->probe(post, snn::ProbeOptions().id("p"));
  } else if (a.name == "basal_ganglia") {
    auto inp = net->node(snn::NodeOptions().id("inp").output(std::vector<double>(d, 1.0)));
    snn::BasalGangliaOptions bo(d);
    bo.id("bg").n_neurons_per_ensemble(n).neuron_type(type);  // on every ensemble, as there
    auto bg = snn::basal_ganglia(*net, bo);
    net->connect(inp, bg.input);
    net->probe(bg.output, snn::ProbeOptions().id("p"));
  } else if (a.name == "random_network") {
    auto inp = net->node(snn::NodeOptions().id("inp").output(std::vector<double>(d, 0.0)));
    auto out = net->node(snn::NodeOptions().id("out").size_in(d));
    net->probe(out, snn::ProbeOptions().id("p"));
    std::vector<snn::EnsemblePtr> ensembles;
    for (int64_t i = 0; i < a.n_ensembles; ++i)
      ensembles.push_back(net->ensemble(snn::EnsembleOptions(n * d, d).neuron_type(type)));
    // Decoders of ones, as the benchmark: no solving at build time.
    auto dec = std::make_shared<snn::NoSolver>(torch::ones({n * d, d}, torch::kFloat64));
    std::mt19937 gen(0);
    for (const auto& ens : ensembles) {
      net->connect(inp, ens);
      net->connect(ens, out, snn::ConnectionOptions().solver(dec));
      std::vector<size_t> order(ensembles.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), gen);
      for (int64_t k = 0; k < a.connections_per_ensemble && k < static_cast<int64_t>(order.size()); ++k)
        net->connect(ens, ensembles[order[k]], snn::ConnectionOptions().solver(dec));
    }
  } else {
    throw std::invalid_argument("unknown benchmark \"" + a.name + "\"");
  }
  return net;
}

}  // namespace bench
