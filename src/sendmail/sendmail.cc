// sendmail(1), mailq(1) and newaliases(1): the Sendmail-compatible
// command line that cron, mailx, PHP and scripts use to send mail.
//
// Sending (-bm, the default): the message is read from stdin (a line with
// a single "." ends it unless -i/-oi/-t... see below), turned into queue
// records, and handed over:
//   - to cleanup directly when public/cleanup answers (root or set-gid
//     callers while master runs): cleanup's verdict is reported at once,
//     so a rejected message (header_checks REJECT, size) fails here;
//   - otherwise, or when cleanup fails temporarily, through postdrop into
//     maildrop/, where it waits for pickup. Nothing is lost while master
//     is down.
// Other modes run the program that does the work: -bp/mailq -> postqueue
// -p, -q -> postqueue -f, -bi/-I/newaliases -> newaliases, -bs -> smtpd
// -S (SMTP on stdin/stdout), -bd -> postfix start. Exit codes are
// sysexits.h values.
#include <pwd.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "global/cleanup_client.h"
#include "global/config.h"
#include "global/deliver_request.h"
#include "global/mail_server.h"
#include "global/rec_type.h"
#include "global/rfc822_address.h"
#include "postdrop/maildrop.h"
#include "util/files.h"
#include "util/log.h"
#include "util/strings.h"

using namespace postern;

namespace {

enum class Mode { kSend, kQueueList, kNewAliases, kSmtp, kDaemon, kFlush, kVerify, kIgnore };

struct Options {
  Mode mode = Mode::kSend;
  bool extract = false;      // -t
  bool dots_special = true;  // cleared by -i, -oi
  std::optional<std::string> sender;
  std::optional<std::string> fullname;
  std::string config_dir;
  std::string envid;
  int notify = 0;
  std::string ret;
  std::string flush_site;  // -qRsite
  bool verp = false;
  std::vector<std::string> recipients;
};

std::string program_name = "sendmail";

// Logs to the mail log only (cron mails whatever a job prints).
void log_quietly(const std::string& text) {
  log::set_stderr("");
  log::info("{}", text);
  log::set_stderr(program_name);
}

// "sendmail: fatal: text" on stderr (and in the log), exit `code`.
[[noreturn]] void fatal(int code, const std::string& text) {
  std::fprintf(stderr, "%s: fatal: %s\n", program_name.c_str(), text.c_str());
  log::set_stderr("");
  log::emit(log::Level::kInfo, "fatal: " + text);
  std::exit(code);
}

std::string strip_angles(std::string_view a) {
  a = trim(a);
  if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
  return std::string(a);
}

int parse_notify(std::string_view value) {
  int flags = 0;
  for (auto w : split(value, ", ")) {
    std::string u = uppercase(w);
    if (u == "NEVER") flags |= 1;
    else if (u == "SUCCESS") flags |= 2;
    else if (u == "FAILURE") flags |= 4;
    else if (u == "DELAY") flags |= 8;
    else fatal(EX_USAGE, fmt::format("bad -N option value: {}", value));
  }
  if ((flags & 1) && (flags & ~1)) fatal(EX_USAGE, fmt::format("bad -N option value: {}", value));
  return flags;
}

Options parse(int argc, char** argv, std::string_view name) {
  Options o;
  if (name == "mailq") o.mode = Mode::kQueueList;
  if (name == "newaliases") o.mode = Mode::kNewAliases;
  opterr = 0;
  int c;
  while ((c = ::getopt(argc, argv, "+B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:q:r:tvx")) != -1) {
    switch (c) {
      case 'B': case 'G': case 'L': case 'O': case 'U': case 'c': case 'e': case 'h':
      case 'm': case 'n': case 'p': case 'x':
        break;  // accepted for compatibility, ignored
      case 'C':
        o.config_dir = optarg;
        if (!is_directory(o.config_dir)) o.config_dir = dirname_of(o.config_dir);
        break;
      case 'F': o.fullname = optarg; break;
      case 'I': o.mode = Mode::kNewAliases; break;
      case 'N': o.notify = parse_notify(optarg); break;
      case 'R':
        if (iequals(optarg, "full")) o.ret = "1";
        else if (iequals(optarg, "hdrs")) o.ret = "2";
        else fatal(EX_USAGE, fmt::format("bad -R option value: {}", optarg));
        break;
      case 'V': o.envid = optarg; break;
      case 'X':
        if (std::string_view(optarg) == "V") o.verp = true;  // -XV; other -X: log file, ignored
        break;
      case 'b':
        switch (optarg[0]) {
          case 'm': o.mode = Mode::kSend; break;
          case 'p': o.mode = Mode::kQueueList; break;
          case 'i': o.mode = Mode::kNewAliases; break;
          case 's': o.mode = Mode::kSmtp; break;
          case 'd': o.mode = Mode::kDaemon; break;
          case 'v': o.mode = Mode::kVerify; break;
          default: fatal(EX_USAGE, fmt::format("unsupported: -b{}", optarg));
        }
        break;
      case 'f':
      case 'r': o.sender = strip_angles(optarg); break;
      case 'i': o.dots_special = false; break;
      case 'o':
        if (optarg[0] == 'i' && optarg[1] == 0) o.dots_special = false;
        break;  // other -o options are ignored
      case 'q':
        // -q: flush; -qRsite: flush one site; -qinterval and the rest: ignored.
        if (optarg[0] == 'R') {
          o.flush_site = optarg + 1;
          o.mode = Mode::kFlush;
        } else {
          o.mode = Mode::kIgnore;
        }
        break;
      case 't': o.extract = true; break;
      case 'v': log::increase_verbose(); break;
      default:
        if (optopt == 'q') { o.mode = Mode::kFlush; break; }  // plain -q
        std::fprintf(stderr, "%s: invalid option -- '%c'\n", std::string(name).c_str(), optopt);
        fatal(EX_TEMPFAIL, fmt::format("usage: {} [options]", name));
    }
  }
  for (int i = optind; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.find_first_of(",<") == std::string_view::npos) {
      o.recipients.emplace_back(trim(arg));
      continue;
    }
    for (const auto& a : parse_header_addresses(arg))
      if (!a.address.empty()) o.recipients.push_back(a.address);
  }
  return o;
}

