#pragma once
// What every libsnn program shares on its command line: the exit statuses and the error
// kinds that pick them, one-line messages, parsing, and the checks of SPEC paths and --device.
#include <cmath>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>
#include <torch/cuda.h>
#include <torch/types.h>

#include "snn/errors.h"

namespace snn::cli {

constexpr int kExitFailed = 1;  // the run failed: bad data, simulation, I/O
constexpr int kExitUsage = 2;   // bad command line, invalid spec or network

/// A number check for options with a short message: CLI11's PositiveNumber and
/// NonNegativeNumber print the whole double range ("not in range 0.000000 to 1797...").
inline CLI::Validator number_at_least(double low, bool open, const std::string& what) {
  return CLI::Validator(
      [low, open, what](std::string& text) -> std::string {
        double v = 0;
        size_t used = 0;
        try {
          v = std::stod(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        const bool ok = used == text.size() && used > 0 && std::isfinite(v) &&
                        (open ? v > low : v >= low);
        return ok ? std::string() : "expected " + what + ", got " + text;
      },
      what);
}
inline const CLI::Validator kPositive = number_at_least(0, true, "a number > 0");
inline const CLI::Validator kNonNegative = number_at_least(0, false, "a number >= 0");

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

/// Parses the command line into `app`. Returns the status main returns at once (0 after
/// --help or --version; kExitUsage, with one line, for a bad command line), or nothing when
/// the program goes on.
inline std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv,
                                             const char* tool) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    return fail(tool, kExitUsage, std::string(e.what()) + " (see " + tool + " --help)");
  }
  return std::nullopt;
}

/// Runs `build` (a Simulator or service built from the spec at `spec`), so that its errors
/// (a cycle without a synapse, sizes that do not fit, ...) name the file as the loader's do.
template <class Build>
auto naming_spec(const std::string& spec, Build&& build) -> decltype(build()) {
  auto named = [&](const std::string& what) {
    return what.rfind(spec, 0) == 0 ? what : spec + ": " + what;
  };
  try {
    return build();
  } catch (const snn::BuildError& e) {
    throw snn::BuildError(named(e.what()));
  } catch (const snn::SpecError& e) {
    throw snn::SpecError(named(e.what()));
  }
}

/// Runs a program's body and turns what it throws into one line on stderr and the exit
/// status: kExitUsage for a bad command line, spec or network (UsageError, SpecError,
/// BuildError), kExitFailed for the rest (DataError, SimulationError, RunError, LibTorch's
/// errors). `explain_spec_error` may rewrite a SpecError's message, e.g. to add a hint.
template <class Body>
int report_errors(const char* tool, Body&& body,
                  const std::function<std::string(const std::string&)>& explain_spec_error = {}) {
  try {
    return body();
  } catch (const UsageError& e) {
    return fail(tool, kExitUsage, e.what());
  } catch (const snn::SpecError& e) {
    return fail(tool, kExitUsage, explain_spec_error ? explain_spec_error(e.what()) : e.what());
  } catch (const snn::BuildError& e) {
    return fail(tool, kExitUsage, e.what());
  } catch (const c10::Error& e) {
    return fail(tool, kExitFailed, e.what_without_backtrace());
  } catch (const std::exception& e) {
    return fail(tool, kExitFailed, e.what());
  }
}

}  // namespace snn::cli
