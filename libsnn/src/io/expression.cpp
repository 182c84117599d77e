// snn::expr: muParser expressions of `t` and `x0, x1, ...` compiled into an snn::Function.
//
// One parser per Function, kept in shared state together with the variable buffer it is
// bound to, so copies of the Function share it and every call only copies the inputs in and
// evaluates the cached bytecode. muParser's evaluation stack is per parser and not
// re-entrant, hence the mutex.
#include <cmath>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "snn/errors.h"
#include "snn/network.h"

#ifdef SNN_HAVE_MUPARSER
#include <muParser.h>
#endif

namespace snn {

#ifdef SNN_HAVE_MUPARSER

namespace {

/// Index of an input variable `x<k>` (k written without leading zeros), or -1 for other names.
int64_t input_index(const std::string& name) {
  if (name.size() < 2 || name[0] != 'x') return -1;
  if (name.size() > 2 && name[1] == '0') return -1;  // "x01" is not x1
  if (name.size() > 8) return -1;                    // far beyond any input size
  int64_t k = 0;
  for (size_t i = 1; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    k = k * 10 + (name[i] - '0');
  }
  return k;
}

/// Debian's muParser 2.3.3 defines _pi and _e with only 13 decimals (GCC branch of
/// muParserTemplateMagic.h); the spec promises the double constants.
void define_constants(mu::Parser& p) {
  p.DefineConst("_pi", M_PI);
  p.DefineConst("_e", M_E);
}

struct ExprState {
  std::mutex mutex;
  mu::Parser parser;
  std::string source;
  double t = 0.0;
  // Sized once before the parser is bound to it, never resized (the parser keeps pointers).
  std::vector<double> x;
};

std::string quote_text(const std::string& s) {
  return "\"" + s + "\"";
}

}  // namespace

Function expr(const std::string& source) {
  const std::string where = "expression " + quote_text(source);
  bool uses_t = false;
  int64_t n_x = 0;  // highest x index used + 1
  bool uses_x = false;
  // muParser reads a C string: what follows a NUL would be silently dropped.
  if (source.find('\0') != std::string::npos)
    throw SpecError("expression contains a NUL character");
  try {
    // Discovery pass: GetUsedVar parses with undefined variables allowed and lists them.
    mu::Parser probe;
    define_constants(probe);
    probe.SetExpr(source);
    for (const auto& [name, ptr] : probe.GetUsedVar()) {
      (void)ptr;
      if (name == "t") {
        uses_t = true;
        continue;
      }
      const int64_t k = input_index(name);
      if (k < 0)
        throw SpecError(where + ": unknown variable \"" + name +
                        "\" (expected t or inputs x0, x1, ...)");
      uses_x = true;
      n_x = std::max(n_x, k + 1);
    }
  } catch (const mu::Parser::exception_type& e) {
    throw SpecError(where + ": " + e.GetMsg());
  }

  auto state = std::make_shared<ExprState>();
  state->source = source;
  state->x.assign(static_cast<size_t>(n_x), 0.0);
  try {
    define_constants(state->parser);
    state->parser.DefineVar("t", &state->t);
    for (int64_t k = 0; k < n_x; ++k)
      state->parser.DefineVar("x" + std::to_string(k), &state->x[static_cast<size_t>(k)]);
    state->parser.SetExpr(source);
    int n = 0;
    state->parser.Eval(n);  // compiles to bytecode now, so later calls only evaluate
    if (n <= 0) throw SpecError(where + ": evaluates to no values");
  } catch (const mu::Parser::exception_type& e) {
    throw SpecError(where + ": " + e.GetMsg());
  }

  Function::Fn fn = [state](double t, const std::vector<double>& x) -> std::vector<double> {
    std::lock_guard<std::mutex> lock(state->mutex);
    if (x.size() < state->x.size())
      throw SimulationError("expression " + quote_text(state->source) + " uses x" +
                            std::to_string(state->x.size() - 1) + " but got " +
                            std::to_string(x.size()) + " input value" + (x.size() == 1 ? "" : "s"));
    state->t = t;
    std::copy(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(state->x.size()),
              state->x.begin());
    try {
      int n = 0;
      const double* r = state->parser.Eval(n);
      return std::vector<double>(r, r + n);
    } catch (const mu::Parser::exception_type& e) {
      throw SimulationError("expression " + quote_text(state->source) + ": " + e.GetMsg());
    }
  };
  return Function(std::move(fn), uses_t, uses_x, source);
}

#else  // !SNN_HAVE_MUPARSER

Function expr(const std::string& source) {
  throw SpecError("expression \"" + source + "\": libsnn was built without muParser");
}

#endif

}  // namespace snn
