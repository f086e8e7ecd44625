// The engine behind postmap(1), postalias(1) and newaliases: build a table
// from its source file, add entries from stdin (-i), query (-q), delete
// (-d) and dump (-s), with Postfix's messages and exit codes. Fatal
// problems log "fatal:" and exit 1 through log::fatal.
#pragma once

#include <string>
#include <vector>

namespace postern::maps {

struct MapCommandOptions {
  std::string program = "postmap";
  bool aliases = false;         // postalias source syntax and extra entries
  std::string default_type = "hash";
  std::string hostname;         // postalias YP_MASTER_NAME
  bool fold = true;             // not -f
  int null_mode = 0;            // -N: +1 (with NUL), -n: -1 (without), else both
  bool incremental = false;     // -i
  bool dump = false;            // -s
  bool query = false;           // -q KEY
  bool remove = false;          // -d KEY
  std::string key;              // for -q / -d ("-": read keys from stdin)
  bool replace_duplicates = false;  // -r
  bool quiet_duplicates = false;    // -w
  bool keep_privileges = false;     // -o
  bool default_permissions = false; // -p
  bool header_keys = false;     // -h: with -q -, message headers are the keys
  bool body_keys = false;       // -b: body lines are the keys
  bool base64 = false;          // -F: values are files (build) / base64 (query, dump)
  bool mime_keys = false;       // -m: parse MIME (part headers are headers, not body)
};

// Runs the command on the maps named on the command line; returns the
// exit status.
int run_map_command(const MapCommandOptions& options, const std::vector<std::string>& maps);

// Applies one of the options postmap and postalias share (-c -d -f -i -n
// -N -o -p -q -r -s -v -w), with `arg` its argument; false for any other.
bool apply_shared_option(int option, const char* arg, MapCommandOptions& o,
                         std::string& config_dir);

}  // namespace postern::maps
