// The service command line and the logging settings shared by every
// program that reads main.cf (see mail_server.h).
#include <cstdlib>
#include <cstring>

#include "global/mail_server.h"
#include "util/files.h"
#include "util/strings.h"

namespace postern {

Result<ServiceArgs> parse_service_args(int argc, char** argv, std::string_view program) {
  ServiceArgs a;
  a.program = std::string(program);
  int i = 1;
  auto value_of = [&](std::string_view opt) -> Result<std::string> {
    if (i + 1 >= argc) return fail(Errc::kInvalid, fmt::format("option {} requires an argument", opt));
    return std::string(argv[++i]);
  };
  for (; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') break;
    // Single-letter flags may be grouped ("-lv"); options with values stand alone.
    for (size_t k = 1; k < arg.size(); ++k) {
      char c = arg[k];
      bool last = k + 1 == arg.size();
      auto need_value = [&]() -> Result<std::string> {
        if (!last) return std::string(arg.substr(k + 1));
        return value_of(std::string("-") + c);
      };
      switch (c) {
        case 'v': ++a.verbose; continue;
        case 'u': a.unprivileged = true; continue;
        case 'c': a.chroot = true; continue;
        case 'l': a.solitary = true; continue;
        case 'z': a.unlimited = true; continue;
        case 'd': a.debug = true; continue;
        case 'S': a.stand_alone = true; continue;
        case 'D': case 'i': case 'V': continue;  // accepted for compatibility
        default: break;
      }
      auto v = need_value();
      if (!v) return std::unexpected(v.error());
      if (c == 'n') {
        a.service_name = *v;
      } else if (c == 't') {
        a.service_type = *v;
      } else if (c == 's') {
        auto n = parse_long(*v);
        if (!n || *n < 0 || *n > 1000) return fail(Errc::kInvalid, "bad -s argument: " + *v);
        a.socket_count = static_cast<int>(*n);
      } else if (c == 'o') {
        auto eq = v->find('=');
        if (eq == std::string::npos)
          return fail(Errc::kInvalid, "bad -o argument (need name=value): " + *v);
        a.overrides.emplace_back(std::string(trim(std::string_view(*v).substr(0, eq))),
                                 std::string(trim(std::string_view(*v).substr(eq + 1))));
      } else {
        return fail(Errc::kInvalid, fmt::format("invalid option -{}", c));
      }
      break;  // the rest of this word was the option's value
    }
  }
  for (; i < argc; ++i) a.args.emplace_back(argv[i]);
  if (a.service_name.empty()) a.service_name = a.program;
  return a;
}

log::Settings mail_log_settings(const Config& cfg) {
  log::Settings s;
  s.syslog_name = cfg.get("syslog_name");
  s.syslog_facility = cfg.get("syslog_facility");
  s.maillog_file = cfg.get("maillog_file");
  if (const char* env = std::getenv("POSTLOG_SERVICE"); env && *env)
    s.postlog_socket = env;
  else
    s.postlog_socket = cfg.get("queue_directory") + "/public/" + cfg.get("postlog_service_name");
  std::string host;
  if (const char* env = std::getenv("POSTLOG_HOSTNAME"); env && *env)
    host = env;
  else
    host = cfg.get("myhostname");
  s.hostname = host.substr(0, host.find('.'));
  if (s.hostname.empty()) s.hostname = "localhost";
  return s;
}

}  // namespace postern
