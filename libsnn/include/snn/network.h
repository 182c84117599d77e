#pragma once
/// \file network.h
/// Nengo's object model: a Network of Nodes, Ensembles, Connections and Probes. A Network is
/// a description only; `snn::Simulator` builds and runs it.
///
///     auto net = std::make_shared<snn::Network>(snn::NetworkOptions().label("demo").seed(0));
///     auto stim = net->node(snn::NodeOptions().id("stim").output(snn::expr("sin(2*_pi*t)")));
///     auto a = net->ensemble(snn::EnsembleOptions(50, 1).id("a"));
///     net->connect(stim, a);
///     auto p = net->probe(a, snn::ProbeOptions().synapse(0.01));
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/arg.h>
#include <torch/types.h>

#include "snn/dists.h"
#include "snn/neurons.h"
#include "snn/solvers.h"
#include "snn/synapses.h"

namespace snn {

class Node;
class Ensemble;
class Connection;
class Probe;
class Network;
struct TensorFunction;  // snn/tensor_node.h
struct Convolution;     // snn/transforms.h
struct Sparse;          // snn/transforms.h
class Process;          // snn/processes.h
class LearningRule;     // snn/learning_rules.h
using ProcessPtr = std::shared_ptr<const Process>;
using LearningRulePtr = std::shared_ptr<const LearningRule>;
using NodePtr = std::shared_ptr<Node>;
using EnsemblePtr = std::shared_ptr<Ensemble>;
using ConnectionPtr = std::shared_ptr<Connection>;
using ProbePtr = std::shared_ptr<Probe>;
using NetworkPtr = std::shared_ptr<Network>;

// --------------------------------------------------------------------------------------------
/// A function computed by a Node (of time t and/or its input x) or on a Connection (of x).
/// `expr` keeps the muParser source when it came from `snn::expr`, so the network can be
/// saved as JSON; plain C++ callables cannot be saved.
struct Function {
  using Fn = std::function<std::vector<double>(double t, const std::vector<double>& x)>;
  Function() = default;
  Function(Fn fn, bool uses_t = true, bool uses_x = true, std::string expr = "")
      : fn(std::move(fn)), expr(std::move(expr)), uses_t(uses_t), uses_x(uses_x) {}
  /// A function of time only.
  static Function of_t(std::function<std::vector<double>(double)> f);
  /// A function of the input vector only.
  static Function of_x(std::function<std::vector<double>(const std::vector<double>&)> f);

  explicit operator bool() const { return static_cast<bool>(fn); }
  std::vector<double> operator()(double t, const std::vector<double>& x) const { return fn(t, x); }

  Fn fn;
  std::string expr;
  bool uses_t = true;
  bool uses_x = true;
};

/// Compiles a muParser expression of `t` and `x0, x1, ...` into a Function: `^` is power,
/// comparisons give 1/0, comma-separated expressions give a vector, `_pi`/`_e` are the double
/// constants. Throws SpecError on a syntax error.
Function expr(const std::string& source);

// --------------------------------------------------------------------------------------------
/// A selection of dimensions: all, a Python slice (start:stop:step, negatives count from the
/// end) or an index list (Nengo's advanced indexing, repeats and permutations allowed).
struct Slice {
  enum class Kind { All, Range, Indices };
  static Slice all() { return {}; }
  static Slice range(std::optional<int64_t> start, std::optional<int64_t> stop,
                     std::optional<int64_t> step = std::nullopt);
  static Slice indices(std::vector<int64_t> index);

  bool is_all() const { return kind == Kind::All; }
  /// The selected indices for a vector of `size`; throws BuildError when out of range.
  std::vector<int64_t> resolve(int64_t size) const;
  /// Spec form: `[i, j]` or `{"start", "stop", "step"}`.
  nlohmann::json to_json() const;

  Kind kind = Kind::All;
  std::optional<int64_t> start, stop, step;
  std::vector<int64_t> index;
};

/// A reference to what a Connection or Probe attaches to: a node, an ensemble (its decoded
/// value), the neurons of an ensemble, a connection (for weights probes) or a connection's
/// learning rule (the target of an error connection), with a slice.
class ObjRef {
 public:
  enum class Kind { None, Node, Ensemble, Neurons, Connection, LearningRule };
  ObjRef() = default;
  ObjRef(NodePtr node);              // NOLINT: implicit by design
  ObjRef(EnsemblePtr ensemble);      // NOLINT
  ObjRef(ConnectionPtr connection);  // NOLINT
  static ObjRef neurons(EnsemblePtr ensemble);
  /// The learning rule of `connection` (Nengo's `conn.learning_rule`): connect an error
  /// signal to it.
  static ObjRef learning_rule(ConnectionPtr connection);

