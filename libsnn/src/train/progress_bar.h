#pragma once
// A one-line progress bar on stderr, shown only when stderr is a terminal so that logs and
// CI output stay clean.
#include <chrono>
#include <cstdint>
#include <string>

namespace snn::detail {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, bool enabled);
  ~ProgressBar();
  /// Sets the amount done, with an optional suffix (e.g. "loss 0.12").
  void update(int64_t done, const std::string& suffix = "");
  void finish();

 private:
  std::string label_;
  int64_t total_;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace snn::detail
