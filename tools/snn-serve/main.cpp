// snn-serve: serves a trained network over HTTP with the Open Inference Protocol (KServe v2),
// as shared/spec/tools.md describes. The protocol, batching and metrics live in the library
// (snn/serve.h); this program adds the command line and the HTTP server (cpp-httplib).
//
//     snn-serve runs/fmnist --port 8000 --max-batch 16
//     curl localhost:8000/v2/models/fmnist
//
// MODEL is a run folder of snn-train (network.json + checkpoint.pt), a checkpoint (the spec
// from --spec or network.json beside it) or a spec (.json: its built parameters).
// --port 0 takes any free port; the "serving ... on http://HOST:PORT" line names it.
// SIGINT / SIGTERM stop it after the requests in flight are answered (exit 0).
//
// Exit codes: 0 stopped by a signal; 1 the server failed (port in use, checkpoint unreadable);
// 2 bad usage or an invalid spec. Errors are one line on stderr: "snn-serve: <message>".
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <csignal>
#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <torch/torch.h>

#include "common/cli_support.h"
#include "snn/checkpoint.h"
#include "snn/serve.h"
#include "snn/snn.h"

namespace {

namespace fs = std::filesystem;
using snn::cli::parse_device;
using snn::cli::RunError;
using snn::cli::UsageError;

struct Args {
  std::string model;
  std::string spec;
  std::string name;
  std::string host = "127.0.0.1";
  int port = 8000;
  std::string device = "cpu";
  std::string dtype;
  int64_t max_batch = 8;
  double max_delay_ms = 5.0;
  int64_t max_steps = 10000;
  int64_t max_items = 4096;
  double max_body_mb = 64;
  int64_t max_values = int64_t{1} << 25;
  int threads = 0;
  int http_threads = 0;
  bool access_log = false;
  bool quiet = false;
};

/// Where the spec and the parameters come from.
struct ModelFiles {
  std::string spec, params, folder_name;
};

ModelFiles resolve_model(const Args& args) {
  std::error_code ec;
  const fs::path model(args.model);
  if (!fs::exists(model, ec)) throw UsageError(args.model + ": no such file or folder");
  ModelFiles f;
  if (fs::is_directory(model, ec)) {
    f.params = (model / "checkpoint.pt").string();
    if (!fs::exists(f.params, ec))
      throw UsageError(args.model + ": no checkpoint.pt in this folder (expected a run folder "
                       "of snn-train, a checkpoint or a spec)");
    f.folder_name = fs::absolute(model, ec).lexically_normal().filename().string();
    if (f.folder_name.empty())
      f.folder_name = fs::absolute(model, ec).lexically_normal().parent_path().filename().string();
    f.spec = args.spec.empty() ? (model / "network.json").string() : args.spec;
  } else if (model.extension() == ".json") {
    if (!args.spec.empty())
      throw UsageError("--spec: " + args.model + " is already a spec (give a checkpoint or a "
                       "run folder to serve trained parameters)");
    f.spec = args.model;
    f.folder_name = model.stem().string();
  } else {
    f.params = args.model;
    const fs::path beside = model.parent_path() / "network.json";
    f.spec = !args.spec.empty() ? args.spec : beside.string();
    if (args.spec.empty() && !fs::exists(beside, ec))
      throw UsageError(args.model + ": no --spec given and no network.json beside the "
                       "checkpoint");
    f.folder_name = fs::absolute(model, ec).parent_path().filename().string();
  }
  snn::cli::require_input_file(f.spec);
  return f;
}

/// --name, else the run folder's (or spec's) name made URL-safe.
std::string model_name(const Args& args, const ModelFiles& files) {
  if (!args.name.empty()) return args.name;
  std::string name = files.folder_name;
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') c = '_';
  return name.empty() ? "model" : name;
}

std::string describe_ports(const snn::Network& net) {
  std::ostringstream s;
  s << "inputs";
  bool any = false;
  for (const auto& n : net.all_nodes())
    if (n->kind() == snn::Node::Kind::Input) {
      s << (any ? ", " : " ") << n->id() << "[" << n->size_out() << "]";
      any = true;
    }
  if (!any) s << " none";
  s << "; outputs";
  any = false;
  for (const auto& p : net.all_probes()) {
    s << (any ? ", " : " ") << p->id() << "[" << p->size() << "]";
    any = true;
  }
  if (!any) s << " none";
  return s.str();
}

/// SIGINT and SIGTERM: blocked in every thread from the start of main (threads inherit the
/// mask), and taken by the main thread with sigtimedwait while the server runs, so that a
/// stop drains the requests in flight instead of killing the process.
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

void block_stop_signals() {
  const sigset_t set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

/// Waits up to `ms` for SIGINT/SIGTERM; true if one came (or was pending).
bool stop_signal_within(long ms) {
  const sigset_t set = stop_signals();
  timespec wait{ms / 1000, (ms % 1000) * 1000000};
  return sigtimedwait(&set, nullptr, &wait) > 0;
}

void answer(snn::InferenceService& service, const httplib::Request& req, const std::string& body,
            httplib::Response& res) {
  const snn::HttpReply r = service.handle(req.method, req.path, body);
  res.status = r.status;
  res.set_content(r.body, r.content_type.c_str());
  if (!r.allow.empty()) res.set_header("Allow", r.allow);
}

/// Pool, limits, timeouts and routes of the HTTP server in front of `service`.
void configure_http(httplib::Server& server, snn::InferenceService& service, const Args& args) {
  const int pool = args.http_threads > 0
                       ? args.http_threads
                       : static_cast<int>(std::clamp<int64_t>(2 * args.max_batch, 8, 256));
  server.new_task_queue = [pool] { return new httplib::ThreadPool(static_cast<size_t>(pool)); };
  server.set_payload_max_length(static_cast<size_t>(service.options().max_body_bytes()));
  // SO_REUSEADDR only: httplib's default, SO_REUSEPORT, would let a second snn-serve share
  // the port silently instead of failing to start.
  server.set_socket_options([](auto sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server.set_read_timeout(30, 0);
  server.set_write_timeout(30, 0);
  // An idle keep-alive connection holds a pool thread: free it soon, so that a stop (and
  // a burst of new clients) does not wait on it.
  server.set_keep_alive_timeout(2);
  // Bodies are read through a content reader: httplib's own reading would parse a body sent
  // as application/x-www-form-urlencoded (curl -d's and urllib's default) as a form and
  // refuse it past 8 KiB.
  auto with_body = [&service](const httplib::Request& req, httplib::Response& res,
                              const httplib::ContentReader& read) {
    auto refuse = [&](int status, const std::string& message) {
      const snn::HttpReply r = service.transport_error(status, req.method, req.path, message);
      res.status = r.status;
      res.set_content(r.body, r.content_type.c_str());
    };
    if (req.has_header("Inference-Header-Content-Length"))
      return refuse(400, "the binary tensor data extension is not supported: send the data "
                         "as JSON (tritonclient: set_data_from_numpy(..., binary_data=False))");
    const size_t limit = static_cast<size_t>(service.options().max_body_bytes());
    // A Content-Length that is not a number, or one over the limit, is answered at once,
    // not after waiting for a body that will not come (httplib reads "-5" as 2^64 - 5).
    if (req.has_header("Content-Length")) {
      const std::string declared = req.get_header_value("Content-Length");
      if (declared.empty() || declared.size() > 19 ||
          declared.find_first_not_of("0123456789") != std::string::npos)
        return refuse(400, "invalid Content-Length \"" + declared.substr(0, 40) + "\"");
      if (std::stoull(declared) > limit) return refuse(413, "");
    }
    // Without Content-Length or chunked encoding a request has no body (RFC 9112 6.3);
    // httplib would read until the client closes, which a waiting client never does.
    std::string encoding = req.get_header_value("Transfer-Encoding");
    std::transform(encoding.begin(), encoding.end(), encoding.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (!req.has_header("Content-Length") && encoding.find("chunked") == std::string::npos)
      return answer(service, req, std::string(), res);
    // The limit holds for chunked and compressed bodies too, whose size httplib does not
    // check: what arrives here is decompressed.
    std::string body;
    bool too_big = false;
    const bool complete = read([&](const char* data, size_t n) {
      if (body.size() + n > limit) {
        too_big = true;
        return false;
      }
      body.append(data, n);
      return true;
    });
    if (too_big || res.status == 413) return refuse(413, "");
    if (!complete) return refuse(res.status >= 400 ? res.status : 400, "");
    answer(service, req, body, res);
  };
  const std::string any = ".*";
  server.Get(any, [&service](const httplib::Request& req, httplib::Response& res) {
    answer(service, req, req.body, res);
  });
  server.Post(any, with_body);
  server.Put(any, with_body);
  server.Delete(any, with_body);
  server.Patch(any, with_body);
  // What httplib refuses itself (oversized body, malformed request) still gets a JSON body
  // and a place in the metrics.
  server.set_error_handler(httplib::Server::HandlerWithResponse(
      [&service](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        const snn::HttpReply r = service.transport_error(res.status, req.method, req.path);
        res.set_content(r.body, r.content_type.c_str());
        return httplib::Server::HandlerResponse::Handled;
      }));
  if (args.access_log) {
    server.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      std::cerr << "snn-serve: " << req.method << " " << req.path << " " << res.status << " "
                << res.body.size() << " bytes" << std::endl;
    });
  }
}

int serve(const Args& args) {
  const ModelFiles files = resolve_model(args);
  const torch::Device device = parse_device(args.device);
  if (args.threads > 0) torch::set_num_threads(args.threads);
  snn::NetworkPtr net = snn::load_network(files.spec);

  snn::ServeOptions options;
  options.name(model_name(args, files))
      .device(device)
      .max_batch(args.max_batch)
      .max_delay_ms(args.max_delay_ms)
      .max_steps(args.max_steps)
      .max_items(args.max_items)
      .max_values(args.max_values)
      .max_body_bytes(static_cast<int64_t>(args.max_body_mb * 1024 * 1024));
  if (!args.dtype.empty())
    options.dtype(args.dtype == "float64" ? torch::kFloat64 : torch::kFloat32);

  if (!args.quiet)
    std::cout << "snn-serve: building " << files.spec
              << (files.params.empty() ? "" : " with " + files.params) << std::endl;
  snn::InferenceService service = snn::cli::naming_spec(
      files.spec, [&] { return snn::InferenceService(net, files.params, options); });
  if (!files.params.empty()) {
    const std::string mismatch = snn::checkpoint_spec_mismatch(files.params, *net);
    if (!mismatch.empty()) std::cerr << "snn-serve: warning: " << mismatch << std::endl;
  }

  httplib::Server server;
  configure_http(server, service, args);

  int port = args.port;
  if (port == 0) {
    port = server.bind_to_any_port(args.host);
    if (port < 0) throw RunError("cannot listen on " + args.host + " (any port)");
  } else if (!server.bind_to_port(args.host, port)) {
    throw RunError("cannot listen on " + args.host + ":" + std::to_string(port) +
                   " (port in use, or the address is not this machine's)");
  }
  if (stop_signal_within(0)) {  // asked to stop while building
    if (!args.quiet) std::cout << "snn-serve: stopped before serving" << std::endl;
    return 0;
  }
  std::ostringstream sizes;
  for (int64_t b : service.batch_sizes()) sizes << (sizes.tellp() ? ", " : "") << b;
  std::cout << "snn-serve: serving \"" << options.name() << "\" on http://" << args.host << ":"
            << port << " (" << describe_ports(*net) << "; minibatches " << sizes.str() << ")"
            << std::endl;
  std::atomic<bool> listening_ended{false};
  bool listened = false;
  std::thread http([&] {
    listened = server.listen_after_bind();
    listening_ended = true;
  });
  while (!listening_ended && !stop_signal_within(200)) {
  }
  // A second signal during the drain ends the process at once (default action).
  const sigset_t set = stop_signals();
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  while (!listening_ended && !server.is_running())  // stop() is a no-op before listening
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  server.stop();  // handlers in flight finish; the batcher keeps running for them
  http.join();
  service.shutdown();  // answers what is queued
  if (!listened) throw RunError("the HTTP server stopped unexpectedly");
  if (!args.quiet) std::cout << "snn-serve: stopped" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  block_stop_signals();  // before any thread starts (LibTorch's among them): all inherit it
  // A client that hangs up while its answer is written must not kill the server: the write
  // fails with EPIPE instead.
  std::signal(SIGPIPE, SIG_IGN);
  Args args;
  CLI::App app{"Serves a trained libsnn network over HTTP (Open Inference Protocol / KServe v2: "
               "/v2/health/*, /v2/models/<name>[/infer], /metrics).",
               "snn-serve"};
  app.set_version_flag("--version", "snn-serve (libsnn) " + snn::version());
  app.add_option("MODEL", args.model,
                 "a run folder of snn-train, a checkpoint (checkpoint.pt) or a spec (.json)")
      ->required();
  app.add_option("--spec", args.spec,
                 "the network spec (default: network.json of the run folder / beside the "
                 "checkpoint)");
  app.add_option("--name", args.name, "model name in the URLs (default: the run folder's name)");
  app.add_option("--host", args.host, "address to listen on")->capture_default_str();
  app.add_option("--port", args.port, "port to listen on (0: any free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--device", args.device, "cpu, cuda or cuda:<index>")->capture_default_str();
  app.add_option("--dtype", args.dtype, "float32 or float64 (default: the spec's setting)")
      ->check(CLI::IsMember({"float32", "float64"}));
  app.add_option("--max-batch", args.max_batch, "most items simulated together")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--max-delay-ms", args.max_delay_ms,
                 "how long a request waits for others to share its minibatch")
      ->check(CLI::Range(0.0, 60000.0))
      ->capture_default_str();
  app.add_option("--max-steps", args.max_steps, "largest n_steps a request may ask for")
      ->check(snn::cli::kPositive)
      ->capture_default_str();
  app.add_option("--max-items", args.max_items, "most items in one request")
      ->check(snn::cli::kPositive)
      ->capture_default_str();
  app.add_option("--max-values", args.max_values,
                 "most values a request may make the simulator hold: items x steps x (input "
                 "+ output sizes)")
      ->check(snn::cli::kPositive)
      ->capture_default_str();
  app.add_option("--max-body-mb", args.max_body_mb, "largest request body, in MiB (else 413)")
      ->check(CLI::Range(0.001, 4096.0))
      ->capture_default_str();
  app.add_option("--threads", args.threads, "LibTorch threads (default: LibTorch's choice)")
      ->check(CLI::Range(1, 1024));
  app.add_option("--http-threads", args.http_threads,
                 "connections handled at once (default: 2 x max-batch, at least 8)")
      ->check(CLI::Range(1, 4096));
  app.add_flag("--access-log", args.access_log, "one line per request on stderr");
  app.add_flag("--quiet,-q", args.quiet, "print only errors and the serving line");

  if (auto status = snn::cli::parse_command_line(app, argc, argv, "snn-serve")) return *status;
  return snn::cli::report_errors("snn-serve", [&] { return serve(args); });
}
