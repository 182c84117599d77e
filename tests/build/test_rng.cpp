// snn::Rng must reproduce numpy's legacy np.random.RandomState(seed) draw for draw.
//
// Reference values below were printed by numpy 1.24 (/usr/bin/python3), e.g.
//   /usr/bin/python3 -c 'import numpy as np; r=np.random.RandomState(5); print(repr(r.random_sample(5)))'
// with the exact call noted next to each table.
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <vector>

#include "snn/errors.h"
#include "snn/rng.h"

using snn::Rng;

TEST_CASE("Rng: raw 32-bit stream is MT19937 init_genrand", "[rng]") {
  SECTION("the C++ standard's check value: 10000th output of seed 5489 is 4123659995") {
    Rng rng(5489);
    uint32_t v = 0;
    for (int i = 0; i < 10000; ++i) v = rng.next_u32();
    CHECK(v == 4123659995U);
  }
  SECTION("agrees with std::mt19937 over several state regenerations") {
    for (uint32_t seed : {0U, 1U, 42U, 123456789U, 4294967295U}) {
      Rng rng(seed);
      std::mt19937 ref(seed);
      for (int i = 0; i < 2000; ++i) REQUIRE(rng.next_u32() == ref());
    }
  }
  SECTION("numpy: RandomState(0).randint(2**32, size=5, dtype=np.uint64)") {
    Rng rng(0);
    const std::vector<uint32_t> expected = {2357136044U, 2546248239U, 3071714933U, 3626093760U,
                                            2588848963U};
    for (uint32_t e : expected) CHECK(rng.next_u32() == e);
  }
}

TEST_CASE("Rng: uniform matches random_sample", "[rng]") {
  SECTION("RandomState(5).random_sample(5)") {
    Rng rng(5);
    const std::vector<double> expected = {0.22199317108973948, 0.8707323061773764,
                                          0.20671915533942642, 0.9186109079379216,
                                          0.48841118879482914};
    for (double e : expected) CHECK(rng.uniform() == e);
  }
  SECTION("RandomState(11).random_sample(1000)[-3:] (after the state regenerates)") {
    Rng rng(11);
    std::vector<double> x(1000);
    for (auto& v : x) v = rng.uniform();
    CHECK(x[997] == 0.22618261425211694);
    CHECK(x[998] == 0.2259679270644006);
    CHECK(x[999] == 0.68165860693635);
  }
  SECTION("largest seed: RandomState(4294967295).random_sample(2)") {
    Rng rng(4294967295U);
    CHECK(rng.uniform() == 0.0976320289940138);
    CHECK(rng.uniform() == 0.9123828453026218);
  }
  SECTION("RandomState(12).uniform(-2, 3, size=3) then .normal(1.5, 0.25, size=3)") {
    Rng rng(12);
    CHECK(rng.uniform(-2, 3) == Approx(-1.2291857881016381).epsilon(1e-15));
    CHECK(rng.uniform(-2, 3) == Approx(1.7002484825770239).epsilon(1e-15));
    CHECK(rng.uniform(-2, 3) == Approx(-0.6834249240743266).epsilon(1e-15));
    CHECK(rng.normal(1.5, 0.25) == Approx(1.417776316236139).epsilon(1e-15));
    CHECK(rng.normal(1.5, 0.25) == Approx(1.5057149446305658).epsilon(1e-15));
    CHECK(rng.normal(1.5, 0.25) == Approx(1.3948269906246749).epsilon(1e-15));
  }
}

TEST_CASE("Rng: normal is numpy's legacy polar gauss with the cached second value", "[rng]") {
  // RandomState(7).randn(5): values 1 and 2 come from one polar pair (the second is cached).
  Rng rng(7);
  const std::vector<double> expected = {1.690525703800356, -0.4659373705408328,
                                        0.0328201636785844, 0.40751628299650783,
                                        -0.7889230286257386};
  for (double e : expected) CHECK(rng.normal() == Approx(e).epsilon(1e-15));
}

TEST_CASE("Rng: randint is numpy's legacy masked rejection", "[rng]") {
  SECTION("[RandomState(0).randint(2**31-1) for _ in range(5)], also child_seed") {
    const std::vector<int64_t> expected = {209652396, 398764591, 924231285, 1478610112,
                                           441365315};
    Rng a(0), b(0);
    for (int64_t e : expected) {
      CHECK(a.randint(2147483647LL) == e);
      CHECK(static_cast<int64_t>(b.child_seed()) == e);
    }
  }
  SECTION("[RandomState(1).randint(10) for _ in range(8)]") {
    const std::vector<int64_t> expected = {5, 8, 9, 5, 0, 0, 1, 7};
    Rng rng(1);
    for (int64_t e : expected) CHECK(rng.randint(10) == e);
  }
  SECTION("wide range: [RandomState(3).randint(2**40) for _ in range(3)]") {
    const std::vector<int64_t> expected = {455570294424LL, 1073054410371LL, 790795084744LL};
    Rng rng(3);
    for (int64_t e : expected) CHECK(rng.randint(1LL << 40) == e);
  }
  SECTION("randint(1) draws nothing; high = 2**32 takes one raw draw") {
    Rng a(9), b(9);
    CHECK(a.randint(1) == 0);
    CHECK(a.uniform() == b.uniform());
    Rng c(0);
    CHECK(c.randint(4294967296LL) == 2357136044LL);
  }
  SECTION("invalid bound") {
    Rng rng(0);
    CHECK_THROWS_AS(rng.randint(0), snn::Error);
  }
}

TEST_CASE("Rng: same seed, same stream, different seeds differ", "[rng]") {
  Rng a(77), b(77), c(78);
  int same_c = 0;
  for (int i = 0; i < 100; ++i) {
    const double x = a.normal();
    CHECK(x == b.normal());
    same_c += (x == c.normal());
  }
  CHECK(same_c == 0);
}
