// postlog [-iv] [-c config_dir] [-p priority] [-t tag] [text...]
//
// Logs the text (or each line of standard input) as one record with
// Postfix's logging: to postlogd/maillog_file or syslog, and to stderr
// when stderr is a terminal.
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include "global/config.h"
#include "global/mail_server.h"
#include "util/log.h"
#include "util/strings.h"

using namespace postern;

int main(int argc, char** argv) {
  log::init("postlog");
  std::string config_dir, tag;
  log::Level level = log::Level::kInfo;
  int opt;
  while ((opt = ::getopt(argc, argv, "c:ip:t:v")) != -1) {
    switch (opt) {
      case 'c': config_dir = optarg; break;
      case 'i': break;
      case 'p': {
        std::string p = lowercase(optarg);
        if (p == "info") level = log::Level::kInfo;
        else if (p == "warn" || p == "warning") level = log::Level::kWarning;
        else if (p == "error") level = log::Level::kError;
        else if (p == "fatal") level = log::Level::kFatal;
        else if (p == "panic") level = log::Level::kPanic;
        else {
          log::set_stderr("postlog");
          log::disable_syslog();
          log::fatal("unknown priority value: {}", optarg);
        }
        break;
      }
      case 't': tag = optarg; break;
      case 'v': log::increase_verbose(); break;
      default:
        log::set_stderr("postlog");
        log::disable_syslog();
        log::fatal("usage: postlog [-iv] [-c config_dir] [-p priority] [-t tag] [text...]");
    }
  }
  if (config_dir.empty()) config_dir = default_config_directory();
  if (auto cfg = Config::load(config_dir, true)) {
    set_config(std::move(*cfg));
    log::configure(mail_log_settings(config()));
  }
  if (!tag.empty()) log::set_tag(tag);
  if (::isatty(STDERR_FILENO)) log::set_stderr(log::tag());
  if (optind < argc) {
    std::vector<std::string> words(argv + optind, argv + argc);
    log::emit(level, join(words, " "));  // fatal/panic are logged, not acted on
  } else {
    std::string line;
    while (std::getline(std::cin, line)) log::emit(level, line);
  }
  if (level == log::Level::kFatal || level == log::Level::kPanic) ::sleep(1);
  return 0;
}
