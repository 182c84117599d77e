// snn-serve end to end: the built program serves a run folder on a free port, and a real HTTP
// client (cpp-httplib's) checks its answers against the closed form of the network; then it
// is stopped with SIGTERM. Bad command lines are checked as for the other programs.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <regex>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "conformance/conformance_support.h"
#include "snn/simulator.h"
#include "snn/spec.h"
#include "tools/tool_support.h"

extern char** environ;

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using nlohmann::json;
using snn::testing::quote;
using snn::testing::slurp;
using snn::testing::TempDir;
using snn::testing::write_text;

namespace {

const std::string kTool = SNN_TOOLS_DIR "/snn-serve";

const char* kLinearSpec = R"({
  "format": "snn-network/1", "seed": 1,
  "nodes": [{"id": "x", "size_out": 2}, {"id": "y", "size_in": 2}],
  "connections": [{"pre": "x", "post": "y", "transform": [[1, 2], [3, 4]], "synapse": null}],
  "probes": [{"id": "p", "target": "y"}]})";

/// A run folder as snn-train leaves it: network.json and checkpoint.pt.
void make_run_folder(const std::string& folder, const std::string& spec) {
  std::filesystem::create_directories(folder);
  write_text(folder + "/network.json", spec);
  snn::Simulator sim(snn::load_network(folder + "/network.json"),
                     snn::SimulatorOptions().progress_bar(false));
  sim.save_params(folder + "/checkpoint.pt");
}

/// snn-serve running in the background; killed when the test ends, whatever happened.
class Server {
 public:
  Server(const std::string& args, const TempDir& dir) : out_(dir.file("serve_out.txt")),
                                                        err_(dir.file("serve_err.txt")) {
    const std::string cmd = "exec " + quote(kTool) + " " + args + " >" + quote(out_) + " 2>" +
                            quote(err_);
    const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
    REQUIRE(posix_spawn(&pid_, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv),
                        environ) == 0);
  }
  ~Server() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  /// Waits for the "serving ... on http://HOST:PORT" line; -1 if the program exited first.
  int wait_for_port() {
    static const std::regex line(R"(on http://[0-9.]+:([0-9]+))");
    for (int i = 0; i < 1200; ++i) {  // builds take seconds; a minute is plenty
      std::smatch m;
      const std::string text = slurp(out_);
      if (std::regex_search(text, m, line)) return std::stoi(m[1]);
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
  }

  /// SIGTERM, then the exit code.
  int stop() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  int exit_code() const { return exit_code_; }
  std::string out() const { return slurp(out_); }
  std::string err() const { return slurp(err_); }

 private:
  std::string out_, err_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

}  // namespace

