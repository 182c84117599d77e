// Linked against snn::snn and the fake library above, with the fake one named first: with
// libsnn's link options, std::filesystem::remove_all still resolves to libstdc++'s and removes
// the tree it made; without them the fake one aborts the program.
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <unistd.h>

int main() {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("snn_link_order_" + std::to_string(getpid()));
  fs::create_directories(root / "a" / "b");
  std::error_code ec;
  const auto removed = fs::remove_all(root, ec);
  if (ec || removed != 3 || fs::exists(root)) {
    std::fprintf(stderr, "link order: remove_all removed %ju entries of 3 (%s)\n",
                 static_cast<uintmax_t>(removed), ec.message().c_str());
    return 1;
  }
  std::puts("link order: libstdc++'s remove_all removed 3 entries");
  return 0;
}
