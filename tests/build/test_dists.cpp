// Distributions: with the same seed, samples must equal what Nengo / NengoDL draw from a numpy
// RandomState. Nengo itself is not installed here, so each reference table was printed by a
// numpy (1.24, /usr/bin/python3) snippet that re-derives the Nengo 4.1 / NengoDL 3.6 sampling
// formula, quoted next to the table (`r` = np.random.RandomState(seed)).
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "build/dists_internal.h"
#include "snn/dists.h"
#include "snn/errors.h"

using nlohmann::json;
using namespace snn;

namespace {

void check_values(const torch::Tensor& t, const std::vector<double>& expected, double tol) {
  REQUIRE(t.scalar_type() == torch::kFloat64);
  REQUIRE(t.device().is_cpu());
  auto c = t.contiguous();
  REQUIRE(c.numel() == static_cast<int64_t>(expected.size()));
  const double* p = c.data_ptr<double>();
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    CHECK(p[i] == Approx(expected[i]).margin(tol).epsilon(tol));
  }
}

std::vector<int64_t> shape(const torch::Tensor& t) { return t.sizes().vec(); }

double min_pairwise_distance(const torch::Tensor& x) {
  auto d = torch::cdist(x, x);
  d.fill_diagonal_(INFINITY);
  return d.min().item<double>();
}

}  // namespace

TEST_CASE("Uniform matches numpy's uniform and randint", "[dists]") {
  SECTION("r(1).uniform(-1, 0.9, size=4) and size=(2, 3), row-major") {
    Rng a(1), b(1);
    auto x = Uniform(-1, 0.9).sample(4, 0, a);
    CHECK(shape(x) == std::vector<int64_t>{4});
    check_values(x, {-0.2076581910651094, 0.36861653754010026, -0.9997826878470447,
                     -0.4255681119995045}, 1e-15);
    auto y = Uniform(-1, 0.9).sample(2, 3, b);
    CHECK(shape(y) == std::vector<int64_t>{2, 3});
    check_values(y, {-0.2076581910651094, 0.36861653754010026, -0.9997826878470447,
                     -0.4255681119995045, -0.7211638074474852, -0.8245566699392842}, 1e-15);
  }
  SECTION("integer: r(1).randint(3, 10, size=8) and r(1).randint(-5, 1000, size=(2, 3))") {
    Rng a(1), b(1);
    check_values(Uniform(3, 10, true).sample(8, 0, a), {8, 6, 7, 3, 4, 6, 8, 3}, 0);
    auto y = Uniform(-5, 1000, true).sample(2, 3, b);
    CHECK(shape(y) == std::vector<int64_t>{2, 3});
    check_values(y, {32, 230, 903, 67, 762, 900}, 0);
  }
  SECTION("bad parameters are reported when sampling through the C++ API") {
    Rng rng(0);
    CHECK_THROWS_WITH(Uniform(2, 1).sample(3, 0, rng),
                      "Uniform: expected low <= high, got low=2, high=1");
    CHECK_THROWS_WITH(Uniform(0.5, 3, true).sample(3, 0, rng),
                      "Uniform low: expected an integer (integer is true), got 0.5");
  }
}

TEST_CASE("Gaussian matches numpy's normal", "[dists]") {
  // r(2).normal(2, 0.5, size=(3, 2))
  Rng rng(2);
  auto x = Gaussian(2, 0.5).sample(3, 2, rng);
  CHECK(shape(x) == std::vector<int64_t>{3, 2});
  check_values(x, {1.7916210762972646, 1.9718665863868352, 0.931901952165773, 2.820135404202494,
                   1.1032822074025685, 1.579126317171898}, 1e-14);
  CHECK_THROWS_WITH(Gaussian(0, -1).sample(2, 0, rng), "Gaussian std: expected std > 0, got -1");
}

