#pragma once
// The first line of a message: LibTorch's errors carry a backtrace after a newline, and
// libsnn's messages are one line.
#include <string>

namespace snn {

inline std::string first_line(const std::string& message) {
  return message.substr(0, message.find('\n'));
}

}  // namespace snn
