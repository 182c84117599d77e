#pragma once
/// \file serve.h
/// An inference service over a built (usually trained) network that speaks the Open Inference
/// Protocol (KServe v2, as Triton and TorchServe do), independent of any HTTP library:
/// `handle()` takes a request's method, path and body and returns the status and body to send.
/// `snn-serve` puts it behind an HTTP server; a program can embed it behind its own.
///
///     auto service = snn::InferenceService(snn::load_network("run/network.json"),
///                                          "run/checkpoint.pt",
///                                          snn::ServeOptions().name("fmnist").max_batch(16));
///     snn::HttpReply r = service.handle("POST", "/v2/models/fmnist/infer", body);
///
/// Endpoints: GET /v2/health/live, /v2/health/ready, /v2, /v2/models/<name>[/versions/1],
/// /v2/models/<name>/ready, /metrics (Prometheus text); POST /v2/models/<name>/infer.
/// Concurrent infer requests with the same number of steps are merged into one minibatch of
/// up to `max_batch` items, waiting at most `max_delay_ms` for company. Every request runs
/// from the network's initial state (as Simulator::predict), so batching never changes a
/// deterministic network's numbers. Random processes (noise) draw per minibatch row, so
/// there a request's noise depends on the row it lands in: serve such a network with
/// max_batch 1 when its numbers must be reproducible.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <torch/types.h>

#include "snn/network.h"

namespace snn {

struct ServeOptions {
  /// The model's name in the URLs (letters, digits, '_', '-', '.').
  TORCH_ARG(std::string, name) = "model";
  TORCH_ARG(torch::Device, device) = torch::kCPU;
  /// Default: the spec's settings.dtype.
  TORCH_ARG(std::optional<torch::Dtype>, dtype);
  /// Most items simulated together; requests are merged up to this size.
  TORCH_ARG(int64_t, max_batch) = 8;
  /// How long the first request of a batch waits for others to join it.
  TORCH_ARG(double, max_delay_ms) = 5.0;
  /// Largest `n_steps` a request may ask for.
  TORCH_ARG(int64_t, max_steps) = 10000;
  /// Most items in one request (larger ones run in several minibatches).
  TORCH_ARG(int64_t, max_items) = 4096;
  /// Largest request body accepted (larger ones get 413).
  TORCH_ARG(int64_t, max_body_bytes) = int64_t{64} << 20;
  /// Most values a request may make the simulator hold: items x n_steps x (the input sizes
  /// + the requested outputs' sizes). A [batch, size] input held for many steps is small on
  /// the wire and large in memory; this bounds both it and the response.
  TORCH_ARG(int64_t, max_values) = int64_t{1} << 25;
};

/// What to send back: status, content type and body (JSON, or Prometheus text for /metrics).
/// `allow` is the Allow header of a 405 answer.
struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string allow;
};

class InferenceService {
 public:
  /// Builds the network once per minibatch size it will run (1, 2, 4, ... up to max_batch)
  /// and loads `params` (a checkpoint of save_params / snn-train; empty: the built
  /// parameters) into each. Throws SpecError for bad options, DataError for a checkpoint that
  /// does not fit the network, BuildError for a network that cannot be built.
  InferenceService(NetworkPtr network, const std::string& params, ServeOptions options = {});
  ~InferenceService();
  InferenceService(const InferenceService&) = delete;
  InferenceService& operator=(const InferenceService&) = delete;

  /// Answers one request. `path` excludes the query string. Thread-safe; an infer request
  /// blocks until its batch has run. Errors are 4xx/5xx replies with {"error": "..."}, never
  /// exceptions.
  HttpReply handle(const std::string& method, const std::string& path, const std::string& body);
  /// A reply for a request the HTTP layer refused before it reached handle() (e.g. 413 for
  /// an oversized body), counted in the metrics like the others. An empty `message` says
  /// what the status means.
  HttpReply transport_error(int status, const std::string& method, const std::string& path,
                            const std::string& message = "");

  /// Stops taking inference requests (ready turns 503) and finishes those already queued.
  void shutdown();

  const ServeOptions& options() const;
  /// Minibatch sizes with a simulator built, ascending.
  std::vector<int64_t> batch_sizes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace snn
