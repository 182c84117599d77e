// InferenceService: routes Open Inference Protocol requests to the metadata, the batcher and
// the metrics. See snn/serve.h.
#include "snn/serve.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <optional>
#include <regex>

#include <nlohmann/json.hpp>

#include "first_line.h"
#include "serve/batcher.h"
#include "serve/infer_protocol.h"
#include "serve/serve_metrics.h"
#include "snn/errors.h"
#include "snn/io.h"

namespace snn {
namespace {

using serve::HttpError;

/// Minibatch sizes to build: 1, 2, 4, ... below max_batch, and max_batch.
std::vector<int64_t> bucket_sizes(int64_t max_batch) {
  std::vector<int64_t> sizes;
  for (int64_t b = 1; b < max_batch; b *= 2) sizes.push_back(b);
  sizes.push_back(max_batch);
  return sizes;
}

void check_options(const ServeOptions& o) {
  static const std::regex name_pattern("[A-Za-z0-9_.-]+");
  if (!std::regex_match(o.name(), name_pattern))
    throw SpecError("serve: model name \"" + o.name() +
                    "\": expected letters, digits, '_', '-' or '.'");
  if (o.max_batch() < 1 || o.max_batch() > 4096)
    throw SpecError("serve: max_batch " + std::to_string(o.max_batch()) +
                    ": expected 1 to 4096");
  if (!(o.max_delay_ms() >= 0) || o.max_delay_ms() > 60000)
    throw SpecError("serve: max_delay_ms " + std::to_string(o.max_delay_ms()) +
                    ": expected 0 to 60000");
  if (o.max_steps() < 1 || o.max_steps() > (int64_t{1} << 24))
    throw SpecError("serve: max_steps " + std::to_string(o.max_steps()) +
                    ": expected 1 to 16777216");
  if (o.max_items() < 1 || o.max_items() > (int64_t{1} << 20))
    throw SpecError("serve: max_items " + std::to_string(o.max_items()) +
                    ": expected 1 to 1048576");
  if (o.max_body_bytes() < 1) throw SpecError("serve: max_body_bytes must be at least 1");
  if (o.max_values() < 1) throw SpecError("serve: max_values must be at least 1");
}

HttpReply json_reply(int status, std::string body) {
  HttpReply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpReply method_not_allowed(const std::string& method, const std::string& path,
                             const std::string& wanted) {
  HttpReply r = json_reply(405, serve::error_body(method + " " + path + ": expected " + wanted));
  r.allow = wanted;
  return r;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

}  // namespace

struct InferenceService::Impl {
  ServeOptions options;
  serve::ModelSignature signature;
  serve::RequestLimits limits;
  std::unique_ptr<serve::ServeMetrics> metrics;
  std::unique_ptr<serve::Batcher> batcher;
  std::atomic<bool> stopping{false};

  /// The route a request takes: its metrics name, the method it needs, and what answers it.
  HttpReply route(const std::string& method, const std::string& path, const std::string& body,
                  std::string& endpoint);
  HttpReply infer(const std::string& body);
  HttpReply model_route(const std::vector<std::string>& parts, const std::string& method,
                        const std::string& path, const std::string& body, std::string& endpoint);
};

InferenceService::InferenceService(NetworkPtr network, const std::string& params,
                                   ServeOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (!network) throw SpecError("serve: network is null");
  check_options(options);
  auto& im = *impl_;
  im.options = options;
  im.limits.max_steps = options.max_steps();
  im.limits.max_items = options.max_items();
  im.limits.max_values = options.max_values();

  std::vector<std::unique_ptr<Simulator>> sims;
  for (int64_t b : bucket_sizes(options.max_batch())) {
    SimulatorOptions so;
    so.minibatch_size(b).device(options.device()).progress_bar(false);
    if (options.dtype()) so.dtype(*options.dtype());
    auto sim = std::make_unique<Simulator>(network, so);
    if (!params.empty()) sim->load_params(params);
    sims.push_back(std::move(sim));
  }
  im.signature = serve::ModelSignature::of(*network, sims.front()->dtype());
  im.metrics = std::make_unique<serve::ServeMetrics>(options.name(),
                                                     bucket_sizes(options.max_batch()));
  serve::BatcherOptions bo;
  bo.max_batch = options.max_batch();
  bo.max_values = options.max_values();
  for (const auto& p : im.signature.inputs) bo.values_per_item_step += p.size;
  for (const auto& p : im.signature.outputs) bo.values_per_item_step += p.size;
  bo.max_delay = std::chrono::microseconds(std::llround(options.max_delay_ms() * 1000.0));
  im.batcher = std::make_unique<serve::Batcher>(std::move(sims), bo, *im.metrics);
}

InferenceService::~InferenceService() { shutdown(); }

const ServeOptions& InferenceService::options() const { return impl_->options; }

std::vector<int64_t> InferenceService::batch_sizes() const {
  return impl_->batcher->batch_sizes();
}

void InferenceService::shutdown() {
  impl_->stopping = true;
  impl_->batcher->stop();
}

HttpReply InferenceService::handle(const std::string& method, const std::string& path,
                                   const std::string& body) {
  const auto start = std::chrono::steady_clock::now();
  std::string endpoint = "other";
  HttpReply reply;
  try {
    reply = impl_->route(method, path, body, endpoint);
  } catch (const HttpError& e) {
    reply = json_reply(e.status, serve::error_body(e.what()));
  } catch (const std::exception& e) {
    reply = json_reply(500, serve::error_body(first_line(e.what())));
  } catch (...) {
    reply = json_reply(500, serve::error_body("internal error"));
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  impl_->metrics->count_request(endpoint, reply.status, took.count());
  return reply;
}

HttpReply InferenceService::transport_error(int status, const std::string& method,
                                            const std::string& path, const std::string& text) {
  std::string message = text;
  if (message.empty() && status == 413)
    message = "request body exceeds the limit of " +
              std::to_string(impl_->options.max_body_bytes()) + " bytes";
  if (message.empty()) message = method + " " + path + ": HTTP " + std::to_string(status);
  // Refused before routing: counted under the endpoint the path names.
  const bool infer = path.size() >= 6 && path.compare(path.size() - 6, 6, "/infer") == 0;
  impl_->metrics->count_request(infer ? "infer" : "other", status, -1.0);
  return json_reply(status, serve::error_body(message));
}

HttpReply InferenceService::Impl::route(const std::string& method, const std::string& path,
                                        const std::string& body, std::string& endpoint) {
  const std::vector<std::string> parts = split_path(path);
  auto expect = [&](const char* wanted) {
    return method == wanted ? std::optional<HttpReply>()
                            : std::optional<HttpReply>(method_not_allowed(method, path, wanted));
  };

  if (parts.size() == 1 && parts[0] == "metrics") {
    endpoint = "metrics";
    if (auto wrong = expect("GET")) return *wrong;
    HttpReply r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = metrics->prometheus_text();
    return r;
  }
  if (parts.empty() || parts[0] != "v2")
    throw HttpError(404, "no such endpoint: " + method + " " + path);
  if (parts.size() == 1) {
    endpoint = "server";
    if (auto wrong = expect("GET")) return *wrong;
    return json_reply(200, nlohmann::json{{"name", "snn-serve"},
                                           {"version", version()},
                                           {"extensions", nlohmann::json::array()}}
                               .dump());
  }
  if (parts[1] == "health" && parts.size() == 3 && (parts[2] == "live" || parts[2] == "ready")) {
    endpoint = parts[2];
    if (auto wrong = expect("GET")) return *wrong;
    if (parts[2] == "live") return json_reply(200, R"({"live":true})");
    if (stopping) return json_reply(503, R"({"ready":false})");
    return json_reply(200, R"({"ready":true})");
  }
  if (parts[1] == "models" && parts.size() >= 3)
    return model_route(parts, method, path, body, endpoint);
  throw HttpError(404, "no such endpoint: " + method + " " + path);
}

HttpReply InferenceService::Impl::model_route(const std::vector<std::string>& parts,
                                              const std::string& method,
                                              const std::string& path, const std::string& body,
                                              std::string& endpoint) {
  const std::string& name = options.name();
  if (parts[2] != name)
    throw HttpError(404, "no model \"" + parts[2] + "\" (this server serves \"" + name + "\")");
  // /v2/models/<name>[/versions/<v>][/ready|/infer]
  size_t next = 3;
  if (parts.size() >= 5 && parts[3] == "versions") {
    if (parts[4] != "1")
      throw HttpError(404, "model \"" + name + "\" has no version \"" + parts[4] +
                               "\" (its only version is \"1\")");
    next = 5;
  }
  const std::string action = parts.size() > next ? parts[next] : "";
  if (parts.size() > next + 1 || (action != "" && action != "ready" && action != "infer"))
    throw HttpError(404, "no such endpoint under /v2/models/" + name);
  const std::string wanted = action == "infer" ? "POST" : "GET";
  if (method != wanted) {
    endpoint = action.empty() ? "metadata" : action;
    return method_not_allowed(method, path, wanted);
  }
  if (action.empty()) {
    endpoint = "metadata";
    return json_reply(200, serve::model_metadata(name, signature, limits, options.max_batch()));
  }
  if (action == "ready") {
    endpoint = "ready";
    return json_reply(stopping ? 503 : 200,
                      nlohmann::json{{"name", name}, {"ready", !stopping}}.dump());
  }
  endpoint = "infer";
  return infer(body);
}

HttpReply InferenceService::Impl::infer(const std::string& body) {
  if (static_cast<int64_t>(body.size()) > options.max_body_bytes())
    throw HttpError(413, "request body of " + std::to_string(body.size()) +
                             " bytes exceeds the limit of " +
                             std::to_string(options.max_body_bytes()) + " bytes");
  if (stopping) throw HttpError(503, "the server is shutting down");
  const serve::InferRequest request = serve::parse_infer_request(body, signature, limits);
  const ProbeData data = batcher->run(request);
  return json_reply(200, serve::format_infer_response(options.name(), request, data, signature));
}

}  // namespace snn
