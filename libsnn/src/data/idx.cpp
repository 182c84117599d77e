// IDX: a big-endian header (magic 0x0000 08 <rank>, then one uint32 per dimension) and the
// values. zlib's gz* functions read gzip-compressed and plain files alike, and report a
// stream that ends early, so a truncated download is an error rather than zeros.
#include "data/idx.h"

#include <filesystem>
#include <vector>

#ifdef SNN_HAVE_ZLIB
#include <zlib.h>
#endif

#include "snn/errors.h"

namespace snn::detail {

#ifdef SNN_HAVE_ZLIB

namespace {

class GzFile {
 public:
  explicit GzFile(const std::string& path) : f_(gzopen(path.c_str(), "rb")) {}
  ~GzFile() {
    if (f_) gzclose(f_);
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;
  bool ok() const { return f_ != nullptr; }
  /// Reads exactly n bytes; false when the stream ends or is corrupt.
  bool read(void* dst, size_t n) {
    auto* p = static_cast<unsigned char*>(dst);
    while (n > 0) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n, 1u << 30));
      const int got = gzread(f_, p, chunk);
      if (got <= 0) return false;
      p += got;
      n -= static_cast<size_t>(got);
    }
    return true;
  }

 private:
  gzFile f_;
};

uint32_t big_endian(const unsigned char* b) {
  return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | uint32_t(b[3]);
}

}  // namespace

torch::Tensor read_idx_u8(const std::string& path, int expected_rank) {
  if (!std::filesystem::exists(path)) throw DataError(path + ": not found");
  GzFile f(path);
  if (!f.ok()) throw DataError(path + ": cannot open");
  unsigned char head[4];
  if (!f.read(head, 4)) throw DataError(path + ": truncated (no IDX header)");
  const uint32_t magic = big_endian(head);
  const uint32_t want = 0x800u | static_cast<uint32_t>(expected_rank);
  if (magic != want) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "not an IDX file of %s (magic 0x%08x, expected 0x%08x)",
                  expected_rank == 1 ? "labels" : "images", magic, want);
    throw DataError(path + ": " + buf);
  }
  std::vector<int64_t> dims;
  int64_t total = 1;
  for (int i = 0; i < expected_rank; ++i) {
    unsigned char d[4];
    if (!f.read(d, 4)) throw DataError(path + ": truncated header");
    dims.push_back(big_endian(d));
    total *= dims.back();
    if (total > (int64_t(1) << 34)) throw DataError(path + ": implausible dimensions in header");
  }
  auto out = torch::empty(dims, torch::kUInt8);
  if (total > 0 && !f.read(out.data_ptr<uint8_t>(), static_cast<size_t>(total)))
    throw DataError(path + ": truncated: the header promises " + std::to_string(total) +
                    " values, the file ends earlier (or is corrupt)");
  return out;
}

#else

torch::Tensor read_idx_u8(const std::string& path, int) {
  throw DataError(path + ": reading IDX files needs zlib, which this build lacks");
}

#endif

}  // namespace snn::detail
