#include "global/deliver_mailbox.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "global/deliver_agent.h"
#include "global/mail_date.h"
#include "util/unique_fd.h"

namespace postern {

std::string maildir_hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) std::strcpy(buf, "localhost");
  std::string out;
  for (const char* p = buf; *p; ++p) {
    if (*p == '/') out += "\\057";
    else if (*p == ':') out += "\\072";
    else out += *p;
  }
  return out;
}

std::string maildir_tmp_name(long sec, int pid, const std::string& host) {
  return "tmp/" + std::to_string(sec) + ".P" + std::to_string(pid) + "." + host;
}

std::string maildir_new_name(long sec, unsigned long dev, unsigned long ino, long usec,
                             const std::string& host) {
  char buf[128];
  std::snprintf(buf, sizeof(buf), "new/%ld.V%lxI%lxM%ld.", sec, dev, ino, usec);
  return buf + host;
}

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

Status write_all_fd(int fd, std::string_view data, const std::string& what) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_fail(what);
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

Status copy_message(int fd, const MailCopy& m, const CopyOptions& opt, const std::string& what) {
  std::string buf;
  const std::string& eol = opt.eol;
  if (opt.from_line) {
    time_t now = ::time(nullptr);
    char date[64];
    struct tm tm;
    ::localtime_r(&now, &tm);
    std::strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
    buf += "From " + (m.sender.empty() ? std::string("MAILER-DAEMON") : m.sender) + "  " + date + eol;
  }
  std::string headers = delivery_headers(m);
  if (eol != "\n") {
    for (char c : headers) {
      if (c == '\n') buf += eol;
      else buf += c;
    }
  } else {
    buf += headers;
  }
  bool line_start = true;
  auto s = for_each_content_line(m.queue_fd, m.data_offset, [&](std::string_view line, bool complete) -> Status {
    if (opt.quote_from && line_start && line.starts_with("From ")) buf += ">";
    if (opt.dot_stuff && line_start && line.starts_with(".")) buf += ".";
    buf.append(line);
    if (complete) buf += eol;
    line_start = complete;
    if (buf.size() > 65536) {
      if (auto w = write_all_fd(fd, buf, what); !w) return w;
      buf.clear();
    }
    return {};
  });
  if (!s) return s;
  if (opt.blank_line) buf += eol;
  return write_all_fd(fd, buf, what);
}

std::string delivery_headers(const MailCopy& m) {
  std::string h;
  if (m.return_path) h += "Return-Path: <" + m.sender + ">\n";
  if (m.orig_to && !m.orig_recipient.empty()) h += "X-Original-To: " + m.orig_recipient + "\n";
  if (m.delivered_to) h += "Delivered-To: " + lower(m.recipient) + "\n";
  return h;
}

Status make_dirs(const std::string& dir, mode_t mode) {
  if (dir.empty()) return {};
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return {};
    return fail(Errc::kIo, "create directory " + dir + ": Not a directory");
  }
  auto slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    if (auto s = make_dirs(dir.substr(0, slash), mode); !s) return s;
  }
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) return sys_fail("create directory " + dir);
  return {};
}

Result<std::string> deliver_maildir(const std::string& dir_in, const MailCopy& m) {
  std::string dir = dir_in;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  struct timeval tv;
  ::gettimeofday(&tv, nullptr);
  std::string host = maildir_hostname();
  std::string tmp = dir + "/" + maildir_tmp_name(tv.tv_sec, ::getpid(), host);
  // As Postfix: try the file first, make the directories only when they
  // are missing, and report the file (not a directory) on failure.
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd && errno == ENOENT) {
    for (const char* sub : {"/tmp", "/new", "/cur"}) {
      if (auto s = make_dirs(dir + sub, 0700); !s) return std::unexpected(s.error());
    }
    fd.reset(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  }
  if (!fd) return sys_fail("create maildir file " + tmp);
  auto cleanup = [&] { (void)::unlink(tmp.c_str()); };
  if (auto s = copy_message(fd.get(), m, CopyOptions{}, "write maildir file " + tmp); !s) {
    cleanup();
    return std::unexpected(s.error());
  }
  if (::fsync(fd.get()) != 0) {
    auto e = sys_fail("write maildir file " + tmp);
    cleanup();
    return e;
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) {
    auto e = sys_fail("stat maildir file " + tmp);
    cleanup();
    return e;
  }
  std::string fresh = dir + "/" +
                      maildir_new_name(tv.tv_sec, static_cast<unsigned long>(st.st_dev),
                                       static_cast<unsigned long>(st.st_ino), tv.tv_usec, host);
  int linked = ::link(tmp.c_str(), fresh.c_str());
  if (linked != 0 && errno == ENOENT && make_dirs(dir + "/new", 0700) && make_dirs(dir + "/cur", 0700))
    linked = ::link(tmp.c_str(), fresh.c_str());
  if (linked != 0) {
    auto e = sys_fail("create maildir file " + fresh);
    cleanup();
    return e;
  }
  cleanup();
  return fresh;
}

Status deliver_mbox(const std::string& path, const MailCopy& m, bool dotlock) {
  auto errtext = [](const char* what, int err) { return std::string(what) + ": " + std::strerror(err); };
  std::string lock_path = path + ".lock";
  bool have_dotlock = false;
  if (dotlock) {
    for (int i = 0; i < 20; ++i) {
      UniqueFd l(::open(lock_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
      if (l) {
        have_dotlock = true;
        break;
      }
      if (errno != EEXIST) break;  // no permission to dotlock: fcntl only
      ::usleep(250000);
    }
    if (!have_dotlock && errno == EEXIST)
      return fail(Errc::kTemporary, "unable to lock for exclusive access: " + lock_path + ": File exists");
  }
  auto unlock = [&] {
    if (have_dotlock) (void)::unlink(lock_path.c_str());
  };
  bool existed = ::access(path.c_str(), F_OK) == 0;
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) {
    int err = errno;
    unlock();
    return fail(Errc::kIo, errtext(existed ? "cannot open file" : "cannot create file exclusively", err));
  }
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (::fcntl(fd.get(), F_SETLKW, &fl) != 0) {
    int err = errno;
    unlock();
    return fail(Errc::kTemporary, errtext("unable to lock for exclusive access", err));
  }
  struct stat st;
  off_t start = ::fstat(fd.get(), &st) == 0 ? st.st_size : 0;
  auto s = copy_message(fd.get(), m, CopyOptions{true, true, true}, "write file " + path);
  if (s && ::fsync(fd.get()) != 0) s = sys_fail("write file " + path);
  // mailbox_size_limit bounds the size of the file after delivery.
  if (s && m.size_limit > 0 && ::fstat(fd.get(), &st) == 0 && st.st_size > m.size_limit)
    s = fail(Errc::kNoSpace, errtext("error writing message", EFBIG));
  else if (!s) {
    int err = EIO;
    for (int e : {ENOSPC, EDQUOT, EFBIG, EACCES})
      if (s.error().text.find(std::strerror(e)) != std::string::npos) err = e;
    s = fail(s.error().code, errtext("error writing message", err));
  }
  if (!s) (void)::ftruncate(fd.get(), start);
  unlock();
  return s;
}

std::string mailbox_status(const Error& e, const std::string& other) {
  if (e.code != Errc::kNoSpace) return other;
  // kNoSpace covers ENOSPC and EDQUOT; only the first is the whole disk.
  if (e.text.find(std::strerror(ENOSPC)) != std::string::npos) return "4.3.1";
  return "5.2.2";
}

}  // namespace postern
