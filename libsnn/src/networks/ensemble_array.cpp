// EnsembleArray: one ensemble per slice of the input, decoded into output nodes.
#include <cstdio>

#include "networks/networks_internal.h"
#include "snn/errors.h"
#include "snn/networks.h"

namespace snn {

namespace detail {

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace detail

EnsembleArray ensemble_array(Network& parent, EnsembleArrayOptions o) {
  if (o.n_neurons() <= 0 || o.n_ensembles() <= 0 || o.ens_dimensions() <= 0)
    throw SpecError("ensemble array \"" + o.id() + "\": expected n_neurons, n_ensembles and " +
                    "ens_dimensions > 0, got " + std::to_string(o.n_neurons()) + ", " +
                    std::to_string(o.n_ensembles()) + ", " + std::to_string(o.ens_dimensions()));
  EnsembleArray ea;
  ea.network = detail::sub_network(parent, o.id(), o.label(), o.seed());
  ea.ens_dimensions = o.ens_dimensions();
  ea.solver = o.solver();
  Network& net = *ea.network;
  const int64_t d = o.ens_dimensions();
  // Nengo's order: the input node, then each ensemble with its input connection.
  ea.input = net.node(NodeOptions()
                          .id(detail::part_id(net, "input"))
                          .label("input")
                          .size_in(o.n_ensembles() * d));
  for (int64_t i = 0; i < o.n_ensembles(); ++i) {
    EnsembleOptions eo = o.ensemble();
    eo.n_neurons(o.n_neurons()).dimensions(d).id(detail::part_id(net, "ea_" + std::to_string(i)));
    eo.label(o.label() + "_" + std::to_string(i));
    auto e = net.ensemble(eo);
    net.connect((*ea.input)[Slice::range(i * d, (i + 1) * d)], e,
                ConnectionOptions().synapse(nullptr));
    ea.ensembles.push_back(e);
  }
  ea.output = ea.add_output("output", Function());
  return ea;
}

NodePtr EnsembleArray::add_output(const std::string& name, const Function& function,
                                  ConnectionOptions options) {
  return add_output(name, std::vector<Function>(ensembles.size(), function), std::move(options));
}

NodePtr EnsembleArray::add_output(const std::string& name, const std::vector<Function>& functions,
                                  ConnectionOptions options) {
  Network& net = *network;
  if (functions.size() != ensembles.size())
    throw SpecError("ensemble array \"" + net.options().id() + "\": add_output(\"" + name +
                    "\") expected one function per ensemble (" + std::to_string(ensembles.size()) +
                    "), got " + std::to_string(functions.size()));
  std::vector<int64_t> sizes;
  for (const auto& f : functions)
    sizes.push_back(f ? static_cast<int64_t>(f(0.0, std::vector<double>(ens_dimensions, 0.0)).size())
                      : ens_dimensions);
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  auto out = net.node(NodeOptions().id(detail::part_id(net, name)).label(name).size_in(total));
  // The array's solver (a network-wide setting, as Nengo's config) applies to its outputs.
  if (solver) options.solver(solver);
  int64_t start = 0;
  for (size_t i = 0; i < ensembles.size(); ++i) {
    ConnectionOptions co = options;
    co.function(functions[i]);
    net.connect(ensembles[i], (*out)[Slice::range(start, start + sizes[i])], co);
    start += sizes[i];
  }
  return out;
}

}  // namespace snn
