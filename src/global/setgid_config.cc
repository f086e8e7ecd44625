#include "global/setgid_config.h"

#include <unistd.h>

#include <filesystem>

#include "global/build_paths.h"
#include "global/config.h"
#include "util/strings.h"

namespace postern {

bool running_privileged() { return ::getegid() != ::getgid() || ::geteuid() != ::getuid(); }

bool authorized_config_dir(const std::string& dir) {
  std::error_code ec;
  auto same = [&ec](const std::string& a, const std::string& b) {
    return std::filesystem::equivalent(a, b, ec);
  };
  const std::string builtin = POSTERN_CONFIG_DIR;
  if (same(dir, builtin)) return true;
  auto cfg = Config::load(builtin, true);
  if (!cfg) return false;
  for (std::string_view param : {"alternate_config_directories", "multi_instance_directories"}) {
    auto raw = cfg->raw(param);
    auto value = raw ? cfg->expand_text(*raw) : Result<std::string>(std::string());
    if (!value) continue;
    for (auto d : split(*value))
      if (same(std::string(d), dir)) return true;
  }
  return false;
}

}  // namespace postern
