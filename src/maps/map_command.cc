#include "maps/map_command.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>

#include "global/map_types.h"
#include "global/mime_state.h"
#include "maps/alias_source.h"
#include "maps/map.h"
#include "maps/map_source.h"
#include "util/log.h"
#include "util/stream.h"
#include "util/strings.h"

namespace postern::maps {
namespace {

unsigned null_flags(const MapCommandOptions& o) {
  if (o.null_mode > 0) return kTryNull;
  if (o.null_mode < 0) return kTryNoNull;
  return kTryNull | kTryNoNull;
}

unsigned read_flags(const MapCommandOptions& o) {
  return null_flags(o) | (o.fold ? kFoldFixed : 0u);
}

MapPtr open_or_die(const MapCommandOptions& o, const std::string& spec, unsigned flags) {
  auto map = open_map(spec, flags, o.default_type);
  if (!map) log::fatal("{}", map.error().text);
  return std::move(*map);
}

// The name Postfix uses in "duplicate entry" warnings.
std::string dup_label(const Map& map) {
  if (map.type() == "lmdb") return map.spec();
  std::string path = map_file_path(map.type(), map.name());
  return path.empty() ? map.spec() : path;
}

constexpr std::string_view kBase64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(std::string_view in) {
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    for (int s = 18; s >= 0; s -= 6) out.push_back(kBase64[(v >> s) & 63]);
  }
  if (i < in.size()) {
    unsigned v = (unsigned char)in[i] << 16;
    if (i + 1 < in.size()) v |= (unsigned char)in[i + 1] << 8;
    out.push_back(kBase64[(v >> 18) & 63]);
    out.push_back(kBase64[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kBase64[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

// Strict decoding: whole quads, padding only at the end.
std::optional<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < in.size(); i += 4) {
    unsigned v = 0;
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      char c = in[i + j];
      size_t pos = kBase64.find(c);
      if (c == '=' && i + 4 == in.size() && j >= 2) {
        ++pad;
        pos = 0;
      } else if (pos == std::string_view::npos || pad > 0) {
        return std::nullopt;
      }
      v = v << 6 | unsigned(pos);
    }
    out.push_back(char(v >> 16));
    if (pad < 2) out.push_back(char(v >> 8 & 0xff));
    if (pad < 1) out.push_back(char(v & 0xff));
  }
  return out;
}

// The table name Postfix's base64 messages use ("hash:file.db").
std::string base64_label(const Map& map) {
  std::string label = dup_label(map);
  return label.starts_with(map.type() + ":") ? label : map.type() + ":" + label;
}

// -F: the decoded value, or a warning and nullopt.
std::optional<std::string> decode_value(const Map& map, std::string_view key, const std::string& value) {
  auto decoded = base64_decode(value);
  if (!decoded) log::warn("table {}: key {}: malformed BASE64 value: {}", base64_label(map), key, value);
  return decoded;
}

[[noreturn]] void query_error(const Map& map, const Error& e) {
  log::fatal("table {}: query error: {}", map.spec(), e.text);
}

// Reads lines from stdin (at most kMaxLogicalLine bytes each).
bool read_stdin_line(std::string& line) {
  line.clear();
  int c;
  bool any = false;
  while ((c = getc_unlocked(stdin)) != EOF) {
    any = true;
    if (c == '\n') break;
    if (line.size() < kMaxLogicalLine) line.push_back(char(c));
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return any;
}

// Flushes stdout when no more input is waiting, so that a program
// talking to us line by line sees each answer, and bulk input stays fast.
void flush_if_idle() {
  if (stdin->_IO_read_ptr >= stdin->_IO_read_end) std::fflush(stdout);
}

int do_query(const MapCommandOptions& o, const std::vector<std::string>& specs) {
  if ((o.header_keys || o.body_keys || o.mime_keys) && o.key != "-")
    log::fatal("specify -b -h or -m only with \"-q -\"");
  bool message_mode = o.header_keys || o.body_keys;
  if (o.mime_keys && !message_mode) log::warn("ignoring -m option without -b or -h");
  std::vector<MapPtr> maps;
  for (const auto& spec : specs) maps.push_back(open_or_die(o, spec, read_flags(o)));
  auto find = [&](const std::string& key) -> std::optional<std::string> {
    for (auto& map : maps) {
      auto v = map->lookup(key);
      if (v && o.base64) {
        auto decoded = decode_value(*map, key, *v);
        if (!decoded) log::fatal("table {}: query error", base64_label(*map));
        return decoded;
      }
      if (v) return *v;
      if (v.error().code != Errc::kNotFound) query_error(*map, v.error());
    }
    return std::nullopt;
  };
  if (o.key != "-") {
    auto v = find(o.key);
    if (!v) return 1;
    std::printf("%s\n", v->c_str());
    return 0;
  }
  bool found = false;
  std::string line;
  if (message_mode) {
    auto try_key = [&](std::string_view key) {
      if (auto v = find(std::string(key))) {
        std::printf("%.*s\t%s\n", int(key.size()), key.data(), v->c_str());
        found = true;
      }
    };
    MimeCallbacks callbacks;
    // MIME part headers are only seen with -m (MIME parsing on).
    callbacks.header = [&](HeaderClass, std::string_view header) {
      if (o.header_keys) try_key(header);
    };
    callbacks.body = [&](std::string_view body, bool) {
      if (o.body_keys) try_key(body);
    };
    MimeLimits limits;
    limits.mime_processing = o.mime_keys;
    MimeState mime(std::move(callbacks), limits);
    while (read_stdin_line(line)) mime.feed(line);
    mime.finish();
    return found ? 0 : 1;
  }
  while (read_stdin_line(line)) {
    if (auto v = find(line)) {
      std::printf("%s%s\t%s\n", line.c_str(), o.aliases ? ":" : "", v->c_str());
      found = true;
    }
    flush_if_idle();
  }
  return found ? 0 : 1;
}

int do_delete(const MapCommandOptions& o, const std::vector<std::string>& specs) {
  std::vector<MapPtr> maps;
  for (const auto& spec : specs) maps.push_back(open_or_die(o, spec, read_flags(o) | kWrite));
  bool found = false;
  auto remove = [&](const std::string& key) {
    for (auto& map : maps) {
      auto s = map->remove(key);
      if (s) found = true;
      else if (s.error().code != Errc::kNotFound) log::fatal("{}", s.error().text);
    }
  };
  if (o.key != "-") {
    remove(o.key);
  } else {
    std::string line;
    while (read_stdin_line(line)) remove(line);
  }
  for (auto& map : maps)
    if (auto s = map->commit(); !s) log::fatal("{}", s.error().text);
  return found ? 0 : 1;
}

int do_dump(const MapCommandOptions& o, const std::vector<std::string>& specs) {
  for (const auto& spec : specs) {
    MapPtr map = open_or_die(o, spec, read_flags(o));
    const char* sep = o.aliases ? ":" : "";
    auto s = map->sequence([&](std::string_view k, std::string_view v) {
      std::optional<std::string> decoded;
      if (o.base64) {
        decoded = decode_value(*map, k, std::string(v));
        if (!decoded) return true;
        v = *decoded;
      }
      std::printf("%.*s%s\t%.*s\n", int(k.size()), k.data(), sep, int(v.size()), v.data());
      return true;
    });
    if (!s) log::fatal("{}", s.error().text);
  }
  return 0;
}

// Runs as the owner of a source file that root does not own, as Postfix
// does, so that a user cannot make root write where the user cannot.
void maybe_drop_privileges(const MapCommandOptions& o, const struct stat& st) {
  if (o.keep_privileges || ::geteuid() != 0 || st.st_uid == 0) return;
  if (::setegid(st.st_gid) != 0 || ::seteuid(st.st_uid) != 0)
    log::fatal("set effective uid/gid to {}/{}: {}", st.st_uid, st.st_gid, std::strerror(errno));
}

void store(const MapCommandOptions& o, Map& map, const std::string& key, const std::string& value) {
  auto r = map.update(key, value);
  if (!r) log::fatal("{}", r.error().text);
  if (*r == UpdateOutcome::kDuplicateKept && !o.quiet_duplicates)
    log::warn("{}: duplicate entry: \"{}\"", dup_label(map), o.fold ? lowercase(key) : key);
}

// Adds the entries of one source (a file or stdin) to `map`.
void load_source(const MapCommandOptions& o, Map& map, std::FILE* in, const std::string& label) {
  LogicalLineReader reader(in);
  for (;;) {
    auto line = reader.next();
    if (!line) log::fatal("{}, {}", label, line.error().text);
    if (!*line) break;
    const SourceLine& l = **line;
    if (o.aliases) {
      auto entry = parse_alias_line(l.text);
      if (!entry) {
        log::warn("{}, line {}: {}", label, l.number, entry.error().text);
        continue;
      }
      store(o, map, entry->name, entry->value);
    } else {
      KeyValue kv = split_key_value(l.text);
      if (kv.value.empty()) {
        log::warn("{}, line {}: expected format: key whitespace value", label, l.number);
        continue;
      }
      if (kv.key.back() == ':')
        log::warn("{}, line {}: record is in \"key: value\" format; is this an alias file?", label,
                  l.number);
      if (o.base64) {
        // The value names files; store their contents, joined by
        // newlines, base64-encoded.
        std::string joined;
        bool ok = true;
        std::string files(kv.value);
        for (std::string_view f : split(files)) {
          auto content = read_file(std::string(f), 64 << 20);
          if (!content) {
            // read_file's text is "open FILE: reason", as Postfix words it.
            log::warn("{}, line {}: {}: skipping this entry", label, l.number, content.error().text);
            ok = false;
            break;
          }
          if (!joined.empty()) joined += "\n";
          joined += *content;
        }
        if (ok) store(o, map, std::string(kv.key), base64_encode(joined));
        continue;
      }
      store(o, map, std::string(kv.key), std::string(kv.value));
    }
  }
}

// postalias's extra entries: "@" (the table is complete) and the NIS
// markers, the latter stored without a NUL as Postfix does.
void add_alias_markers(const MapCommandOptions& o, Map& map) {
  unsigned saved = map.flags();
  map.set_flags((saved | kDupReplace) & ~kDupWarn);
  (void)map.update("@", "@");
  map.set_flags(((saved | kDupReplace) & ~(kTryNull | kFoldFixed)) | kTryNoNull);
  (void)map.update("YP_LAST_MODIFIED", fmt::format("{:010d}", long(std::time(nullptr))));
  (void)map.update("YP_MASTER_NAME", o.hostname);
  map.set_flags(saved);
}

// postmap builds only the indexed file types.
void check_buildable(const std::string& type) {
  if (is_indexed_file_type(type)) return;
  bool known = false;
  for (std::string_view t : supported_map_types()) known = known || t == type;
  if (!known) log::fatal("unsupported dictionary type: {}", type);
  log::fatal("unsupported dictionary type: {} does not support bulk-mode creation.", type);
}

int do_build(const MapCommandOptions& o, const std::vector<std::string>& specs) {
  for (const auto& spec : specs) {
    auto parsed = parse_map_spec(spec, o.default_type);
    if (!parsed) log::fatal("{}", parsed.error().text);
    unsigned dup = o.replace_duplicates ? kDupReplace : o.quiet_duplicates ? kDupIgnore : kDupWarn;
    unsigned flags = null_flags(o) | (o.fold ? kFoldFixed : 0u) | dup;
    std::string full = parsed->type + ":" + parsed->name;
    if (o.incremental) {
      check_buildable(parsed->type);
      MapPtr map = open_or_die(o, full, flags | kWrite);
      load_source(o, *map, stdin, "stdin");
      if (auto s = map->commit(); !s) log::fatal("{}", s.error().text);
      continue;
    }
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(std::fopen(parsed->name.c_str(), "r"),
                                                       std::fclose);
    if (!in) log::fatal("open {}: {}", parsed->name, std::strerror(errno));
    struct stat st {};
    if (::fstat(fileno(in.get()), &st) != 0) log::fatal("fstat {}: {}", parsed->name, std::strerror(errno));
    check_buildable(parsed->type);
    maybe_drop_privileges(o, st);
    set_new_file_mode(o.default_permissions ? 0644 : (st.st_mode & 0777));
    MapPtr map = open_or_die(o, full, flags | kCreate);
    load_source(o, *map, in.get(), parsed->name);
    if (o.aliases) add_alias_markers(o, *map);
    if (auto s = map->commit(); !s) log::fatal("{}", s.error().text);
  }
  return 0;
}

}  // namespace

int run_map_command(const MapCommandOptions& o, const std::vector<std::string>& maps) {
  if (o.query) return do_query(o, maps);
  if (o.remove) return do_delete(o, maps);
  if (o.dump) return do_dump(o, maps);
  return do_build(o, maps);
}

bool apply_shared_option(int option, const char* arg, MapCommandOptions& o,
                         std::string& config_dir) {
  switch (option) {
    case 'c': config_dir = arg; return true;
    case 'd':
      if (o.query || o.dump) log::fatal("specify only one of -s -q or -d");
      o.remove = true;
      o.key = arg;
      return true;
    case 'q':
      if (o.remove || o.dump) log::fatal("specify only one of -s -q or -d");
      o.query = true;
      o.key = arg;
      return true;
    case 's':
      if (o.remove || o.query) log::fatal("specify only one of -s or -q or -d");
      o.dump = true;
      return true;
    case 'f': o.fold = false; return true;
    case 'i': o.incremental = true; return true;
    case 'n': o.null_mode = -1; return true;
    case 'N': o.null_mode = 1; return true;
    case 'o': o.keep_privileges = true; return true;
    case 'p': o.default_permissions = true; return true;
    case 'r': o.replace_duplicates = true; o.quiet_duplicates = false; return true;
    case 'w': o.quiet_duplicates = true; o.replace_duplicates = false; return true;
    case 'v': log::increase_verbose(); return true;
    default:
      return false;
  }
}

}  // namespace postern::maps