  /// The same object with a slice applied (slicing a slice is not supported).
  ObjRef operator[](Slice s) const;

  /// Size of the object's output (nodes: size_out, ensembles: dimensions, neurons: n_neurons).
  int64_t size_out() const;
  /// Size of the object's input (nodes: size_in).
  int64_t size_in() const;
  /// The referenced object's id ("a", or "a.neurons" for neurons).
  std::string id() const;
  /// Human form for messages: `ensemble "a"`, `neurons of ensemble "a"`, `node "stim"[0:2]`.
  std::string describe() const;

  Kind kind = Kind::None;
  NodePtr node;
  EnsemblePtr ensemble;
  ConnectionPtr connection;
  Slice slice;
};

// --------------------------------------------------------------------------------------------
/// Options of a Node: a constant output, a function of t and/or input, a pass-through
/// (`size_in` only, outputs the sum of its inputs) or an input placeholder (`size_out` only,
/// fed from data).
struct NodeOptions {
  TORCH_ARG(std::string, id);
  TORCH_ARG(std::string, label);
  TORCH_ARG(int64_t, size_in) = 0;
  /// -1: inferred from the output (a trial call of the function at t = 0 on zeros).
  TORCH_ARG(int64_t, size_out) = -1;
  /// A TensorNode's module and shapes (made by snn::tensor_node, snn/tensor_node.h).
  TORCH_ARG(std::shared_ptr<const TensorFunction>, tensor);

 public:
  NodeOptions& output(double v);
  NodeOptions& output(std::vector<double> v);
  NodeOptions& output(torch::Tensor v);
  NodeOptions& output(Function f);
  /// A process (WhiteSignal, WhiteNoise, PresentInput, Piecewise: snn/processes.h).
  NodeOptions& output(ProcessPtr p);
  const ProcessPtr& process() const { return process_; }
  /// The constant output (float64 1-D), undefined unless constant.
  const torch::Tensor& constant() const { return constant_; }
  const Function& function() const { return function_; }

 private:
  torch::Tensor constant_;
  Function function_;
  ProcessPtr process_;
};

class Node {
 public:
  enum class Kind { Constant, Function, PassThrough, Input, Tensor, Process };
  /// Validates the options and infers size_out; throws SpecError naming the node.
  explicit Node(NodeOptions options);
  const std::string& id() const { return options_.id(); }
  const std::string& label() const { return options_.label(); }
  Kind kind() const { return kind_; }
  int64_t size_in() const { return options_.size_in(); }
  int64_t size_out() const { return size_out_; }
  const NodeOptions& options() const { return options_; }
  ObjRef operator[](Slice s) const;
  /// `node "id"` for messages.
  std::string describe() const;

 private:
  friend class Network;
  NodeOptions options_;
  Kind kind_;
  int64_t size_out_ = 0;
  std::weak_ptr<Node> self_;
};

// --------------------------------------------------------------------------------------------
/// Options of an Ensemble, with Nengo's defaults.
struct EnsembleOptions {
  EnsembleOptions(int64_t n_neurons, int64_t dimensions)
      : n_neurons_(n_neurons), dimensions_(dimensions) {}
  TORCH_ARG(std::string, id);
  TORCH_ARG(std::string, label);
  TORCH_ARG(int64_t, n_neurons);
  TORCH_ARG(int64_t, dimensions);
  TORCH_ARG(double, radius) = 1.0;
  TORCH_ARG(Init, max_rates) = Init(Uniform(200.0, 400.0));
  TORCH_ARG(Init, intercepts) = Init(Uniform(-1.0, 0.9));
  TORCH_ARG(Init, encoders) = Init(ScatteredHypersphere(true));
  /// Given gain and bias override max_rates/intercepts (both must be given).
  TORCH_ARG(Init, gain);
  TORCH_ARG(Init, bias);
  TORCH_ARG(Init, eval_points) = Init(ScatteredHypersphere(false));
  /// Default: max(clip(500 d, 750, 2500), 2 n_neurons).
  TORCH_ARG(std::optional<int64_t>, n_eval_points);
  TORCH_ARG(bool, normalize_encoders) = true;
  TORCH_ARG(std::optional<uint32_t>, seed);
  /// Unset: the network's `trainable` setting.
  TORCH_ARG(std::optional<bool>, trainable);
  /// Made by snn::Layer(neuron_type) or a spec's `Neurons` layer (gain 1, bias 0, one
  /// dimension): saved back as that layer, whose id names the neurons.
  TORCH_ARG(bool, neurons_layer) = false;
  /// A process added to the neurons' input current every step (Nengo's `noise`).
  TORCH_ARG(ProcessPtr, noise);

