#include "util/error.h"

#include <cerrno>
#include <cstring>

namespace postern {

Error sys_error(std::string_view what, int errnum) {
  Errc code = Errc::kIo;
  switch (errnum) {
    case ENOSPC:
    case EDQUOT: code = Errc::kNoSpace; break;
    case ENOENT: code = Errc::kNotFound; break;
    case EEXIST: code = Errc::kExists; break;
    case ETIMEDOUT: code = Errc::kTimeout; break;
    case EAGAIN:
    case EINTR: code = Errc::kTemporary; break;
    default: break;
  }
  std::string text(what);
  text += ": ";
  text += std::strerror(errnum);
  return Error{code, std::move(text)};
}

Error sys_error(std::string_view what) { return sys_error(what, errno); }

}  // namespace postern
