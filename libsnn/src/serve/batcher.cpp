#include "serve/batcher.h"

#include <torch/torch.h>

#include "first_line.h"

namespace snn::serve {

Batcher::Batcher(std::vector<std::unique_ptr<Simulator>> simulators, BatcherOptions options,
                 ServeMetrics& metrics)
    : sims_(std::move(simulators)), options_(options), metrics_(metrics) {
  worker_ = std::thread([this] { work(); });
}

Batcher::~Batcher() { stop(); }

std::vector<int64_t> Batcher::batch_sizes() const {
  std::vector<int64_t> sizes;
  for (const auto& s : sims_) sizes.push_back(s->minibatch_size());
  return sizes;
}

ProbeData Batcher::run(const InferRequest& request) {
  auto job = std::make_shared<Job>();
  job->request = &request;
  job->queued = std::chrono::steady_clock::now();
  std::future<ProbeData> result = job->result.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) throw HttpError(503, "the server is shutting down");
    queue_.push_back(job);
  }
  cv_.notify_all();
  return result.get();  // rethrows the worker's HttpError
}

void Batcher::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  std::call_once(joined_, [this] {
    if (worker_.joinable()) worker_.join();
  });
}

int64_t Batcher::gather(Batch& batch, int64_t items) {
  const int64_t n_steps = batch.front()->request->n_steps;
  for (auto it = queue_.begin(); it != queue_.end() && items < options_.max_batch;) {
    const InferRequest& r = *(*it)->request;
    const bool fits =
        (items + r.batch) * n_steps * options_.values_per_item_step <= options_.max_values;
    if (r.n_steps == n_steps && items + r.batch <= options_.max_batch && fits) {
      items += r.batch;
      batch.push_back(std::move(*it));
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  return items;
}

void Batcher::work() {
  for (;;) {
    Batch batch;
    int64_t items = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to do
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
      items = gather(batch, batch.front()->request->batch);
      // The first request waits at most max_delay (from its arrival) for others to join.
      const auto deadline = batch.front()->queued + options_.max_delay;
      while (items < options_.max_batch && !stopping_ &&
             std::chrono::steady_clock::now() < deadline) {
        const bool timed_out = cv_.wait_until(lock, deadline) == std::cv_status::timeout;
        items = gather(batch, items);
        if (timed_out) break;
      }
    }
    try {
      execute(batch, items);
    } catch (...) {
      // execute answers every job itself; what escapes it (bad_alloc while answering) must
      // not end the worker: whoever is still waiting gets a 500.
      const auto error = std::make_exception_ptr(HttpError(500, "internal error"));
      for (const auto& job : batch) {
        try {
          job->result.set_exception(error);
        } catch (const std::future_error&) {  // already answered
        }
      }
    }
  }
}

Simulator& Batcher::simulator_for(int64_t items) {
  for (auto& s : sims_)
    if (s->minibatch_size() >= items) return *s;
  return *sims_.back();  // a request larger than max_batch runs in several minibatches
}

void Batcher::execute(const Batch& batch, int64_t items) {
  std::vector<ProbeData> results;
  try {
    const InferRequest& first = *batch.front()->request;
    Simulator& sim = simulator_for(items);
    const int64_t B = sim.minibatch_size();
    const int64_t padded = (items + B - 1) / B * B;
    Inputs merged;
    for (const auto& [id, t] : first.inputs) {
      std::vector<torch::Tensor> parts;
      for (const auto& job : batch) parts.push_back(job->request->inputs.at(id));
      // Rows past the requests' own are zeros: the simulator's minibatch is fixed.
      if (padded > items)
        parts.push_back(torch::zeros({padded - items, first.n_steps, t.size(2)}, t.options()));
      merged[id] = torch::cat(parts, 0);
    }
    const ProbeData out = sim.predict(merged, first.n_steps);
    int64_t offset = 0;
    for (const auto& job : batch) {
      ProbeData mine;
      for (const std::string& id : job->request->outputs)
        mine[id] = out.at(id).narrow(0, offset, job->request->batch);
      offset += job->request->batch;
      results.push_back(std::move(mine));
    }
  } catch (const std::exception& e) {
    const auto error =
        std::make_exception_ptr(HttpError(500, "the simulation failed: " + first_line(e.what())));
    for (const auto& job : batch) job->result.set_exception(error);
    return;
  }
  metrics_.count_batch(items, static_cast<int64_t>(batch.size()));
  for (size_t i = 0; i < batch.size(); ++i) batch[i]->result.set_value(std::move(results[i]));
}

}  // namespace snn::serve
