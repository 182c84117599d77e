// InferenceService (snn/serve.h): the Open Inference Protocol over a network, in process.
// The numbers are checked against closed forms (a linear map) and against Simulator::predict
// of the same network run alone, which batching must not change.
#include <atomic>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "conformance/conformance_support.h"
#include "snn/errors.h"
#include "snn/serve.h"
#include "snn/simulator.h"
#include "snn/spec.h"

namespace {

using nlohmann::json;

/// y = A x in the same step (node to node, no synapse): the closed form of every output.
snn::NetworkPtr linear_network() {
  return snn::network_from_json(json::parse(R"({
    "format": "snn-network/1", "seed": 1,
    "nodes": [{"id": "x", "size_out": 2}, {"id": "y", "size_in": 2}],
    "connections": [{"pre": "x", "post": "y", "transform": [[1, 2], [3, 4]], "synapse": null}],
    "probes": [{"id": "p", "target": "y"}, {"id": "q", "target": "x"}]})"));
}

/// Spiking neurons and synapses: state that must start afresh for every request. float64, so
/// that no spike flips between a row run alone and the same row in a larger matrix product.
/// The output is probed on a node, not on the ensemble: a probe's own decoders are solved at
/// build time and are not parameters, so a checkpoint does not carry them (as in NengoDL).
snn::NetworkPtr lif_network(int seed, const std::string& neuron_type = "LIF") {
  json spec = json::parse(R"({
    "format": "snn-network/1", "settings": {"dtype": "float64"},
    "nodes": [{"id": "u", "size_out": 1}, {"id": "y", "size_in": 1}],
    "ensembles": [{"id": "a", "n_neurons": 30, "dimensions": 1}],
    "connections": [{"pre": "u", "post": "a"}, {"pre": "a", "post": "a", "synapse": 0.05,
                     "transform": 0.5}, {"pre": "a", "post": "y", "synapse": 0.01}],
    "probes": [{"id": "out", "target": "y"}]})");
  spec["seed"] = seed;
  spec["ensembles"][0]["neuron_type"] = {{"type", neuron_type}};
  return snn::network_from_json(spec);
}

json parse(const snn::HttpReply& r) { return json::parse(r.body); }

std::string infer_body(const std::string& input, const std::vector<int64_t>& shape,
                       const std::vector<double>& data, json parameters = json()) {
  json body = {{"inputs", {{{"name", input}, {"datatype", "FP32"}, {"shape", shape},
                            {"data", data}}}}};
  if (!parameters.is_null()) body["parameters"] = parameters;
  return body.dump();
}

/// One output of an infer reply as a (batch, samples, size) float64 tensor.
torch::Tensor output(const json& reply, const std::string& name) {
  for (const json& o : reply["outputs"]) {
    if (o["name"] != name) continue;
    auto data = o["data"].get<std::vector<double>>();
    return torch::tensor(data, torch::kFloat64).reshape(o["shape"].get<std::vector<int64_t>>());
  }
  FAIL("no output " << name << " in " << reply.dump());
  return {};
}

int64_t metric(const std::string& text, const std::string& series) {
  const auto at = text.find(series + " ");
  REQUIRE(at != std::string::npos);
  return std::stoll(text.substr(at + series.size() + 1));
}

}  // namespace

