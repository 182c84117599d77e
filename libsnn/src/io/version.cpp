// The library version, baked in from the CMake project version.
#include "snn/io.h"

#ifndef SNN_VERSION
#define SNN_VERSION "unknown"
#endif

namespace snn {

std::string version() {
  return SNN_VERSION;
}

}  // namespace snn