TEST_CASE("Choice matches Nengo's searchsorted(cumsum(p), rng.rand(n))", "[dists]") {
  SECTION("rows of a (3, 2) matrix with weights [1, 2, 1], r(3), n=6") {
    // o[np.searchsorted(np.cumsum(w / w.sum()), r.rand(6))]
    Rng rng(3);
    auto opts = torch::tensor({1.0, 2.0, 3.0, 4.0, 5.0, 6.0}, torch::kFloat64).reshape({3, 2});
    auto x = Choice(opts, {1, 2, 1}).sample(6, 2, rng);
    CHECK(shape(x) == std::vector<int64_t>{6, 2});
    check_values(x, {3, 4, 3, 4, 3, 4, 3, 4, 5, 6, 5, 6}, 0);
  }
  SECTION("scalar options [1, -1] without weights, r(3), n=7 (d=0 and d=1)") {
    const std::vector<double> expected = {-1, -1, 1, -1, -1, -1, 1};
    Rng a(3), b(3);
    auto x = Choice(std::vector<double>{1, -1}).sample(7, 0, a);
    CHECK(shape(x) == std::vector<int64_t>{7});
    check_values(x, expected, 0);
    auto y = Choice(std::vector<double>{1, -1}).sample(7, 1, b);
    CHECK(shape(y) == std::vector<int64_t>{7, 1});
    check_values(y, expected, 0);
  }
  SECTION("a zero weight is never chosen") {
    Rng rng(0);
    auto x = Choice(std::vector<double>{1, 2, 3}, {1, 0, 1}).sample(500, 0, rng);
    CHECK((x == 2).sum().item<int64_t>() == 0);
    CHECK((x == 1).sum().item<int64_t>() > 200);
    CHECK((x == 3).sum().item<int64_t>() > 200);
  }
  SECTION("errors") {
    Rng rng(0);
    auto opts = torch::ones({3, 2}, torch::kFloat64);
    CHECK_THROWS_WITH(Choice(opts).sample(2, 3, rng),
                      "Choice: expected options with rows of length 3, got rows of length 2");
    CHECK_THROWS_WITH(Choice(opts, {1, 2}),
                      "Choice: expected 3 weights (one per option), got 2");
    CHECK_THROWS_WITH(Choice(std::vector<double>{1, 2}, {1, -1}),
                      "Choice: expected weights >= 0, got -1 at index 1");
    CHECK_THROWS_AS(Choice(std::vector<double>{}), SpecError);
  }
}

TEST_CASE("UniformHypersphere matches Nengo's normalised randn (+ radius)", "[dists]") {
  SECTION("surface, d=3, r(4), n=4") {
    // s = r.randn(4, 3); s /= sqrt(sum(s**2, axis=1, keepdims=True))
    Rng rng(4);
    auto x = UniformHypersphere(true).sample(4, 3, rng);
    CHECK(shape(x) == std::vector<int64_t>{4, 3});
    check_values(x, {0.04532645722784067, 0.44818547478911147, -0.892790732738211,
                     0.38975188848606723, -0.23505501444735866, -0.8904170964243084,
                     -0.6872606689432066, 0.6351287270034423, 0.35253974677860545,
                     -0.878217513625709, 0.4734968368446013, -0.06734050979339773}, 1e-14);
  }
  SECTION("ball, d=2, min_magnitude 0.5, r(4), n=5") {
    // ... then s *= r.uniform(low=0.5**2, high=1, size=(5, 1)) ** (1.0 / 2)
    Rng rng(4);
    auto x = UniformHypersphere(false, 0.5).sample(5, 2, rng);
    check_values(x, {0.050983625869825966, 0.5041232420190839, -0.6029747387392126,
                     0.4199403843703298, -0.13581038179286287, -0.5144663095343577,
                     -0.722375647482232, 0.6675800698869785, 0.21128478949941903,
                     -0.7297045449262561}, 1e-14);
    auto norms = x.norm(2, 1);
    CHECK(norms.min().item<double>() >= 0.5);
    CHECK(norms.max().item<double>() <= 1.0);
  }
  SECTION("needs vectors") {
    Rng rng(0);
    CHECK_THROWS_AS(UniformHypersphere().sample(3, 0, rng), SpecError);
  }
}

TEST_CASE("Exponential matches Nengo (clipped just below high)", "[dists]") {
  // np.clip(r(5).exponential(2.0, (6,)) + 1.0, 1.0, np.nextafter(4.0, -np.inf))
  Rng rng(5);
  auto x = Exponential(2.0, 1.0, 4.0).sample(6, 0, rng);
  check_values(x, {1.5020399546453052, 3.9999999999999996, 1.4631559307321902,
                   3.9999999999999996, 2.340468159435202, 2.892180020004041}, 1e-14);
  CHECK(x.max().item<double>() < 4.0);
  Rng rng2(0);
  auto y = Exponential(0.5).sample(20000, 0, rng2);
  CHECK(y.min().item<double>() >= 0.0);
  CHECK(y.mean().item<double>() == Approx(0.5).margin(0.02));  // analytic mean = scale
}