// Runs another program of the mail system in place of this one.
[[noreturn]] void run(const std::string& dir, const std::string& program,
                      std::vector<std::string> args, const std::string& config_dir) {
  std::string path = dir + "/" + program;
  if (::access(path.c_str(), X_OK) != 0)
    fatal(EX_UNAVAILABLE, fmt::format("{}: {} is not available", path, program));
  ::setenv("MAIL_CONFIG", config_dir.c_str(), 1);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execv(path.c_str(), argv.data());
  fatal(EX_OSERR, fmt::format("execute {}: {}", path, std::strerror(errno)));
}

// The message from stdin, without line ends.
std::vector<std::string> read_message(const Options& o, long long limit) {
  std::vector<std::string> lines;
  std::string line;
  long long total = 0;
  bool first = true;
  while (std::getline(std::cin, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (o.dots_special && line == ".") break;
    if (first && line.starts_with("From ")) {  // an mbox separator, not a header
      first = false;
      continue;
    }
    first = false;
    total += static_cast<long long>(line.size()) + 1;
    if (limit > 0 && total > limit) fatal(EX_DATAERR, "message file too big");
    lines.push_back(std::move(line));
  }
  if (std::cin.bad()) fatal(EX_IOERR, "error reading input");
  return lines;
}

std::string login_name(uid_t uid, std::string* gecos) {
  if (struct passwd* pw = ::getpwuid(uid)) {
    std::string g = pw->pw_gecos ? pw->pw_gecos : "";
    *gecos = g.substr(0, g.find(','));
    return pw->pw_name;
  }
  return fmt::format("#{}", static_cast<long>(uid));
}

enum class Direct { kQueued, kRejected, kUnavailable };

// Hands the message to cleanup; kUnavailable means "use postdrop".
Direct submit_direct(const Config& cfg, const std::vector<Record>& body, uid_t uid,
                     std::string* reason, int* status) {
  auto client = CleanupClient::open(cfg, kCleanupFlagsExternal);
  if (!client) return Direct::kUnavailable;
  struct timeval tv;
  ::gettimeofday(&tv, nullptr);
  std::vector<Record> records;
  records.push_back(Record{rec::kTime, fmt::format("{} {}", tv.tv_sec, tv.tv_usec), 0});
  records.push_back(Record{rec::kAttr, "rewrite_context=local", 0});
  records.insert(records.end(), body.begin(), body.end());
  log_quietly(fmt::format("{}: uid={} from=<{}>", client->queue_id(), static_cast<long>(uid),
                          submit::records_sender(records)));
  auto outcome = submit::feed_cleanup(*client, records, cfg.get("myhostname"),
                                      cfg.get("mail_name"), uid, tv.tv_sec);
  if (!outcome) return Direct::kUnavailable;
  constexpr int kTemporary = kCleanupStatDefer | kCleanupStatWrite | kCleanupStatProxy;
  if (outcome->status == 0) return Direct::kQueued;
  if (outcome->status & kTemporary) return Direct::kUnavailable;
  auto detail = cleanup_status_detail(outcome->status);
  *reason = outcome->reason.empty() ? fmt::format("{} {}", detail.dsn, detail.text)
                                    : outcome->reason;
  *status = outcome->status;
  return Direct::kRejected;
}

// Writes the records to postdrop's stdin; postdrop's exit status.
int submit_postdrop(const Config& cfg, const std::string& config_dir, const std::string& data) {
  std::string path = cfg.get("command_directory") + "/postdrop";
  int in[2];
  if (::pipe(in) != 0) fatal(EX_OSERR, fmt::format("pipe: {}", std::strerror(errno)));
  pid_t pid = ::fork();
  if (pid < 0) fatal(EX_OSERR, fmt::format("fork: {}", std::strerror(errno)));
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::close(in[0]);
    ::close(in[1]);
    ::execl(path.c_str(), "postdrop", "-r", "-c", config_dir.c_str(), static_cast<char*>(nullptr));
    std::fprintf(stderr, "sendmail: fatal: execute %s: %s\n", path.c_str(), std::strerror(errno));
    ::_exit(EX_OSERR);
  }
  ::close(in[0]);
  ::signal(SIGPIPE, SIG_IGN);
  std::string_view rest = data;
  while (!rest.empty()) {
    ssize_t n = ::write(in[1], rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    rest.remove_prefix(static_cast<size_t>(n));
  }
  ::close(in[1]);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {}
  if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
  return EX_SOFTWARE;
}

}  // namespace

