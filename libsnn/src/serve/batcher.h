#pragma once
// Dynamic batching: concurrent requests with the same number of steps are merged into one
// minibatch, run on one worker thread by a simulator built for that minibatch size.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "serve/infer_protocol.h"
#include "serve/serve_metrics.h"
#include "snn/simulator.h"

namespace snn::serve {

struct BatcherOptions {
  int64_t max_batch = 8;
  /// Requests are merged while the merged inputs and outputs stay within this many values
  /// (each request alone is within it).
  int64_t max_values = int64_t{1} << 25;
  /// Values one item holds per step: the input sizes plus every probe's size.
  int64_t values_per_item_step = 0;
  std::chrono::microseconds max_delay{5000};
};

class Batcher {
 public:
  /// `simulators`: one per minibatch size, ascending, the largest being max_batch; each
  /// already holds the parameters to serve and is never stepped (predict only), so every
  /// request starts from the same initial state.
  Batcher(std::vector<std::unique_ptr<Simulator>> simulators, BatcherOptions options,
          ServeMetrics& metrics);
  ~Batcher();

  /// Queues `request` and waits for its probes' data, (request.batch, samples, size) each.
  /// Throws HttpError 503 once stopped, 500 when the simulation fails.
  ProbeData run(const InferRequest& request);
  /// Refuses new requests and returns when the queued ones are done.
  void stop();

  std::vector<int64_t> batch_sizes() const;

 private:
  struct Job {
    const InferRequest* request;
    std::promise<ProbeData> result;
    std::chrono::steady_clock::time_point queued;
  };

  void work();
  /// Moves queued jobs that fit (same n_steps, room left) into `batch`; returns its items.
  using Batch = std::vector<std::shared_ptr<Job>>;
  int64_t gather(Batch& batch, int64_t items);
  void execute(const Batch& batch, int64_t items);
  Simulator& simulator_for(int64_t items);

  std::vector<std::unique_ptr<Simulator>> sims_;
  BatcherOptions options_;
  ServeMetrics& metrics_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;  // shared: the worker may outlive a waiter's frame
  bool stopping_ = false;
  std::once_flag joined_;
  std::thread worker_;
};

}  // namespace snn::serve
