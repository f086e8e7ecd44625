// The attribute protocol that Postern's daemons speak to each other over
// UNIX-domain sockets (COMPAT.md section 5; docs/formats/attr.md).
//
// A message is a list of (name, value) pairs. Encodings:
//   kNul    name NUL value NUL ..., then one extra NUL ends the list
//   kPlain  name=value LF ..., then an empty line ends the list
// Integers travel as decimal text. A server announces itself first with
// one list holding protocol=<name>. Readers enforce a limit on the number of
// attributes and on each name/value length, and a timeout (the Stream's).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"
#include "util/stream.h"

namespace postern {

enum class AttrEncoding { kNul, kPlain };

class AttrList {
 public:
  AttrList() = default;
  AttrList(std::initializer_list<std::pair<std::string, std::string>> init) : items_(init) {}

  AttrList& add(std::string_view name, std::string_view value);
  AttrList& add(std::string_view name, long long value);

  // The first value with this name, if any.
  std::optional<std::string_view> get(std::string_view name) const;
  // The value, or "" when absent.
  std::string_view str(std::string_view name) const;
  // The value as an integer; kInvalid when absent or malformed.
  Result<long long> number(std::string_view name) const;
  // number() with a default for absent or malformed values.
  long long number_or(std::string_view name, long long fallback) const;

  bool empty() const { return items_.empty(); }
  size_t size() const { return items_.size(); }
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

struct AttrLimits {
  size_t max_attrs = 1024;
  size_t max_length = 4 * 2048 * 16;  // per name or value
};

// Appends one encoded list to the stream's output buffer (no flush).
void attr_write(Stream& out, AttrEncoding enc, const AttrList& list);
// Encodes one list as bytes.
std::string attr_encode(AttrEncoding enc, const AttrList& list);
// Reads one list. kEof when the peer closed before the first byte.
Result<AttrList> attr_read(Stream& in, AttrEncoding enc, const AttrLimits& limits = {});
// Decodes one complete list from bytes (for datagrams and tests); the
// number of bytes consumed is stored in *used.
Result<AttrList> attr_decode(std::string_view data, AttrEncoding enc, size_t* used = nullptr,
                             const AttrLimits& limits = {});

// A client round trip: write the request, flush, read one reply list.
Result<AttrList> attr_request(Stream& s, AttrEncoding enc, const AttrList& request);

// Reads the server's announcement and checks protocol=<name>.
Status attr_expect_protocol(Stream& s, AttrEncoding enc, std::string_view protocol);

}  // namespace postern
