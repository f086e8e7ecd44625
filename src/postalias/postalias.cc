// postalias(1): build, update, query, delete and dump alias databases.
//   postalias [-Nfinoprsuvw] [-c config_dir] [-d key] [-q key] [type:]file...
// The work is done by maps/map_command.cc with the aliases(5) syntax.
#include <unistd.h>

#include <string>
#include <vector>

#include "global/config.h"
#include "maps/map_command.h"
#include "util/log.h"

using namespace postern;

namespace {

[[noreturn]] void usage() {
  log::fatal("usage: postalias [-Nfinoprsuvw] [-c config_dir] [-d key] [-q key] "
             "[map_type:]file...");
}

}  // namespace

int main(int argc, char** argv) {
  log::init("postalias", "postalias");
  static char program_name[] = "postalias";
  argv[0] = program_name;  // getopt's messages name the program as Postfix does
  log::disable_syslog();
  maps::MapCommandOptions o;
  o.program = "postalias";
  o.aliases = true;
  std::string config_dir;
  int c;
  while ((c = ::getopt(argc, argv, "c:d:finNopq:rsuvw")) != -1) {
    switch (c) {
      case 'u': break;
      default:
        if (!maps::apply_shared_option(c, optarg, o, config_dir)) usage();
    }
  }
  if (optind >= argc) usage();
  if (config_dir.empty()) config_dir = default_config_directory();
  auto cfg = Config::load(config_dir);
  if (!cfg) log::fatal("{}", cfg.error().text);
  o.default_type = cfg->get("default_database_type");
  o.hostname = cfg->get("myhostname");
  std::vector<std::string> maps(argv + optind, argv + argc);
  set_config(std::move(*cfg));
  return maps::run_map_command(o, maps);
}