 public:
  EnsembleOptions& neuron_type(NeuronTypePtr t) {
    neuron_type_ = std::move(t);
    return *this;
  }
  template <class T, class = std::enable_if_t<std::is_base_of_v<NeuronType, T>>>
  EnsembleOptions& neuron_type(const T& t) {
    neuron_type_ = std::make_shared<T>(t);
    return *this;
  }
  const NeuronTypePtr& neuron_type() const { return neuron_type_; }

 private:
  NeuronTypePtr neuron_type_ = std::make_shared<LIF>();
};

class Ensemble : public std::enable_shared_from_this<Ensemble> {
 public:
  /// Validates the options; throws SpecError naming the ensemble.
  explicit Ensemble(EnsembleOptions options);
  const std::string& id() const { return options_.id(); }
  const std::string& label() const { return options_.label(); }
  int64_t n_neurons() const { return options_.n_neurons(); }
  int64_t dimensions() const { return options_.dimensions(); }
  const EnsembleOptions& options() const { return options_; }
  /// The ensemble's neurons, as a connection or probe target.
  ObjRef neurons();
  /// A slice of the decoded value.
  ObjRef operator[](Slice s);
  std::string describe() const;
  /// Replaces the options (Simulator::freeze_params writes trained values this way),
  /// validated as by the constructor. The id (empty keeps it), n_neurons, dimensions and the
  /// neuron type cannot change: connections and probes were checked against them. Throws
  /// SpecError naming the ensemble and keeps the old options when the new ones are invalid.
  void set_options(EnsembleOptions options);

 private:
  friend class Network;
  void validate() const;
  EnsembleOptions options_;
};

// --------------------------------------------------------------------------------------------
struct ConnectionOptions {
  TORCH_ARG(std::string, id);
  TORCH_ARG(std::string, label);
  /// Empty: identity. A scalar, a vector (elementwise), a matrix [post][pre] or a
  /// distribution sampled with shape (size_out, size_mid).
  TORCH_ARG(Init, transform);
  /// Instead of `transform`: Nengo's Convolution or Sparse transform (snn/transforms.h).
  TORCH_ARG(std::shared_ptr<const Convolution>, convolution);
  TORCH_ARG(std::shared_ptr<const Sparse>, sparse);
  /// An online learning rule (PES, BCM, Oja, Voja: snn/learning_rules.h).
  TORCH_ARG(LearningRulePtr, learning_rule);
  /// Computed on the (sliced) pre value; from an ensemble it is solved with the NEF.
  TORCH_ARG(Function, function);
  TORCH_ARG(SolverPtr, solver) = std::make_shared<LstsqL2>();
  /// Empty: the pre ensemble's eval points.
  TORCH_ARG(Init, eval_points);
  TORCH_ARG(bool, scale_eval_points) = true;
  TORCH_ARG(std::optional<uint32_t>, seed);
  TORCH_ARG(std::optional<bool>, trainable);

 public:
  /// nullptr: no synapse (the value arrives within the same step).
  ConnectionOptions& synapse(SynapsePtr s) {
    synapse_ = std::move(s);
    return *this;
  }
  /// Lowpass(tau).
  ConnectionOptions& synapse(double tau) { return synapse(std::make_shared<Lowpass>(tau)); }
  template <class T, class = std::enable_if_t<std::is_base_of_v<Synapse, T>>>
  ConnectionOptions& synapse(const T& s) {
    return synapse(std::make_shared<T>(s));
  }
  const SynapsePtr& synapse() const { return synapse_; }

