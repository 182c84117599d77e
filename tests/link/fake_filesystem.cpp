// A shared library that exports its own std::filesystem::remove_all, as PyTorch's pip wheels
// export the libstdc++ copies linked into libtorch. Whoever calls this one has lost the
// link-order race that libsnn's link options are there to win.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace std::filesystem {

uintmax_t remove_all(const path& p, std::error_code&) {
  std::fprintf(stderr, "link order: remove_all(\"%s\") reached the exported copy, not libstdc++\n",
               p.c_str());
  std::abort();
}

}  // namespace std::filesystem