TEST_CASE("TruncatedNormal, Glorot, He, VarianceScaling match NengoDL", "[dists]") {
  SECTION("TruncatedNormal(0.5, 1, limit=1), r(6), (4, 5): outliers redrawn in passes") {
    // s = r.normal(0.5, 1, (4, 5)); o = abs(s - 0.5) > 1
    // while o.any(): s[o] = r.normal(0.5, 1, o.sum()); o = abs(s - 0.5) > 1   (3 passes)
    Rng rng(6);
    auto x = TruncatedNormal(0.5, 1.0, 1.0).sample(4, 5, rng);
    check_values(x, {0.18821632651248338, 1.229003923612504, 0.717820788076002,
                     -0.399091796547139, 0.8548086089723339, 1.413251521235888,
                     1.0341995255869898, 1.2127050945352849, 0.03636803410866607,
                     0.07010639699365201, 1.3246538446440632, 1.101822249955862,
                     0.164118385057755, 0.31899340213773864, 0.6111281667674965,
                     0.6291512479035156, 0.5761276122153374, 0.34487184144138805,
                     1.1342253431679246, 1.3106550034260698}, 1e-14);
    CHECK(TruncatedNormal(0, 3).limit == 6.0);  // default limit 2 * stddev
  }
  SECTION("Glorot(): fan_avg uniform, r(7), (3, 4): limit sqrt(3 / 3.5)") {
    // l = sqrt(3 * 1 / ((4 + 3) / 2)); r.uniform(-l, l, size=(3, 4))
    Rng rng(7);
    auto x = Glorot().sample(3, 4, rng);
    check_values(x, {-7.8452460360921195e-01, 5.1830888831991007e-01, -1.1404394298492015e-01,
                     4.1377710647026600e-01, 8.8506459537385562e-01, 7.1280501168437871e-02,
                     2.0746955548704982e-03, -7.9240732482083176e-01, -4.2876769309103879e-01,
                     -2.1756619480650663e-04, 3.3186946578184617e-01, 5.6241540942194290e-01},
                 1e-14);
    CHECK(x.abs().max().item<double>() <= std::sqrt(3.0 / 3.5));
  }
  SECTION("He(2): fan_in truncated normal with scale 2**2, r(8), (3, 4)") {
    // sd = sqrt(4 / 4); TruncatedNormal(0, sd, 2 * sd) as above
    Rng rng(8);
    auto x = He(2.0).sample(3, 4, rng);
    check_values(x, {0.09120471661981977, 1.0912827332721105, -1.9469703090225463,
                     -1.3863495322369392, -1.1233268005511385, -0.6640354695841054,
                     1.7278361685799193, -0.3783585703685589, 0.794827639348401,
                     0.9764210964009404, -1.183427147333015, 1.9163636105354793}, 1e-14);
    CHECK(x.abs().max().item<double>() <= 2.0);
  }
  SECTION("VarianceScaling(3, fan_out, uniform), vector of 5 (fan_in = 1), r(9)") {
    // l = sqrt(3 * 3 / 5); r.uniform(-l, l, size=5)
    Rng rng(9);
    auto x = VarianceScaling(3.0, "fan_out", "uniform").sample(5, 0, rng);
    CHECK(shape(x) == std::vector<int64_t>{5});
    check_values(x, {-1.3138040105429114, 0.005030058569600593, -0.011341444647617216,
                     -0.9825384775202108, -0.9603167295807181}, 1e-14);
  }
  SECTION("variance of a large Glorot normal sample is close to 2 / (fan_in + fan_out)") {
    // The truncation at 2 sd shrinks the variance by the factor 0.7737 (analytic).
    Rng rng(1);
    auto x = Glorot(1.0, "normal").sample(400, 600, rng);
    const double var = x.var().item<double>();
    CHECK(var == Approx(2.0 / 1000 * 0.77374).epsilon(0.02));
  }
  SECTION("invalid mode") {
    CHECK_THROWS_WITH(VarianceScaling(1.0, "fan_sum"),
                      "VarianceScaling mode: expected one of \"fan_in\", \"fan_out\", "
                      "\"fan_avg\", got \"fan_sum\"");
  }
}

