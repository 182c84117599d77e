// Function helpers: wrap callables of t only or x only into the (t, x) form.
#include "snn/network.h"

namespace snn {

Function Function::of_t(std::function<std::vector<double>(double)> f) {
  return Function([f = std::move(f)](double t, const std::vector<double>&) { return f(t); },
                  /*uses_t=*/true, /*uses_x=*/false);
}

Function Function::of_x(std::function<std::vector<double>(const std::vector<double>&)> f) {
  return Function([f = std::move(f)](double, const std::vector<double>& x) { return f(x); },
                  /*uses_t=*/false, /*uses_x=*/true);
}

}  // namespace snn