TEST_CASE("serve: infer returns each probe over the steps, as the closed form says",
          "[serve]") {
  snn::InferenceService service(linear_network(), "", snn::ServeOptions().name("lin"));

  SECTION("[batch, n_steps, size] input") {
    const std::vector<double> x = {1, 0, 0, 1, 1, 1, 0.5, 0.25, 2, 2, -1, 0};
    auto r = service.handle("POST", "/v2/models/lin/infer", infer_body("x", {2, 3, 2}, x));
    REQUIRE(r.status == 200);
    const json reply = parse(r);
    CHECK(reply["model_name"] == "lin");
    const torch::Tensor in = torch::tensor(x, torch::kFloat64).reshape({2, 3, 2});
    const torch::Tensor A = torch::tensor({1.0, 2.0, 3.0, 4.0}, torch::kFloat64).reshape({2, 2});
    CHECK(output(reply, "p").sizes() == torch::IntArrayRef({2, 3, 2}));
    CHECK(torch::allclose(output(reply, "p"), torch::matmul(in, A.t()), 0, 1e-6));
    CHECK(torch::allclose(output(reply, "q"), in, 0, 1e-6));
    for (const json& o : reply["outputs"]) CHECK(o["datatype"] == "FP32");
  }
  SECTION("[batch, size] input is held for n_steps; outputs and id as asked") {
    json body = json::parse(infer_body("x", {1, 2}, {0.5, -1}, {{"n_steps", 4}}));
    body["outputs"] = {{{"name", "p"}}};
    body["id"] = "req-7";
    auto r = service.handle("POST", "/v2/models/lin/infer", body.dump());
    REQUIRE(r.status == 200);
    const json reply = parse(r);
    CHECK(reply["id"] == "req-7");
    REQUIRE(reply["outputs"].size() == 1);
    const torch::Tensor p = output(reply, "p");
    REQUIRE(p.sizes() == torch::IntArrayRef({1, 4, 2}));
    for (int k = 0; k < 4; ++k) {
      CHECK(p[0][k][0].item<double>() == Approx(0.5 - 2.0));
      CHECK(p[0][k][1].item<double>() == Approx(1.5 - 4.0));
    }
  }
  SECTION("integer and FP64 datatypes, nested data") {
    json body = {{"inputs", {{{"name", "x"}, {"datatype", "INT32"}, {"shape", {1, 1, 2}},
                              {"data", {{{3, -1}}}}}}}};
    auto r = service.handle("POST", "/v2/models/lin/infer", body.dump());
    REQUIRE(r.status == 200);
    CHECK(output(parse(r), "p")[0][0][0].item<double>() == Approx(1.0));
    CHECK(output(parse(r), "p")[0][0][1].item<double>() == Approx(5.0));
    body["inputs"][0]["datatype"] = "FP64";
    CHECK(service.handle("POST", "/v2/models/lin/infer", body.dump()).status == 200);
  }
}

TEST_CASE("serve: requests start from the initial state, alone or batched", "[serve]") {
  auto net = lif_network(3);
  // The reference: the same network run alone by a simulator, one item per run.
  snn::Simulator reference(net, snn::SimulatorOptions().progress_bar(false));
  const int64_t steps = 50;
  auto input_of = [&](int k) {
    return torch::full({1, steps, 1}, -0.8 + 0.2 * k, torch::kFloat64);
  };
  auto expected_of = [&](int k) { return reference.predict({{"u", input_of(k)}})["out"]; };

  snn::InferenceService service(
      net, "", snn::ServeOptions().name("m").max_batch(4).max_delay_ms(300));
  CHECK(service.batch_sizes() == std::vector<int64_t>{1, 2, 4});
  auto body_of = [&](int k) {
    auto x = input_of(k);
    return infer_body("u", {1, steps, 1},
                      std::vector<double>(x.data_ptr<double>(), x.data_ptr<double>() + steps));
  };

  SECTION("the same request twice gives the same numbers") {
    auto first = output(parse(service.handle("POST", "/v2/models/m/infer", body_of(2))), "out");
    auto second = output(parse(service.handle("POST", "/v2/models/m/infer", body_of(2))), "out");
    CHECK(torch::equal(first, second));
    CHECK(torch::allclose(first, expected_of(2), 1e-5, 1e-5));
    CHECK(first.abs().max().item<double>() > 0.1);  // the network does respond
  }
  SECTION("concurrent requests are merged and each gets its own rows") {
    const int n = 8;
    std::vector<snn::HttpReply> replies(n);
    std::atomic<int> arrived{0};
    std::vector<std::thread> threads;
    for (int k = 0; k < n; ++k) {
      threads.emplace_back([&, k] {
        const std::string body = body_of(k);
        ++arrived;
        while (arrived < n) std::this_thread::yield();  // all send together
        replies[k] = service.handle("POST", "/v2/models/m/infer", body);
      });
    }
    for (auto& t : threads) t.join();
    for (int k = 0; k < n; ++k) {
      INFO("request " << k);
      REQUIRE(replies[k].status == 200);
      CHECK(torch::allclose(output(parse(replies[k]), "out"), expected_of(k), 1e-5, 1e-5));
    }
    // Eight requests arriving together within 300 ms take fewer than eight runs.
    const std::string metrics = service.handle("GET", "/metrics", "").body;
    CHECK(metric(metrics, "snn_batch_requests_count{model=\"m\"}") < n);
    CHECK(metric(metrics, "snn_inference_items_total{model=\"m\"}") == n);
  }
  SECTION("a request larger than max_batch runs in several minibatches") {
    const int n = 7;
    std::vector<double> data;
    for (int k = 0; k < n; ++k)
      for (int s = 0; s < steps; ++s) data.push_back(-0.8 + 0.2 * k);
    auto r = service.handle("POST", "/v2/models/m/infer", infer_body("u", {n, steps, 1}, data));
    REQUIRE(r.status == 200);
    const torch::Tensor out = output(parse(r), "out");
    REQUIRE(out.size(0) == n);
    for (int k = 0; k < n; ++k) {
      INFO("item " << k);
      CHECK(torch::allclose(out[k].unsqueeze(0), expected_of(k), 1e-5, 1e-5));
    }
  }
}

