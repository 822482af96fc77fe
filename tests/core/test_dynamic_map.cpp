#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "optim/dynamic_map.h"

using namespace optiscope::optim;

TEST(DynamicMap, SignedMapMatchesBitsandbytesLandmarks) {
  const auto& m = signed_dynamic_map();
  EXPECT_FLOAT_EQ(m[0], -0.99296875f);
  EXPECT_EQ(m[127], 0.0f);
  EXPECT_EQ(m[255], 1.0f);
  EXPECT_FLOAT_EQ(m[254], 0.99296875f);
  EXPECT_NEAR(m[128], 5.5e-7f, 1e-12f);
  EXPECT_NEAR(m[126], -5.5e-7f, 1e-12f);
  for (int i = 1; i < 256; ++i) EXPECT_LT(m[i - 1], m[i]) << "sorted and distinct at " << i;
}

TEST(DynamicMap, UnsignedMapMatchesBitsandbytesLandmarks) {
  const auto& m = unsigned_dynamic_map();
  EXPECT_EQ(m[0], 0.0f);
  EXPECT_EQ(m[255], 1.0f);
  EXPECT_NEAR(m[1], 3.25e-7f, 1e-12f);
  EXPECT_NEAR(m[2], 7.75e-7f, 1e-12f);
  EXPECT_NEAR(m[254], 0.99648f, 1e-5f);
  EXPECT_NEAR(m[253], 0.98945f, 1e-5f);
  for (int i = 1; i < 256; ++i) EXPECT_LT(m[i - 1], m[i]);
}

TEST(DynamicMap, ValuesPerDecadeDoubleEachLevel) {
  const auto& s = signed_dynamic_map();
  const auto& u = unsigned_dynamic_map();
  for (int decade = 0; decade < 7; ++decade) {
    const float lo = std::pow(10.0f, static_cast<float>(decade - 7));
    const float hi = lo * 10.0f;
    int ns = 0;
    int nu = 0;
    for (float x : s) ns += (x >= lo && x < hi);
    for (float x : u) nu += (x >= lo && x < hi);
    EXPECT_EQ(ns, 1 << decade) << "signed decade " << decade;
    EXPECT_EQ(nu, 2 << decade) << "unsigned decade " << decade;
  }
}

TEST(DynamicMap, QuantizeReturnsTheNearestEntry) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> exponent(-8.0f, 0.0f);
  for (const QuantMap* map : {&signed_dynamic_map(), &unsigned_dynamic_map()}) {
    for (int i = 0; i < 20000; ++i) {
      float x = std::pow(10.0f, exponent(rng));
      if (map == &signed_dynamic_map() && (i % 2)) x = -x;
      const int q = quantize_nearest(*map, x);
      float best = INFINITY;
      for (float e : *map) best = std::min(best, std::fabs(e - x));
      EXPECT_FLOAT_EQ(std::fabs((*map)[q] - x), best) << x;
    }
  }
  EXPECT_EQ(quantize_nearest(unsigned_dynamic_map(), 1.0f), 255);
  EXPECT_EQ(quantize_nearest(signed_dynamic_map(), -1.0f), 0);
  EXPECT_EQ(quantize_nearest(signed_dynamic_map(), 0.0f), 127);
}
