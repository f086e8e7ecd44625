#include "dns/dns.h"

#include <ares.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <poll.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <random>

#include "util/strings.h"

namespace postern::dns {

struct Resolver::Channel {
  ares_channel channel = nullptr;
  ~Channel() {
    if (channel) ares_destroy(channel);
  }
};

namespace {

struct LibraryInit {
  LibraryInit() { ares_library_init(ARES_LIB_INIT_ALL); }
  ~LibraryInit() { ares_library_cleanup(); }
};

struct QueryState {
  bool done = false;
  int status = ARES_SUCCESS;
  std::string answer;
};

void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  auto* st = static_cast<QueryState*>(arg);
  st->done = true;
  st->status = status;
  if (abuf && alen > 0) st->answer.assign(reinterpret_cast<char*>(abuf), static_cast<size_t>(alen));
}

Error status_error(int status, std::string_view name, std::string_view what) {
  switch (status) {
    case ARES_ENOTFOUND:
      return Error{Errc::kNotFound, fmt::format("Host or domain name not found. Name service error "
                                                "for name={} type={}: Host not found",
                                                name, what)};
    case ARES_ENODATA:
      return Error{Errc::kNotFound, fmt::format("Host or domain name not found. Name service error "
                                                "for name={} type={}: No address associated with hostname",
                                                name, what)};
    case ARES_EBADNAME:
      return Error{Errc::kInvalid, fmt::format("bad domain name: {}", name)};
    default:
      return Error{Errc::kTemporary,
                   fmt::format("Host or domain name not found. Name service error for name={} "
                               "type={}: Host not found, try again ({})",
                               name, what, ares_strerror(status))};
  }
}

std::string normalize_host(std::string_view host) {
  std::string h = lowercase(host);
  if (!h.empty() && h.back() == '.') h.pop_back();
  return h;
}

}  // namespace

Result<std::unique_ptr<Resolver>> Resolver::create(const ResolverOptions& options) {
  static LibraryInit init;
  auto channel = std::make_unique<Channel>();
  ares_options opts{};
  opts.timeout = static_cast<int>(options.timeout.count());
  opts.tries = options.tries;
  int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
  int rc = ares_init_options(&channel->channel, &opts, mask);
  if (rc != ARES_SUCCESS)
    return fail(Errc::kTemporary, fmt::format("DNS resolver setup: {}", ares_strerror(rc)));
  std::string servers = options.servers;
  if (servers.empty())
    if (const char* env = std::getenv("POSTERN_DNS_SERVERS"); env && *env) servers = env;
  if (!servers.empty()) {
    rc = ares_set_servers_ports_csv(channel->channel, servers.c_str());
    if (rc != ARES_SUCCESS)
      return fail(Errc::kInvalid, fmt::format("bad DNS server list \"{}\": {}", servers, ares_strerror(rc)));
  }
  return std::unique_ptr<Resolver>(new Resolver(std::move(channel)));
}

Resolver::Resolver(std::unique_ptr<Channel> channel) : channel_(std::move(channel)) {}
Resolver::~Resolver() = default;

// Runs one query to completion (c-ares enforces the per-try timeout).
Result<std::string> Resolver::query(std::string_view name, int type) {
  if (name.empty() || name.size() > 253) return fail(Errc::kInvalid, fmt::format("bad domain name: {}", name));
  QueryState st;
  std::string qname(name);
  ares_query(channel_->channel, qname.c_str(), ns_c_in, type, on_answer, &st);
  while (!st.done) {
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    int bits = ares_getsock(channel_->channel, socks, ARES_GETSOCK_MAXNUM);
    pollfd fds[ARES_GETSOCK_MAXNUM];
    int n = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short events = 0;
      if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
      if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
      if (events) fds[n++] = pollfd{socks[i], events, 0};
    }
    timeval tv{};
    timeval* left = ares_timeout(channel_->channel, nullptr, &tv);
    int ms = left ? static_cast<int>(left->tv_sec * 1000 + left->tv_usec / 1000) : 1000;
    int ready = ::poll(fds, static_cast<nfds_t>(n), std::max(ms, 1));
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      ares_socket_t r = (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) ? fds[i].fd : ARES_SOCKET_BAD;
      ares_socket_t w = (fds[i].revents & POLLOUT) ? fds[i].fd : ARES_SOCKET_BAD;
      if (r != ARES_SOCKET_BAD || w != ARES_SOCKET_BAD) ares_process_fd(channel_->channel, r, w);
    }
    if (ready == 0) ares_process_fd(channel_->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  }
  if (!st.done) return fail(Errc::kTemporary, "DNS query did not complete");
  const char* what = type == ns_t_mx ? "MX" : type == ns_t_a ? "A" : type == ns_t_aaaa ? "AAAA"
                     : type == ns_t_ptr ? "PTR" : type == ns_t_txt ? "TXT" : "?";
  if (st.status != ARES_SUCCESS) return std::unexpected(status_error(st.status, name, what));
  return st.answer;
}

Result<MxResult> Resolver::mx(std::string_view domain) {
  auto raw = query(domain, ns_t_mx);
  if (!raw) return std::unexpected(raw.error());
  ares_mx_reply* replies = nullptr;
  int rc = ares_parse_mx_reply(reinterpret_cast<const unsigned char*>(raw->data()),
                               static_cast<int>(raw->size()), &replies);
  if (rc != ARES_SUCCESS) return std::unexpected(status_error(rc, domain, "MX"));
  MxResult out;
  for (ares_mx_reply* r = replies; r; r = r->next) {
    std::string host = normalize_host(r->host ? r->host : "");
    if (host.empty()) {
      out.null_mx = true;  // "0 ." (RFC 7505)
      continue;
    }
    out.hosts.push_back({r->priority, std::move(host)});
  }
  ares_free_data(replies);
  if (out.null_mx) {
    out.hosts.clear();
    return out;
  }
  static std::mt19937 rng{std::random_device{}()};
  std::shuffle(out.hosts.begin(), out.hosts.end(), rng);
  std::stable_sort(out.hosts.begin(), out.hosts.end(),
                   [](const MxRecord& a, const MxRecord& b) { return a.preference < b.preference; });
  if (out.hosts.empty())
    return fail(Errc::kNotFound, fmt::format("no MX records for {}", domain));
  return out;
}

