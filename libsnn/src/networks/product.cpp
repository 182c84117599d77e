// Product and CircularConvolution. The DFT transforms follow Nengo's construction: each
// frequency w of the half spectrum takes four product dimensions holding Re/Im pairs of the
// two spectra, so that the inverse transform can form Re and Im of A_w * B_w.
#include <cmath>

#include <torch/torch.h>

#include "networks/networks_internal.h"
#include "snn/errors.h"
#include "snn/networks.h"

namespace snn {

Product product(Network& parent, ProductOptions o) {
  if (o.n_neurons() <= 0 || o.dimensions() <= 0)
    throw SpecError("product \"" + o.id() + "\": expected n_neurons and dimensions > 0");
  Product p;
  p.network = detail::sub_network(parent, o.id(), o.label(), o.seed());
  Network& net = *p.network;
  p.input_a = net.node(NodeOptions().id(detail::part_id(net, "input_a")).size_in(o.dimensions()));
  p.input_b = net.node(NodeOptions().id(detail::part_id(net, "input_b")).size_in(o.dimensions()));
  p.output = net.node(NodeOptions().id(detail::part_id(net, "output")).size_in(o.dimensions()));
  EnsembleOptions eo = o.ensemble();
  eo.radius(o.input_magnitude() * std::sqrt(2.0));
  const int64_t half = std::max<int64_t>(1, o.n_neurons() / 2);
  p.sq1 = ensemble_array(net, EnsembleArrayOptions(half, o.dimensions())
                                  .id(detail::part_id(net, "sq1"))
                                  .ensemble(eo));
  p.sq2 = ensemble_array(net, EnsembleArrayOptions(half, o.dimensions())
                                  .id(detail::part_id(net, "sq2"))
                                  .ensemble(eo));
  const double tr = 1.0 / std::sqrt(2.0);
  auto direct = [] { return ConnectionOptions().synapse(nullptr); };
  net.connect(p.input_a, p.sq1.input, direct().transform(tr));
  net.connect(p.input_b, p.sq1.input, direct().transform(tr));
  net.connect(p.input_a, p.sq2.input, direct().transform(tr));
  net.connect(p.input_b, p.sq2.input, direct().transform(-tr));
  auto sq1_out = p.sq1.add_output("square", expr("x0^2"));
  net.connect(sq1_out, p.output, direct().transform(0.5));
  auto sq2_out = p.sq2.add_output("square", expr("x0^2"));
  net.connect(sq2_out, p.output, direct().transform(-0.5));
  return p;
}

namespace {

/// exp(-2 pi i w x / n) for w = 0 .. n/2 (rows) and x = 0 .. n-1: real and imaginary parts.
std::pair<torch::Tensor, torch::Tensor> dft_half(int64_t n) {
  auto w = torch::arange(n / 2 + 1, torch::kFloat64).unsqueeze(1);
  auto x = torch::arange(n, torch::kFloat64).unsqueeze(0);
  auto phase = (-2.0 * M_PI / static_cast<double>(n)) * w * x;
  return {torch::cos(phase), torch::sin(phase)};
}

}  // namespace

torch::Tensor circconv_transform_in(int64_t dims, char align, bool invert) {
  if (align != 'A' && align != 'B')
    throw SpecError("circular convolution: align must be 'A' or 'B'");
  auto [re, im] = dft_half(dims);
  if (invert) im = -im;  // the conjugate spectrum: the involution of the vector
  const int64_t rows = 4 * (dims / 2 + 1);
  auto tr = torch::zeros({rows, dims}, torch::kFloat64);
  for (int64_t i = 0; i < rows; ++i) {
    const bool real = align == 'A' ? i % 2 == 0 : (i % 4 == 0 || i % 4 == 3);
    tr[i] = real ? re[i / 4] : im[i / 4];
  }
  return tr;
}

torch::Tensor circconv_transform_out(int64_t dims) {
  const int64_t half = dims / 2 + 1;
  auto [re, im] = dft_half(dims);
  im = -im;  // the inverse DFT uses the conjugate
  auto tr = torch::zeros({half, 4, dims}, torch::kFloat64);
  for (int64_t i = 0; i < half; ++i) {
    // Frequencies other than 0 and n/2 stand for their mirror image too.
    const double k = (i == 0 || 2 * i == dims) ? 1.0 : 2.0;
    tr[i][0] = k * re[i];
    tr[i][1] = -k * re[i];
    tr[i][2] = -k * im[i];
    tr[i][3] = -k * im[i];
  }
  return (tr.reshape({4 * half, dims}) / static_cast<double>(dims)).t().contiguous();
}

CircularConvolution circular_convolution(Network& parent, CircularConvolutionOptions o) {
  if (o.n_neurons() <= 0 || o.dimensions() <= 0)
    throw SpecError("circular convolution \"" + o.id() +
                    "\": expected n_neurons and dimensions > 0");
  auto tr_a = circconv_transform_in(o.dimensions(), 'A', o.invert_a());
  auto tr_b = circconv_transform_in(o.dimensions(), 'B', o.invert_b());
  auto tr_out = circconv_transform_out(o.dimensions());
  CircularConvolution c;
  c.network = detail::sub_network(parent, o.id(), o.label(), o.seed());
  Network& net = *c.network;
  c.input_a = net.node(NodeOptions().id(detail::part_id(net, "input_a")).size_in(o.dimensions()));
  c.input_b = net.node(NodeOptions().id(detail::part_id(net, "input_b")).size_in(o.dimensions()));
  c.product = product(net, ProductOptions(o.n_neurons(), tr_out.size(1))
                               .id(detail::part_id(net, "product"))
                               .input_magnitude(o.input_magnitude() * 2)
                               .ensemble(o.ensemble()));
  c.output = net.node(NodeOptions().id(detail::part_id(net, "output")).size_in(o.dimensions()));
  net.connect(c.input_a, c.product.input_a, ConnectionOptions().synapse(nullptr).transform(tr_a));
  net.connect(c.input_b, c.product.input_b, ConnectionOptions().synapse(nullptr).transform(tr_b));
  net.connect(c.product.output, c.output, ConnectionOptions().synapse(nullptr).transform(tr_out));
  return c;
}

}  // namespace snn
