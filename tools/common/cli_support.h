#pragma once
// What every libsnn program shares on its command line: the two error kinds that pick the
// exit status, one-line messages, and the checks of SPEC paths and --device.
#include <filesystem>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>

#include <torch/cuda.h>
#include <torch/types.h>

namespace snn::cli {

/// A bad command line (exit 2).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// A failure of the run itself that is not a libsnn error (exit 1).
struct RunError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// One line, whatever the message holds (LibTorch's carry a backtrace after a newline).
inline std::string first_line(const std::string& message) {
  return message.substr(0, message.find('\n'));
}

/// Prints "<tool>: <first line of message>" to stderr; returns `code` for main to return.
inline int fail(const char* tool, int code, const std::string& message) {
  std::cerr << tool << ": " << first_line(message) << std::endl;
  return code;
}

/// The SPEC (or other input file) argument exists and is not a directory.
inline void require_input_file(const std::string& path, const char* what = "a spec file") {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw UsageError(path + ": no such file");
  if (std::filesystem::is_directory(path, ec))
    throw UsageError(path + ": expected " + what + ", got a directory");
}

/// --device: cpu, cuda or cuda:<index>, checked against what this machine has.
inline torch::Device parse_device(const std::string& text) {
  std::optional<torch::Device> device;
  try {
    device = torch::Device(text);
  } catch (const c10::Error&) {
  }
  if (!device || (!device->is_cpu() && !device->is_cuda()))
    throw UsageError("--device: expected cpu, cuda or cuda:<index>, got \"" + text + "\"");
  if (device->is_cuda()) {
    if (!torch::cuda::is_available())
      throw RunError("--device " + text +
                     ": CUDA is not available (this LibTorch has no CUDA support or no GPU "
                     "is visible)");
    const auto count = static_cast<int64_t>(torch::cuda::device_count());
    if (device->has_index() && device->index() >= count)
      throw RunError("--device " + text + ": expected a CUDA device index below " +
                     std::to_string(count) + ", got " + std::to_string(device->index()));
  }
  return *device;
}

}  // namespace snn::cli