 private:
  SynapsePtr synapse_ = std::make_shared<Lowpass>(0.005);
};

class Connection {
 public:
  Connection(ObjRef pre, ObjRef post, ConnectionOptions options);
  const std::string& id() const { return options_.id(); }
  const ObjRef& pre() const { return pre_; }
  const ObjRef& post() const { return post_; }
  const ConnectionOptions& options() const { return options_; }
  /// Size of the value after slicing and the function, before the transform.
  int64_t size_mid() const { return size_mid_; }
  /// `connection "c0" (a -> b)` for messages.
  std::string describe() const;
  /// Replaces the options (Simulator::freeze_params writes trained values this way),
  /// validated against pre and post as by the constructor; the id cannot change (empty keeps
  /// it). A probe of this connection's weights was sized by the old options: keep the
  /// weights' shape. Throws SpecError naming the connection and keeps the old options when
  /// the new ones are invalid.
  void set_options(ConnectionOptions options);

 private:
  friend class Network;
  void validate();  // checks options_ against pre_/post_ and sets size_mid_
  ObjRef pre_, post_;
  ConnectionOptions options_;
  int64_t size_mid_ = 0;
};

// --------------------------------------------------------------------------------------------
struct ProbeOptions {
  TORCH_ARG(std::string, id);
  TORCH_ARG(std::string, label);
  /// "output" (decoded value, node output, neuron output), "voltage", "refractory_time",
  /// "input" (neuron current). On a connection, as Nengo: "weights", "output" (the value
  /// after its transform and synapse, before the post's slice and a neurons post's gain;
  /// with a synapse, what the post receives in the next step) or "input" (the pre object's
  /// whole output: an ensemble's neuron activities). On a learning rule
  /// (ObjRef::learning_rule, `{"learning_rule_of": i}` in a spec), as Nengo: "delta", the
  /// change the rule computed this step, flattened (it reaches its target in the next step);
  /// PES "error" and "activities"; BCM "pre_filtered", "post_filtered" and "theta"; Oja
  /// "pre_filtered" and "post_filtered"; Voja "post_filtered" and "scaled_encoders".
  TORCH_ARG(std::string, attr) = "output";
  TORCH_ARG(std::optional<double>, sample_every);
  /// NengoDL's per-probe keep_history: false keeps only the last sample of each run call
  /// (and of predict); unset follows settings.keep_history.
  TORCH_ARG(std::optional<bool>, keep_history);
  TORCH_ARG(SolverPtr, solver) = std::make_shared<LstsqL2>();
  TORCH_ARG(std::optional<uint32_t>, seed);

 public:
  ProbeOptions& synapse(SynapsePtr s) {
    synapse_ = std::move(s);
    return *this;
  }
  ProbeOptions& synapse(double tau) { return synapse(std::make_shared<Lowpass>(tau)); }
  template <class T, class = std::enable_if_t<std::is_base_of_v<Synapse, T>>>
  ProbeOptions& synapse(const T& s) {
    return synapse(std::make_shared<T>(s));
  }
  const SynapsePtr& synapse() const { return synapse_; }

 private:
  SynapsePtr synapse_;  // unfiltered by default, as Nengo
};

class Probe {
 public:
  Probe(ObjRef target, ProbeOptions options);
  const std::string& id() const { return options_.id(); }
  const ObjRef& target() const { return target_; }
  const ProbeOptions& options() const { return options_; }
  /// Columns per sample.
  int64_t size() const { return size_; }
  /// One sample's shape as NengoDL sees the signal (its product is size()): a weights or
  /// delta probe's (rows, cols), a convolution's kernel shape, scaled encoders' (n, d);
  /// (size) for everything else.
  const std::vector<int64_t>& signal_shape() const { return shape_; }
  std::string describe() const;
  /// Replaces the options, validated as by the constructor (the id cannot change; empty
  /// keeps it). Throws SpecError naming the probe and keeps the old options when invalid.
  void set_options(ProbeOptions options);

