#pragma once
// Where libsnn's writers put a file: they write a temporary file next to the target and
// rename it into place, so a failure never leaves a torn file. A rename replaces whatever
// the path names, so a device (/dev/null), a FIFO or a socket given as the output would be
// destroyed rather than written to, and a symbolic link would be replaced by a file rather
// than its target updated. output_target refuses the first and follows the second.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <unistd.h>

namespace snn::detail {

/// The file to replace for output `path`: `path` itself, or the file a symbolic link names.
/// Throws Error (as E) "<path>: <why>" when the path names something that is not a regular
/// file.
template <class E>
std::string output_target(const std::string& path, const std::string& what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path target(path);
  if (fs::is_symlink(fs::symlink_status(target, ec))) {
    const fs::path resolved = fs::weakly_canonical(target, ec);
    if (ec)
      throw E(path + ": cannot write the " + what + ": cannot follow the link (" + ec.message() +
              ")");
    target = resolved;
  }
  const auto st = fs::status(target, ec);
  if (fs::exists(st) && !fs::is_regular_file(st))
    throw E(path + ": cannot write the " + what + ": " +
            (fs::is_directory(st) ? "it is a folder"
                                  : "it is not a regular file (a device, FIFO or socket)"));
  return target.string();
}

/// Why write_atomically failed: the system's reason, and whether the bytes were written and
/// only the rename onto the target failed.
struct WriteFailure {
  std::string reason;
  bool replacing = false;
};

/// Writes `bytes` to `target` (an output_target) through a temporary file in the same folder
/// (`<target>.tmp.<pid>`) and a rename: a failure at any point leaves the old file or none,
/// and no temporary file. Returns the failure, for the caller's own message.
inline std::optional<WriteFailure> write_atomically(const std::string& target,
                                                    const std::string& bytes) {
  const std::string tmp = target + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (out) out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (out) out.close();  // a full disk shows at the close at the latest
    if (!out) {
      WriteFailure failure{std::strerror(errno), false};
      std::remove(tmp.c_str());
      return failure;
    }
  }
  if (std::rename(tmp.c_str(), target.c_str()) != 0) {
    WriteFailure failure{std::strerror(errno), true};
    std::remove(tmp.c_str());
    return failure;
  }
  return std::nullopt;
}

}  // namespace snn::detail
