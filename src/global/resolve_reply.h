// What trivial-rewrite's resolve request answers, shared by the server
// (src/trivial-rewrite) and its clients (rewrite_client.h).
#pragma once

#include <string>

namespace postern {

// Flag and class bits as Postfix's resolve protocol carries them.
enum ResolveFlags : int {
  kResolveRouted = 1 << 1,   // the address carried routing (%, !, nested @)
  kResolveError = 1 << 2,    // bad destination syntax
  kResolveFail = 1 << 3,     // a table lookup failed; try again later
  kResolveClassLocal = 1 << 8,
  kResolveClassAlias = 1 << 9,
  kResolveClassVirtual = 1 << 10,
  kResolveClassRelay = 1 << 11,
  kResolveClassDefault = 1 << 12,
  // Classes for which this host is the final destination.
  kResolveClassFinal = kResolveClassLocal | kResolveClassAlias | kResolveClassVirtual,
};

struct ResolveReply {
  std::string transport;
  std::string nexthop;
  std::string recipient;
  int flags = 0;
};

}  // namespace postern
