#pragma once
// Where libsnn's writers put a file: they write a temporary file next to the target and
// rename it into place, so a failure never leaves a torn file. A rename replaces whatever
// the path names, so a device (/dev/null), a FIFO or a socket given as the output would be
// destroyed rather than written to, and a symbolic link would be replaced by a file rather
// than its target updated. output_target refuses the first and follows the second.
#include <filesystem>
#include <string>

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

}  // namespace snn::detail
