// anvil: connection and rate counting for smtpd (private/anvil, plain
// attribute encoding). Requests carry request=<name> and ident=service:addr:
//   connect      -> status=0 count=N rate=N
//   disconnect   -> status=0
//   message | recipient | newtls | auth  -> status=0 rate=N
//   newtls_status -> status=0 rate=N (no increment)
//   lookup       -> status=0 count= rate= mail= rcpt= newtls= auth=
// As in Postfix, a client stream (one smtpd process serves one SMTP client
// at a time) stands for at most one connection: a new connect drops the
// stream's previous one, and the stream's connection is dropped when the
// stream ends. message/recipient/newtls/auth for a client anvil does not
// know count as its connect first. Every anvil_status_update_time the maxima are logged as
// "statistics: max connection rate 1/60s for (smtp:127.0.0.1) at ...".
#include <ctime>
#include <optional>
#include <memory>

#include "anvil/anvil_table.h"
#include "global/attr.h"
#include "global/mail_server.h"
#include "util/stream.h"
#include "util/strings.h"

using namespace postern;

namespace {

constexpr std::string_view kProtocol = "anvil_protocol";

std::unique_ptr<AnvilTable> table;

void log_statistics() {
  for (const auto& line : table->statistics()) log::info("statistics: {}", line);
}

void schedule_status(ServiceContext& ctx) {
  long long every = ctx.cfg().get_time("anvil_status_update_time");
  if (every <= 0) every = 600;
  ctx.loop().add_timer(std::chrono::milliseconds(every * 1000), [&ctx] {
    table->expire(::time(nullptr));
    log_statistics();
    schedule_status(ctx);
  });
}

// Per client stream: the connection it reported open, if any.
using OpenConnections = std::optional<std::string>;

const AnvilEntry& connect(OpenConnections& open, const std::string& ident, time_t now) {
  if (open) table->disconnect(*open, now);
  open = ident;
  return table->connect(ident, now);
}

// For message, recipient, newtls and auth: an unknown client connects first.
void ensure_known(OpenConnections& open, const std::string& ident, time_t now) {
  if (!table->has(ident)) connect(open, ident, now);
}

AttrList answer(const AttrList& req, OpenConnections& open) {
  time_t now = ::time(nullptr);
  std::string request(req.str("request"));
  std::string ident(req.str("ident"));
  AttrList out;
  if (ident.empty()) {
    log::warn("missing ident in {} request", printable(request));
    return AttrList{{"status", "-1"}};
  }
  if (request == "connect") {
    const AnvilEntry& e = connect(open, ident, now);
    out.add("status", 0).add("count", e.count).add("rate", e.rate);
  } else if (request == "disconnect") {
    if (open == ident) {
      table->disconnect(ident, now);
      open.reset();
    }
    out.add("status", 0);
  } else if (request == "message") {
    ensure_known(open, ident, now);
    out.add("status", 0).add("rate", table->message(ident, now).mail);
  } else if (request == "recipient") {
    ensure_known(open, ident, now);
    out.add("status", 0).add("rate", table->recipient(ident, now).rcpt);
  } else if (request == "newtls") {
    ensure_known(open, ident, now);
    out.add("status", 0).add("rate", table->newtls(ident, now).newtls);
  } else if (request == "newtls_status") {
    out.add("status", 0).add("rate", table->newtls_status(ident, now).newtls);
  } else if (request == "auth") {
    ensure_known(open, ident, now);
    out.add("status", 0).add("rate", table->auth(ident, now).auth);
  } else if (request == "lookup") {
    AnvilEntry e = table->lookup(ident, now);
    out.add("status", 0).add("count", e.count).add("rate", e.rate).add("mail", e.mail);
    out.add("rcpt", e.rcpt).add("newtls", e.newtls).add("auth", e.auth);
  } else {
    log::warn("unrecognized request: \"{}\", ignored", printable(request));
    out.add("status", -1);
  }
  log::debug("{} {} -> {}", request, ident, attr_encode(AttrEncoding::kPlain, out));
  return out;
}

void serve(UniqueFd fd, ServiceContext& ctx, std::function<void()> done) {
  int raw = fd.get();
  auto stream = std::make_shared<Stream>(Stream::from_fd(std::move(fd)));
  auto open = std::make_shared<OpenConnections>();
  stream->set_timeout(std::chrono::seconds(ctx.ipc_timeout()));
  attr_write(*stream, AttrEncoding::kPlain, AttrList{{"protocol", std::string(kProtocol)}});
  auto finish = [stream, open, raw, &ctx, done] {
    if (*open) table->disconnect(**open, ::time(nullptr));
    open->reset();
    ctx.loop().unwatch(raw);
    done();
  };
  if (!stream->flush()) {
    done();
    return;
  }
  ctx.loop().watch_read(raw, [stream, open, finish] {
    do {
      auto req = attr_read(*stream, AttrEncoding::kPlain);
      if (!req) {
        if (req.error().code != Errc::kEof) log::warn("read request: {}", req.error().text);
        finish();
        return;
      }
      attr_write(*stream, AttrEncoding::kPlain, answer(*req, *open));
    } while (stream->has_buffered_input());
    if (!stream->flush()) finish();
  });
}

}  // namespace

int main(int argc, char** argv) {
  ServiceHooks hooks;
  hooks.post_init = [](ServiceContext& ctx) {
    table = std::make_unique<AnvilTable>(static_cast<int>(ctx.cfg().get_time("anvil_rate_time_unit")));
    schedule_status(ctx);
  };
  return multi_server_main(argc, argv, "anvil", serve, hooks);
}
