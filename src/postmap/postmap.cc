// postmap(1): build, update, query, delete and dump lookup tables.
//   postmap [-bfFhimnNoprsuUvw] [-c config_dir] [-d key] [-q key] [type:]file...
// The work is done by maps/map_command.cc, shared with postalias.
#include <unistd.h>

#include <string>
#include <vector>

#include "global/config.h"
#include "maps/map_command.h"
#include "util/log.h"

using namespace postern;

namespace {

[[noreturn]] void usage() {
  log::fatal("usage: postmap [-bfFhimnNoprsuUvw] [-c config_dir] [-d key] [-q key] "
             "[map_type:]file...");
}

}  // namespace

int main(int argc, char** argv) {
  log::init("postmap", "postmap");
  static char program_name[] = "postmap";
  argv[0] = program_name;  // getopt's messages name the program as Postfix does
  log::disable_syslog();
  maps::MapCommandOptions o;
  std::string config_dir;
  int c;
  while ((c = ::getopt(argc, argv, "bc:d:fFhimnNopq:rsuUvw")) != -1) {
    switch (c) {
      case 'b': o.body_keys = true; break;
      case 'h': o.header_keys = true; break;
      case 'm': o.mime_keys = true; break;
      case 'u': case 'U': break;  // SMTPUTF8: no effect here
      case 'F': o.base64 = true; break;
      default:
        if (!maps::apply_shared_option(c, optarg, o, config_dir)) usage();
    }
  }
  if (optind >= argc) usage();
  if (config_dir.empty()) config_dir = default_config_directory();
  auto cfg = Config::load(config_dir);
  if (!cfg) log::fatal("{}", cfg.error().text);
  o.default_type = cfg->get("default_database_type");
  std::vector<std::string> maps(argv + optind, argv + argc);
  set_config(std::move(*cfg));
  return maps::run_map_command(o, maps);
}
