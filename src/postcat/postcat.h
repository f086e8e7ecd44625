// postcat: shows the contents of queue files (postcat(1)).
#pragma once

#include <string>

namespace postern::postcat {

struct Options {
  bool envelope = false;   // -e
  bool header = false;     // -h
  bool body = false;       // -b
  bool offsets = false;    // -o
  bool dec_types = false;  // -d
  bool verbose = false;    // -v: label text records, show pointer and padding records
  bool raw = false;        // -r: with -v, don't follow pointer records
  long start = 0;          // -s offset
};

// Prints one queue file read from `fd` as Postfix's postcat does; `name`
// is the name in the section lines. Fatal errors (unreadable records) log
// and exit 1, as Postfix's postcat does.
void print_queue_file(int fd, const std::string& name, const Options& opts);

// True when `line` starts like a header ("Name:" with optional blanks
// before the colon; printable ASCII name).
bool is_header_line(std::string_view line);

}  // namespace postern::postcat
