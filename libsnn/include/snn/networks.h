#pragma once
/// \file networks.h
/// Nengo's networks library: sub-networks built from Nodes, Ensembles and Connections with
/// Nengo's structure and constants. Each function adds a child network to `parent` and
/// returns handles to its ports (`input`, `output`, ...) for connecting to.
///
///     auto cc = snn::circular_convolution(*net, snn::CircularConvolutionOptions(200, 16).id("cc"));
///     net->connect(a, cc.input_a);
///     net->connect(b, cc.input_b);
///     auto p = net->probe(cc.output, snn::ProbeOptions().synapse(0.03));
///
/// With an `id`, every object gets a readable id `<id>_<part>` (`cc_input_a`, `ea_0`); without
/// one the ids are assigned automatically.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/arg.h>

#include "snn/network.h"

namespace snn {

// ---- EnsembleArray -------------------------------------------------------------------------
struct EnsembleArrayOptions {
  EnsembleArrayOptions(int64_t n_neurons, int64_t n_ensembles)
      : n_neurons_(n_neurons), n_ensembles_(n_ensembles) {}
  TORCH_ARG(std::string, id);
  TORCH_ARG(std::string, label) = "EnsembleArray";
  TORCH_ARG(int64_t, n_neurons);  // per ensemble
  TORCH_ARG(int64_t, n_ensembles);
  TORCH_ARG(int64_t, ens_dimensions) = 1;
  /// Everything else of each ensemble (neuron type, radius, intercepts, ...): n_neurons and
  /// dimensions are replaced by the array's.
  TORCH_ARG(EnsembleOptions, ensemble) = EnsembleOptions(1, 1);
  /// The solver of the output connections (Nengo applies a network's config to them).
  TORCH_ARG(SolverPtr, solver);
  TORCH_ARG(std::optional<uint32_t>, seed);
};

/// n_ensembles ensembles of ens_dimensions each, fed slice by slice from `input` (size
/// n_ensembles * ens_dimensions) and decoded into `output`, all without synapses.
struct EnsembleArray {
  NetworkPtr network;
  NodePtr input, output;
  std::vector<EnsemblePtr> ensembles;
  int64_t ens_dimensions = 1;
  SolverPtr solver;
  /// A further output node collecting `function` of every ensemble's value (the same function
  /// for each, its size from a call on zeros), connected with `options` (synapse none unless
  /// set, as Nengo; the array's solver, when set, replaces the options' one). `name`
  /// becomes the node's id suffix.
  NodePtr add_output(const std::string& name, const Function& function,
                     ConnectionOptions options = ConnectionOptions().synapse(nullptr));
  /// The same with one function per ensemble.
  NodePtr add_output(const std::string& name, const std::vector<Function>& functions,
                     ConnectionOptions options = ConnectionOptions().synapse(nullptr));
  int64_t dimensions() const { return static_cast<int64_t>(ensembles.size()) * ens_dimensions; }
};
EnsembleArray ensemble_array(Network& parent, EnsembleArrayOptions options);

// ---- Product and CircularConvolution -------------------------------------------------------
struct ProductOptions {
  ProductOptions(int64_t n_neurons, int64_t dimensions)
      : n_neurons_(n_neurons), dimensions_(dimensions) {}
  TORCH_ARG(std::string, id);
  TORCH_ARG(std::string, label) = "Product";
  /// Neurons per product (split between the two squaring ensembles).
  TORCH_ARG(int64_t, n_neurons);
  TORCH_ARG(int64_t, dimensions);
  TORCH_ARG(double, input_magnitude) = 1.0;
  TORCH_ARG(EnsembleOptions, ensemble) = EnsembleOptions(1, 1);
  TORCH_ARG(std::optional<uint32_t>, seed);
};

/// Elementwise product a * b = ((a + b)^2 - (a - b)^2) / 4, each square computed by an
/// EnsembleArray of radius input_magnitude * sqrt(2).
struct Product {
  NetworkPtr network;
  NodePtr input_a, input_b, output;
  EnsembleArray sq1, sq2;
};
Product product(Network& parent, ProductOptions options);

struct CircularConvolutionOptions {
  CircularConvolutionOptions(int64_t n_neurons, int64_t dimensions)
      : n_neurons_(n_neurons), dimensions_(dimensions) {}
  TORCH_ARG(std::string, id);
  TORCH_ARG(std::string, label) = "Circular convolution";
  /// Neurons per product of Fourier coefficients.
  TORCH_ARG(int64_t, n_neurons);
  TORCH_ARG(int64_t, dimensions);
  /// Convolve with the involution (approximate inverse) of a or b.
  TORCH_ARG(bool, invert_a) = false;
  TORCH_ARG(bool, invert_b) = false;
  TORCH_ARG(double, input_magnitude) = 1.0;
  TORCH_ARG(EnsembleOptions, ensemble) = EnsembleOptions(1, 1);
  TORCH_ARG(std::optional<uint32_t>, seed);
};

/// Circular convolution through the DFT: the inputs are mapped to real and imaginary parts of
/// their half spectra, multiplied pairwise by a Product of 4 (d / 2 + 1) dimensions, and
/// mapped back by the inverse DFT.
struct CircularConvolution {
  NetworkPtr network;
  NodePtr input_a, input_b, output;
  Product product;
};
CircularConvolution circular_convolution(Network& parent, CircularConvolutionOptions options);

/// The fixed transforms of CircularConvolution (exposed for tests): `align` 'A' or 'B'.
torch::Tensor circconv_transform_in(int64_t dimensions, char align, bool invert);
torch::Tensor circconv_transform_out(int64_t dimensions);

// ---- Integrator and Oscillator -------------------------------------------------------------
struct IntegratorOptions {
  IntegratorOptions(double recurrent_tau, int64_t n_neurons, int64_t dimensions)
      : recurrent_tau_(recurrent_tau), n_neurons_(n_neurons), dimensions_(dimensions) {}
  TORCH_ARG(std::string, id);
  TORCH_ARG(std::string, label) = "Integrator";
  TORCH_ARG(double, recurrent_tau);
  TORCH_ARG(int64_t, n_neurons);
  TORCH_ARG(int64_t, dimensions);
  TORCH_ARG(EnsembleOptions, ensemble) = EnsembleOptions(1, 1);
  TORCH_ARG(std::optional<uint32_t>, seed);
};

/// dx/dt = u with a recurrent Lowpass(tau): input -> ensemble (transform tau, no synapse),
/// ensemble -> ensemble (synapse tau).
struct Integrator {
  NetworkPtr network;
  NodePtr input;
  EnsemblePtr ensemble;  // also the output
};
Integrator integrator(Network& parent, IntegratorOptions options);

struct OscillatorOptions {
  OscillatorOptions(double recurrent_tau, double frequency, int64_t n_neurons)
      : recurrent_tau_(recurrent_tau), frequency_(frequency), n_neurons_(n_neurons) {}
  TORCH_ARG(std::string, id);
  TORCH_ARG(std::string, label) = "Oscillator";
  TORCH_ARG(double, recurrent_tau);
  /// Angular frequency in rad/s.
  TORCH_ARG(double, frequency);
  TORCH_ARG(int64_t, n_neurons);
  TORCH_ARG(EnsembleOptions, ensemble) = EnsembleOptions(1, 1);
  TORCH_ARG(std::optional<uint32_t>, seed);
};

/// A 2-D ensemble rotating at `frequency`: recurrent transform [[1, -w tau], [w tau, 1]].
struct Oscillator {
  NetworkPtr network;
  NodePtr input;
  EnsemblePtr ensemble;
};
Oscillator oscillator(Network& parent, OscillatorOptions options);

// ---- Action selection ----------------------------------------------------------------------
struct BasalGangliaOptions {
  explicit BasalGangliaOptions(int64_t dimensions) : dimensions_(dimensions) {}
  TORCH_ARG(std::string, id);
  TORCH_ARG(std::string, label) = "Basal Ganglia";
  TORCH_ARG(int64_t, dimensions);
  TORCH_ARG(int64_t, n_neurons_per_ensemble) = 100;
  TORCH_ARG(double, output_weight) = -3.0;
  TORCH_ARG(double, input_bias) = 0.0;
  /// Excitatory (AMPA) and inhibitory (GABA) synapses, Nengo's defaults.
  TORCH_ARG(SynapsePtr, ampa) = std::make_shared<Lowpass>(0.002);
  TORCH_ARG(SynapsePtr, gaba) = std::make_shared<Lowpass>(0.008);
  /// The decoder solver of every connection inside (Nengo: NnlsL2nz).
  TORCH_ARG(SolverPtr, solver);
  /// The neurons of every ensemble (unset: LIF).
  TORCH_ARG(NeuronTypePtr, neuron_type);
  TORCH_ARG(std::optional<uint32_t>, seed);
};

/// Gurney, Prescott and Redgrave's winner-take-all circuit with Stewart et al.'s spiking
/// constants: the output is ~0 for the largest input and negative for the others.
struct BasalGanglia {
  NetworkPtr network;
  NodePtr input, output, bias_input;  // bias_input only when input_bias != 0
  EnsembleArray strD1, strD2, stn, gpi, gpe;
};
BasalGanglia basal_ganglia(Network& parent, BasalGangliaOptions options);

struct ThalamusOptions {
  explicit ThalamusOptions(int64_t dimensions) : dimensions_(dimensions) {}
  TORCH_ARG(std::string, id);
  TORCH_ARG(std::string, label) = "Thalamus";
  TORCH_ARG(int64_t, dimensions);
  TORCH_ARG(int64_t, n_neurons_per_ensemble) = 50;
  TORCH_ARG(double, mutual_inhib) = 1.0;
  TORCH_ARG(double, threshold) = 0.0;
  /// The neurons of every ensemble (unset: LIF).
  TORCH_ARG(NeuronTypePtr, neuron_type);
  TORCH_ARG(std::optional<uint32_t>, seed);
};

/// Turns the basal ganglia's output into a one-hot selection: ensembles with a bias of 1,
/// intercepts above `threshold` and mutual inhibition.
struct Thalamus {
  NetworkPtr network;
  NodePtr input, output, bias;
  EnsembleArray actions;
};
Thalamus thalamus(Network& parent, ThalamusOptions options);

}  // namespace snn
