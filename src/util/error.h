// Error values and the std::expected conventions used everywhere.
//
// Expected failures (bad input, a peer that hangs up, a missing map entry,
// a full disk) are returned as Error values; exceptions are not used for
// control flow. Errc tells a caller what to do next: a kTemporary failure
// becomes a 4xx reply or a retry, a kPermanent one a 5xx or a bounce.
#pragma once

#include <expected>
#include <string>
#include <string_view>

namespace postern {

enum class Errc {
  kInvalid,    // malformed input: configuration, protocol, file contents
  kNotFound,   // no such key, file, user or queue ID
  kTemporary,  // try again later: server down, lock busy, DNS timeout
  kPermanent,  // will never work: policy refusal, permanent lookup error
  kIo,         // a system call failed (errno text in the message)
  kTimeout,    // a deadline passed
  kTooLarge,   // a size limit was exceeded
  kEof,        // the peer closed the connection or the file ended early
  kExists,     // something is already there (pid lock, exclusive create)
  kNoSpace,    // the file system is full (ENOSPC, EDQUOT)
};

struct Error {
  Errc code = Errc::kInvalid;
  std::string text;
};

template <class T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

// Shorthand for `return fail(Errc::kInvalid, "...")` in a Result function.
inline std::unexpected<Error> fail(Errc code, std::string text) {
  return std::unexpected(Error{code, std::move(text)});
}

// An Error for a failed system call: "what: strerror(errno)". ENOSPC and
// EDQUOT map to kNoSpace, ENOENT to kNotFound, EEXIST to kExists, timeouts
// and EAGAIN to kTimeout/kTemporary; everything else is kIo.
Error sys_error(std::string_view what, int errnum);
Error sys_error(std::string_view what);  // uses errno

inline std::unexpected<Error> sys_fail(std::string_view what) {
  return std::unexpected(sys_error(what));
}

}  // namespace postern
