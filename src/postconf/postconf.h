// postconf: shared state of the command's parts (see postconf(1)).
#pragma once

#include <set>

#include <string>
#include <vector>

#include "global/config.h"

namespace postern::postconf {

struct Options {
  std::string config_dir;
  bool defaults = false;       // -d
  bool non_default = false;    // -n
  bool hide_name = false;      // -h
  bool name_only = false;      // -H
  bool expand = false;         // -x
  bool fold = false;           // -f
  bool edit = false;           // -e
  bool comment_out = false;    // -#
  bool remove = false;         // -X
  bool master = false;         // -M
  bool master_field = false;   // -F
  bool master_param = false;   // -P
  bool map_types = false;      // -m
  bool lock_types = false;     // -l
  bool sasl_server = false;    // -a
  bool sasl_client = false;    // -A
  bool bounce_expanded = false;  // -b
  bool bounce_templates = false; // -t
  std::vector<std::pair<std::string, std::string>> overrides;  // -o
  std::vector<std::string> args;
};

// Exit status of the command.
int run_main_cf(const Options& opts, Config& cfg);
int run_master_cf(const Options& opts, Config& cfg);
int run_lists(const Options& opts);
// -b / -t: the bounce templates, expanded or as written (postconf_bounce.cc).
int run_bounce_templates(const Options& opts, const Config& cfg);

// Warns about main.cf as Postfix does in every mode: duplicate entries,
// unused and undefined parameter names.
void warn_about_main_cf(const Config& cfg);
// ldap:/mysql:/pgsql:/sqlite:/memcache: tables: "type:name" makes main.cf
// parameters name_<param> legitimate; "type:/file" files are checked for
// parameters the type does not know (postconf_dbms.cc).
void add_dbms_parameter_names(const Config& cfg, std::set<std::string, std::less<>>& names);
void warn_about_dbms_files(const Config& cfg);

// Folds text at 80 columns with 4-space continuation indent (-f).
std::string fold_line(const std::string& line, bool break_before_o = false);

}  // namespace postern::postconf
