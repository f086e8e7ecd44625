// newaliases(1) (and what "sendmail -bi" runs): rebuild every database
// that alias_database names, as postalias does.
//   newaliases [-v] [-c config_dir | -C config_dir_or_main.cf]
#include <unistd.h>

#include <string>
#include <vector>

#include "global/config.h"
#include "maps/map_command.h"
#include "util/files.h"
#include "util/log.h"
#include "util/strings.h"

using namespace postern;

int main(int argc, char** argv) {
  log::init("newaliases", "newaliases");
  static char program_name[] = "newaliases";
  argv[0] = program_name;  // getopt's messages name the program as Postfix does
  log::disable_syslog();
  std::string config_dir;
  int c;
  while ((c = ::getopt(argc, argv, "c:C:v")) != -1) {
    switch (c) {
      case 'c': config_dir = optarg; break;
      case 'C':
        config_dir = optarg;
        if (!is_directory(config_dir)) config_dir = dirname_of(config_dir);
        break;
      case 'v': log::increase_verbose(); break;
      default: log::fatal("usage: newaliases [-v] [-c config_dir]");
    }
  }
  if (config_dir.empty()) config_dir = default_config_directory();
  auto cfg = Config::load(config_dir);
  if (!cfg) log::fatal("{}", cfg.error().text);
  maps::MapCommandOptions o;
  o.program = "newaliases";
  o.aliases = true;
  o.default_type = cfg->get("default_database_type");
  o.hostname = cfg->get("myhostname");
  std::vector<std::string> maps;
  std::string databases = cfg->get("alias_database");
  for (std::string_view m : split(databases)) maps.emplace_back(m);
  set_config(std::move(*cfg));
  if (maps.empty()) return 0;
  return maps::run_map_command(o, maps);
}
