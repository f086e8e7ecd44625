// Fuzz target: smtpd's SMTP command parser (src/smtpd/smtpd_proto.cc).
// Every input line goes through the parsing a command gets in smtpd:
// verb and arguments, the MAIL FROM/RCPT TO path (loose and strict), the
// ESMTP parameters, NOTIFY and xtext. No input may crash or hang it.
//
// The parser is compiled in here (it depends on src/global only), so this
// target links with postern_global like the other targets in this folder.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "smtpd/smtpd_proto.cc"  // NOLINT: the unit under test, compiled in

using namespace postern::smtpd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  while (!input.empty()) {
    size_t nl = input.find('\n');
    std::string_view line = input.substr(0, nl);
    input = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
    Command c = split_command(line);
    std::string_view args = c.args;
    if (args.size() >= 5 && (args[4] == ':' || args[2] == ':')) args.remove_prefix(args[2] == ':' ? 3 : 5);
    for (bool strict : {false, true}) {
      auto p = parse_path(args, strict);
      if (!p) continue;
      if (!p->bad_syntax && p->address.size() > line.size() + 2) std::abort();
      for (const auto& param : p->params) {
        auto [name, value] = split_param(param);
        if (name == "NOTIFY") (void)parse_notify(value);
        auto x = xtext_decode(value);
        if (x && x->size() > value.size()) std::abort();
      }
    }
  }
  return 0;
}
