// postconf: prints and edits main.cf and master.cf (postconf(1)).
#include "postconf/postconf.h"

#include <getopt.h>

#include <cstdio>
#include <cstring>

#include "util/log.h"
#include "util/strings.h"

namespace postern::postconf {

std::string fold_line(const std::string& line, bool break_before_o) {
  constexpr size_t kLimit = 80;
  // Tokens keep the white space before them, so aligned columns survive.
  struct Token {
    std::string space, word;
  };
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < line.size()) {
    size_t word_start = line.find_first_not_of(' ', i);
    if (word_start == std::string::npos) break;
    size_t word_end = line.find(' ', word_start);
    if (word_end == std::string::npos) word_end = line.size();
    tokens.push_back({line.substr(i, word_start - i), line.substr(word_start, word_end - word_start)});
    i = word_end;
  }
  std::string out, current;
  for (size_t t = 0; t < tokens.size(); ++t) {
    Token tok = tokens[t];
    // With master.cf folding, "-o name=value" always starts a line.
    bool is_o = break_before_o && tok.word == "-o" && t + 1 < tokens.size();
    if (is_o) tok.word += " " + tokens[++t].word;
    if (current.empty()) {
      current = tok.word;
    } else if (is_o || current.size() + tok.space.size() + tok.word.size() >= kLimit) {
      out += current + "\n";
      current = "    " + tok.word;
    } else {
      current += tok.space + tok.word;
    }
  }
  return out + current;
}

}  // namespace postern::postconf

using namespace postern;
using namespace postern::postconf;

static void usage(const char* argv0) {
  log::fatal("usage: {} [-a (server SASL types)] [-A (client SASL types)] [-c config_dir] "
             "[-d (defaults)] [-e (edit)] [-# (comment-out)] [-X (remove)] [-f (fold lines)] "
             "[-F (master.cf fields)] [-h (no names)] [-H (no values)] [-l (lock types)] "
             "[-m (map types)] [-M (master.cf)] [-n (non-default parameters)] "
             "[-o name=value (override parameter value)] [-P (master.cf parameters)] "
             "[-t (bounce templates)] [-v (verbose)] [-x (expand parameter values)] [name...]",
             argv0);
}

int main(int argc, char** argv) {
  log::init("postconf", argv[0]);
  log::disable_syslog();
  Options opts;
  int c;
  while ((c = ::getopt(argc, argv, "+aAbc:C:deEfFhHlmMno:pPtT:vxX#")) != -1) {
    switch (c) {
      case 'a': opts.sasl_server = true; break;
      case 'A': opts.sasl_client = true; break;
      case 'c': opts.config_dir = optarg; break;
      case 'C': break;  // output classes (postconf 3.8+): accepted, all shown
      case 'd': opts.defaults = true; break;
      case 'e': opts.edit = true; break;
      case 'f': opts.fold = true; break;
      case 'F': opts.master_field = true; break;
      case 'h': opts.hide_name = true; break;
      case 'H': opts.name_only = true; break;
      case 'l': opts.lock_types = true; break;
      case 'm': opts.map_types = true; break;
      case 'M': opts.master = true; break;
      case 'n': opts.non_default = true; break;
      case 'o': {
        std::string_view nv = optarg;
        size_t eq = nv.find('=');
        if (eq == std::string_view::npos) log::fatal("-o option requires parameter=value");
        opts.overrides.emplace_back(std::string(trim(nv.substr(0, eq))),
                                    std::string(trim(nv.substr(eq + 1))));
        break;
      }
      case 'p': break;  // main.cf parameters: the default mode
      case 'P': opts.master_param = true; break;
      case 'v': log::increase_verbose(); break;
      case 'x': opts.expand = true; break;
      case 'X': opts.remove = true; break;
      case '#': opts.comment_out = true; break;
      case 'b': opts.bounce_expanded = true; break;
      case 't': opts.bounce_templates = true; break;
      case 'E': case 'T':
        log::fatal("option -{} is not supported", static_cast<char>(c));
      default: usage(argv[0]);
    }
  }
  for (int i = optind; i < argc; ++i) opts.args.emplace_back(argv[i]);

  if ((opts.edit ? 1 : 0) + (opts.comment_out ? 1 : 0) + (opts.remove ? 1 : 0) > 1)
    log::fatal("specify one of -e, -#, -X");
  if (opts.bounce_expanded || opts.bounce_templates) {
    if (opts.bounce_expanded && opts.bounce_templates) log::fatal("specify one of -b and -t");
    char o = opts.bounce_expanded ? 'b' : 't';
    const std::pair<bool, char> others[] = {{opts.defaults, 'd'}, {opts.non_default, 'n'},
                                            {opts.edit, 'e'},     {opts.comment_out, '#'},
                                            {opts.remove, 'X'},   {opts.master, 'M'},
                                            {opts.master_field, 'F'}, {opts.master_param, 'P'},
                                            {opts.map_types, 'm'}, {opts.lock_types, 'l'},
                                            {opts.sasl_server, 'a'}, {opts.sasl_client, 'A'}};
    for (const auto& [set, name] : others)
      if (set) log::fatal("with option -{}, do not specify -{}", o, name);
    if (opts.args.size() > 1) log::fatal("options -b and -t require at most one template file");
  }
  if (opts.lock_types || opts.sasl_server || opts.sasl_client) return run_lists(opts);

  if (opts.config_dir.empty()) opts.config_dir = default_config_directory();
  // Editing and -d work without a main.cf; everything else needs one.
  bool optional = opts.defaults || opts.edit || ((opts.master || opts.master_field || opts.master_param) && !opts.map_types);
  auto loaded = Config::load(opts.config_dir, optional);
  if (!loaded) log::fatal("{}", loaded.error().text);
  Config& cfg = *loaded;
  cfg.set_process_name("postconf");
  for (const auto& [n, v] : opts.overrides) cfg.set_override(n, v);
  if (opts.map_types) return run_lists(opts);
  if (opts.bounce_expanded || opts.bounce_templates) return run_bounce_templates(opts, cfg);
  if (opts.master || opts.master_field || opts.master_param) return run_master_cf(opts, cfg);
  return run_main_cf(opts, cfg);
}
