#pragma once
// What the end-to-end tests of the programs share: running a built tool in a folder with
// its stdout and stderr captured, and small file helpers.
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "conformance/conformance_support.h"

namespace snn::testing {

struct ToolResult {
  int code = -1;
  std::string out, err;
  /// stderr's lines.
  std::vector<std::string> err_lines() const {
    std::vector<std::string> lines;
    std::istringstream s(err);
    for (std::string l; std::getline(s, l);) lines.push_back(l);
    return lines;
  }
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
}

/// One shell word.
inline std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// Runs `tool` with `args` (shell words, quoted where needed) in folder `cwd`; stdout and
/// stderr are captured in files of a log folder other than cwd, so they never show up among
/// the outputs a test checks.
inline ToolResult run_tool(const std::string& tool, const std::string& args,
                           const std::string& cwd) {
  static TempDir logs("snn_tool_logs");
  static int n = 0;
  const std::string out = logs.file("out" + std::to_string(n) + ".txt");
  const std::string err = logs.file("err" + std::to_string(n++) + ".txt");
  const std::string cmd = "cd " + quote(cwd) + " && " + quote(tool) + " " + args + " >" +
                          quote(out) + " 2>" + quote(err);
  const int status = std::system(cmd.c_str());
  ToolResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

}  // namespace snn::testing
