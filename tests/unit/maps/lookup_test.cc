// Lookup strategies, the ldap/mysql query expansions and aliases syntax.
#include "maps/address_lookup.h"
#include "maps/alias_source.h"
#include "maps/db_common.h"
#include "test_util.h"

namespace postern::maps::testing {
namespace {

MapList list_of(const std::string& tables) {
  auto l = MapList::open("virtual_alias_maps", tables);
  EXPECT_TRUE(l) << (l ? "" : l.error().text);
  return l ? std::move(*l) : MapList{};
}

TEST(AddressLookup, OrderOfKeys) {
  auto maps = list_of("inline:{user+ext@example.com=full, user@example.com=noext, "
                      "@example.com=catchall, local=bare}");
  AddressLookupOptions o;
  o.recipient_delimiter = "+";
  std::string ext;
  EXPECT_EQ(find_address(maps, "user+ext@example.com", o, &ext).value(), "full");
  EXPECT_EQ(ext, "");
  EXPECT_EQ(find_address(maps, "user+other@example.com", o, &ext).value(), "noext");
  EXPECT_EQ(ext, "other");
  EXPECT_EQ(find_address(maps, "someone@example.com", o).value(), "catchall");
  EXPECT_EQ(find_address(maps, "local@other.test", o).error().code, Errc::kNotFound);
  o.domain_is_local = [](std::string_view d) { return d == "other.test"; };
  EXPECT_EQ(find_address(maps, "local+x@other.test", o, &ext).value(), "bare");
  EXPECT_EQ(ext, "x");
  EXPECT_EQ(find_address(maps, "USER@Example.COM", o).value(), "noext");
}

TEST(AddressLookup, PatternTablesSeeOnlyTheFullAddress) {
  ScratchDir dir;
  auto maps = list_of("regexp:" + dir.write("re", "/^user@/ matched-partial\n/^@example/ at-domain\n"));
  AddressLookupOptions o;
  o.recipient_delimiter = "+";
  EXPECT_EQ(find_address(maps, "user+x@example.com", o).error().code, Errc::kNotFound);
  EXPECT_EQ(find_address(maps, "user@example.com", o).value(), "matched-partial");
}

TEST(AddressLookup, TemporaryFailureStopsTheSearch) {
  auto maps = list_of("fail:down, inline:{a@b=found}");
  auto r = find_address(maps, "a@b", {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kTemporary);
  EXPECT_NE(r.error().text.find("virtual_alias_maps"), std::string::npos);
}

TEST(SharedMaps, SameSpecSharesOneTable) {
  auto a = open_shared_map("internal:shared-test");
  auto b = open_shared_map("internal:shared-test");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->get(), b->get());
  ASSERT_TRUE((*a)->update("k", "v"));
  EXPECT_EQ(q(**b, "k"), "v");
  auto c = open_shared_map("internal:shared-test", kTryNull);
  EXPECT_NE(a->get(), c->get());
}

TEST(AddressLookup, Extensions) {
  EXPECT_EQ(split_extension("user+ext", "+").user, "user");
  EXPECT_EQ(split_extension("user-ext+x", "+-").extension, "ext+x");
  EXPECT_EQ(split_extension("+user", "+").user, "+user");
  EXPECT_EQ(split_extension("owner-list", "-").user, "owner-list");
  EXPECT_EQ(split_extension("list-request", "-").user, "list-request");
  EXPECT_EQ(split_extension("user+ext", "").user, "user+ext");
}

TEST(DomainLookup, ParentDomains) {
  auto dotted = list_of("inline:{.example.com=dot-parent}");
  EXPECT_EQ(find_domain(dotted, "a.b.example.com", false).value(), "dot-parent");
  EXPECT_EQ(find_domain(dotted, "a.b.example.com", true).error().code, Errc::kNotFound);
  auto plain = list_of("inline:{example.com=parent}");
  EXPECT_EQ(find_domain(plain, "a.example.com", true).value(), "parent");
  EXPECT_EQ(find_domain(plain, "a.example.com", false).error().code, Errc::kNotFound);
  EXPECT_EQ(find_domain(plain, "example.com", false).value(), "parent");
}

std::string quote_brackets(std::string_view s) { return "<" + std::string(s) + ">"; }

TEST(DbCommon, QueryExpansion) {
  bool suppressed = false;
  KeyParts k = split_key("user@mail.example.com");
  EXPECT_EQ(expand_query("%s|%u|%d|%1|%2|%3|%%", k, quote_brackets, suppressed).value(),
            "<user@mail.example.com>|<user>|<mail.example.com>|<com>|<example>|<mail>|%");
  EXPECT_FALSE(suppressed);
  (void)expand_query("%4", k, quote_brackets, suppressed);
  EXPECT_TRUE(suppressed);
  KeyParts bare = split_key("user");
  EXPECT_EQ(expand_query("%u", bare, quote_brackets, suppressed).value(), "<user>");
  (void)expand_query("x=%d", bare, quote_brackets, suppressed);
  EXPECT_TRUE(suppressed);
  EXPECT_FALSE(expand_query("%q", k, quote_brackets, suppressed));
}

TEST(DbCommon, ResultFormat) {
  KeyParts k = split_key("in@key.test");
  std::string out;
  EXPECT_TRUE(expand_result("%s -> %u at %d (for %S, %U, %D)", "res@val.test", k, out));
  EXPECT_EQ(out, "res@val.test -> res at val.test (for in@key.test, in, key.test)");
  EXPECT_FALSE(expand_result("%d", "nodomain", k, out));
}

TEST(DbCommon, DomainFilter) {
  DomainFilter f;
  ASSERT_TRUE(f.init("example.com, Other.TEST"));
  EXPECT_TRUE(f.accepts("a@example.com").value());
  EXPECT_TRUE(f.accepts("a@other.test").value());
  EXPECT_FALSE(f.accepts("a@else.test").value());
  EXPECT_FALSE(f.accepts("example.com").value());
  DomainFilter none;
  ASSERT_TRUE(none.init(""));
  EXPECT_TRUE(none.accepts("anything").value());
}

TEST(DbCommon, TableConfigFile) {
  ScratchDir dir;
  auto cfg = TableConfig::load(dir.write("ldap.cf", "server_host = ldap://a\n  ldap://b\n# c\nversion = 3\n"));
  ASSERT_TRUE(cfg);
  EXPECT_EQ(cfg->get("server_host", ""), "ldap://a  ldap://b");
  EXPECT_EQ(cfg->get_int("version", 2).value(), 3);
  EXPECT_EQ(cfg->get("missing", "dflt"), "dflt");
  EXPECT_EQ(TableConfig::load(dir.path() + "/nope.cf").error().code, Errc::kNotFound);
}

TEST(MysqlAndLdap, MissingDbnameAndUnreachableServer) {
  ScratchDir dir;
  auto m = open_map("mysql:" + dir.write("m.cf", "hosts = inet:127.0.0.1:1\nquery = select 1\n"));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().text, "bad string length 0 < 1: dbname = ");
  auto down = must_open("mysql:" + dir.write("m2.cf", "hosts = inet:127.0.0.1:1\ndbname=x\nquery = select '%s'\n"));
  EXPECT_EQ(down->lookup("x").error().code, Errc::kTemporary);
  auto ldap = must_open("ldap:" + dir.write("l.cf", "server_host = ldap://127.0.0.1:1\nversion = 3\ntimeout = 2\n"));
  EXPECT_EQ(ldap->lookup("x").error().code, Errc::kTemporary);
}

TEST(Aliases, LineSyntax) {
  auto e = parse_alias_line("Root: admin,   \"|/usr/bin/prog arg\" ,/var/mail/x, :include:/etc/l");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->name, "Root");
  EXPECT_EQ(e->value, "admin, \"|/usr/bin/prog arg\", /var/mail/x, :include:/etc/l");
  EXPECT_EQ(parse_alias_line("\"a b\": x")->name, "a b");
  EXPECT_EQ(parse_alias_line("no colon").error().text, "need name:value pair");
  EXPECT_EQ(parse_alias_line("empty:").error().text, "need name:value pair");
  EXPECT_EQ(parse_alias_line("a@b: c").error().text, "name must be local");
  EXPECT_EQ(parse_alias_line("c: Name   <q@r>, \"x  y\"@d")->value, "Name <q@r>, \"x  y\"@d");
}

}  // namespace
}  // namespace postern::maps::testing
