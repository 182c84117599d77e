#pragma once
// What /metrics reports, in Prometheus' text format: requests by endpoint and status, errors,
// the sizes of the minibatches run, request latency, and items inferred.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace snn::serve {

/// A cumulative histogram over fixed upper bounds (Prometheus' `le` buckets).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double value);
  /// `name`_bucket{labels,le=...}, `name`_sum and `name`_count lines.
  std::string lines(const std::string& name, const std::string& labels) const;
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bound, not cumulative; the last one is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class ServeMetrics {
 public:
  /// `batch_sizes`: the minibatch sizes simulated (ascending), the batch histograms' bounds.
  ServeMetrics(std::string model_name, const std::vector<int64_t>& batch_sizes);
  /// One answered request; `endpoint` is a short route name ("infer", "ready", ...).
  /// Negative `seconds`: not timed (refused by the HTTP layer), kept out of the latency.
  void count_request(const std::string& endpoint, int status, double seconds);
  /// One minibatch run with `items` items from `requests` requests.
  void count_batch(int64_t items, int64_t requests);
  std::string prometheus_text() const;

 private:
  mutable std::mutex mu_;
  std::string model_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, uint64_t> errors_;
  Histogram latency_, batch_items_, batch_requests_;
  uint64_t items_ = 0;
};

}  // namespace snn::serve
