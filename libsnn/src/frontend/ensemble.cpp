// Ensemble: validates what can be checked before the build (sizes of literal parameters).
#include <torch/torch.h>

#include "snn/errors.h"
#include "snn/network.h"

namespace snn {

std::string Ensemble::describe() const { return "ensemble \"" + id() + "\""; }

namespace {
void check_per_neuron(const std::string& name, const char* what, const Init& v, int64_t n) {
  if (v.empty() || v.is_distribution()) return;
  const auto& t = v.literal();
  if (t.dim() == 0) return;
  if (t.dim() != 1 || t.size(0) != n)
    throw SpecError(name + ": " + what + " must have one value per neuron (" + std::to_string(n) +
                    "), got shape " + c10::str(t.sizes()));
}
}  // namespace

Ensemble::Ensemble(EnsembleOptions o) : options_(std::move(o)) { validate(); }

void Ensemble::set_options(EnsembleOptions o) {
  const auto name = describe();
  if (!o.id().empty() && o.id() != id())
    throw SpecError(name + ": set_options cannot change the id (to \"" + o.id() + "\")");
  if (o.n_neurons() != n_neurons() || o.dimensions() != dimensions())
    throw SpecError(name + ": set_options cannot change n_neurons or dimensions (" +
                    std::to_string(n_neurons()) + ", " + std::to_string(dimensions()) + "), got " +
                    std::to_string(o.n_neurons()) + ", " + std::to_string(o.dimensions()));
  if (!o.neuron_type() || o.neuron_type()->type() != options_.neuron_type()->type())
    throw SpecError(name + ": set_options cannot change the neuron type " +
                    options_.neuron_type()->type());
  o.id(id());
  std::swap(options_, o);
  try {
    validate();
  } catch (...) {
    std::swap(options_, o);  // the old options stay
    throw;
  }
}

void Ensemble::validate() const {
  const auto name = describe();
  const auto n = options_.n_neurons(), d = options_.dimensions();
  if (n <= 0) throw SpecError(name + ": expected n_neurons > 0, got " + std::to_string(n));
  if (d <= 0) throw SpecError(name + ": expected dimensions > 0, got " + std::to_string(d));
  if (!(options_.radius() > 0))
    throw SpecError(name + ": expected radius > 0, got " + std::to_string(options_.radius()));
  if (!options_.neuron_type()) throw SpecError(name + ": neuron_type is missing");
  if (options_.gain().empty() != options_.bias().empty())
    throw SpecError(name + ": gain and bias must be given together (Nengo cannot derive one "
                           "from max_rates/intercepts and the other)");
  check_per_neuron(name, "gain", options_.gain(), n);
  check_per_neuron(name, "bias", options_.bias(), n);
  check_per_neuron(name, "max_rates", options_.max_rates(), n);
  check_per_neuron(name, "intercepts", options_.intercepts(), n);
  if (!options_.encoders().empty() && !options_.encoders().is_distribution()) {
    const auto& e = options_.encoders().literal();
    if (e.dim() != 2 || e.size(0) != n || e.size(1) != d)
      throw SpecError(name + ": encoders must have shape (" + std::to_string(n) + ", " +
                      std::to_string(d) + "), got " + c10::str(e.sizes()));
  }
  if (!options_.eval_points().empty() && !options_.eval_points().is_distribution()) {
    const auto& e = options_.eval_points().literal();
    if (e.dim() != 2 || e.size(1) != d || e.size(0) == 0)
      throw SpecError(name + ": eval_points must have shape (m, " + std::to_string(d) +
                      "), got " + c10::str(e.sizes()));
  }
  if (options_.n_eval_points() && *options_.n_eval_points() <= 0)
    throw SpecError(name + ": expected n_eval_points > 0, got " +
                    std::to_string(*options_.n_eval_points()));
  for (const auto& [state, init] : options_.neuron_type()->initial_state) {
    bool known = false;
    for (const auto& [sname, dflt] : options_.neuron_type()->default_state())
      known = known || sname == state;
    if (!known)
      throw SpecError(name + ": neuron type " + options_.neuron_type()->type() +
                      " has no state variable \"" + state + "\"");
    check_per_neuron(name, ("initial_state " + state).c_str(), init, n);
  }
}

ObjRef Ensemble::neurons() { return ObjRef::neurons(shared_from_this()); }

ObjRef Ensemble::operator[](Slice s) { return ObjRef(shared_from_this())[std::move(s)]; }

}  // namespace snn
