#include "global/queue_id.h"

#include <fmt/format.h>

namespace postern {

namespace {

constexpr std::string_view kBase52 = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz";
constexpr char kLongSeparator = 'z';  // not a base-51 digit

// `value` in base `radix` over kBase52's first `radix` digits, left-padded
// with '0' to at least `width` digits.
std::string encode(unsigned long long value, unsigned radix, size_t width) {
  std::string out;
  do {
    out.insert(out.begin(), kBase52[value % radix]);
    value /= radix;
  } while (value != 0);
  if (out.size() < width) out.insert(0, width - out.size(), '0');
  return out;
}

std::optional<unsigned long long> decode(std::string_view digits, unsigned radix) {
  if (digits.empty()) return std::nullopt;
  unsigned long long value = 0;
  for (char c : digits) {
    size_t d = kBase52.find(c);
    if (d == std::string_view::npos || d >= radix) return std::nullopt;
    if (value > (~0ULL - d) / radix) return std::nullopt;
    value = value * radix + d;
  }
  return value;
}

}  // namespace

std::string make_short_queue_id(long usec, ino_t inode) {
  return fmt::format("{:05X}{:X}", static_cast<unsigned long>(usec) & 0xFFFFF,
                     static_cast<unsigned long long>(inode));
}

std::string make_long_queue_id(time_t sec, long usec, ino_t inode) {
  return encode(static_cast<unsigned long long>(sec), 52, 6) +
         encode(static_cast<unsigned long long>(usec), 52, 4) + kLongSeparator +
         encode(static_cast<unsigned long long>(inode), 51, 1);
}

bool valid_queue_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxQueueIdLength) return false;
  for (char c : id) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool is_long_queue_id(std::string_view id) {
  size_t z = id.rfind(kLongSeparator);
  return z != std::string_view::npos && z >= 10;
}

std::optional<LongQueueIdParts> parse_long_queue_id(std::string_view id) {
  if (!is_long_queue_id(id)) return std::nullopt;
  size_t z = id.rfind(kLongSeparator);
  auto sec = decode(id.substr(0, z - 4), 52);
  auto usec = decode(id.substr(z - 4, 4), 52);
  auto inode = decode(id.substr(z + 1), 51);
  if (!sec || !usec || !inode || *usec >= 1000000) return std::nullopt;
  return LongQueueIdParts{static_cast<long long>(*sec), static_cast<long>(*usec), *inode};
}

std::string queue_id_hash_key(std::string_view id) {
  if (is_long_queue_id(id)) {
    size_t z = id.rfind(kLongSeparator);
    if (auto usec = decode(id.substr(z - 4, 4), 52)) return fmt::format("{:05X}", *usec & 0xFFFFF);
  }
  return std::string(id);
}

}  // namespace postern