TEST_CASE("serve: trained parameters come from the checkpoint", "[serve]") {
  snn::testing::TempDir dir("serve_ckpt");
  // Rate neurons: spiking ones also draw their initial voltages from the seed, which is state,
  // not a parameter, and so not in a checkpoint.
  snn::Simulator trained(lif_network(11, "LIFRate"), snn::SimulatorOptions().progress_bar(false));
  trained.save_params(dir.file("checkpoint.pt"));
  const torch::Tensor x = torch::full({1, 30, 1}, 0.6, torch::kFloat64);
  const torch::Tensor expected = trained.predict({{"u", x}})["out"];

  // Same structure, other seed: other gains, biases and decoders until the checkpoint loads.
  snn::InferenceService service(lif_network(12, "LIFRate"), dir.file("checkpoint.pt"),
                                snn::ServeOptions().name("m"));
  auto r = service.handle("POST", "/v2/models/m/infer",
                          infer_body("u", {1, 30, 1}, std::vector<double>(30, 0.6)));
  REQUIRE(r.status == 200);
  CHECK(torch::allclose(output(parse(r), "out"), expected, 1e-5, 1e-5));
  snn::Simulator untrained(lif_network(12, "LIFRate"), snn::SimulatorOptions().progress_bar(false));
  CHECK_FALSE(torch::allclose(untrained.predict({{"u", x}})["out"], expected, 1e-3, 1e-3));

  // A checkpoint of another network is refused when the service is made.
  CHECK_THROWS_AS(snn::InferenceService(linear_network(), dir.file("checkpoint.pt")),
                  snn::DataError);
}

