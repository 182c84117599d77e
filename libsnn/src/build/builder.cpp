// The NEF build: seeds every object the way Nengo does, samples ensembles' parameters,
// solves decoders for connections and probes from ensembles, and discretises synapses.
#include <random>
#include <set>

#include <torch/torch.h>

#include "build/model.h"
#include "build/processes_internal.h"
#include "snn/errors.h"
#include "snn/tensor_node.h"

namespace snn::detail {

int64_t default_n_eval_points(int64_t n_neurons, int64_t dimensions) {
  return std::max(std::clamp<int64_t>(500 * dimensions, 750, 2500), 2 * n_neurons);
}

namespace {

/// A synapse's discrete filter, its errors (a Triangle too long for dt) naming `who`.
StateSpace discretize_for(const Synapse& s, double dt, const std::string& who) {
  try {
    return s.discretize(dt);
  } catch (const SpecError& e) {
    throw BuildError(who + ": " + e.what());
  }
}

constexpr auto kF64 = torch::kFloat64;

/// Object seeds as Nengo assigns them: each network draws one seed per child in the order
/// connections, ensembles, networks, nodes, probes (drawn even when the child has its own).
struct Seeds {
  std::map<const void*, uint32_t> of;
  void assign(const Network& net, uint32_t net_seed) {
    Rng rng(net_seed);
    auto pick = [&](const void* obj, std::optional<uint32_t> own) {
      uint32_t drawn = rng.child_seed();
      of[obj] = own ? *own : drawn;
    };
    for (const auto& c : net.connections()) pick(c.get(), c->options().seed());
    for (const auto& e : net.ensembles()) pick(e.get(), e->options().seed());
    std::vector<std::pair<const Network*, uint32_t>> subs;
    for (const auto& n : net.networks()) {
      uint32_t drawn = rng.child_seed();
      subs.emplace_back(n.get(), n->seed() ? *n->seed() : drawn);
    }
    for (const auto& n : net.nodes()) pick(n.get(), std::nullopt);
    for (const auto& p : net.probes()) pick(p.get(), p->options().seed());
    for (const auto& [sub, s] : subs) assign(*sub, s);
  }
};

/// A per-neuron parameter: a literal scalar is broadcast, a list used as is.
torch::Tensor per_neuron(const Init& init, int64_t n, Rng& rng, const std::string& what,
                         const std::string& name) {
  auto t = init.get(n, 0, rng).to(kF64);
  if (t.dim() == 0) return t.expand({n}).clone();
  if (t.dim() == 2 && t.size(1) == 1) t = t.flatten();
  if (t.dim() != 1 || t.size(0) != n)
    throw BuildError(name + ": " + what + " must have " + std::to_string(n) + " values, got shape " +
                     c10::str(t.sizes()));
  return t.contiguous();
}

torch::Tensor sample_eval_points(const Init& init, int64_t n_points, int64_t d, double radius,
                                 bool scale, Rng& rng, const std::string& name) {
  auto ep = init.get(n_points, d, rng).to(kF64);
  if (ep.dim() == 1 && d == 1) ep = ep.unsqueeze(1);
  if (ep.dim() != 2 || ep.size(1) != d || ep.size(0) == 0)
    throw BuildError(name + ": eval_points must have shape (m, " + std::to_string(d) + "), got " +
                     c10::str(ep.sizes()));
  return scale ? ep * radius : ep;
}

BuiltEnsemble build_ensemble(const EnsemblePtr& ens, uint32_t seed) {
  const auto& o = ens->options();
  const auto name = ens->describe();
  const int64_t n = o.n_neurons(), d = o.dimensions();
  BuiltEnsemble b;
  b.ensemble = ens;
  b.neuron_type = o.neuron_type();
  b.seed = seed;
  Rng rng(seed);
  try {
    const int64_t m = o.n_eval_points() ? *o.n_eval_points() : default_n_eval_points(n, d);
    b.eval_points = sample_eval_points(o.eval_points(), m, d, o.radius(), true, rng, name);
    if (b.direct()) {
      // Nengo's Direct mode: eval points as usual (connections' default), identity encoders,
      // no tuning; the runtime's d identity units pass the input straight to the output.
      if (o.noise()) throw BuildError(name + ": noise needs neurons; a Direct ensemble has none");
      b.encoders = torch::eye(d, kF64);
      b.scaled_encoders = b.encoders;
      b.gain = torch::ones({d}, kF64);
      b.bias = torch::zeros({d}, kF64);
      return b;
    }

    auto enc = o.encoders().get(n, d, rng).to(kF64);
    if (enc.dim() == 1 && d == 1) enc = enc.unsqueeze(1);
    if (enc.dim() != 2 || enc.size(0) != n || enc.size(1) != d)
      throw BuildError(name + ": encoders must have shape (" + std::to_string(n) + ", " +
                       std::to_string(d) + "), got " + c10::str(enc.sizes()));
    if (o.normalize_encoders()) {
      auto norms = enc.norm(2, 1, true);
      if ((norms == 0).any().item<bool>()) throw BuildError(name + ": an encoder has zero length");
      enc = enc / norms;
    }
    b.encoders = enc.contiguous();

    const auto& nt = *o.neuron_type();
    if (!o.gain().empty()) {
      b.gain = per_neuron(o.gain(), n, rng, "gain", name);
      b.bias = per_neuron(o.bias(), n, rng, "bias", name);
      std::tie(b.max_rates, b.intercepts) = nt.max_rates_intercepts(b.gain, b.bias);
    } else {
      b.max_rates = per_neuron(o.max_rates(), n, rng, "max_rates", name);
      b.intercepts = per_neuron(o.intercepts(), n, rng, "intercepts", name);
      std::tie(b.gain, b.bias) = nt.gain_bias(b.max_rates, b.intercepts);
      if ((b.gain <= 0).any().item<bool>() || !torch::isfinite(b.gain).all().item<bool>())
        throw BuildError(name + ": max_rates/intercepts give non-positive or non-finite gains "
                                "(an intercept of 1 or above, or a max rate the neuron type "
                                "cannot reach?)");
    }
    b.scaled_encoders = (b.encoders * (b.gain / o.radius()).unsqueeze(1)).contiguous();

    Rng state_rng(seed + 1);
    for (const auto& [state, dflt] : nt.default_state()) {
      auto it = nt.initial_state.find(state);
      const Init& init = it != nt.initial_state.end() ? it->second : dflt;
      b.initial_state[state] = per_neuron(init, n, state_rng, "initial_state " + state, name);
    }
  } catch (const SpecError& e) {
    throw BuildError(name + ": " + e.what());
  }
  return b;
}

/// Applies `f` row by row to eval points (already sliced).
torch::Tensor apply_function(const Function& f, const torch::Tensor& x, const std::string& name) {
  auto xc = x.contiguous();
  const int64_t m = xc.size(0), d = xc.size(1);
  std::vector<double> row(d);
  std::vector<double> out;
  int64_t width = -1;
  const double* p = xc.data_ptr<double>();
  for (int64_t i = 0; i < m; ++i) {
    std::copy(p + i * d, p + (i + 1) * d, row.begin());
    auto y = f(0.0, row);
    if (width < 0) width = static_cast<int64_t>(y.size());
    if (static_cast<int64_t>(y.size()) != width)
      throw BuildError(name + ": function returned " + std::to_string(y.size()) +
                       " values on one eval point and " + std::to_string(width) + " on another");
    out.insert(out.end(), y.begin(), y.end());
  }
  return torch::tensor(out, kF64).reshape({m, width});
}

torch::Tensor activities(const BuiltEnsemble& b, const torch::Tensor& eval_points) {
  const double radius = b.ensemble->options().radius();
  auto x = torch::mm(eval_points, b.encoders.t() / radius);
  return b.neuron_type->rates(x * b.gain + b.bias);
}

torch::Tensor solve_decoders(const BuiltEnsemble& pre, const torch::Tensor& eval_points,
                             const torch::Tensor& targets, const Solver& solver, Rng& rng,
                             const std::string& name) {
  if (dynamic_cast<const NoSolver*>(&solver)) {
    // Given decoders need no activities (an (m, n) rate matrix per connection); only the
    // shape is checked.
    auto shape = torch::empty({0, pre.ensemble->n_neurons()}, kF64);
    try {
      return solver.solve(shape, targets, rng).t().contiguous();
    } catch (const BuildError& e) {
      throw BuildError(name + ": " + e.what());
    }
  }
  auto A = activities(pre, eval_points);
  if (!(A.abs().max().item<double>() > 0))
    throw BuildError(name + ": every neuron of " + pre.ensemble->describe() +
                     " is silent on the eval points, so no decoders can be solved");
  auto X = solver.solve(A, targets, rng);
  if (!torch::isfinite(X).all().item<bool>())
    throw BuildError(name + ": the decoder solve gave non-finite values");
  return X.t().contiguous();  // (size_mid, n_neurons)
}

bool is_identity(const std::vector<int64_t>& idx, int64_t size) {
  if (static_cast<int64_t>(idx.size()) != size) return false;
  for (int64_t i = 0; i < size; ++i)
    if (idx[i] != i) return false;
  return true;
}

}  // namespace

Model build_model(const Network& net, double dt, std::optional<uint32_t> seed) {
  Model model;
  model.dt = dt;
  if (seed) {
    model.seed = *seed;
  } else if (net.seed()) {
    model.seed = *net.seed();
  } else {
    model.seed = std::random_device{}() & 0x7FFFFFFFu;
  }
  Seeds seeds;
  seeds.assign(net, model.seed);

  model.nodes = net.all_nodes();
  for (size_t i = 0; i < model.nodes.size(); ++i) {
    const auto& n = model.nodes[i];
    model.node_index[n.get()] = i;
    const auto& tf = n->options().tensor();
    model.node_seed.push_back(tf && tf->seed ? *tf->seed : seeds.of.at(n.get()));
    if (const auto& p = n->options().process()) check_process(*p, dt, n->size_out(), n->describe());
  }
  for (const auto& e : net.all_ensembles()) {
    model.ensemble_index[e.get()] = model.ensembles.size();
    model.ensembles.push_back(build_ensemble(e, seeds.of.at(e.get())));
    if (const auto& p = e->options().noise())
      check_process(*p, dt, e->n_neurons(), e->describe() + " noise");
  }

  auto check_member = [&](const ObjRef& r, const std::string& who, const char* end) {
    using K = ObjRef::Kind;
    bool ok = true;
    if (r.kind == K::Node) ok = model.node_index.count(r.node.get()) > 0;
    if (r.kind == K::Ensemble || r.kind == K::Neurons)
      ok = model.ensemble_index.count(r.ensemble.get()) > 0;
    if (r.kind == K::Connection) {
      ok = false;
      for (const auto& c : net.all_connections()) ok = ok || c == r.connection;
    }
    if (!ok)
      throw BuildError(who + ": its " + end + " " + r.describe() +
                       " is not part of this network (dangling object)");
  };

  for (const auto& c : net.all_connections()) {
    const auto name = c->describe();
    check_member(c->pre(), name, "pre");
    check_member(c->post(), name, "post");
    auto direct = [&](const ObjRef& r) {
      return (r.kind == ObjRef::Kind::Ensemble || r.kind == ObjRef::Kind::Neurons) &&
             model.ensembles[model.ensemble_index.at(r.ensemble.get())].direct();
    };
    for (const ObjRef* r : {&c->pre(), &c->post()})
      if (r->kind == ObjRef::Kind::Neurons && direct(*r))
        throw BuildError(name + ": " + r->describe() +
                         ": a Direct-mode ensemble has no neurons to connect");
    if (direct(c->pre()) && c->options().solver() && c->options().solver()->weights())
      throw BuildError(name + ": a weight solver needs neurons; " + c->pre().describe() +
                       " is in Direct mode");
    if (direct(c->post()) && c->options().solver() && c->options().solver()->weights() &&
        c->pre().kind == ObjRef::Kind::Ensemble)
      throw BuildError(name + ": a weight solver needs post neurons; " + c->post().describe() +
                       " is in Direct mode");
    BuiltConnection b;
    b.connection = c;
    b.seed = seeds.of.at(c.get());
    Rng rng(b.seed);
    b.pre_index = c->pre().slice.resolve(c->pre().size_out());
    b.post_index = c->post().slice.resolve(c->post().size_in());
    b.pre_full = is_identity(b.pre_index, c->pre().size_out());
    b.post_full = is_identity(b.post_index, c->post().size_in());
    const int64_t post_size = static_cast<int64_t>(b.post_index.size());
    const auto& o = c->options();

    torch::Tensor transform;
    if (o.convolution() || o.sparse()) {
      // Sampled from the connection's generator where Nengo samples its transform; the
      // kernel (values) become the trainable weights, decoders stay separate.
      try {
        if (o.convolution()) {
          b.conv = o.convolution();
          b.weights = b.conv->sample(rng);
        } else {
          b.sparse = o.sparse();
          b.weights = b.sparse->sample(rng);
          for (const auto& [r, col] : b.sparse->indices()) {
            b.sparse_rows.push_back(r);
            b.sparse_cols.push_back(col);
          }
        }
      } catch (const SpecError& e) {
        throw BuildError(name + ": " + e.what());
      }
    } else if (!o.transform().empty()) {
      transform = o.transform().get(post_size, c->size_mid(), rng).to(kF64);
      if (o.transform().is_distribution() && transform.dim() != 2)
        throw BuildError(name + ": the transform distribution gave shape " +
                         c10::str(transform.sizes()));
    }
    if (c->pre().kind == ObjRef::Kind::Ensemble && !direct(c->pre())) {
      b.decoded = true;
      const auto& pre = model.ensembles[model.ensemble_index.at(c->pre().ensemble.get())];
      const auto& eo = pre.ensemble->options();
      if (o.eval_points().empty()) {
        b.eval_points = pre.eval_points;
      } else {
        const int64_t m = eo.n_eval_points() ? *eo.n_eval_points()
                                             : default_n_eval_points(eo.n_neurons(), eo.dimensions());
        b.eval_points = sample_eval_points(o.eval_points(), m, eo.dimensions(), eo.radius(),
                                           o.scale_eval_points(), rng, name);
      }
      auto x = b.pre_full ? b.eval_points
                          : b.eval_points.index_select(1, torch::tensor(b.pre_index, torch::kLong));
      auto targets = o.function() ? apply_function(o.function(), x, name) : x;
      const auto& solver = *o.solver();
      const bool full_weights = solver.weights() && !solver.compositional();
      // The post's scaled encoders of the selected dimensions, (n_post, k): a weight solver
      // folds them into its weights.
      torch::Tensor post_enc;
      if (solver.weights()) {
        const auto& post = model.ensembles[model.ensemble_index.at(c->post().ensemble.get())];
        post_enc = post.scaled_encoders.index_select(1, torch::tensor(b.post_index, torch::kLong));
      }
      if (full_weights) {
        // Solved against the targets mapped through the transform and the post encoders.
        auto y = targets;
        if (transform.defined())
          y = transform.dim() == 2 ? torch::mm(y, transform.t()) : y * transform;
        y = torch::mm(y, post_enc.t());
        b.decoders = solve_decoders(pre, b.eval_points, y, solver, rng, name);
      } else {
        b.decoders = solve_decoders(pre, b.eval_points, targets, solver, rng, name);
      }
      if (full_weights) {
        b.weights = b.decoders;
      } else if (b.conv || b.sparse) {
        // b.weights already holds the kernel / values, applied after the decoders.
      } else if (!transform.defined()) {
        b.weights = b.decoders;
      } else if (transform.dim() == 0) {
        b.weights = transform * b.decoders;
      } else if (transform.dim() == 1) {
        b.weights = transform.unsqueeze(1) * b.decoders;
      } else {
        b.weights = torch::mm(transform, b.decoders);
      }
      if (solver.weights()) {
        if (!full_weights) b.weights = torch::mm(post_enc, b.weights);
        b.to_post_neurons = true;
        const int64_t n_post = post_enc.size(0);
        if (b.weights.size(0) != n_post)
          throw BuildError(name + ": the weight solver gave " + std::to_string(b.weights.size(0)) +
                           " rows for " + std::to_string(n_post) + " post neurons");
        b.post_index.resize(static_cast<size_t>(n_post));
        for (int64_t i = 0; i < n_post; ++i) b.post_index[static_cast<size_t>(i)] = i;
        b.post_full = true;
      }
    } else if (!b.conv && !b.sparse) {
      b.weights = transform;
    }
    if (o.synapse()) b.filter = discretize_for(*o.synapse(), dt, c->describe());
    model.connection_index[c.get()] = model.connections.size();
    model.connections.push_back(std::move(b));
  }
  build_learning_rules(model);

  for (const auto& p : net.all_probes()) {
    const auto name = p->describe();
    check_member(p->target(), name, "target");
    BuiltProbe b;
    b.probe = p;
    const auto& t = p->target();
    const auto& attr = p->options().attr();
    if (t.kind != ObjRef::Kind::Connection) {
      const int64_t full = (t.kind == ObjRef::Kind::Node && attr == "input") ? t.size_in()
                                                                             : t.size_out();
      b.index = t.slice.resolve(full);
      b.full = is_identity(b.index, full);
    }
    const bool direct_target =
        (t.kind == ObjRef::Kind::Neurons || t.kind == ObjRef::Kind::Ensemble) &&
        model.ensembles[model.ensemble_index.at(t.ensemble.get())].direct();
    if (t.kind == ObjRef::Kind::Neurons && direct_target)
      throw BuildError(name + ": " + t.describe() + ": a Direct-mode ensemble has no neurons");
    if (t.kind == ObjRef::Kind::Ensemble && (attr == "output" || attr == "decoded_output") &&
        direct_target) {
      // The represented value itself: the identity rows of the probed dimensions.
      b.decoders = torch::eye(t.ensemble->dimensions(), kF64)
                       .index_select(0, torch::tensor(b.index, torch::kLong));
    } else if (t.kind == ObjRef::Kind::Ensemble &&
               (attr == "output" || attr == "decoded_output")) {
      const auto& pre = model.ensembles[model.ensemble_index.at(t.ensemble.get())];
      auto x = b.full ? pre.eval_points
                      : pre.eval_points.index_select(1, torch::tensor(b.index, torch::kLong));
      Rng rng(seeds.of.at(p.get()));
      b.decoders = solve_decoders(pre, pre.eval_points, x, *p->options().solver(), rng, name);
    }
    if (p->options().synapse()) b.filter = discretize_for(*p->options().synapse(), dt, p->describe());
    if (p->options().sample_every()) b.period = *p->options().sample_every() / dt;
    model.probes.push_back(std::move(b));
  }
  return model;
}

}  // namespace snn::detail
