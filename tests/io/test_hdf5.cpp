// HDF5 probe files (write_probes) and data files (read_inputs): layouts of
// shared/spec/tools.md, round trips, and errors that name the file and dataset.
#include <catch2/catch.hpp>

#include <fstream>
#include <random>

#include <torch/torch.h>

#include "conformance/conformance_support.h"
#include "snn/data.h"
#include "snn/errors.h"
#include "snn/io.h"
#include "snn/network.h"
#include "snn/simulator.h"

using Catch::Matchers::Contains;
using snn::testing::TempDir;

namespace {

/// The message of the DataError `f` throws ("<no DataError>" when it throws none).
template <class F>
std::string data_error_message(F&& f) {
  try {
    f();
  } catch (const snn::DataError& e) {
    return e.what();
  }
  return "<no DataError>";
}

/// A clock node t -> (t, 2t) probed every step and every 5 steps, and a constant node.
snn::NetworkPtr clock_network() {
  auto net = std::make_shared<snn::Network>(snn::NetworkOptions().label("io_test").seed(7));
  auto clock = net->node(snn::NodeOptions().id("clock").output(snn::expr("t, 2*t")));
  auto c = net->node(snn::NodeOptions().id("c").output(std::vector<double>{0.5, -2.0}));
  net->probe(clock, snn::ProbeOptions().id("p_t"));
  net->probe(clock, snn::ProbeOptions().id("p_every").sample_every(0.005));
  net->probe(c, snn::ProbeOptions().id("p_c"));
  return net;
}

/// (n,) times n*dt for n = first, first+stride, ...
torch::Tensor times(int64_t first, int64_t stride, int64_t count, double dt) {
  return torch::arange(first, first + stride * count, stride, torch::kFloat64) * dt;
}

}  // namespace

TEST_CASE("write_probes writes every probe, the time axes and the attributes", "[io][hdf5]") {
  TempDir dir("hdf5");
  const std::string path = dir.file("run.h5");
  snn::Simulator sim(clock_network(),
                     snn::SimulatorOptions().minibatch_size(2).dtype(torch::kFloat64).progress_bar(false));
  sim.run_steps(20);
  snn::write_probes(sim, path);

  // Nothing but the final file remains (the temporary was renamed).
  CHECK(dir.entries() == std::vector<std::string>{"run.h5"});

  using namespace snn::testing;
  CHECK(list_group(path, "/probes") == std::vector<std::string>{"p_c", "p_every", "p_t"});
  CHECK(dataset_type(path, "/probes/p_t") == "float64");

  // t = n*dt at step n, for both items of the minibatch.
  const torch::Tensor t = times(1, 1, 20, 0.001);
  torch::Tensor p_t = read_dataset(path, "/probes/p_t");
  REQUIRE(p_t.sizes() == c10::IntArrayRef({2, 20, 2}));
  for (int64_t b = 0; b < 2; ++b) {
    CHECK(torch::allclose(p_t[b].select(1, 0), t, 0.0, 1e-15));
    CHECK(torch::allclose(p_t[b].select(1, 1), 2 * t, 0.0, 1e-15));
  }

  // sample_every 0.005: steps 5, 10, 15, 20.
  const torch::Tensor ts = times(5, 5, 4, 0.001);
  torch::Tensor p_every = read_dataset(path, "/probes/p_every");
  REQUIRE(p_every.sizes() == c10::IntArrayRef({2, 4, 2}));
  CHECK(torch::allclose(p_every[1].select(1, 1), 2 * ts, 0.0, 1e-15));
  CHECK(list_group(path, "/probe_trange") == std::vector<std::string>{"p_every"});
  CHECK(torch::allclose(read_dataset(path, "/probe_trange/p_every"), ts, 0.0, 1e-15));

  torch::Tensor p_c = read_dataset(path, "/probes/p_c");
  REQUIRE(p_c.sizes() == c10::IntArrayRef({2, 20, 2}));
  CHECK(p_c.select(2, 0).eq(0.5).all().item<bool>());
  CHECK(p_c.select(2, 1).eq(-2.0).all().item<bool>());

  CHECK(dataset_type(path, "/trange") == "float64");
  CHECK(torch::allclose(read_dataset(path, "/trange"), t, 0.0, 1e-15));

  CHECK(read_string_attribute(path, "label") == "io_test");
  CHECK(read_double_attribute(path, "dt") == 0.001);
  CHECK(read_int_attribute(path, "n_steps") == 20);
  CHECK(read_int_attribute(path, "seed") == 7);
  CHECK(read_string_attribute(path, "version") == snn::version());
  CHECK_FALSE(snn::version().empty());
  CHECK(read_string_attribute(path, "library") == "libsnn");
}

TEST_CASE("write_probes writes float32 datasets on request and replaces an old file",
          "[io][hdf5]") {
  TempDir dir("hdf5");
  const std::string path = dir.file("run.h5");
  {
    std::ofstream old(path);
    old << "an older file in the way";
  }
  snn::Simulator sim(clock_network(), snn::SimulatorOptions().dtype(torch::kFloat64).progress_bar(false));
  sim.run_steps(10);
  snn::write_probes(sim, path, torch::kFloat32);
  using namespace snn::testing;
  CHECK(dataset_type(path, "/probes/p_t") == "float32");
  CHECK(dataset_type(path, "/trange") == "float64");  // times stay exact
  CHECK(torch::allclose(read_dataset(path, "/probes/p_t")[0].select(1, 1),
                        2 * times(1, 1, 10, 0.001), 0.0, 1e-7));
  CHECK(dir.entries() == std::vector<std::string>{"run.h5"});
}

