#include "serve/serve_metrics.h"

#include <algorithm>
#include <charconv>
#include <sstream>

namespace snn::serve {
namespace {

std::string number(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, end);
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  ++counts_[static_cast<size_t>(it - bounds_.begin())];
  sum_ += value;
  ++count_;
}

std::string Histogram::lines(const std::string& name, const std::string& labels) const {
  std::ostringstream s;
  const std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    const std::string le = i < bounds_.size() ? number(bounds_[i]) : "+Inf";
    s << name << "_bucket{" << labels << sep << "le=\"" << le << "\"} " << cumulative << "\n";
  }
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  s << name << "_sum" << braces << " " << number(sum_) << "\n";
  s << name << "_count" << braces << " " << count_ << "\n";
  return s.str();
}

ServeMetrics::ServeMetrics(std::string model_name, const std::vector<int64_t>& batch_sizes)
    : model_(std::move(model_name)),
      latency_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}),
      batch_items_(std::vector<double>(batch_sizes.begin(), batch_sizes.end())),
      batch_requests_(std::vector<double>(batch_sizes.begin(), batch_sizes.end())) {}

void ServeMetrics::count_request(const std::string& endpoint, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{endpoint, status}];
  if (status >= 400) ++errors_[endpoint];
  if (endpoint == "infer" && seconds >= 0) latency_.observe(seconds);
}

void ServeMetrics::count_batch(int64_t items, int64_t requests) {
  std::lock_guard<std::mutex> lock(mu_);
  batch_items_.observe(static_cast<double>(items));
  batch_requests_.observe(static_cast<double>(requests));
  items_ += static_cast<uint64_t>(items);
}

std::string ServeMetrics::prometheus_text() const {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string model = "model=\"" + model_ + "\"";
  std::ostringstream s;
  s << "# HELP snn_requests_total Requests answered, by endpoint and HTTP status.\n"
    << "# TYPE snn_requests_total counter\n";
  for (const auto& [key, n] : requests_)
    s << "snn_requests_total{" << model << ",endpoint=\"" << key.first << "\",code=\""
      << key.second << "\"} " << n << "\n";
  s << "# HELP snn_request_errors_total Requests answered with a 4xx or 5xx status.\n"
    << "# TYPE snn_request_errors_total counter\n";
  for (const auto& [endpoint, n] : errors_)
    s << "snn_request_errors_total{" << model << ",endpoint=\"" << endpoint << "\"} " << n
      << "\n";
  s << "# HELP snn_inference_items_total Items (batch rows) inferred.\n"
    << "# TYPE snn_inference_items_total counter\n"
    << "snn_inference_items_total{" << model << "} " << items_ << "\n";
  s << "# HELP snn_batch_size Items per minibatch run.\n"
    << "# TYPE snn_batch_size histogram\n"
    << batch_items_.lines("snn_batch_size", model);
  s << "# HELP snn_batch_requests Requests merged into one minibatch run.\n"
    << "# TYPE snn_batch_requests histogram\n"
    << batch_requests_.lines("snn_batch_requests", model);
  s << "# HELP snn_request_duration_seconds Time to answer an infer request, queueing "
       "included.\n"
    << "# TYPE snn_request_duration_seconds histogram\n"
    << latency_.lines("snn_request_duration_seconds", model);
  return s.str();
}

}  // namespace snn::serve