TEST_CASE("Quasirandom sequence and incomplete beta helpers", "[dists]") {
  SECTION("QuasirandomSequence matches Nengo's (offset, R_d, row shuffle)") {
    // seed = r.uniform(0, 1, size=d); d=1: (seed + arange(n)/n) % 1
    // d>1: alpha = (1/phi_d) ** arange(1, d+1); (seed + outer(arange(1, n+1), alpha)) % 1;
    // then r.shuffle(z). r(1) with (5, 3); r(2) with (4, 1).
    Rng a(1), b(2);
    check_values(dists_detail::quasirandom_sequence(5, 3, a),
                 {0.5128845716833954, 0.07554252696110364, 0.7486167643271955,
                  0.8745395448910673, 0.7334553135535251, 0.6492158085232556,
                  0.23619451809873837, 0.39136810014594703, 0.5498148527193151,
                  0.05536703149490263, 0.06241170684973607, 0.09951533062128526,
                  0.6937120582872316, 0.40449892025731415, 0.1989162864252254}, 1e-15);
    check_values(dists_detail::quasirandom_sequence(4, 1, b),
                 {0.18599490214200376, 0.9359949021420038, 0.43599490214200376,
                  0.6859949021420038}, 1e-15);
  }
  SECTION("betainc / betaincinv against closed forms for b = 1/2") {
    // With z = sin^2(t), c = cos(t), h = 1 - c = 2 sin^2(t/2):
    // I_z(1/2, 1/2) = 2t/pi, I_z(1, 1/2) = h, I_z(3/2, 1/2) = (2t - sin 2t)/pi,
    // I_z(2, 1/2) = h^2 (2 + c)/2 (forms chosen to avoid cancellation; the a = 3/2 form still
    // cancels for small t, so it is checked from t = 0.1 on).
    const double a[4] = {0.5, 1.0, 1.5, 2.0};
    for (double t : {1e-6, 1e-3, 0.1, 0.5, 0.9, 1.3, 1.5, 1.570796}) {
      const double z = std::sin(t) * std::sin(t), c = std::cos(t);
      const double h = 2 * std::sin(t / 2) * std::sin(t / 2);
      const double p[4] = {2 * t / M_PI, h, (2 * t - std::sin(2 * t)) / M_PI, h * h * (2 + c) / 2};
      for (int k = 0; k < 4; ++k) {
        if (k == 2 && t < 0.1) continue;
        INFO("t=" << t << " a=" << a[k]);
        // I is ill-conditioned in z near z = 1 (t -> pi/2), where z itself is rounded.
        if (t <= 1.5) CHECK(dists_detail::betainc(a[k], 0.5, z) == Approx(p[k]).epsilon(1e-12));
        CHECK(dists_detail::betaincinv(a[k], 0.5, p[k]) == Approx(z).epsilon(1e-12));
      }
    }
    CHECK(dists_detail::betaincinv(3.0, 0.5, 0.0) == 0.0);
    CHECK(dists_detail::betaincinv(3.0, 0.5, 1.0) == 1.0);
  }
  SECTION("betaincinv inverts betainc for large a (high-dimensional spheres)") {
    for (double a : {5.0, 24.5, 250.0}) {
      for (double p : {1e-8, 0.01, 0.3, 0.7, 0.999}) {
        const double z = dists_detail::betaincinv(a, 0.5, p);
        INFO("a=" << a << " p=" << p);
        CHECK(z > 0);
        CHECK(z < 1);
        CHECK(dists_detail::betainc(a, 0.5, z) == Approx(p).epsilon(1e-10));
      }
    }
  }
}

