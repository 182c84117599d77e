// save_params / load_params: round trip, structural mismatches named by the first parameter
// at fault, and damaged files reported as DataError naming the file (never a crash, never a
// half-loaded simulator).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <cmath>
#include <fstream>

#include <sys/stat.h>
#include <unistd.h>

#include <caffe2/serialize/inline_container.h>

#include "snn/checkpoint.h"
#include "snn/errors.h"
#include "snn/network.h"
#include "snn/simulator.h"
#include "snn/spec.h"

namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

/// A folder removed with its content at the end of the test.
struct Scratch {
  Scratch() : dir(fs::temp_directory_path() / ("snn_ckpt_" + std::to_string(::getpid()))) {
    fs::create_directories(dir);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string file(const std::string& name) const { return (dir / name).string(); }
  fs::path dir;
};

/// in -> a (n_a neurons) -> out, plus optionally a second ensemble b fed by a.
snn::NetworkPtr net(int64_t n_a, bool with_b = false) {
  auto n = std::make_shared<snn::Network>(snn::NetworkOptions().seed(2));
  auto in = n->node(snn::NodeOptions().id("in").size_out(1));
  auto a = n->ensemble(snn::EnsembleOptions(n_a, 1).id("a"));
  auto out = n->node(snn::NodeOptions().id("out").size_in(1));
  n->connect(in, a, snn::ConnectionOptions().id("in_a").transform(2.0));
  n->connect(a, out, snn::ConnectionOptions().id("a_out"));
  if (with_b) {
    auto b = n->ensemble(snn::EnsembleOptions(5, 1).id("b"));
    n->connect(a, b, snn::ConnectionOptions().id("a_b"));
  }
  n->probe(out, snn::ProbeOptions().id("p"));
  return n;
}

snn::SimulatorOptions f64() {
  return snn::SimulatorOptions().dtype(torch::kFloat64).progress_bar(false);
}

std::map<std::string, torch::Tensor> params(snn::Simulator& sim) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : sim.module().named_parameters()) out[p.key()] = p.value().detach().clone();
  return out;
}

/// Changes every parameter so that a loaded checkpoint is told from the built values.
void perturb(snn::Simulator& sim) {
  torch::NoGradGuard no_grad;
  for (auto& p : sim.module().parameters()) p.add_(0.125);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

/// Copies the checkpoint archive `from` to `to` with the data record of every tensor whose
/// key (data/<key>) `cut` selects shortened to 4 bytes: a valid zip whose tensors declare
/// more values than their data hold.
template <class Select>
void cut_tensor_records(const std::string& from, const std::string& to, Select cut) {
  caffe2::serialize::PyTorchStreamReader reader(from);
  caffe2::serialize::PyTorchStreamWriter writer(to);
  for (const auto& name : reader.getAllRecords()) {
    // The writer adds its own version and byte-order records.
    if (name == "version" || name == ".data/version" || name == "byteorder" ||
        name == ".data/serialization_id")
      continue;
    auto [data, size] = reader.getRecord(name);
    const bool shorten = name.rfind("data/", 0) == 0 && cut(std::stoul(name.substr(5)));
    writer.writeRecord(name, data.get(), shorten ? std::min<size_t>(size, 4) : size);
  }
  writer.writeEndOfFile();
}

}  // namespace

TEST_CASE("save_params and load_params round-trip every parameter", "[train][io][checkpoint]") {
  Scratch s;
  snn::Simulator a(net(10), f64());
  perturb(a);
  a.save_params(s.file("ck.pt"));
  snn::Simulator b(net(10), f64());
  const auto before = params(b);
  CHECK(b.load_params(s.file("ck.pt")) == 0);  // no epoch stored
  const auto want = params(a), got = params(b);
  REQUIRE(want.size() == got.size());
  for (const auto& [k, v] : want) {
    INFO(k);
    CHECK(torch::equal(got.at(k), v));
    CHECK_FALSE(torch::equal(before.at(k), v));
  }
}

