// mysql: tables over the MariaDB client library, with the mysql_table(5)
// parameters: hosts (unix:/path, inet:host[:port], host[:port]), user,
// password, dbname, query (or the older table/select_field/where_field/
// additional_conditions), result_format, domain, expansion_limit,
// option_file, option_group, connect_timeout, tls_cert_file, tls_key_file,
// tls_CAfile, tls_CApath, tls_ciphers, tls_verify_cert (any tls_* file or
// cipher setting turns TLS on). The key is escaped with
// mysql_real_escape_string. A server that cannot be reached makes the
// lookup a temporary failure; the connection is retried on the next one.
#include <mysql.h>

#include <vector>

#include "maps/db_common.h"
#include "maps/openers.h"
#include "util/log.h"
#include "util/strings.h"

namespace postern::maps {
namespace {

struct MysqlHost {
  std::string label;     // as written, for messages
  std::string host;      // TCP host, or empty with a socket
  unsigned port = 0;
  std::string socket;
};

class MysqlMap final : public Map {
 public:
  using Map::Map;
  ~MysqlMap() override { disconnect(); }

  Status configure(const TableConfig& cfg) {
    std::string hosts = cfg.get("hosts", "localhost");
    for (std::string_view h : split(hosts)) {
      MysqlHost host;
      host.label = h;
      if (h.starts_with("unix:")) {
        host.socket = h.substr(5);
      } else {
        if (h.starts_with("inet:")) h.remove_prefix(5);
        size_t colon = h.rfind(':');
        if (colon != std::string_view::npos && h.find(':') == colon) {
          auto port = parse_ulong(h.substr(colon + 1));
          if (!port || *port > 65535)
            return fail(Errc::kInvalid, name_ + ": bad port in hosts: " + std::string(h));
          host.port = unsigned(*port);
          h = h.substr(0, colon);
        }
        host.host = h;
      }
      hosts_.push_back(std::move(host));
    }
    user_ = cfg.get("user", "");
    password_ = cfg.get("password", "");
    dbname_ = cfg.get("dbname", "");
    if (dbname_.empty())
      return fail(Errc::kInvalid, "bad string length 0 < 1: " + cfg.label("dbname") + " = ");
    if (cfg.has("query")) {
      query_ = cfg.get("query", "");
    } else {
      std::string table = cfg.get("table", "");
      std::string select = cfg.get("select_field", "");
      std::string where = cfg.get("where_field", "");
      if (table.empty() || select.empty() || where.empty())
        return fail(Errc::kInvalid, name_ + ": need a query (or table, select_field and where_field)");
      query_ = "SELECT " + select + " FROM " + table + " WHERE " + where + "='%s'";
      std::string extra = cfg.get("additional_conditions", "");
      if (!extra.empty()) query_ += " " + extra;
    }
    result_format_ = cfg.get("result_format", "%s");
    option_file_ = cfg.get("option_file", "");
    option_group_ = cfg.get("option_group", "client");
    auto limit = cfg.get_int("expansion_limit", 0);
    if (!limit) return std::unexpected(limit.error());
    expansion_limit_ = int(*limit);
    tls_cert_file_ = cfg.get("tls_cert_file", "");
    tls_key_file_ = cfg.get("tls_key_file", "");
    tls_ca_file_ = cfg.get("tls_CAfile", "");
    tls_ca_path_ = cfg.get("tls_CApath", "");
    tls_ciphers_ = cfg.get("tls_ciphers", "");
    auto verify = cfg.get_bool("tls_verify_cert", false);
    if (!verify) return std::unexpected(verify.error());
    tls_verify_cert_ = *verify;
    auto timeout = cfg.get_int("connect_timeout", 10);
    if (!timeout) return std::unexpected(timeout.error());
    timeout_ = unsigned(*timeout);
    return domains_.init(cfg.get("domain", ""));
  }

 protected:
  Result<std::string> do_lookup(std::string_view key) override {
    auto ok = domains_.accepts(key);
    if (!ok) return std::unexpected(ok.error());
    if (!*ok) return fail(Errc::kNotFound, "not found");
    for (int attempt = 0;; ++attempt) {
      if (!db_) {
        if (auto s = connect(); !s) return std::unexpected(s.error());
      }
      KeyParts parts = split_key(key);
      bool suppressed = false;
      auto quote = [this](std::string_view s) {
        std::string out(s.size() * 2 + 1, '\0');
        unsigned long n = mysql_real_escape_string(db_, out.data(), s.data(), s.size());
        out.resize(n);
        return out;
      };
      auto query = expand_query(query_, parts, quote, suppressed);
      if (!query) return fail(Errc::kTemporary, query.error().text);
      if (suppressed) return fail(Errc::kNotFound, "not found");
      if (mysql_real_query(db_, query->data(), query->size()) != 0) {
        std::string text = fmt::format("{}: query failed: {}", spec(), mysql_error(db_));
        disconnect();
        if (attempt == 0) continue;
        log::warn("{}", text);
        return fail(Errc::kTemporary, text);
      }
      return collect(parts);
    }
  }

