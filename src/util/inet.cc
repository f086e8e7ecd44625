#include "util/inet.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>

#include <algorithm>
#include <cstring>
#include <fmt/format.h>

#include "util/strings.h"

namespace postern {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
    text = text.substr(1, text.size() - 2);
  if (istarts_with(text, "ipv6:")) text.remove_prefix(5);
  if (text.empty() || text.size() > 64) return std::nullopt;
  std::string s(text);
  if (s.find(':') == std::string::npos) {
    in_addr v4{};
    if (::inet_pton(AF_INET, s.c_str(), &v4) != 1) return std::nullopt;
    return IpAddress::v4(v4);
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, s.c_str(), &v6) != 1) return std::nullopt;
  return IpAddress::v6(v6);
}

IpAddress IpAddress::v4(const in_addr& a) {
  IpAddress ip;
  ip.family_ = AF_INET;
  std::memcpy(ip.bytes_.data(), &a, 4);
  return ip;
}

IpAddress IpAddress::v6(const in6_addr& a) {
  IpAddress ip;
  ip.family_ = AF_INET6;
  std::memcpy(ip.bytes_.data(), &a, 16);
  return ip;
}

IpAddress IpAddress::from_sockaddr(const sockaddr* sa) {
  if (sa->sa_family == AF_INET) return v4(reinterpret_cast<const sockaddr_in*>(sa)->sin_addr);
  if (sa->sa_family == AF_INET6) return v6(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr);
  return IpAddress();
}

IpAddress IpAddress::unmapped() const {
  static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (!is_v6() || std::memcmp(bytes_.data(), prefix, 12) != 0) return *this;
  IpAddress ip;
  ip.family_ = AF_INET;
  std::memcpy(ip.bytes_.data(), bytes_.data() + 12, 4);
  return ip;
}

bool IpAddress::is_loopback() const {
  if (is_v4()) return bytes_[0] == 127;
  if (!is_v6()) return false;
  static const unsigned char one[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return std::memcmp(bytes_.data(), one, 16) == 0 || (unmapped().is_v4() && unmapped().is_loopback());
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  if (!::inet_ntop(family_, bytes_.data(), buf, sizeof buf)) return "unknown";
  return buf;
}

socklen_t IpAddress::to_sockaddr(sockaddr_storage* ss, int port) const {
  std::memset(ss, 0, sizeof *ss);
  if (is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    std::memcpy(&sin->sin_addr, bytes_.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(ss);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(static_cast<uint16_t>(port));
  std::memcpy(&sin6->sin6_addr, bytes_.data(), 16);
  return sizeof(sockaddr_in6);
}

IpAddress IpAddress::masked(int prefix) const {
  IpAddress out = *this;
  int bits = max_prefix();
  for (int i = 0; i < bits / 8; ++i) {
    int keep = std::clamp(prefix - i * 8, 0, 8);
    out.bytes_[i] &= static_cast<unsigned char>(keep == 0 ? 0 : (0xff << (8 - keep)) & 0xff);
  }
  return out;
}

Result<Cidr> Cidr::parse(std::string_view text, bool strict) {
  std::string_view addr_text = text;
  std::optional<long long> prefix;
  size_t slash = text.rfind('/');
  if (slash != std::string_view::npos) {
    addr_text = text.substr(0, slash);
    prefix = parse_long(text.substr(slash + 1));
    if (!prefix) return fail(Errc::kInvalid, fmt::format("bad network/mask: {}", text));
  }
  auto addr = IpAddress::parse(addr_text);
  if (!addr) return fail(Errc::kInvalid, fmt::format("bad address pattern: \"{}\"", text));
  Cidr c{*addr, prefix ? static_cast<int>(*prefix) : addr->max_prefix()};
  if (c.prefix < 0 || c.prefix > addr->max_prefix())
    return fail(Errc::kInvalid, fmt::format("bad mask length in \"{}\"", text));
  if (strict && !(addr->masked(c.prefix) == *addr))
    return fail(Errc::kInvalid,
                fmt::format("non-null host address bits in \"{}\", perhaps you should use \"{}\" "
                            "instead",
                            text, Cidr{addr->masked(c.prefix), c.prefix}.to_string()));
  c.network = addr->masked(c.prefix);
  return c;
}

bool Cidr::contains(const IpAddress& addr) const {
  IpAddress a = addr.unmapped();
  IpAddress n = network;
  if (a.family() != n.family()) return false;
  return a.masked(prefix) == n;
}

std::string Cidr::to_string() const {
  if (network.is_v6()) return fmt::format("[{}]/{}", network.to_string(), prefix);
  return fmt::format("{}/{}", network.to_string(), prefix);
}

static int prefix_from_mask(const sockaddr* mask) {
  if (!mask) return 0;
  const unsigned char* p = nullptr;
  size_t n = 0;
  if (mask->sa_family == AF_INET) {
    p = reinterpret_cast<const unsigned char*>(&reinterpret_cast<const sockaddr_in*>(mask)->sin_addr);
    n = 4;
  } else if (mask->sa_family == AF_INET6) {
    p = reinterpret_cast<const unsigned char*>(
        &reinterpret_cast<const sockaddr_in6*>(mask)->sin6_addr);
    n = 16;
  }
  int bits = 0;
  for (size_t i = 0; i < n; ++i) bits += __builtin_popcount(p[i]);
  return bits;
}

std::vector<InterfaceAddress> local_interface_addresses() {
  std::vector<InterfaceAddress> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) < 0) return out;
  for (ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || !(i->ifa_flags & IFF_UP)) continue;
    if (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6) continue;
    out.push_back({IpAddress::from_sockaddr(i->ifa_addr), prefix_from_mask(i->ifa_netmask)});
  }
  ::freeifaddrs(list);
  // IPv4 first, as Postfix lists them.
  std::stable_partition(out.begin(), out.end(),
                        [](const InterfaceAddress& a) { return a.address.is_v4(); });
  return out;
}

}  // namespace postern
