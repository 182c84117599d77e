// Every spec shipped in models/ loads, and the benchmark specs have NengoDL's benchmark
// structure (nengo_dl/benchmarks.py) at snn-bench's default sizes.
#include <torch/torch.h>

// After LibTorch, whose glog would otherwise own CHECK.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "snn/network.h"
#include "snn/spec.h"

namespace {

int64_t total_neurons(const snn::Network& net) {
  int64_t n = 0;
  for (const auto& e : net.all_ensembles()) n += e->n_neurons();
  return n;
}

snn::NetworkPtr model(const std::string& name) {
  return snn::load_network(std::string(SNN_SOURCE_DIR) + "/models/" + name + ".json");
}

}  // namespace

TEST_CASE("every spec in models/ loads", "[models][spec]") {
  int loaded = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(SNN_SOURCE_DIR) + "/models")) {
    if (entry.path().extension() != ".json") continue;
    INFO(entry.path().string());
    CHECK_NOTHROW(snn::load_network(entry.path().string()));
    ++loaded;
  }
  CHECK(loaded >= 8);
}

TEST_CASE("the benchmark specs have the benchmarks' structure", "[models][spec]") {
  // integrator: an EnsembleArray of 128 one-dimensional ensembles of 64 neurons.
  auto integ = model("integrator");
  CHECK(integ->all_ensembles().size() == 128);
  CHECK(total_neurons(*integ) == 128 * 64);
  // cconv: Product of D2 = 4 (d / 2 + 1) = 260 dimensions, two arrays of npd / 2 neurons
  // each: 2 * 260 * 32 = 16 640 neurons (nengo-semantics: d=128, npd=64 -> 16 640).
  auto cc = model("cconv");
  CHECK(total_neurons(*cc) == 16640);
  // basal ganglia: five arrays (strD1, strD2, stn, gpi, gpe) of d ensembles.
  auto bg = model("basal_ganglia");
  CHECK(bg->all_ensembles().size() == 5 * 128);
  CHECK(total_neurons(*bg) == 5 * 128 * 64);
  // random_network: 20 ensembles of 32 * 64 neurons, each with an input, an output and 5
  // recurrent connections.
  auto rn = model("random_network");
  CHECK(rn->all_ensembles().size() == 20);
  CHECK(total_neurons(*rn) == 20 * 32 * 64);
  CHECK(rn->all_connections().size() == 20 * 7);
}
