// IPv4/IPv6 addresses, CIDR networks, and the host's interface addresses.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace postern {

class IpAddress {
 public:
  IpAddress() = default;
  // Parses "1.2.3.4", "::1", "[::1]" or "ipv6:::1"; nullopt when malformed.
  static std::optional<IpAddress> parse(std::string_view text);
  static IpAddress from_sockaddr(const sockaddr* sa);
  static IpAddress v4(const in_addr& a);
  static IpAddress v6(const in6_addr& a);

  bool is_v4() const { return family_ == AF_INET; }
  bool is_v6() const { return family_ == AF_INET6; }
  int family() const { return family_; }
  // An IPv4-mapped IPv6 address (::ffff:1.2.3.4) as plain IPv4; others unchanged.
  IpAddress unmapped() const;
  bool is_loopback() const;
  // 4 or 16 bytes in network order.
  const unsigned char* bytes() const { return bytes_.data(); }
  size_t size() const { return is_v4() ? 4 : 16; }
  int max_prefix() const { return is_v4() ? 32 : 128; }

  // "1.2.3.4" or "2001:db8::1" (no brackets).
  std::string to_string() const;
  // Fills a sockaddr with this address and `port`; returns its length.
  socklen_t to_sockaddr(sockaddr_storage* ss, int port) const;
  // The address with all bits after `prefix` cleared.
  IpAddress masked(int prefix) const;

  friend bool operator==(const IpAddress& a, const IpAddress& b) {
    return a.family_ == b.family_ && a.bytes_ == b.bytes_;
  }

 private:
  int family_ = AF_UNSPEC;
  std::array<unsigned char, 16> bytes_{};
};

// A network written "addr/prefix" ("[v6]/prefix" and a bare address, which
// means the whole address, are accepted too).
struct Cidr {
  IpAddress network;
  int prefix = 0;

  // kInvalid with a message for a bad address or prefix, and for
  // non-zero host bits when `strict` (Postfix's cidr: tables require this).
  static Result<Cidr> parse(std::string_view text, bool strict = false);
  bool contains(const IpAddress& addr) const;
  // "1.2.0.0/16" or "[2001:db8::]/32", as postconf prints mynetworks.
  std::string to_string() const;
};

struct InterfaceAddress {
  IpAddress address;
  int prefix = 0;
};

// Every configured address of the host's interfaces that are up.
std::vector<InterfaceAddress> local_interface_addresses();

}  // namespace postern