TEST_CASE("load_params names the first parameter of another network", "[train][io][checkpoint]") {
  Scratch s;
  snn::Simulator small(net(10), f64());
  small.save_params(s.file("small.pt"));
  snn::Simulator bigger(net(10, true), f64());
  bigger.save_params(s.file("bigger.pt"));

  SECTION("a parameter with another shape") {
    snn::Simulator other(net(12), f64());
    const auto before = params(other);
    CHECK_THROWS_MATCHES(other.load_params(s.file("small.pt")), snn::DataError,
                         Catch::Matchers::Message(
                             s.file("small.pt") +
                             ": parameter ensembles.a.bias has shape [10], this network has [12]"));
    // Nothing was loaded: the simulator keeps its parameters.
    for (const auto& [k, v] : params(other)) CHECK(torch::equal(before.at(k), v));
  }
  SECTION("a parameter the checkpoint lacks") {
    snn::Simulator other(net(10, true), f64());
    CHECK_THROWS_WITH(other.load_params(s.file("small.pt")),
                      Contains(s.file("small.pt")) && Contains("ensembles.b") &&
                          Contains("missing"));
  }
  SECTION("a parameter the network lacks") {
    snn::Simulator other(net(10), f64());
    const auto before = params(other);
    CHECK_THROWS_WITH(other.load_params(s.file("bigger.pt")),
                      Contains(s.file("bigger.pt")) && Contains("ensembles.b") &&
                          Contains("not in this network"));
    for (const auto& [k, v] : params(other)) CHECK(torch::equal(before.at(k), v));
  }
}

TEST_CASE("a damaged checkpoint is a DataError naming the file", "[train][io][checkpoint]") {
  Scratch s;
  snn::Simulator sim(net(10), f64());
  sim.compile(snn::CompileOptions().loss("p", snn::LossOptions()));
  sim.save_params(s.file("good.pt"), 3);
  const std::string good = slurp(s.file("good.pt"));
  REQUIRE(good.size() > 200);
  snn::Simulator target(net(10), f64());
  target.compile(snn::CompileOptions().loss("p", snn::LossOptions()));
  const auto before = params(target);

  std::vector<std::pair<std::string, std::string>> damaged = {
      {"empty.pt", ""},
      {"text.pt", "this is not a checkpoint\n"},
      {"half.pt", good.substr(0, good.size() / 2)},
      {"tail_cut.pt", good.substr(0, good.size() - 30)},
      {"head_cut.pt", good.substr(40)},
  };
  // Bytes flipped throughout the file (headers, records and the zip directory).
  for (size_t at : {size_t(10), good.size() / 3, good.size() / 2, good.size() - 60}) {
    std::string bad = good;
    for (size_t i = at; i < std::min(bad.size(), at + 16); ++i) bad[i] = static_cast<char>(~bad[i]);
    damaged.emplace_back("flipped_" + std::to_string(at) + ".pt", bad);
  }
  for (const auto& [name, bytes] : damaged) {
    const auto path = s.file(name);
    write(path, bytes);
    INFO(name);
    for (bool training_state : {false, true}) {
      try {
        target.load_params(path, training_state);
        // Flipped bytes inside tensor data can go unnoticed (the archive has no checksums
        // LibTorch verifies); then the values must still have the right shapes.
        for (const auto& [k, v] : params(target)) CHECK(v.sizes() == before.at(k).sizes());
      } catch (const snn::DataError& e) {
        CHECK_THAT(e.what(), Catch::Matchers::StartsWith(path + ": "));
        CHECK(std::string(e.what()).find('\n') == std::string::npos);
      }
    }
  }
  // The undamaged file still loads, with its epoch.
  CHECK(target.load_params(s.file("good.pt"), true) == 3);
  CHECK_THROWS_WITH(target.load_params(s.file("missing.pt")),
                    Contains(s.file("missing.pt")) && Contains("no such checkpoint"));
}