TEST_CASE("ScatteredHypersphere matches Nengo's exact spherical transform", "[dists]") {
  // Re-derived nengo.dists.ScatteredHypersphere(method="sct") in numpy: base points from the
  // QuasirandomSequence above (surface: d-1 columns; ball: d columns, the last -> radius
  // (u (1 - m^d) + m^d)^(1/d)), angle j from ppf(d'-j, y) with betaincinv(k/2, 1/2, .) in
  // closed form (k = 1, 2) or by bisection (k = 3), the sin/cos products, then
  // `@ (U @ V)` with U, _, V = svd(r.standard_normal((d, d))).
  // d=1: sign(QRS(n) - 0.5) (surface) or shuffled vstack(QRS(n//2), -QRS(n - n//2)).
  SECTION("surface, d=3, r(3), n=6") {
    Rng rng(3);
    auto x = ScatteredHypersphere(true).sample(6, 3, rng);
    CHECK(shape(x) == std::vector<int64_t>{6, 3});
    check_values(x, {-0.375475724098815, -0.20492272607011186, -0.9038941624728327,
                     0.7327899197220568, -0.4854202269268234, 0.4768502247499234,
                     -0.7215365200629739, 0.6902754021760076, -0.05389730388585236,
                     0.27867496390748614, 0.6301483972393656, 0.7247435835851325,
                     -0.9862352814403289, -0.017500085413321927, 0.16441933174916387,
                     -0.5081663707324577, -0.5617593378700064, 0.6528348841571305}, 1e-12);
  }
  SECTION("ball, d=3, min_magnitude 0.2, r(4), n=6") {
    Rng rng(4);
    auto x = ScatteredHypersphere(false, 0.2).sample(6, 3, rng);
    check_values(x, {0.39315221479394086, -0.3982804428828824, 0.058062728518992614,
                     -0.2677742513151484, 0.4341775334167765, 0.40550332622124785,
                     -0.16178139183097398, -0.5740886457609846, -0.6709011443896037,
                     -0.05711280963791345, 0.23636918656645045, -0.35464103931679086,
                     -0.6750998071375144, -0.2012559964271007, 0.4843487654092055,
                     0.6923460069395241, 0.26445857897548014, 0.3201604611999478}, 1e-12);
  }
  SECTION("surface, d=4, r(5), n=5 (three angle distributions)") {
    Rng rng(5);
    auto x = ScatteredHypersphere(true).sample(5, 4, rng);
    check_values(x, {-0.656777131521797, -0.06537363927256505, -0.7104313268842067,
                     -0.24424867774422937, -0.02114991479600511, -0.23670282677551768,
                     0.4500260559564456, 0.8608141505928477, 0.8494090918489909,
                     0.0869557779135037, 0.4453086884485106, -0.26952376400606404,
                     -0.6090014152498974, -0.11238183063560225, 0.169814753094417,
                     -0.7665836875371753, 0.7182208362757994, 0.394718793879171,
                     -0.3922754261982735, 0.417703117176333}, 1e-12);
  }
  SECTION("surface, d=2, r(6), n=5") {
    Rng rng(6);
    auto x = ScatteredHypersphere(true).sample(5, 2, rng);
    check_values(x, {0.9462691242922815, -0.32338018555736975, -0.5754696988505305,
                     0.8178231017187517, -0.9556259067589805, -0.29458297019868107,
                     0.599966073373686, 0.8000254438457324, -0.015139592056456264,
                     -0.9998853898084343}, 1e-12);
  }
  SECTION("d=1: surface r(7), n=7 and ball min_magnitude 0.3 r(8), n=7") {
    Rng a(7), b(8);
    auto s = ScatteredHypersphere(true).sample(7, 1, a);
    CHECK(shape(s) == std::vector<int64_t>{7, 1});
    check_values(s, {-1, 1, -1, 1, 1, 1, -1}, 0);
    check_values(ScatteredHypersphere(false, 0.3).sample(7, 1, b),
                 {-0.9084361781497439, -0.558436178149744, 0.4447339152876047, 0.678067248620938,
                  -0.383436178149744, -0.733436178149744, 0.9114005819542714}, 1e-14);
  }
}

