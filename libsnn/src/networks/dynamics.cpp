// Integrator and Oscillator: a recurrent ensemble whose Lowpass(tau) feedback turns the
// transform M into the dynamics dx/dt = (M - I) x / tau + u (input scaled by tau).
#include "networks/networks_internal.h"
#include "snn/errors.h"
#include "snn/networks.h"

namespace snn {

Integrator integrator(Network& parent, IntegratorOptions o) {
  if (!(o.recurrent_tau() > 0))
    throw SpecError("integrator \"" + o.id() + "\": expected recurrent_tau > 0, got " +
                    std::to_string(o.recurrent_tau()));
  Integrator in;
  in.network = detail::sub_network(parent, o.id(), o.label(), o.seed());
  Network& net = *in.network;
  in.input = net.node(NodeOptions().id(detail::part_id(net, "input")).size_in(o.dimensions()));
  EnsembleOptions eo = o.ensemble();
  eo.n_neurons(o.n_neurons()).dimensions(o.dimensions()).id(detail::part_id(net, "ensemble"));
  in.ensemble = net.ensemble(eo);
  net.connect(in.ensemble, in.ensemble, ConnectionOptions().synapse(o.recurrent_tau()));
  net.connect(in.input, in.ensemble,
              ConnectionOptions().transform(o.recurrent_tau()).synapse(nullptr));
  return in;
}

Oscillator oscillator(Network& parent, OscillatorOptions o) {
  if (!(o.recurrent_tau() > 0))
    throw SpecError("oscillator \"" + o.id() + "\": expected recurrent_tau > 0, got " +
                    std::to_string(o.recurrent_tau()));
  Oscillator os;
  os.network = detail::sub_network(parent, o.id(), o.label(), o.seed());
  Network& net = *os.network;
  os.input = net.node(NodeOptions().id(detail::part_id(net, "input")).size_in(2));
  EnsembleOptions eo = o.ensemble();
  eo.n_neurons(o.n_neurons()).dimensions(2).id(detail::part_id(net, "ensemble"));
  os.ensemble = net.ensemble(eo);
  net.connect(os.input, os.ensemble,
              ConnectionOptions().transform(o.recurrent_tau()).synapse(nullptr));
  const double wt = o.frequency() * o.recurrent_tau();
  net.connect(os.ensemble, os.ensemble,
              ConnectionOptions()
                  .synapse(o.recurrent_tau())
                  .transform(std::vector<std::vector<double>>{{1.0, -wt}, {wt, 1.0}}));
  return os;
}

}  // namespace snn
