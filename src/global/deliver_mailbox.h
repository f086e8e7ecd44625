// Writing a message into a mailbox, as local and virtual do: a Maildir
// (tmp/ then new/, Postfix's file names) or an mbox file (From_ line,
// ">From " quoting, fcntl and dotlock locks), with the Return-Path:,
// X-Original-To: and Delivered-To: headers prepended.
#pragma once

#include <sys/types.h>

#include <string>

#include "util/error.h"

namespace postern {

struct MailCopy {
  int queue_fd = -1;       // the queue file
  off_t data_offset = 0;   // its first content record
  std::string sender;      // Return-Path: <sender>
  std::string recipient;   // Delivered-To: (lower-cased)
  std::string orig_recipient;  // X-Original-To: when not empty
  bool return_path = true;
  bool delivered_to = true;
  bool orig_to = true;
  long size_limit = 0;     // mbox: refuse when the file would exceed this (0 = none)
};

// The host name part of Maildir file names: gethostname() with '/' and ':'
// written as \057 and \072.
std::string maildir_hostname();
// "tmp/SEC.PPID.HOST" and "new/SEC.VDEVIINOMUSEC.HOST" (hex dev/inode).
std::string maildir_tmp_name(long sec, int pid, const std::string& host);
std::string maildir_new_name(long sec, unsigned long dev, unsigned long ino, long usec,
                             const std::string& host);

// The prepended headers for `m`.
std::string delivery_headers(const MailCopy& m);

// Writes the message to `fd`: optionally a "From sender  date" line first,
// the delivery headers, the content (lines starting with "From " quoted
// as ">From " when `quote_from`), and an empty line at the end when
// `blank_line`. `what` names the destination in errors.
struct CopyOptions {
  bool from_line = false;
  bool quote_from = false;
  bool blank_line = false;
  bool dot_stuff = false;  // "." at the start of a line becomes ".."
  std::string eol = "\n";  // the line end written (pipe's eol=)
};
Status copy_message(int fd, const MailCopy& m, const CopyOptions& opt, const std::string& what);

// Delivers into the Maildir `dir` (trailing '/' optional), creating it and
// its tmp/new/cur as needed (mode 0700). Returns the path of the new file.
// kNoSpace for a full disk or quota; other failures kIo with Postfix's
// wording ("create maildir file X: Permission denied").
Result<std::string> deliver_maildir(const std::string& dir, const MailCopy& m);

// Appends to the mbox file `path` (created 0600), locked with fcntl and
// with a PATH.lock dotlock when `dotlock` is set. Errors read as Postfix's
// ("error writing message: File too large" for m.size_limit, kNoSpace);
// callers put "cannot update mailbox PATH for user U. " in front.
Status deliver_mbox(const std::string& path, const MailCopy& m, bool dotlock);

// The status code for a failed mailbox delivery, as Postfix chooses it:
// a full file system 4.3.1 (try again), a full mailbox (quota, size
// limit) 5.2.2, anything else `other`.
std::string mailbox_status(const Error& e, const std::string& other);

// Runs `fn` with effective uid/gid switched to uid/gid when running as
// root (and they differ from root); restores root afterwards.
template <class Fn>
auto as_user(uid_t uid, gid_t gid, Fn&& fn) -> decltype(fn());

// Creates `dir` and its missing parents with `mode`.
Status make_dirs(const std::string& dir, mode_t mode);

}  // namespace postern

#include <unistd.h>

namespace postern {
template <class Fn>
auto as_user(uid_t uid, gid_t gid, Fn&& fn) -> decltype(fn()) {
  bool swap = ::geteuid() == 0 && uid != 0;
  if (swap) {
    if (::setegid(gid) != 0 || ::seteuid(uid) != 0) {
      (void)::seteuid(0);
      (void)::setegid(0);
    }
  }
  auto result = fn();
  if (swap) {
    (void)::seteuid(0);
    (void)::setegid(0);
  }
  return result;
}
}  // namespace postern