TEST_CASE("ScatteredHypersphere: geometric properties", "[dists]") {
  SECTION("surface points have unit norm, are spread and centred") {
    for (int64_t d : {2, 3, 5, 16}) {
      INFO("d=" << d);
      Rng rng(static_cast<uint32_t>(d)), rng2(static_cast<uint32_t>(d));
      auto x = ScatteredHypersphere(true).sample(300, d, rng);
      CHECK(shape(x) == std::vector<int64_t>{300, d});
      CHECK(torch::allclose(x.norm(2, 1), torch::ones({300}, torch::kFloat64), 0, 1e-12));
      CHECK(x.mean(0).norm().item<double>() < 0.05);
      if (d <= 3) {
        // Quasi-random points avoid near-duplicates that independent samples produce.
        auto u = UniformHypersphere(true).sample(300, d, rng2);
        CHECK(min_pairwise_distance(x) > 2.0 * min_pairwise_distance(u));
      }
    }
  }
  SECTION("ball points fill the volume evenly") {
    Rng rng(11);
    auto x = ScatteredHypersphere().sample(2000, 3, rng);
    auto r = x.norm(2, 1);
    CHECK(r.max().item<double>() <= 1.0 + 1e-12);
    // Uniform in the volume: P(r < 1/2) = (1/2)^3.
    const double inner = (r < 0.5).to(torch::kFloat64).mean().item<double>();
    CHECK(inner == Approx(0.125).margin(0.005));
    CHECK(x.mean(0).norm().item<double>() < 0.02);
    Rng rng2(12);
    auto y = ScatteredHypersphere(false, 0.6).sample(500, 4, rng2).norm(2, 1);
    CHECK(y.min().item<double>() >= 0.6 - 1e-12);
    CHECK(y.max().item<double>() <= 1.0 + 1e-12);
  }
  SECTION("d=1 surface is +-1 in balanced counts") {
    for (int64_t n : {10, 11, 101}) {
      Rng rng(static_cast<uint32_t>(n));
      auto x = ScatteredHypersphere(true).sample(n, 1, rng);
      const auto pos = (x == 1).sum().item<int64_t>(), neg = (x == -1).sum().item<int64_t>();
      CHECK(pos + neg == n);
      CHECK(std::abs(pos - neg) <= 1);
    }
  }
  SECTION("d=1 ball has half the points on each side") {
    Rng rng(3);
    auto x = ScatteredHypersphere().sample(100, 1, rng);
    CHECK((x > 0).sum().item<int64_t>() == 50);
    CHECK(x.abs().max().item<double>() < 1.0);
  }
  SECTION("the rotation depends on the seed") {
    Rng a(1), b(2);
    auto x = ScatteredHypersphere(true).sample(50, 3, a);
    auto y = ScatteredHypersphere(true).sample(50, 3, b);
    CHECK((x - y).abs().max().item<double>() > 0.1);
  }
}

TEST_CASE("Distributions round-trip through their spec form", "[dists][json]") {
  std::vector<DistributionPtr> all = {
      std::make_shared<Uniform>(-1, 0.9),
      std::make_shared<Uniform>(2, 7, true),
      std::make_shared<Gaussian>(0.5, 2),
      std::make_shared<Choice>(torch::tensor({1.0, 2.0, 3.0, 4.0}, torch::kFloat64).reshape({2, 2}),
                               std::vector<double>{0.25, 0.75}),
      std::make_shared<Choice>(std::vector<double>{1, -1}),
      std::make_shared<UniformHypersphere>(true),
      std::make_shared<UniformHypersphere>(false, 0.3),
      std::make_shared<ScatteredHypersphere>(true),
      std::make_shared<ScatteredHypersphere>(false, 0.1),
      std::make_shared<Exponential>(0.2, 0.1, 1.5),
      std::make_shared<Exponential>(0.2),
      std::make_shared<TruncatedNormal>(0.1, 0.5, 0.7),
      std::make_shared<VarianceScaling>(2.0, "fan_in", "normal"),
      std::make_shared<Glorot>(1.5, "normal"),
      std::make_shared<He>(std::sqrt(2.0), "uniform"),
  };
  for (const auto& d : all) {
    const json j = d->to_json();
    INFO(j.dump());
    CHECK(j.at("type") == d->type());
    auto back = distribution_from_json(j, "/x");
    CHECK(back->type() == d->type());
    CHECK(back->to_json() == j);
    // Same parameters, same samples.
    Rng a(21), b(21);
    int64_t dims = 3;
    if (d->type() == "Choice") dims = j["options"][0].is_array() ? 2 : 1;
    CHECK(torch::equal(d->sample(7, dims, a), back->sample(7, dims, b)));
  }
}

TEST_CASE("distribution_from_json reads the spec names and defaults", "[dists][json]") {
  auto u = distribution_from_json(json::parse(R"({"type": "Uniform", "low": 200, "high": 400})"));
  const auto& uu = dynamic_cast<const Uniform&>(*u);
  CHECK(uu.low == 200);
  CHECK(uu.high == 400);
  CHECK_FALSE(uu.integer);
  auto e = distribution_from_json(json::parse(R"({"type": "Exponential", "scale": 2})"));
  const auto& ee = dynamic_cast<const Exponential&>(*e);
  CHECK(ee.shift == 0);
  CHECK(std::isinf(ee.high));
  auto t = distribution_from_json(json::parse(R"({"type": "TruncatedNormal", "stddev": 3, "limit": null})"));
  CHECK(dynamic_cast<const TruncatedNormal&>(*t).limit == 6);
  auto h = distribution_from_json(json::parse(R"({"type": "He"})"));
  const auto& hh = dynamic_cast<const He&>(*h);
  CHECK(hh.he_scale == 1);
  CHECK(hh.mode == "fan_in");
  CHECK(hh.distribution == "normal");
  auto g = distribution_from_json(json::parse(R"({"type": "Glorot"})"));
  CHECK(dynamic_cast<const Glorot&>(*g).distribution == "uniform");
  auto s = distribution_from_json(json::parse(R"({"type": "ScatteredHypersphere", "surface": true})"));
  CHECK(dynamic_cast<const ScatteredHypersphere&>(*s).surface);
  auto c = distribution_from_json(json::parse(R"({"type": "Choice", "options": [[1, 2], [3, 4]]})"));
  CHECK(shape(dynamic_cast<const Choice&>(*c).options) == std::vector<int64_t>{2, 2});
}

