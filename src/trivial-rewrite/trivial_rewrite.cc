// trivial-rewrite: the rewrite and resolve services (private/rewrite).
//
// Clients keep a connection open and send one attribute list per request:
//   request=rewrite rule=local|remote address=A  -> flags=0 address=CANONICAL
//   request=resolve|verify sender=S address=A    -> flags=0 transport= nexthop=
//                                                   recipient= flags=CLASS|FLAGS
// Tables are opened before privileges are dropped; when one of them changes
// on disk the process finishes its clients and exits, and master starts a
// fresh one that reads the new contents.
#include <ctime>
#include <memory>

#include "global/attr.h"
#include "global/mail_server.h"
#include "maps/map.h"
#include "maps/table_lookup.h"
#include "trivial-rewrite/resolve.h"
#include "util/stream.h"
#include "util/strings.h"

using namespace postern;

namespace {

constexpr std::string_view kProtocol = "trivial_rewrite_protocol";

struct State {
  RewriteSettings rewrite;
  ResolveSettings resolve;
  ResolveSettings verify;  // address probes: the address_verify_* routing
};
std::unique_ptr<State> state;

// The tables in use, opened a second time to notice a replaced file.
std::vector<maps::MapPtr> watched;
time_t last_check = 0;

// True once a table changed (checked at most once a second): the process
// then stops taking work and closes its clients after their current
// requests, so they reconnect to a fresh process (Postfix's trivial-rewrite
// exits with "table ... has changed -- restarting").
bool tables_changed(ServiceContext& ctx) {
  if (ctx.exit_requested()) return true;
  time_t now = time(nullptr);
  if (now == last_check) return false;
  last_check = now;
  for (const auto& m : watched)
    if (m->changed()) {
      log::info("table {}:{} has changed -- restarting", m->type(), m->name());
      ctx.request_exit();
      return true;
    }
  return false;
}

AttrList answer(const AttrList& req) {
  std::string_view request = req.str("request");
  if (request == "rewrite") {
    std::string_view rule = req.str("rule");
    const RewriteContext& context = rule == "remote" ? state->rewrite.remote : state->rewrite.local;
    if (rule != "local" && rule != "remote")
      log::warn("unknown rewrite rule \"{}\"; using \"local\"", printable(rule));
    std::string out = rewrite_address(context, req.str("address"));
    log::debug("rewrite {} {} -> {}", rule, req.str("address"), out);
    return AttrList{{"flags", "0"}, {"address", out}};
  }
  if (request == "resolve" || request == "verify") {
    const ResolveSettings& settings = request == "verify" ? state->verify : state->resolve;
    ResolveReply r = resolve_address(settings, req.str("sender"), req.str("address"));
    if (r.flags & kResolveFail)
      log::warn("{}: table lookup problem", printable(req.str("address")));
    log::debug("resolve {} -> {} {} {} {}", req.str("address"), r.transport, r.nexthop,
               r.recipient, r.flags);
    AttrList out;
    out.add("flags", 0);
    out.add("transport", r.transport);
    out.add("nexthop", r.nexthop);
    out.add("recipient", r.recipient);
    out.add("flags", r.flags);
    return out;
  }
  log::warn("bad request: \"{}\"", printable(request));
  return AttrList{{"flags", "0"}, {"status", "-1"}};
}

void serve(UniqueFd fd, ServiceContext& ctx, std::function<void()> done) {
  int raw = fd.get();
  auto stream = std::make_shared<Stream>(Stream::from_fd(std::move(fd)));
  stream->set_timeout(std::chrono::seconds(ctx.ipc_timeout()));
  attr_write(*stream, AttrEncoding::kNul, AttrList{{"protocol", std::string(kProtocol)}});
  if (!stream->flush()) {
    done();
    return;
  }
  ctx.loop().watch_read(raw, [stream, raw, &ctx, done] {
    // Answer every request that is already here (clients may pipeline).
    do {
      auto req = attr_read(*stream, AttrEncoding::kNul);
      if (!req) {
        if (req.error().code != Errc::kEof) log::warn("read request: {}", req.error().text);
        ctx.loop().unwatch(raw);
        done();
        return;
      }
      attr_write(*stream, AttrEncoding::kNul, answer(*req));
    } while (stream->has_buffered_input());
    if (!stream->flush() || tables_changed(ctx)) {
      ctx.loop().unwatch(raw);
      done();
    }
  });
}

void load_settings(ServiceContext& ctx) {
  TableLookup lookup = maps::make_table_lookup();
  auto resolve = ResolveSettings::from_config(ctx.cfg(), lookup);
  if (!resolve) log::fatal("{}", resolve.error().text);
  ResolveSettings verify = verify_settings(ctx.cfg(), *resolve);
  state = std::make_unique<State>(
      State{RewriteSettings::from_config(ctx.cfg()), std::move(*resolve), std::move(verify)});
  if (auto st = maps::preopen_tables(lookup, state->resolve.tables()); !st)
    log::warn("{}", st.error().text);
  if (auto st = maps::preopen_tables(lookup, state->verify.tables()); !st)
    log::warn("{}", st.error().text);
  for (const auto& spec : state->resolve.tables())
    if (auto m = maps::open_map(spec); m) watched.push_back(std::move(*m));
  for (const auto& spec : state->verify.tables())
    if (auto m = maps::open_map(spec); m) watched.push_back(std::move(*m));
}

}  // namespace

int main(int argc, char** argv) {
  ServiceHooks hooks;
  hooks.pre_init = load_settings;
  return multi_server_main(argc, argv, "trivial-rewrite", serve, hooks);
}