TEST_CASE("write_probes into a missing folder throws DataError and leaves no file",
          "[io][hdf5]") {
  TempDir dir("hdf5");
  const std::string path = dir.file("no_such_folder/run.h5");
  snn::Simulator sim(clock_network(), snn::SimulatorOptions().progress_bar(false));
  sim.run_steps(3);
  CHECK_THAT(data_error_message([&] { snn::write_probes(sim, path); }), Contains(path));
  CHECK(dir.entries().empty());
}

TEST_CASE("read_inputs reads /inputs datasets as written", "[io][hdf5]") {
  TempDir dir("hdf5");
  const std::string path = dir.file("data.h5");
  torch::manual_seed(3);
  const torch::Tensor a = torch::rand({3, 5, 2}, torch::kFloat32);
  const torch::Tensor b = torch::randn({3, 4}, torch::kFloat64);
  snn::testing::write_dataset(path, "/inputs/a", a);
  snn::testing::write_dataset(path, "/inputs/b", b);
  snn::testing::write_dataset(path, "/targets/p", torch::zeros({3}, torch::kInt64));  // ignored

  snn::Inputs in = snn::read_inputs(path);
  REQUIRE(in.size() == 2);
  REQUIRE(in.count("a") == 1);
  REQUIRE(in.count("b") == 1);
  CHECK(in["a"].scalar_type() == torch::kFloat32);
  CHECK(in["a"].sizes() == a.sizes());
  CHECK(torch::equal(in["a"], a));
  CHECK(in["b"].scalar_type() == torch::kFloat64);
  CHECK(torch::equal(in["b"], b));
}

TEST_CASE("read_inputs errors name the file and the dataset", "[io][hdf5]") {
  TempDir dir("hdf5");

  const std::string missing = dir.file("missing.h5");
  CHECK_THAT(data_error_message([&] { snn::read_inputs(missing); }), Contains(missing));

  const std::string no_inputs = dir.file("no_inputs.h5");
  snn::testing::write_dataset(no_inputs, "/targets/p", torch::zeros({2, 3}));
  const std::string m1 = data_error_message([&] { snn::read_inputs(no_inputs); });
  CHECK_THAT(m1, Contains(no_inputs) && Contains("/inputs"));

  const std::string ints = dir.file("ints.h5");
  snn::testing::write_dataset(ints, "/inputs/labels", torch::zeros({2, 3}, torch::kInt64));
  const std::string m2 = data_error_message([&] { snn::read_inputs(ints); });
  CHECK_THAT(m2, Contains(ints) && Contains("/inputs/labels") && Contains("float"));

  const std::string rank1 = dir.file("rank1.h5");
  snn::testing::write_dataset(rank1, "/inputs/u", torch::zeros({4}, torch::kFloat32));
  const std::string m3 = data_error_message([&] { snn::read_inputs(rank1); });
  CHECK_THAT(m3, Contains(rank1) && Contains("/inputs/u") && Contains("rank 1"));

  const std::string rank4 = dir.file("rank4.h5");
  snn::testing::write_dataset(rank4, "/inputs/u", torch::zeros({1, 2, 3, 4}, torch::kFloat32));
  CHECK_THAT(data_error_message([&] { snn::read_inputs(rank4); }),
             Contains("/inputs/u") && Contains("rank 4"));

  // Items without steps would run nothing.
  const std::string no_steps = dir.file("no_steps.h5");
  snn::testing::write_dataset(no_steps, "/inputs/u", torch::zeros({3, 0, 2}, torch::kFloat32));
  CHECK_THAT(data_error_message([&] { snn::read_inputs(no_steps); }),
             Contains(no_steps) && Contains("/inputs/u") && Contains("at least one step"));
  CHECK_THAT(data_error_message([&] { snn::load_dataset(no_steps); }),  // snn-train's reader
             Contains(no_steps) && Contains("/inputs/u") && Contains("at least one step"));
}

TEST_CASE("read_inputs on a corrupt file throws DataError naming the file", "[io][hdf5]") {
  TempDir dir("hdf5");
  const std::string path = dir.file("corrupt.h5");
  {
    std::mt19937 gen(42);
    std::ofstream f(path, std::ios::binary);
    for (int i = 0; i < 4096; ++i) f.put(static_cast<char>(gen() & 0xff));
  }
  CHECK_THAT(data_error_message([&] { snn::read_inputs(path); }), Contains(path));

  // A real HDF5 file cut short: the signature is there, the rest is not.
  const std::string good = dir.file("good.h5");
  snn::testing::write_dataset(good, "/inputs/u", torch::ones({2, 100, 3}, torch::kFloat32));
  const std::string truncated = dir.file("truncated.h5");
  {
    std::ifstream in(good, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream out(truncated, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 3));
  }
  CHECK_THAT(data_error_message([&] { snn::read_inputs(truncated); }), Contains(truncated));
}
