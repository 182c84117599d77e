// BasalGanglia and Thalamus with the constants of Stewart, Choo and Eliasmith (2010), as in
// Nengo: e (striatum threshold) 0.2, ep (STN) -0.25, ee (GPe) -0.2, eg (GPi) -0.2, the
// connection weights ws = wt = wm = wg = 1, wp = 0.9, we = 0.3 and the D1/D2 gains
// lg = le = 0.2. Each population's output is its rectified value above its threshold.
#include <torch/torch.h>

#include "networks/networks_internal.h"
#include "snn/errors.h"
#include "snn/networks.h"

namespace snn {

namespace {

constexpr double kE = 0.2, kEp = -0.25, kEe = -0.2, kEg = -0.2;
constexpr double kWs = 1, kWt = 1, kWm = 1, kWg = 1, kWp = 0.9, kWe = 0.3;
constexpr double kLg = 0.2, kLe = 0.2;

/// max(x - threshold, 0) as an expression (savable as JSON).
Function rectified_above(double threshold) {
  const std::string t = detail::number(threshold);
  return expr("(x0 >= " + t + ") * (x0 - " + t + ")");
}

}  // namespace

BasalGanglia basal_ganglia(Network& parent, BasalGangliaOptions o) {
  if (o.dimensions() <= 0 || o.n_neurons_per_ensemble() <= 0)
    throw SpecError("basal ganglia \"" + o.id() +
                    "\": expected dimensions and n_neurons_per_ensemble > 0");
  BasalGanglia bg;
  bg.network = detail::sub_network(parent, o.id(), o.label(), o.seed());
  Network& net = *bg.network;
  const SolverPtr solver = o.solver() ? o.solver() : std::make_shared<Nnls>(0.1, true);
  // Every ensemble: radius 1.5, encoders all +1 (Nengo's config for the network).
  EnsembleOptions eo(1, 1);
  eo.radius(1.5).encoders(Choice(torch::ones({1, 1}, torch::kFloat64)));
  if (o.neuron_type()) eo.neuron_type(o.neuron_type());
  auto array = [&](const std::string& part, const std::string& label, double low) {
    EnsembleOptions e = eo;
    e.intercepts(Uniform(low, 1.0));
    return ensemble_array(net, EnsembleArrayOptions(o.n_neurons_per_ensemble(), o.dimensions())
                                   .id(detail::part_id(net, part))
                                   .label(label)
                                   .ensemble(e)
                                   .solver(solver));
  };
  bg.strD1 = array("strD1", "Striatal D1 neurons", kE);
  bg.strD2 = array("strD2", "Striatal D2 neurons", kE);
  bg.stn = array("stn", "Subthalamic nucleus", kEp);
  bg.gpi = array("gpi", "Globus pallidus internus", kEg);
  bg.gpe = array("gpe", "Globus pallidus externus", kEe);
  bg.input = net.node(NodeOptions().id(detail::part_id(net, "input")).size_in(o.dimensions()));
  bg.output = net.node(NodeOptions().id(detail::part_id(net, "output")).size_in(o.dimensions()));
  if (o.input_bias() != 0.0) {
    bg.bias_input = net.node(NodeOptions()
                                 .id(detail::part_id(net, "bias_input"))
                                 .output(std::vector<double>(o.dimensions(), o.input_bias())));
    net.connect(bg.bias_input, bg.input);
  }
  auto direct = [] { return ConnectionOptions().synapse(nullptr); };
  net.connect(bg.input, bg.strD1.input, direct().transform(kWs * (1 + kLg)));
  net.connect(bg.input, bg.strD2.input, direct().transform(kWs * (1 - kLe)));
  net.connect(bg.input, bg.stn.input, direct().transform(kWt));

  auto gaba = [&](double w) { return ConnectionOptions().synapse(o.gaba()).transform(w); };
  auto str1 = bg.strD1.add_output("func_str", rectified_above(kE));
  auto str2 = bg.strD2.add_output("func_str", rectified_above(kE));
  net.connect(str1, bg.gpi.input, gaba(-kWm));
  net.connect(str2, bg.gpe.input, gaba(-kWm));
  // The STN excites every GP channel (diffuse projection).
  auto all = torch::full({o.dimensions(), o.dimensions()}, kWp, torch::kFloat64);
  auto stn = bg.stn.add_output("func_stn", rectified_above(kEp));
  net.connect(stn, bg.gpi.input, ConnectionOptions().synapse(o.ampa()).transform(all));
  net.connect(stn, bg.gpe.input, ConnectionOptions().synapse(o.ampa()).transform(all));
  auto gpe = bg.gpe.add_output("func_gpe", rectified_above(kEe));
  net.connect(gpe, bg.gpi.input, gaba(-kWe));
  net.connect(gpe, bg.stn.input, gaba(-kWg));
  auto gpi = bg.gpi.add_output("func_gpi", rectified_above(kEg));
  net.connect(gpi, bg.output, direct().transform(o.output_weight()));
  return bg;
}

Thalamus thalamus(Network& parent, ThalamusOptions o) {
  if (o.dimensions() <= 0 || o.n_neurons_per_ensemble() <= 0)
    throw SpecError("thalamus \"" + o.id() +
                    "\": expected dimensions and n_neurons_per_ensemble > 0");
  Thalamus th;
  th.network = detail::sub_network(parent, o.id(), o.label(), o.seed());
  Network& net = *th.network;
  EnsembleOptions eo(1, 1);
  eo.intercepts(Uniform(o.threshold(), 1.0)).encoders(Choice(torch::ones({1, 1}, torch::kFloat64)));
  if (o.neuron_type()) eo.neuron_type(o.neuron_type());
  th.actions = ensemble_array(net, EnsembleArrayOptions(o.n_neurons_per_ensemble(), o.dimensions())
                                       .id(detail::part_id(net, "actions"))
                                       .label("actions")
                                       .ensemble(eo));
  // Each action inhibits the others.
  auto inhibit = (torch::eye(o.dimensions(), torch::kFloat64) - 1.0) * o.mutual_inhib();
  net.connect(th.actions.output, th.actions.input, ConnectionOptions().transform(inhibit));
  th.bias = net.node(NodeOptions().id(detail::part_id(net, "bias")).output(1.0));
  net.connect(th.bias, th.actions.input,
              ConnectionOptions().transform(torch::ones({o.dimensions(), 1}, torch::kFloat64)));
  th.input = th.actions.input;
  th.output = th.actions.output;
  return th;
}

}  // namespace snn