TEST_CASE("distribution_from_json rejects invalid specs with clear messages", "[dists][json]") {
  struct Case {
    const char* spec;
    const char* message;
  };
  const std::vector<Case> cases = {
      {R"(3)", R"(/e/max_rates: expected a distribution object with a "type", got 3)"},
      {R"({"low": 1})", R"(/e/max_rates: missing "type" (expected one of Uniform, Gaussian, Choice, UniformHypersphere, ScatteredHypersphere, Exponential, TruncatedNormal, VarianceScaling, Glorot, He))"},
      {R"({"type": 7})", R"(/e/max_rates/type: expected a string, got 7)"},
      {R"({"type": "Foo"})", R"(/e/max_rates: unknown distribution type "Foo" (expected one of Uniform, Gaussian, Choice, UniformHypersphere, ScatteredHypersphere, Exponential, TruncatedNormal, VarianceScaling, Glorot, He))"},
      {R"({"type": "Uniform", "low": "x", "high": 1})", R"(/e/max_rates/low: expected a number, got "x")"},
      {R"({"type": "Uniform", "lo": 0, "high": 1})", R"(/e/max_rates: unknown key "lo" for Uniform (known keys: low, high, integer))"},
      {R"({"type": "Uniform", "high": 1})", R"(/e/max_rates: missing "low" for Uniform)"},
      {R"({"type": "Uniform", "low": 2, "high": 1})", R"(/e/max_rates: expected low <= high, got low=2, high=1)"},
      {R"({"type": "Uniform", "low": 0, "high": 1, "integer": 1})", R"(/e/max_rates/integer: expected true or false, got 1)"},
      {R"({"type": "Uniform", "low": 0, "high": 2.5, "integer": true})", R"(/e/max_rates/high: expected an integer (integer is true), got 2.5)"},
      {R"({"type": "Uniform", "low": 3, "high": 3, "integer": true})", R"(/e/max_rates: expected low < high for integer sampling, got low=3, high=3)"},
      {R"({"type": "Gaussian", "mean": 0, "std": -1})", R"(/e/max_rates/std: expected std > 0, got -1)"},
      {R"({"type": "Gaussian", "mean": 0})", R"(/e/max_rates: missing "std" for Gaussian)"},
      {R"({"type": "Choice", "options": []})", R"(/e/max_rates/options: expected a non-empty list of numbers or of equal-length lists of numbers, got [])"},
      {R"({"type": "Choice", "options": [[1, 2], [3]]})", R"(/e/max_rates/options/1: expected 2 numbers (like row 0), got 1)"},
      {R"({"type": "Choice", "options": [1, [3]]})", R"(/e/max_rates/options/1: expected a number (like option 0), got [3])"},
      {R"({"type": "Choice", "options": [1, 2], "weights": [1]})", R"(/e/max_rates/weights: expected 2 weights (one per option), got 1)"},
      {R"({"type": "Choice", "options": [1, 2], "weights": [1, -2]})", R"(/e/max_rates/weights/1: expected a weight >= 0, got -2)"},
      {R"({"type": "Choice", "options": [1, 2], "weights": [0, 0]})", R"(/e/max_rates/weights: expected weights with a positive sum, got all zero)"},
      {R"({"type": "UniformHypersphere", "min_magnitude": 1})", R"(/e/max_rates/min_magnitude: expected 0 <= min_magnitude < 1, got 1)"},
      {R"({"type": "ScatteredHypersphere", "surface": "yes"})", R"(/e/max_rates/surface: expected true or false, got "yes")"},
      {R"({"type": "Exponential", "scale": 0})", R"(/e/max_rates/scale: expected scale > 0, got 0)"},
      {R"({"type": "Exponential", "scale": 1, "shift": 2, "high": 1})", R"(/e/max_rates/high: expected high > shift (2), got 1)"},
      {R"({"type": "TruncatedNormal", "stddev": -1})", R"(/e/max_rates/stddev: expected stddev >= 0, got -1)"},
      {R"({"type": "TruncatedNormal", "limit": 0})", R"(/e/max_rates/limit: expected limit > 0, got 0)"},
      {R"({"type": "VarianceScaling", "mode": "fan_sum"})", R"(/e/max_rates/mode: expected one of "fan_in", "fan_out", "fan_avg", got "fan_sum")"},
      {R"({"type": "VarianceScaling", "distribution": "gamma"})", R"(/e/max_rates/distribution: expected one of "uniform", "normal", got "gamma")"},
      {R"({"type": "Glorot", "mode": "fan_in"})", R"(/e/max_rates: unknown key "mode" for Glorot (known keys: scale, distribution))"},
      {R"({"type": "He", "scale": -1})", R"(/e/max_rates/scale: expected scale >= 0, got -1)"},
  };
  for (const auto& c : cases) {
    INFO(c.spec);
    CHECK_THROWS_MATCHES(distribution_from_json(json::parse(c.spec), "/e/max_rates"), SpecError,
                         Catch::Matchers::Message(c.message));
  }
  // A huge or deeply nested value is shown shortened (and printing it does not recurse deeply).
  json hostile = json::parse(R"({"type": "Uniform", "high": 1})");
  hostile["low"] = json::parse(std::string(5000, '[') + "1" + std::string(5000, ']'));
  CHECK_THROWS_WITH(distribution_from_json(hostile, "/p"),
                    "/p/low: expected a number, got [[[[...]]]]");
  hostile["low"] = std::vector<int>(1000, 7);
  CHECK_THROWS_WITH(distribution_from_json(hostile, "/p"),
                    Catch::StartsWith("/p/low: expected a number, got [7,7,7,") &&
                        Catch::EndsWith(",...]"));
  // Without a path the messages start at the document root.
  CHECK_THROWS_WITH(distribution_from_json(json::parse(R"({"type": "Gaussian", "mean": 0, "std": 0})")),
                    "/std: expected std > 0, got 0");
}

