// Invalid networks fail early with messages that name the object at fault.
#include <cmath>

#include <catch2/catch.hpp>

#include "snn/errors.h"
#include "snn/network.h"
#include "snn/simulator.h"

using Catch::Matchers::Contains;

namespace {
snn::NetworkPtr net() { return std::make_shared<snn::Network>(snn::NetworkOptions().seed(1)); }
}  // namespace

TEST_CASE("invalid objects name themselves", "[frontend]") {
  auto n = net();
  CHECK_THROWS_WITH(n->ensemble(snn::EnsembleOptions(0, 1).id("empty")),
                    Contains("ensemble \"empty\"") && Contains("n_neurons > 0"));
  CHECK_THROWS_WITH(n->ensemble(snn::EnsembleOptions(10, 1).id("r").radius(-1)),
                    Contains("ensemble \"r\"") && Contains("radius > 0"));
  CHECK_THROWS_WITH(n->ensemble(snn::EnsembleOptions(3, 1).id("g").gain(std::vector<double>{1, 2, 3})),
                    Contains("gain and bias must be given together"));
  CHECK_THROWS_WITH(n->ensemble(snn::EnsembleOptions(3, 1).id("g2").gain(std::vector<double>{1, 2})
                                    .bias(std::vector<double>{0, 0})),
                    Contains("one value per neuron"));
  CHECK_THROWS_WITH(n->node(snn::NodeOptions().id("nothing")), Contains("node \"nothing\""));
  CHECK_THROWS_AS(snn::Lowpass(-0.01), snn::SpecError);
  n->node(snn::NodeOptions().id("dup").output(1.0));
  CHECK_THROWS_WITH(n->node(snn::NodeOptions().id("dup").output(1.0)), Contains("duplicate id \"dup\""));
}

TEST_CASE("size mismatches are reported with the connection", "[frontend]") {
  auto n = net();
  auto a = n->node(snn::NodeOptions().id("a").output(std::vector<double>{1, 2}));
  auto b = n->node(snn::NodeOptions().id("b").size_in(3));
  CHECK_THROWS_WITH(n->connect(a, b), Contains("a -> b") && Contains("must match"));
  CHECK_THROWS_WITH(n->connect(a, b, snn::ConnectionOptions().transform(
                                         std::vector<std::vector<double>>{{1, 0}, {0, 1}})),
                    Contains("(3, 2)"));
  CHECK_THROWS_WITH(n->connect((*a)[snn::Slice::indices({5})], b), Contains("out of range"));
  auto e = n->ensemble(snn::EnsembleOptions(5, 1).id("e"));
  CHECK_THROWS_WITH(n->connect(e->neurons(), b, snn::ConnectionOptions().function(
                                                    snn::Function::of_x([](const std::vector<double>& x) {
                                                      return x;
                                                    }))),
                    Contains("cannot be applied to neurons"));
  auto src = n->node(snn::NodeOptions().id("src").output(1.0));
  CHECK_THROWS_WITH(n->connect(b, src), Contains("size_in 0"));
}

TEST_CASE("a loop without a synapse is a build error naming the cycle", "[frontend]") {
  auto n = net();
  auto a = n->node(snn::NodeOptions().id("a").size_in(1));
  auto b = n->node(snn::NodeOptions().id("b").size_in(1));
  n->connect(a, b, snn::ConnectionOptions().synapse(nullptr));
  n->connect(b, a, snn::ConnectionOptions().synapse(nullptr));
  CHECK_THROWS_WITH(snn::Simulator(n), Contains("cycle without a synapse") &&
                                           Contains("node \"a\"") && Contains("node \"b\""));
  // The same loop with a synapse is fine.
  auto ok = net();
  auto c = ok->node(snn::NodeOptions().id("c").size_in(1));
  auto d = ok->node(snn::NodeOptions().id("d").size_in(1));
  ok->connect(c, d, snn::ConnectionOptions().synapse(nullptr));
  ok->connect(d, c, snn::ConnectionOptions().synapse(0.01));
  CHECK_NOTHROW(snn::Simulator(ok));
}

TEST_CASE("objects from another network are dangling", "[frontend]") {
  auto n1 = net();
  auto n2 = net();
  auto foreign = n2->node(snn::NodeOptions().id("foreign").output(1.0));
  auto sink = n1->node(snn::NodeOptions().id("sink").size_in(1));
  n1->connect(foreign, sink);
  CHECK_THROWS_WITH(snn::Simulator(n1), Contains("dangling") && Contains("node \"foreign\""));
}

TEST_CASE("slices follow Python semantics", "[frontend]") {
  CHECK(snn::Slice::range(std::nullopt, std::nullopt, -1).resolve(4) == std::vector<int64_t>{3, 2, 1, 0});
  CHECK(snn::Slice::range(1, 100).resolve(4) == std::vector<int64_t>{1, 2, 3});
  CHECK(snn::Slice::range(-2, std::nullopt).resolve(4) == std::vector<int64_t>{2, 3});
  CHECK(snn::Slice::range(0, 40, 4).resolve(40).size() == 10);
  CHECK(snn::Slice::indices({1, 0, 1}).resolve(2) == std::vector<int64_t>{1, 0, 1});
  CHECK(snn::Slice::indices({-1}).resolve(3) == std::vector<int64_t>{2});
  CHECK_THROWS_AS(snn::Slice::indices({3}).resolve(3), snn::BuildError);
}

TEST_CASE("a dt the simulation cannot hold is a clear error and not a NaN", "[frontend]") {
  CHECK_THROWS_WITH(snn::Network(snn::NetworkOptions().dt(INFINITY)),
                    Contains("expected a finite dt > 0"));
  auto with_dt = [](double dt) {
    auto n = std::make_shared<snn::Network>(snn::NetworkOptions().seed(1).dt(dt));
    auto in = n->node(snn::NodeOptions().id("in").output(0.5));
    auto e = n->ensemble(snn::EnsembleOptions(10, 1).id("e"));
    auto out = n->node(snn::NodeOptions().id("out").size_in(1));
    n->connect(in, e);
    n->connect(e, out, snn::ConnectionOptions().synapse(snn::Lowpass(0.005)));
    return n;
  };
  // The default Lowpass of 5 ms over 1e300 s: exp(A dt) overflows; the first connection built
  // with it is named.
  CHECK_THROWS_WITH(snn::Simulator(with_dt(1e300), snn::SimulatorOptions().dtype(torch::kFloat64)),
                    Contains("in -> e") && Contains("cannot discretise the synapse with dt 1e+300"));
  // float32 holds neither dt = 1e300 nor 1/dt = 1e300; float64 holds 1/dt.
  CHECK_THROWS_WITH(snn::Simulator(with_dt(1e300), snn::SimulatorOptions().dtype(torch::kFloat32)),
                    Contains("dt 1e+300 does not fit float32"));
  CHECK_THROWS_WITH(snn::Simulator(with_dt(1e-300), snn::SimulatorOptions().dtype(torch::kFloat32)),
                    Contains("dt 1e-300 does not fit float32") && Contains("float64 would hold it"));
  CHECK_NOTHROW(snn::Simulator(with_dt(1e-300), snn::SimulatorOptions().dtype(torch::kFloat64)));
  CHECK_THROWS_WITH(snn::Simulator(with_dt(0.001), snn::SimulatorOptions().dt(INFINITY)),
                    Contains("dt inf does not fit"));
}