TEST_CASE("serve: metadata, health and routing", "[serve]") {
  snn::InferenceService service(linear_network(), "",
                                snn::ServeOptions().name("lin").max_batch(3).max_steps(500));
  auto meta = service.handle("GET", "/v2/models/lin", "");
  REQUIRE(meta.status == 200);
  const json m = parse(meta);
  CHECK(m["name"] == "lin");
  CHECK(m["inputs"] == json::parse(R"([{"name":"x","datatype":"FP32","shape":[-1,-1,2]}])"));
  CHECK(m["outputs"].size() == 2);
  CHECK(m["outputs"][0]["name"] == "p");
  CHECK(m["parameters"]["max_batch"] == 3);
  CHECK(m["parameters"]["max_steps"] == 500);
  CHECK(service.handle("GET", "/v2/models/lin/versions/1", "").body == meta.body);

  CHECK(parse(service.handle("GET", "/v2/health/live", ""))["live"] == true);
  CHECK(parse(service.handle("GET", "/v2/health/ready", ""))["ready"] == true);
  CHECK(parse(service.handle("GET", "/v2/models/lin/ready", ""))["ready"] == true);
  CHECK(parse(service.handle("GET", "/v2", ""))["name"] == "snn-serve");

  struct Case {
    std::string method, path;
    int status;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"GET", "/v2/models/other", 404, "no model \"other\" (this server serves \"lin\")"},
      {"GET", "/v2/models/lin/versions/2", 404, "no version \"2\""},
      {"GET", "/v2/models/lin/explain", 404, "no such endpoint"},
      {"GET", "/index.html", 404, "no such endpoint: GET /index.html"},
      {"GET", "/v2/models/lin/infer", 405, "expected POST"},
      {"POST", "/v2/health/live", 405, "expected GET"},
      {"DELETE", "/v2/models/lin", 405, "expected GET"},
  };
  for (const Case& c : cases) {
    INFO(c.method << " " << c.path);
    auto r = service.handle(c.method, c.path, "");
    CHECK(r.status == c.status);
    CHECK_THAT(parse(r)["error"].get<std::string>(), Catch::Contains(c.message));
    if (c.status == 405) CHECK(!r.allow.empty());
  }

  const std::string text = service.handle("GET", "/metrics", "").body;
  CHECK(metric(text, "snn_requests_total{model=\"lin\",endpoint=\"metadata\",code=\"200\"}") == 2);
  CHECK(metric(text, "snn_requests_total{model=\"lin\",endpoint=\"infer\",code=\"405\"}") == 1);
  CHECK(metric(text, "snn_request_errors_total{model=\"lin\",endpoint=\"other\"}") == 4);

  service.shutdown();
  CHECK(service.handle("GET", "/v2/health/ready", "").status == 503);
  CHECK(service.handle("GET", "/v2/health/live", "").status == 200);
  CHECK(service.handle("POST", "/v2/models/lin/infer", infer_body("x", {1, 1, 2}, {1, 2}))
            .status == 503);
}