TEST_CASE("Init holds literals as float64 tensors or samples a distribution", "[dists]") {
  Rng rng(0);
  SECTION("literals") {
    auto s = Init(2.5).get(10, 3, rng);
    CHECK(s.dim() == 0);
    CHECK(s.scalar_type() == torch::kFloat64);
    CHECK(s.item<double>() == 2.5);
    auto v = Init(std::vector<double>{1, 2, 3}).get(0, 0, rng);
    CHECK(shape(v) == std::vector<int64_t>{3});
    check_values(v, {1, 2, 3}, 0);
    auto m = Init(std::vector<std::vector<double>>{{1, 2}, {3, 4}, {5, 6}}).get(0, 0, rng);
    CHECK(shape(m) == std::vector<int64_t>{3, 2});
    check_values(m, {1, 2, 3, 4, 5, 6}, 0);
    auto t = Init(torch::tensor({1, 2}, torch::kInt32)).get(0, 0, rng);
    CHECK(t.scalar_type() == torch::kFloat64);
    check_values(t, {1, 2}, 0);
  }
  SECTION("ragged nested lists are rejected") {
    CHECK_THROWS_WITH(Init(std::vector<std::vector<double>>{{1, 2}, {3}}),
                      "Init: expected a rectangular matrix, got row 1 with 1 values where row 0 has 2");
  }
  SECTION("the literal is not shared with the caller") {
    auto src = torch::zeros({2}, torch::kFloat64);
    Init init(src);
    src.fill_(7);
    init.get(0, 0, rng).fill_(9);
    check_values(init.get(0, 0, rng), {0, 0}, 0);
  }
  SECTION("distributions are sampled with the given rng") {
    Init init(Uniform(-1, 0.9));
    CHECK(init.is_distribution());
    CHECK_FALSE(init.empty());
    Rng a(1);
    check_values(init.get(4, 0, a), {-0.2076581910651094, 0.36861653754010026,
                                      -0.9997826878470447, -0.4255681119995045}, 1e-15);
    CHECK(Init(distribution_from_json(json::parse(R"({"type":"Gaussian","mean":0,"std":1})")))
              .get(5, 2, a).sizes().vec() == std::vector<int64_t>{5, 2});
  }
  SECTION("empty") {
    Init init;
    CHECK(init.empty());
    CHECK_THROWS_AS(init.get(1, 1, rng), SpecError);
  }
}