TEST_CASE("a training state needs a compiled simulator and a training checkpoint",
          "[train][io][checkpoint]") {
  Scratch s;
  snn::Simulator sim(net(10), f64());
  sim.save_params(s.file("plain.pt"));  // no epoch: no optimizer state
  snn::Simulator target(net(10), f64());
  CHECK_THROWS_AS(target.load_params(s.file("plain.pt"), true), snn::SpecError);
  target.compile(snn::CompileOptions().loss("p", snn::LossOptions()));
  CHECK_THROWS_WITH(target.load_params(s.file("plain.pt"), true),
                    Contains(s.file("plain.pt")) && Contains("no optimizer state"));
}

TEST_CASE("a checkpoint tells which spec it was saved from", "[train][io][checkpoint]") {
  Scratch s;
  auto spec = [](int seed, const std::string& label) {
    return snn::network_from_json(nlohmann::json{
        {"format", "snn-network/1"}, {"seed", seed}, {"label", label},
        {"nodes", {{{"id", "in"}, {"size_out", 1}}}},
        {"ensembles", {{{"id", "a"}, {"n_neurons", 10}, {"dimensions", 1}}}},
        {"connections", {{{"pre", "in"}, {"post", "a"}}}},
        {"probes", {{{"id", "p"}, {"target", "a"}}}}});
  };
  const auto base = spec(1, "first");
  // The hash covers what is built: not the label, but the seed.
  CHECK(snn::spec_hash(*base) == snn::spec_hash(*spec(1, "renamed")));
  CHECK(snn::spec_hash(*base) != snn::spec_hash(*spec(2, "first")));
  CHECK(snn::spec_hash(*base).size() == 16);

  snn::Simulator sim(base, f64());
  sim.save_params(s.file("plain.pt"));
  const auto plain = snn::read_checkpoint_info(s.file("plain.pt"));
  CHECK(plain.spec_hash == snn::spec_hash(*base));
  CHECK(plain.epoch == -1);
  CHECK_FALSE(plain.has_optimizer);
  CHECK_FALSE(plain.library_version.empty());

  sim.compile(snn::CompileOptions().loss("p", snn::LossOptions()));
  sim.save_params(s.file("training.pt"), 3);
  const auto training = snn::read_checkpoint_info(s.file("training.pt"));
  CHECK(training.epoch == 3);
  CHECK(training.has_optimizer);

  CHECK(snn::checkpoint_spec_mismatch(s.file("plain.pt"), *spec(1, "renamed")).empty());
  CHECK_THAT(snn::checkpoint_spec_mismatch(s.file("plain.pt"), *spec(2, "first")),
             Contains(s.file("plain.pt") + ": saved from another spec (content hash " +
                      plain.spec_hash));

  write(s.file("junk.pt"), "not a checkpoint");
  CHECK_THROWS_WITH(snn::read_checkpoint_info(s.file("junk.pt")), Contains(s.file("junk.pt")));
  CHECK_THROWS_AS(snn::read_checkpoint_info(s.file("missing.pt")), snn::DataError);
}

TEST_CASE("a crafted checkpoint cannot make load_params read past its data",
          "[train][io][checkpoint]") {
  Scratch s;
  snn::Simulator target(net(10), f64());
  const auto before = params(target);
  snn::Simulator source(net(10), f64());
  source.save_params(s.file("good.pt"));
  // The same archive with every tensor's data cut to 4 bytes: a zip that is valid as a
  // file, whose tensors declare more values than their data records hold.
  const std::string cut = s.file("cut.pt");
  cut_tensor_records(s.file("good.pt"), cut, [](size_t) { return true; });
  CHECK_THROWS_WITH(target.load_params(cut),
                    StartsWith(cut + ": parameter ") && Contains("values, its data holds"));
  // Values that are not finite are refused too.
  snn::Simulator nan_source(net(10), f64());
  {
    torch::NoGradGuard no_grad;
    nan_source.module().named_parameters()["connections.a_out.weights"].fill_(std::nan(""));
  }
  nan_source.save_params(s.file("nan.pt"));
  CHECK_THROWS_WITH(target.load_params(s.file("nan.pt")),
                    StartsWith(s.file("nan.pt") +
                               ": parameter connections.a_out.weights holds NaN"));
  // Nothing changed in the simulator.
  for (const auto& [k, v] : params(target)) CHECK(torch::equal(v, before.at(k)));
}

