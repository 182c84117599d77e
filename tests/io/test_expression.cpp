// snn::expr: muParser expressions against values computed by hand (or by the C library).
// LibTorch first: it pulls in glog, whose CHECK macro Catch's must replace, not the reverse.
#include <torch/types.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <thread>

#include "snn/errors.h"
#include "snn/network.h"

namespace {
std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}
}  // namespace

TEST_CASE("expr: a comma-separated list gives a vector", "[expr]") {
  auto f = snn::expr("x0*x1, x0^2");
  auto y = f(0.0, {3.0, 4.0});
  REQUIRE(y.size() == 2);
  CHECK(y[0] == 12.0);
  CHECK(y[1] == 9.0);
  CHECK(f.expr == "x0*x1, x0^2");
  CHECK(f.uses_x);
  CHECK_FALSE(f.uses_t);
}

TEST_CASE("expr: _pi is the double constant", "[expr]") {
  auto f = snn::expr("sin(2*_pi*t)");
  CHECK(f.uses_t);
  CHECK_FALSE(f.uses_x);
  CHECK(std::abs(f(0.25, {})[0] - 1.0) < 1e-15);
  // Debian's own _pi (3.141592653589) would miss sin(2 pi t) at t = 100.25 by ~5e-10.
  CHECK(std::abs(f(100.25, {})[0] - std::sin(2 * M_PI * 100.25)) < 1e-15);
  CHECK(snn::expr("_pi")(0.0, {})[0] == M_PI);
  CHECK(snn::expr("_e")(0.0, {})[0] == M_E);
}

TEST_CASE("expr: muParser operator semantics", "[expr]") {
  auto at = [](const std::string& src, double t, std::vector<double> x = {}) {
    return snn::expr(src)(t, x).at(0);
  };
  CHECK(at("-2^2", 0) == -4.0);    // ^ binds tighter than unary minus
  CHECK(at("2^3^2", 0) == 512.0);  // right-associative
  CHECK(at("(t > 0.1005) + 1", 0.1) == 1.0);
  CHECK(at("(t > 0.1005) + 1", 0.101) == 2.0);
  CHECK(at("x0 <= 2", 0, {2.0}) == 1.0);
  CHECK(at("2*t-1", 0.75) == 0.5);
  CHECK(at("exp(1)", 0) == std::exp(1.0));
  CHECK(at("sqrt(x2)", 0, {0.0, 0.0, 16.0}) == 4.0);
  // A node of the synapses scenario, at t = 0.2.
  const double t = 0.2;
  CHECK(std::abs(at("(t > 0.1005) + 0.5*sin(2*_pi*3*t) + 0.25*cos(2*_pi*11*t)", t) -
                 (1.0 + 0.5 * std::sin(2 * M_PI * 3 * t) + 0.25 * std::cos(2 * M_PI * 11 * t))) <
        1e-15);
  auto three = snn::expr("sin(2*_pi*t), cos(2*_pi*t), 0.5")(0.5, {});
  REQUIRE(three.size() == 3);
  CHECK(std::abs(three[0]) < 1e-15);
  CHECK(three[1] == -1.0);
  CHECK(three[2] == 0.5);
}

TEST_CASE("expr: a constant uses neither t nor x", "[expr]") {
  auto f = snn::expr("0.5");
  CHECK_FALSE(f.uses_t);
  CHECK_FALSE(f.uses_x);
  CHECK(f(3.0, {}).at(0) == 0.5);
}

TEST_CASE("expr: one Function evaluates many times and copies share it", "[expr]") {
  auto f = snn::expr("x0 + 10*t");
  auto g = f;  // a copy, as a Node keeps
  for (int i = 0; i < 1000; ++i) {
    const double t = i * 0.001;
    REQUIRE(f(t, {double(i)})[0] == double(i) + 10 * t);
  }
  CHECK(g(1.0, {2.0})[0] == 12.0);
  // Extra inputs beyond the highest x used are ignored.
  CHECK(f(0.0, {1.0, 99.0})[0] == 1.0);
}

TEST_CASE("expr: concurrent calls on one Function stay correct", "[expr]") {
  auto f = snn::expr("x0*x0 + t");
  std::vector<std::thread> threads;
  std::vector<int> bad(4, 0);
  for (int k = 0; k < 4; ++k)
    threads.emplace_back([&, k] {
      for (int i = 0; i < 2000; ++i) {
        const double x = k * 1000 + i;
        if (f(0.5, {x})[0] != x * x + 0.5) ++bad[k];
      }
    });
  for (auto& t : threads) t.join();
  CHECK(bad == std::vector<int>(4, 0));
}

TEST_CASE("expr: errors name the expression and the problem", "[expr]") {
  auto msg = message_of([] { snn::expr("foo + x0"); });
  CHECK_THAT(msg, Catch::Contains("\"foo + x0\"") && Catch::Contains("unknown variable \"foo\""));
  // x01 is not a valid input name (no leading zeros).
  CHECK_THAT(message_of([] { snn::expr("x01"); }), Catch::Contains("unknown variable \"x01\""));
  CHECK_THAT(message_of([] { snn::expr("y"); }), Catch::Contains("unknown variable \"y\""));
  CHECK_THROWS_AS(snn::expr("x0 +* 3"), snn::SpecError);
  CHECK_THAT(message_of([] { snn::expr("x0 +* 3"); }), Catch::Contains("\"x0 +* 3\""));
  CHECK_THROWS_AS(snn::expr(""), snn::SpecError);
  CHECK_THROWS_AS(snn::expr("sin(t"), snn::SpecError);

  auto f = snn::expr("x0*x3");
  CHECK_THROWS_AS(f(0.0, {1.0, 2.0}), snn::SimulationError);
  auto call = message_of([&] { f(0.0, {1.0, 2.0}); });
  CHECK_THAT(call, Catch::Contains("\"x0*x3\"") && Catch::Contains("x3") &&
                       Catch::Contains("2 input values"));
}

TEST_CASE("expr: a node from an expression infers its size", "[expr]") {
  auto net = std::make_shared<snn::Network>();
  auto n = net->node(snn::NodeOptions().id("prod").size_in(2).output(snn::expr("x0*x1, x0^2, t")));
  CHECK(n->size_out() == 3);
  CHECK(n->kind() == snn::Node::Kind::Function);
  // Too few inputs for the expression: the trial call fails and names the node.
  CHECK_THROWS_WITH(net->node(snn::NodeOptions().id("bad").size_in(1).output(snn::expr("x0*x1"))),
                    Catch::Contains("node \"bad\"") && Catch::Contains("x1"));
}