int main(int argc, char** argv) {
  std::string name = basename_of(argv[0]);
  if (name != "mailq" && name != "newaliases") name = "sendmail";
  program_name = name;
  log::init(name, name);
  Options o = parse(argc, argv, name);
  if (o.config_dir.empty()) o.config_dir = default_config_directory();
  auto loaded = Config::load(o.config_dir);
  if (!loaded) fatal(EX_CONFIG, loaded.error().text);
  set_config(std::move(*loaded));
  const Config& cfg = config();
  log::configure(mail_log_settings(cfg));
  log::set_stderr(name);

  const std::string cmd_dir = cfg.get("command_directory");
  switch (o.mode) {
    case Mode::kQueueList: run(cmd_dir, "postqueue", {"-c", o.config_dir, "-p"}, o.config_dir);
    case Mode::kFlush:
      if (!o.flush_site.empty())
        run(cmd_dir, "postqueue", {"-c", o.config_dir, "-s", o.flush_site}, o.config_dir);
      run(cmd_dir, "postqueue", {"-c", o.config_dir, "-f"}, o.config_dir);
    case Mode::kNewAliases: {
      struct stat self {}, other {};
      std::string path = cmd_dir + "/newaliases";
      if (::stat("/proc/self/exe", &self) == 0 && ::stat(path.c_str(), &other) == 0 &&
          self.st_ino == other.st_ino && self.st_dev == other.st_dev) {
        std::vector<std::string> args{"-c", o.config_dir};
        const std::string databases = cfg.get("alias_database");
        for (auto db : split(databases)) args.emplace_back(db);
        run(cmd_dir, "postalias", args, o.config_dir);
      }
      run(cmd_dir, "newaliases", {"-c", o.config_dir}, o.config_dir);
    }
    case Mode::kSmtp: run(cfg.get("daemon_directory"), "smtpd", {"-S"}, o.config_dir);
    case Mode::kDaemon: run(cmd_dir, "postfix", {"-c", o.config_dir, "start"}, o.config_dir);
    case Mode::kVerify: break;  // a message flagged for a delivery report (verify.md)
    case Mode::kIgnore: return 0;
    case Mode::kSend: break;
  }

  const uid_t uid = ::getuid();
  std::string gecos;
  std::string login = login_name(uid, &gecos);
  const std::string who = fmt::format("{}({})", login, static_cast<long>(uid));
  if (o.recipients.empty() && !o.extract)
    fatal(EX_TEMPFAIL,
          who + ": Recipient addresses must be specified on the command line or via the -t option");
  submit::Submission m;
  m.sender = o.sender ? *o.sender : login;
  if (o.fullname) m.fullname = *o.fullname;
  else if (const char* n = std::getenv("NAME"); n && *n) m.fullname = n;
  else m.fullname = gecos;
  m.envelope_id = o.envid;
  m.notify_flags = o.notify;
  m.ret_flags = o.ret;
  m.recipients = o.recipients;
  const long long limit = cfg.int_value("message_size_limit").value_or(10240000);
  if (o.mode == Mode::kVerify) {
    // -bv reads no message; like Postfix it queues a dummy one whose
    // headers the report returns.
    m.lines = {"From: " + m.sender, "Subject: probe"};
    for (size_t i = 0; i < m.recipients.size(); ++i)
      m.lines.push_back((i == 0 ? "To:\t" : "\t") + m.recipients[i] +
                        (i + 1 < m.recipients.size() ? "," : ""));
  } else {
    m.lines = read_message(o, limit);
  }
  if (o.extract) {
    m.extracted = submit::extract_recipients(m.lines);
    if (m.extracted.empty() && m.recipients.empty())
      fatal(EX_TEMPFAIL, who + ": No recipient addresses found in message header");
  }
  std::vector<Record> records = submit::submission_records(m);
  if (o.verp) {
    // V record right after the sender.
    for (size_t i = 0; i < records.size(); ++i)
      if (records[i].type == rec::kSender) {
        records.insert(records.begin() + static_cast<long>(i) + 1,
                       Record{rec::kVerp, cfg.get("default_verp_delimiters"), 0});
        break;
      }
  }

  if (o.mode == Mode::kVerify) {
    // A trace_flags=512 (kDeliverFlagUserVerify) before the sender: the
    // agents only record what they would do; bounce mails the report.
    for (size_t i = 0; i < records.size(); ++i)
      if (records[i].type == rec::kSender) {
        records.insert(records.begin() + static_cast<long>(i),
                       Record{rec::kAttr, fmt::format("trace_flags={}", kDeliverFlagUserVerify), 0});
        break;
      }
    std::printf("Mail Delivery Status Report will be mailed to <%s>.\n", m.sender.c_str());
    std::fflush(stdout);
  }
  std::string reason;
  int status = 0;
  switch (submit_direct(cfg, records, uid, &reason, &status)) {
    case Direct::kQueued: return 0;
    case Direct::kRejected:
      std::fprintf(stderr, "%s: message rejected: %s\n", program_name.c_str(), reason.c_str());
      log_quietly(fmt::format("message from uid={} rejected: {}", static_cast<long>(uid), reason));
      return (status & kCleanupStatBad) ? EX_SOFTWARE
             : (status & kCleanupStatRcpt) ? EX_NOUSER
                                           : EX_DATAERR;
    case Direct::kUnavailable: break;
  }
  int rc = submit_postdrop(cfg, o.config_dir, submit::encode_records(records));
  if (rc != 0) fatal(EX_TEMPFAIL, fmt::format("postdrop exited with status {}", rc));
  return 0;
}