 private:
  void disconnect() {
    if (db_) mysql_close(db_);
    db_ = nullptr;
  }

  Status connect() {
    std::string errors;
    for (const MysqlHost& h : hosts_) {
      MYSQL* db = mysql_init(nullptr);
      if (!db) return fail(Errc::kTemporary, "mysql_init failed");
      mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout_);
      mysql_options(db, MYSQL_OPT_READ_TIMEOUT, &timeout_);
      mysql_options(db, MYSQL_OPT_WRITE_TIMEOUT, &timeout_);
      if (!option_file_.empty()) mysql_options(db, MYSQL_READ_DEFAULT_FILE, option_file_.c_str());
      mysql_options(db, MYSQL_READ_DEFAULT_GROUP, option_group_.c_str());
      if (use_tls()) {
        auto opt = [&](mysql_option o, const std::string& v) {
          if (!v.empty()) mysql_options(db, o, v.c_str());
        };
        opt(MYSQL_OPT_SSL_KEY, tls_key_file_);
        opt(MYSQL_OPT_SSL_CERT, tls_cert_file_);
        opt(MYSQL_OPT_SSL_CA, tls_ca_file_);
        opt(MYSQL_OPT_SSL_CAPATH, tls_ca_path_);
        opt(MYSQL_OPT_SSL_CIPHER, tls_ciphers_);
        my_bool enforce = 1;
        mysql_options(db, MYSQL_OPT_SSL_ENFORCE, &enforce);
      }
      my_bool verify = tls_verify_cert_ ? 1 : 0;
      mysql_options(db, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
      if (mysql_real_connect(db, h.host.empty() ? nullptr : h.host.c_str(), user_.c_str(),
                             password_.c_str(), dbname_.c_str(), h.port,
                             h.socket.empty() ? nullptr : h.socket.c_str(), 0)) {
        db_ = db;
        return {};
      }
      std::string text = fmt::format("connect to mysql server {}: {}", h.label, mysql_error(db));
      log::warn("{}", text);
      errors = text;
      mysql_close(db);
    }
    return fail(Errc::kTemporary, errors.empty() ? "no mysql server" : errors);
  }

  Result<std::string> collect(const KeyParts& key) {
    MYSQL_RES* res = mysql_store_result(db_);
    if (!res) {
      if (mysql_field_count(db_) == 0) return fail(Errc::kNotFound, "not found");
      std::string text = fmt::format("{}: result error: {}", spec(), mysql_error(db_));
      disconnect();
      return fail(Errc::kTemporary, text);
    }
    std::unique_ptr<MYSQL_RES, void (*)(MYSQL_RES*)> guard(res, mysql_free_result);
    std::vector<std::string> results;
    unsigned fields = mysql_num_fields(res);
    while (MYSQL_ROW row = mysql_fetch_row(res)) {
      unsigned long* lengths = mysql_fetch_lengths(res);
      for (unsigned i = 0; i < fields; ++i) {
        if (!row[i] || lengths[i] == 0) continue;
        std::string out;
        if (expand_result(result_format_, std::string_view(row[i], lengths[i]), key, out))
          results.push_back(std::move(out));
      }
    }
    if (results.empty()) return fail(Errc::kNotFound, "not found");
    if (expansion_limit_ > 0 && results.size() > size_t(expansion_limit_)) {
      std::string text = fmt::format("{}: Expansion limit exceeded for key: '{}'", spec(), key.whole);
      log::warn("{}", text);
      return fail(Errc::kTemporary, text);
    }
    return join(results, ",");
  }

  bool use_tls() const {
    return !tls_key_file_.empty() || !tls_cert_file_.empty() || !tls_ca_file_.empty() ||
           !tls_ca_path_.empty() || !tls_ciphers_.empty();
  }

  std::string tls_cert_file_, tls_key_file_, tls_ca_file_, tls_ca_path_, tls_ciphers_;
  bool tls_verify_cert_ = false;
  std::vector<MysqlHost> hosts_;
  std::string user_, password_, dbname_, query_, result_format_, option_file_, option_group_;
  int expansion_limit_ = 0;
  unsigned timeout_ = 10;
  DomainFilter domains_;
  MYSQL* db_ = nullptr;
};

}  // namespace

Result<MapPtr> open_mysql(const std::string& type, const std::string& name, unsigned flags) {
  auto cfg = TableConfig::load(name);
  if (!cfg) return std::unexpected(cfg.error());
  auto map = std::make_unique<MysqlMap>(type, name, flags);
  if (auto s = map->configure(*cfg); !s) return std::unexpected(s.error());
  return map;
}

}  // namespace postern::maps
