// Lookup tables ("maps"): one interface for every type that main.cf names
// as "type:name" (hash:/etc/postfix/virtual, pcre:/etc/postfix/checks, ...).
//
// A lookup returns the value, or an Error whose code says what happened:
// Errc::kNotFound (no such key: a 5xx or "no match") or Errc::kTemporary
// (the table could not answer: a 4xx or a retry). Keys of fixed-string
// tables are lower-cased when the map was opened with kFoldFixed, as
// Postfix does for indexed files; pattern tables (regexp, pcre, cidr)
// see the key as given and fold by their own flags.
#pragma once

#include <sys/stat.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace postern::maps {

// Open flags (Postfix's DICT_FLAG_* ideas, with our names).
enum MapFlags : unsigned {
  kFoldFixed = 1u << 0,   // lower-case the keys of fixed-string tables
  kTryNull = 1u << 1,     // keys/values stored with a trailing NUL (write with NUL)
  kTryNoNull = 1u << 2,   // keys/values stored without one
  kCreate = 1u << 3,      // build a new, empty table (into a temp file; commit renames)
  kWrite = 1u << 4,       // open an existing table for update and delete
  kDupWarn = 1u << 5,     // duplicate key on update: warn, keep the first
  kDupIgnore = 1u << 6,   // duplicate key: keep the first silently
  kDupReplace = 1u << 7,  // duplicate key: the later value wins
  kFoldPattern = 1u << 8, // also lower-case keys of pattern tables
};

// Default flags for readers: accept both NUL conventions, fold fixed keys.
inline constexpr unsigned kDefaultReadFlags = kFoldFixed | kTryNull | kTryNoNull;

// What a duplicate update did (for the caller's warning text).
enum class UpdateOutcome { kStored, kDuplicateKept, kDuplicateReplaced };

class Map {
 public:
  Map(std::string type, std::string name, unsigned flags);
  virtual ~Map();
  Map(const Map&) = delete;
  Map& operator=(const Map&) = delete;

  const std::string& type() const { return type_; }
  const std::string& name() const { return name_; }
  // "type:name" as written in main.cf.
  std::string spec() const { return type_ + ":" + name_; }
  unsigned flags() const { return flags_; }
  // Changes the flags, e.g. the NUL convention of the next update.
  void set_flags(unsigned flags) { flags_ = flags; }

  // Pattern tables (regexp, pcre, cidr) are queried with whole strings
  // only; address lookups skip the partial keys (user@, @domain) for them.
  virtual bool is_pattern() const { return false; }

  // The value for `key`; kNotFound or kTemporary (with text) otherwise.
  Result<std::string> lookup(std::string_view key);

  // Adds or replaces an entry (per the kDup* flags). kPermanent when the
  // type is read-only.
  Result<UpdateOutcome> update(std::string_view key, std::string_view value);
  // Removes an entry: kNotFound when absent, kPermanent when read-only.
  Status remove(std::string_view key);
  // Calls `visit` for every entry in storage order until it returns false.
  // kPermanent ("sequence operation is not supported") for types without it.
  virtual Status sequence(const std::function<bool(std::string_view, std::string_view)>& visit);

  // Finishes a writer: flushes, and for kCreate renames the temporary
  // file into place. A writer destroyed without commit() leaves the old
  // table untouched.
  virtual Status commit();

  // True when the file behind this table was replaced or modified since
  // it was opened (daemons exit and are restarted, as Postfix's do).
  bool changed() const;

 protected:
  virtual Result<std::string> do_lookup(std::string_view key) = 0;
  virtual Result<UpdateOutcome> do_update(std::string_view key, std::string_view value);
  virtual Status do_remove(std::string_view key);
  // Records the file whose replacement changed() reports.
  void watch_file(const std::string& path);
  // The key as this table stores it (folded when it should be).
  std::string fold(std::string_view key) const;

  std::string type_;
  std::string name_;
  unsigned flags_;

 private:
  std::string watched_path_;
  struct stat watched_stat_ {};
  bool watching_ = false;
};

using MapPtr = std::unique_ptr<Map>;

// Opens "type:name". A name without a type uses `default_type` when given
// (postmap's default_database_type), else it is an error. Errors:
// kInvalid for syntax ("expecting "type:name" form"), kNotFound for a
// missing file, kIo/kInvalid for unreadable contents, kPermanent for an
// unsupported type.
Result<MapPtr> open_map(std::string_view spec, unsigned flags = kDefaultReadFlags,
                        std::string_view default_type = {});

// Splits "type:name" (nullopt-like empty type when there is no colon).
struct MapSpec {
  std::string type;
  std::string name;
};
Result<MapSpec> parse_map_spec(std::string_view spec, std::string_view default_type = {});

// Splits a list of tables (or values) on commas and white space outside
// braces, so that "inline:{a=1, b=2}" stays one element.
std::vector<std::string> split_map_list(std::string_view list);

// The file an indexed type keeps its data in: name.db for hash/btree,
// name.lmdb for lmdb; empty for other types.
std::string map_file_path(std::string_view type, std::string_view name);

// The permissions of table files created from now on (postmap gives the
// new .db the source file's mode); 0644 unless set.
void set_new_file_mode(unsigned mode);
unsigned new_file_mode();

// A temporary name next to `path` for building a table that is then
// renamed over it.
std::string temp_path_for(const std::string& path);

// Postfix's warning for an indexed file whose source file is newer (and
// did not change in the last 100 seconds): "database X.db is older than
// source file X".
void warn_if_older_than_source(const std::string& db_path, const std::string& source_path);

// True for the types postmap and postalias can build (hash, btree, lmdb).
bool is_indexed_file_type(std::string_view type);

}  // namespace postern::maps
