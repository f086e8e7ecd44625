#include "qshape/shape.h"

#include <gtest/gtest.h>

using namespace postern;

namespace {

TEST(Qshape, GeometricAndLinearBuckets) {
  QueueShape g({});
  EXPECT_EQ(g.limits(), (std::vector<long>{5, 10, 20, 40, 80, 160, 320, 640, 1280}));
  EXPECT_EQ(g.bucket_of(30), 0);
  EXPECT_EQ(g.bucket_of(299), 0);
  EXPECT_EQ(g.bucket_of(301), 1);
  EXPECT_EQ(g.bucket_of(700), 2);
  EXPECT_EQ(g.bucket_of(100000), 9);
  ShapeOptions o;
  o.linear = true;
  o.buckets = 4;
  EXPECT_EQ(QueueShape(o).limits(), (std::vector<long>{5, 10, 15}));
}

// The layout observed from Postfix's qshape for the same counts.
TEST(Qshape, RenderMatchesPostfix) {
  QueueShape s({});
  s.add("mx.example.com", 30);
  s.add("MX.example.com", 30);
  s.add("other.test", 30);
  s.add("sub.mx.example.com", 700);
  s.add("verylongdomainname-abcdefghijklmnopqrstuvwxyz.example.org", 100000);
  EXPECT_EQ(s.render(),
            "                                         T  5 10 20 40 80 160 320 640 1280 1280+\n"
            "                                  TOTAL  5  3  0  1  0  0   0   0   0    0     1\n"
            "                         mx.example.com  2  2  0  0  0  0   0   0   0    0     0\n"
            "                             other.test  1  1  0  0  0  0   0   0   0    0     0\n"
            "                     sub.mx.example.com  1  0  0  1  0  0   0   0   0    0     0\n"
            "+abcdefghijklmnopqrstuvwxyz.example.org  1  0  0  0  0  0   0   0   0    0     1\n");
}

TEST(Qshape, ParentDomainsAndWideCounts) {
  ShapeOptions o;
  o.parents = true;
  o.min_subdomains = 2;
  o.buckets = 3;
  QueueShape s(o);
  for (int i = 0; i < 120; ++i) s.add("many.test", 10);
  s.add("mx.example.com", 10);
  s.add("sub.mx.example.com", 10);
  std::string out = s.render();
  EXPECT_NE(out.find("    .example.com   2   2  0   0\n"), std::string::npos) << out;
  EXPECT_EQ(out.find(" .mx.example.com"), std::string::npos) << out;  // one subdomain only
  EXPECT_NE(out.find("  many.test 120 120  0   0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("   T   5 10 10+\n"), std::string::npos) << out;
}

}  // namespace