TEST_CASE("serve: bad infer requests get 4xx with a message naming the field", "[serve]") {
  snn::InferenceService service(
      linear_network(), "",
      snn::ServeOptions().name("lin").max_steps(100).max_items(10).max_body_bytes(4000).max_values(
          100));
  auto input = [](json fields) {
    json in = {{"name", "x"}, {"datatype", "FP32"}, {"shape", {1, 2}}, {"data", {1, 2}}};
    for (auto& [k, v] : fields.items()) {
      if (v.is_null())
        in.erase(k);
      else
        in[k] = v;
    }
    return json{{"inputs", {in}}, {"parameters", {{"n_steps", 3}}}}.dump();
  };
  struct Case {
    std::string body;
    int status;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"{\"inputs\": [", 400, "invalid JSON"},
      {"", 400, "empty body"},
      {" \r\n", 400, "empty body"},
      {"[1, 2]", 400, "expected a JSON object"},
      {R"({"parameters": {"n_steps": 2}})", 400, "request: missing \"inputs\""},
      {R"({"inputs": {}, "parameters": {"n_steps": 2}})", 400, "inputs: expected an array"},
      {R"({"inputs": [], "extra": 1})", 400, "unknown field \"extra\""},
      {R"({"inputs": []})", 400, "parameters.n_steps: required"},
      {R"({"inputs": [], "parameters": {"n_steps": 0}})", 400, "expected a positive integer"},
      {R"({"inputs": [], "parameters": {"n_steps": 101}})", 400, "exceeds the limit of 100"},
      // Parameters other than n_steps are ignored (clients send their own), so a misspelt
      // n_steps is reported as missing.
      {R"({"inputs": [], "parameters": {"steps": 1}})", 400, "parameters.n_steps: required"},
      {std::string(20, '[') + std::string(20, ']'), 400, "nested deeper than 8 levels"},
      {std::string(1990, '[') + std::string(1990, ']'), 400, "nested deeper than 8 levels"},
      {R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1, 1e400]}],
           "parameters": {"n_steps": 1}})",
       400, "invalid JSON"},
      {input({{"name", "y"}}), 400, "inputs[0].name: no input \"y\" (the inputs are \"x\")"},
      {input({{"name", nullptr}}), 400, "inputs[0]: missing \"name\""},
      {input({{"datatype", "BYTES"}}), 400, "expected a numeric datatype"},
      {input({{"shape", {2}}}), 400, "expected [batch, size] or [batch, n_steps, size]"},
      {input({{"shape", {1, 3}}}), 400, "expected size 2 in the last dimension, got 3"},
      {input({{"shape", {0, 2}}}), 400, "shape[0]: expected a positive integer"},
      {input({{"shape", {11, 2}}}), 400, "batch 11 exceeds the limit of 10 items"},
      {input({{"shape", {1, 200, 2}}}), 400, "200 steps exceed the limit of 100"},
      {input({{"shape", {1, 5, 2}}, {"data", std::vector<double>(10, 1.0)}}), 400,
       "5 steps, but n_steps is 3"},
      {input({{"data", {1, 2, 3}}}), 400, "needs 2 values, got more"},
      {input({{"data", {1}}}), 400, "needs 2 values, got 1"},
      {input({{"data", {1, "a"}}}), 400, "data[1]: expected a number, got string"},
      {input({{"data", {1, 1e39}}}), 400, "values must be finite in FP32"},
      {input({{"datatype", "INT32"}, {"data", {1, 2.5}}}), 400, "expected an integer"},
      {input({{"data", nullptr}}), 400, "missing \"data\""},
      {R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]},
                      {"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}],
           "parameters": {"n_steps": 1}})",
       400, "input \"x\" given twice"},
      {R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1, 2]}],
           "parameters": {"n_steps": 1}, "outputs": [{"name": "zz"}]})",
       400, "outputs[0].name: no output \"zz\" (the outputs are \"p\", \"q\")"},
      {std::string(4001, ' '), 413, "exceeds the limit of 4000 bytes"},
      // x (2) held for 9 steps, and outputs p (2) and q (2): 2 x 9 x 6 = 108 values.
      {R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 2], "data": [1, 2, 3, 4]}],
           "parameters": {"n_steps": 9}})",
       400, "request too large: 2 items x 9 steps x 6 values per step (inputs and outputs) "
            "exceed the limit of 100 values"},
  };
  for (const Case& c : cases) {
    INFO(c.body.substr(0, 200));
    auto r = service.handle("POST", "/v2/models/lin/infer", c.body);
    CHECK(r.status == c.status);
    REQUIRE_NOTHROW(json::parse(r.body));
    CHECK_THAT(parse(r)["error"].get<std::string>(), Catch::Contains(c.message));
  }
  // The service is still healthy after all that.
  CHECK(service.handle("POST", "/v2/models/lin/infer", input(json::object())).status == 200);
  // What tritonclient's HTTP client sends by default (JSON data asked for): a null id and
  // parameters of its own.
  auto triton = service.handle("POST", "/v2/models/lin/infer", R"({"id": null,
      "inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1, 2],
                  "parameters": {"binary_data": false}}],
      "parameters": {"n_steps": 2, "binary_data_output": true, "priority": 0, "timeout": 0}})");
  CHECK(triton.status == 200);
  CHECK(output(parse(triton), "p").sizes() == torch::IntArrayRef({1, 2, 2}));
}

TEST_CASE("serve: invalid options are refused when the service is made", "[serve]") {
  CHECK_THROWS_WITH(snn::InferenceService(linear_network(), "", snn::ServeOptions().name("a b")),
                    Catch::Contains("model name \"a b\""));
  CHECK_THROWS_WITH(snn::InferenceService(linear_network(), "", snn::ServeOptions().max_batch(0)),
                    Catch::Contains("max_batch 0"));
  CHECK_THROWS_WITH(
      snn::InferenceService(linear_network(), "", snn::ServeOptions().max_delay_ms(-1)),
      Catch::Contains("max_delay_ms"));
  CHECK_THROWS_AS(snn::InferenceService(nullptr, ""), snn::SpecError);
  CHECK_THROWS_WITH(
      snn::InferenceService(linear_network(), "", snn::ServeOptions().max_items(int64_t{1} << 40)),
      Catch::Contains("max_items"));
}
