#include "trivial-rewrite/rewrite.h"

#include <gtest/gtest.h>

namespace postern {
namespace {

RewriteContext local_context() {
  RewriteContext c;
  c.origin = "example.com";
  c.domain = "example.com";
  return c;
}

TEST(Rewrite, AppendsOriginToBareUsers) {
  EXPECT_EQ(rewrite_address(local_context(), "alice"), "alice@example.com");
  RewriteContext c = local_context();
  c.append_at_origin = false;
  EXPECT_EQ(rewrite_address(c, "alice"), "alice");
}

TEST(Rewrite, EmptyAndLoneAtStayEmpty) {
  EXPECT_EQ(rewrite_address(local_context(), ""), "");
  EXPECT_EQ(rewrite_address(local_context(), "@"), "");
}

TEST(Rewrite, SourceRoutesAreDropped) {
  EXPECT_EQ(rewrite_address(local_context(), "@relay1,@relay2:bob@far.org"), "bob@far.org");
}

TEST(Rewrite, BangPathsSwapWhenAllowed) {
  EXPECT_EQ(rewrite_address(local_context(), "site!user"), "user@site");
  EXPECT_EQ(rewrite_address(local_context(), "a!b!user"), "b!user@a");
  RewriteContext c = local_context();
  c.swap_bangpath = false;
  EXPECT_EQ(rewrite_address(c, "site!user"), "site!user@example.com");
}

TEST(Rewrite, PercentHackUsesTheRightmostPercent) {
  EXPECT_EQ(rewrite_address(local_context(), "user%a%b.org"), "user%a@b.org");
  RewriteContext c = local_context();
  c.percent_hack = false;
  EXPECT_EQ(rewrite_address(c, "user%b.org"), "user%b.org@example.com");
}

TEST(Rewrite, DotDomainIsAppendedOnlyWhenAskedAndNeeded) {
  RewriteContext c = local_context();
  EXPECT_EQ(rewrite_address(c, "u@host"), "u@host");
  c.append_dot_domain = true;
  EXPECT_EQ(rewrite_address(c, "u@host"), "u@host.example.com");
  EXPECT_EQ(rewrite_address(c, "u@host.net"), "u@host.net");
  EXPECT_EQ(rewrite_address(c, "u@[10.0.0.1]"), "u@[10.0.0.1]");
  EXPECT_EQ(rewrite_address(c, "u@"), "u@");
}

TEST(Rewrite, TrailingDotIsStrippedOnce) {
  EXPECT_EQ(rewrite_address(local_context(), "u@example.org."), "u@example.org");
  EXPECT_EQ(rewrite_address(local_context(), "u@example.."), "u@example..");
}

TEST(Rewrite, RemoteContextWithoutDomainAppendsNothing) {
  RewriteContext remote;  // remote_header_rewrite_domain empty
  EXPECT_EQ(rewrite_address(remote, "alice"), "alice");
  remote.origin = remote.domain = "hq.example";
  EXPECT_EQ(rewrite_address(remote, "alice"), "alice@hq.example");
}

}  // namespace
}  // namespace postern