TEST_CASE("a crafted optimizer state is refused and the optimizer kept", "[train][io][checkpoint]") {
  Scratch s;
  auto trained = [&](snn::Simulator& sim) {
    sim.compile(snn::CompileOptions().loss("p", snn::LossOptions()));  // Adam
    auto x = torch::rand({1, 3, 1}, torch::kFloat64), y = torch::rand({1, 3, 1}, torch::kFloat64);
    sim.fit({{"in", x}}, {{"p", y}}, snn::FitOptions().progress_bar(false));
  };
  snn::Simulator source(net(10), f64());
  trained(source);
  source.save_params(s.file("train.pt"), 1);
  // The tensors are pickled in order, the parameters' first: cut only the records after
  // them, the optimizer's moments.
  const size_t n_params = source.module().named_parameters().size() +
                          source.module().named_buffers().size();
  const std::string cut = s.file("cut_moments.pt");
  cut_tensor_records(s.file("train.pt"), cut, [&](size_t key) { return key >= n_params; });
  snn::Simulator target(net(10), f64());
  trained(target);
  target.save_params(s.file("target_before.pt"), 1);
  // (LibTorch may already fail reading the cut moments; either way a DataError, no crash.)
  CHECK_THROWS_WITH(target.load_params(cut, true),
                    StartsWith(cut + ": ") && Contains("optimizer state"));
  // The refused load left the optimizer as it was: saving it again gives the same moments.
  target.save_params(s.file("target_after.pt"), 1);
  snn::Simulator a(net(10), f64()), b(net(10), f64());
  trained(a);
  trained(b);
  a.load_params(s.file("target_before.pt"), true);
  b.load_params(s.file("target_after.pt"), true);
  auto x = torch::rand({1, 3, 1}, torch::kFloat64), y = torch::rand({1, 3, 1}, torch::kFloat64);
  a.fit({{"in", x}}, {{"p", y}}, snn::FitOptions().progress_bar(false).shuffle(false));
  b.fit({{"in", x}}, {{"p", y}}, snn::FitOptions().progress_bar(false).shuffle(false));
  for (const auto& [k, v] : params(a)) CHECK(torch::equal(v, params(b).at(k)));
}

TEST_CASE("writers refuse to replace what is not a regular file and follow links",
          "[train][io][checkpoint]") {
  Scratch s;
  snn::Simulator sim(net(10), f64());
  const std::string fifo = s.file("pipe");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH(sim.save_params(fifo), StartsWith(fifo + ": cannot write the checkpoint: ") &&
                                               Contains("not a regular file"));
  CHECK_THROWS_WITH(snn::save_network(sim.network(), fifo),
                    StartsWith(fifo + ": cannot write the network spec: "));
  CHECK(fs::is_fifo(fs::symlink_status(fifo)));
  CHECK_THROWS_WITH(sim.save_params(s.dir.string()), Contains("it is a folder"));
  // Through a symbolic link, the file it names is updated and the link stays.
  const std::string real = s.file("real.pt"), link = s.file("link.pt");
  write(real, "old");
  fs::create_symlink(real, link);
  sim.save_params(link);
  CHECK(fs::is_symlink(fs::symlink_status(link)));
  snn::Simulator other(net(10), f64());
  perturb(other);
  other.load_params(real);
  for (const auto& [k, v] : params(other)) CHECK(torch::equal(v, params(sim).at(k)));
}
