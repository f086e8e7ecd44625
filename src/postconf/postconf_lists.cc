// postconf: the lists of compiled-in types (-m, -l, -a, -A).
#include <cstdio>

#include "global/map_types.h"
#include "postconf/postconf.h"

namespace postern::postconf {

int run_lists(const Options& opts) {
  if (opts.map_types) {
    for (std::string_view t : supported_map_types()) std::printf("%.*s\n", int(t.size()), t.data());
  } else if (opts.lock_types) {
    std::puts("flock");
    std::puts("fcntl");
    std::puts("dotlock");
  } else if (opts.sasl_server) {
    std::puts("cyrus");
    std::puts("dovecot");
  } else if (opts.sasl_client) {
    std::puts("cyrus");
  }
  return 0;
}

}  // namespace postern::postconf