TEST_CASE("snn-serve: a run folder served over HTTP answers with the network's numbers",
          "[tools][serve]") {
  // The server may close a connection whose body it refused while the client still writes:
  // that must be an error for the client here, not SIGPIPE ending the test program.
  std::signal(SIGPIPE, SIG_IGN);
  TempDir dir("snn_serve");
  make_run_folder(dir.file("run"), kLinearSpec);
  Server server(quote(dir.file("run")) + " --port 0 --name lin --max-body-mb 0.05", dir);
  const int port = server.wait_for_port();
  INFO(server.err());
  REQUIRE(port > 0);
  CHECK_THAT(server.out(), Contains("serving \"lin\"") && Contains("inputs x[2]; outputs p[2]"));

  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(60, 0);
  auto ready = client.Get("/v2/health/ready");
  REQUIRE(ready);
  CHECK(ready->status == 200);

  // 700 steps of input: a body over 8 KiB, sent with curl's and urllib's default content
  // type, which HTTP servers are wont to parse as a form.
  const int64_t steps = 700;
  std::vector<double> x;
  for (int64_t k = 0; k < steps; ++k) {
    x.push_back(0.001 * k);
    x.push_back(-0.5);
  }
  const std::string body = json{{"inputs", {{{"name", "x"}, {"datatype", "FP32"},
                                             {"shape", {1, steps, 2}}, {"data", x}}}}}
                               .dump();
  REQUIRE(body.size() > 8192);
  auto infer = client.Post("/v2/models/lin/infer", body, "application/x-www-form-urlencoded");
  REQUIRE(infer);
  REQUIRE(infer->status == 200);
  const json reply = json::parse(infer->body);
  REQUIRE(reply["outputs"][0]["shape"] == json({1, steps, 2}));
  const auto p = reply["outputs"][0]["data"].get<std::vector<double>>();
  for (int64_t k = 0; k < steps; k += 99) {
    CHECK(p[2 * k] == Approx(0.001 * k - 1.0).margin(1e-6));
    CHECK(p[2 * k + 1] == Approx(0.003 * k - 2.0).margin(1e-6));
  }

  // Over --max-body-mb: 413 with a JSON error, before the body is read. The server closes
  // the connection with the body unread, which can reach the client as a reset before the
  // answer does; the metrics below count each 413 either way.
  auto big = client.Post("/v2/models/lin/infer", std::string(60000, ' '), "application/json");
  if (big) {
    CHECK(big->status == 413);
    CHECK_THAT(json::parse(big->body)["error"].get<std::string>(), Contains("exceeds the limit"));
  }

  // Chunked: no Content-Length for httplib to check, and still 413.
  const std::string chunk(8192, ' ');
  auto chunked = client.Post(
      "/v2/models/lin/infer",
      [&](size_t offset, httplib::DataSink& sink) {
        if (offset < 80000)
          sink.write(chunk.data(), chunk.size());
        else
          sink.done();
        return true;
      },
      "application/json");
  if (chunked) CHECK(chunked->status == 413);
  REQUIRE(client.Get("/v2/health/live"));  // and the server is still there

  // tritonclient's binary tensor extension: refused with a way out.
  auto binary = client.Post("/v2/models/lin/infer",
                            {{"Inference-Header-Content-Length", "10"}}, body, "application/json");
  REQUIRE(binary);
  CHECK(binary->status == 400);
  CHECK_THAT(json::parse(binary->body)["error"].get<std::string>(), Contains("binary_data=False"));

  // Raw requests, answered at once (not after the server's 30 s read timeout): the reply,
  // or what came of it within 10 s.
  auto raw = [&](const std::string& request) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    timeval limit{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    REQUIRE(::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size()));
    // Headers and body may come in separate packets: read until the body is complete.
    std::string reply;
    char buf[512];
    for (;;) {
      const size_t end = reply.find("\r\n\r\n");
      const size_t at = reply.find("Content-Length: ");
      if (end != std::string::npos && at != std::string::npos &&
          reply.size() >= end + 4 + std::stoul(reply.substr(at + 16)))
        break;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      reply.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return reply;
  };
  // A Content-Length that is no length.
  CHECK_THAT(raw("POST /v2/models/lin/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: -5\r\n\r\n"),
             StartsWith("HTTP/1.1 400") && Contains("invalid Content-Length"));
  // No Content-Length and no chunked encoding: no body (the client waits for the answer).
  CHECK_THAT(raw("POST /v2/models/lin/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n"),
             StartsWith("HTTP/1.1 400") && Contains("empty body"));

  auto metrics = client.Get("/metrics");
  REQUIRE(metrics);
  CHECK_THAT(metrics->body,
             Contains("snn_requests_total{model=\"lin\",endpoint=\"infer\",code=\"200\"} 1"));
  CHECK_THAT(metrics->body,
             Contains("snn_requests_total{model=\"lin\",endpoint=\"infer\",code=\"413\"} 2"));

  CHECK(server.stop() == 0);
  CHECK_THAT(server.out(), Contains("snn-serve: stopped"));
}

TEST_CASE("snn-serve: bad command lines and models fail with one line", "[tools][serve]") {
  TempDir dir("snn_serve_bad");
  auto run = [&](const std::string& args) { return snn::testing::run_tool(kTool, args, dir.path()); };

  auto missing = run("nowhere --port 0");
  CHECK(missing.code == 2);
  CHECK(missing.err == "snn-serve: nowhere: no such file or folder\n");

  std::filesystem::create_directories(dir.file("empty"));
  auto empty = run("empty --port 0");
  CHECK(empty.code == 2);
  CHECK_THAT(empty.err, Contains("empty: no checkpoint.pt in this folder"));

  auto bad_batch = run("empty --max-batch 0");
  CHECK(bad_batch.code == 2);
  CHECK(bad_batch.err_lines().size() == 1);

  // A checkpoint of another network: refused, naming the parameter.
  make_run_folder(dir.file("run"), kLinearSpec);
  write_text(dir.file("other.json"), R"({"format": "snn-network/1",
    "nodes": [{"id": "x", "size_out": 2}],
    "ensembles": [{"id": "e", "n_neurons": 5, "dimensions": 2}],
    "connections": [{"pre": "x", "post": "e"}], "probes": [{"id": "p", "target": "e"}]})");
  auto mismatch = run("run/checkpoint.pt --spec other.json --port 0");
  CHECK(mismatch.code == 1);
  CHECK(mismatch.err_lines().size() == 1);
  CHECK_THAT(mismatch.err, Contains("checkpoint.pt"));

  // A port already taken.
  Server first(quote(dir.file("run")) + " --port 0", dir);
  const int port = first.wait_for_port();
  REQUIRE(port > 0);
  auto taken = run("run --port " + std::to_string(port));
  CHECK(taken.code == 1);
  CHECK_THAT(taken.err, Contains("cannot listen on 127.0.0.1:" + std::to_string(port)));

  auto help = run("--help");
  CHECK(help.code == 0);
  CHECK_THAT(help.out, Contains("--max-batch") && Contains("--max-delay-ms"));
}