 private:
  friend class Network;
  void validate();       // checks options_ against target_ and sets size_ and shape_
  void validate_size();  // the checks and size_
  ObjRef target_;
  ProbeOptions options_;
  int64_t size_ = 0;
  std::vector<int64_t> shape_;
};

// --------------------------------------------------------------------------------------------
/// NengoDL's `configure_settings`.
struct NetworkSettings {
  TORCH_ARG(double, lif_smoothing) = 0.0;
  TORCH_ARG(bool, trainable) = true;
  TORCH_ARG(std::string, dtype) = "float32";
  /// false: run/run_steps/step start every call from the current state and leave it (and
  /// the time) unchanged, as NengoDL's stateful=False; probe data still accumulate.
  TORCH_ARG(bool, stateful) = true;
  /// false: probes keep only the last sample of each run call, and predict returns only the
  /// last sample (NengoDL). fit/evaluate choose samples with each loss's `steps`.
  TORCH_ARG(bool, keep_history) = true;
  TORCH_ARG(std::string, training_mode) = "rate";
  /// Whether synapses filter while training. False drops them in training only (a
  /// feed-forward network then passes every signal straight through, as with synapse null; a
  /// recurrent one keeps the synapse's one-step delay), so a network trained on single steps
  /// runs with its synapses in inference: NengoDL's recipe of training without synapses and
  /// adding them to run spiking, kept in one spec.
  TORCH_ARG(bool, train_synapses) = true;
};

struct NetworkOptions {
  TORCH_ARG(std::string, id);
  TORCH_ARG(std::string, label);
  TORCH_ARG(std::optional<uint32_t>, seed);
  /// The time step simulators use unless told otherwise.
  TORCH_ARG(double, dt) = 0.001;
  /// The spec's `train` block (snn-train's defaults) as JSON text; empty when none. Kept so
  /// that a loaded spec saves back whole.
  TORCH_ARG(std::string, train);
  /// For a networks-library sub-network (EnsembleArray, Product, ...): its entry of a spec's
  /// `networks` list as JSON text, written by the library function. Saving writes the entry
  /// back instead of the parts it made.
  TORCH_ARG(std::string, library_spec);
};

class Network : public std::enable_shared_from_this<Network> {
 public:
  explicit Network(NetworkOptions options = {});

  /// Adds objects. Objects without an id get one (`node_3`, `ensemble_0`, `c2`, `probe_1`),
  /// unique within the whole tree. Invalid options throw SpecError naming the object.
  NodePtr node(NodeOptions options);
  EnsemblePtr ensemble(EnsembleOptions options);
  ConnectionPtr connect(ObjRef pre, ObjRef post, ConnectionOptions options = {});
  ProbePtr probe(ObjRef target, ProbeOptions options = {});
  /// A nested network sharing this network's id space.
  NetworkPtr network(NetworkOptions options = {});

  const NetworkOptions& options() const { return options_; }
  /// Records the spec entry a networks-library network was made from
  /// (NetworkOptions::library_spec); the spec loader and the library functions call it.
  void set_library_spec(std::string spec) { options_.library_spec(std::move(spec)); }
  NetworkSettings& settings() { return settings_; }
  const NetworkSettings& settings() const { return settings_; }
  const std::string& label() const { return options_.label(); }
  std::optional<uint32_t> seed() const { return options_.seed(); }
  double dt() const { return options_.dt(); }

  /// Direct children, in insertion order.
  const std::vector<NodePtr>& nodes() const { return nodes_; }
  const std::vector<EnsemblePtr>& ensembles() const { return ensembles_; }
  const std::vector<ConnectionPtr>& connections() const { return connections_; }
  const std::vector<ProbePtr>& probes() const { return probes_; }
  const std::vector<NetworkPtr>& networks() const { return networks_; }

  /// All objects of the tree (this network first, then sub-networks depth first).
  std::vector<NodePtr> all_nodes() const;
  std::vector<EnsemblePtr> all_ensembles() const;
  std::vector<ConnectionPtr> all_connections() const;
  std::vector<ProbePtr> all_probes() const;

  /// Lookup by id in the whole tree; nullptr when absent.
  NodePtr find_node(const std::string& id) const;
  EnsemblePtr find_ensemble(const std::string& id) const;
  ConnectionPtr find_connection(const std::string& id) const;
  ProbePtr find_probe(const std::string& id) const;
  /// Whether some object of the tree (of any kind) already has this id.
  bool has_id(const std::string& id) const;

 private:
  struct IdSpace;
  std::string take_id(const std::string& wanted, const std::string& prefix);
  NetworkOptions options_;
  NetworkSettings settings_;
  std::vector<NodePtr> nodes_;
  std::vector<EnsemblePtr> ensembles_;
  std::vector<ConnectionPtr> connections_;
  std::vector<ProbePtr> probes_;
  std::vector<NetworkPtr> networks_;
  std::shared_ptr<IdSpace> ids_;
};

}  // namespace snn