Result<std::vector<IpAddress>> Resolver::addresses(std::string_view host, bool want_v4, bool want_v6) {
  std::vector<IpAddress> out;
  std::optional<Error> first_error;
  bool any_temporary = false;
  auto collect = [&](int type) {
    auto raw = query(host, type);
    if (!raw) {
      any_temporary = any_temporary || raw.error().code == Errc::kTemporary;
      if (!first_error || raw.error().code == Errc::kTemporary) first_error = raw.error();
      return;
    }
    const auto* buf = reinterpret_cast<const unsigned char*>(raw->data());
    int len = static_cast<int>(raw->size());
    if (type == ns_t_a) {
      ares_addrttl ttls[64];
      int n = 64;
      if (ares_parse_a_reply(buf, len, nullptr, ttls, &n) == ARES_SUCCESS)
        for (int i = 0; i < n; ++i) out.push_back(IpAddress::v4(ttls[i].ipaddr));
    } else {
      ares_addr6ttl ttls[64];
      int n = 64;
      if (ares_parse_aaaa_reply(buf, len, nullptr, ttls, &n) == ARES_SUCCESS)
        for (int i = 0; i < n; ++i) {
          in6_addr a;
          std::memcpy(&a, &ttls[i].ip6addr, sizeof a);
          out.push_back(IpAddress::v6(a));
        }
    }
  };
  if (want_v4) collect(ns_t_a);
  if (want_v6) collect(ns_t_aaaa);
  if (!out.empty()) return out;
  if (first_error) return std::unexpected(*first_error);
  return fail(Errc::kNotFound, fmt::format("no address records for {}", host));
}

std::string reversed_address_name(const IpAddress& addr, std::string_view zone) {
  std::string name;
  IpAddress a = addr.unmapped();
  const unsigned char* b = a.bytes();
  if (a.is_v4()) {
    name = fmt::format("{}.{}.{}.{}", b[3], b[2], b[1], b[0]);
  } else {
    for (int i = 15; i >= 0; --i) {
      if (!name.empty()) name += '.';
      name += fmt::format("{:x}.{:x}", b[i] & 0xf, b[i] >> 4);
    }
  }
  return name + "." + std::string(zone);
}

Result<std::vector<std::string>> Resolver::reverse(const IpAddress& addr) {
  std::string name = reversed_address_name(addr, addr.unmapped().is_v4() ? "in-addr.arpa" : "ip6.arpa");
  auto raw = query(name, ns_t_ptr);
  if (!raw) return std::unexpected(raw.error());
  hostent* he = nullptr;
  int rc = ares_parse_ptr_reply(reinterpret_cast<const unsigned char*>(raw->data()),
                                static_cast<int>(raw->size()), nullptr, 0, AF_INET, &he);
  if (rc != ARES_SUCCESS) return std::unexpected(status_error(rc, name, "PTR"));
  std::vector<std::string> out;
  if (he->h_name) out.push_back(normalize_host(he->h_name));
  for (char** alias = he->h_aliases; alias && *alias; ++alias) {
    std::string h = normalize_host(*alias);
    if (std::find(out.begin(), out.end(), h) == out.end()) out.push_back(h);
  }
  ares_free_hostent(he);
  if (out.empty()) return fail(Errc::kNotFound, fmt::format("no PTR record for {}", addr.to_string()));
  return out;
}

Result<std::vector<std::string>> Resolver::txt(std::string_view name) {
  auto raw = query(name, ns_t_txt);
  if (!raw) return std::unexpected(raw.error());
  ares_txt_ext* replies = nullptr;
  int rc = ares_parse_txt_reply_ext(reinterpret_cast<const unsigned char*>(raw->data()),
                                    static_cast<int>(raw->size()), &replies);
  if (rc != ARES_SUCCESS) return std::unexpected(status_error(rc, name, "TXT"));
  std::vector<std::string> out;
  for (ares_txt_ext* r = replies; r; r = r->next) {
    std::string piece(reinterpret_cast<char*>(r->txt), r->length);
    if (r->record_start || out.empty()) out.push_back(piece);
    else out.back() += piece;
  }
  ares_free_data(replies);
  if (out.empty()) return fail(Errc::kNotFound, fmt::format("no TXT record for {}", name));
  return out;
}

Result<std::vector<IpAddress>> native_addresses(std::string_view host, bool want_v4, bool want_v6) {
  addrinfo hints{};
  hints.ai_family = want_v4 && want_v6 ? AF_UNSPEC : want_v6 ? AF_INET6 : AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string h(host);
  int rc = ::getaddrinfo(h.c_str(), nullptr, &hints, &res);
  if (rc != 0) {
    Errc code = (rc == EAI_NONAME || rc == EAI_NODATA) ? Errc::kNotFound : Errc::kTemporary;
    return fail(code, fmt::format("{}: {}", host, ::gai_strerror(rc)));
  }
  std::vector<IpAddress> out;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    IpAddress a = IpAddress::from_sockaddr(ai->ai_addr);
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  }
  ::freeaddrinfo(res);
  std::stable_partition(out.begin(), out.end(), [](const IpAddress& a) { return a.is_v4(); });
  return out;
}

}  // namespace postern::dns
