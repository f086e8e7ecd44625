#include "flush/flush_client.h"

#include "global/attr.h"
#include "global/config.h"
#include "global/match_list.h"
#include "maps/table_lookup.h"
#include "util/log.h"
#include "util/socket.h"
#include "util/stream.h"

namespace postern {

bool flush_site_eligible(const Config& cfg, std::string_view site) {
  auto list = MatchList::from_config(cfg, "fast_flush_domains", maps::make_table_lookup());
  if (!list) {
    log::warn("{}", list.error().text);
    return false;
  }
  if (list->empty()) return false;
  auto hit = list->match_domain(site);
  return hit && *hit;
}

namespace {

int request(const Config& cfg, const AttrList& req) {
  std::string path = cfg.get("queue_directory") + "/public/flush";
  auto deadline = Clock::now() + std::chrono::seconds(cfg.get_time("ipc_timeout"));
  auto fd = connect_unix(path, deadline);
  if (!fd) {
    size_t colon = fd.error().text.rfind(": ");
    log::warn("connect to public/flush: {}",
              colon == std::string::npos ? fd.error().text : fd.error().text.substr(colon + 2));
    return kFlushFail;
  }
  Stream s = Stream::from_fd(std::move(*fd));
  s.set_timeout(std::chrono::seconds(cfg.get_time("ipc_timeout")));
  if (auto st = attr_expect_protocol(s, AttrEncoding::kNul, kFlushProtocol); !st) {
    log::warn("public/flush: {}", st.error().text);
    return kFlushFail;
  }
  auto reply = attr_request(s, AttrEncoding::kNul, req);
  if (!reply) {
    log::warn("public/flush: {}", reply.error().text);
    return kFlushFail;
  }
  return static_cast<int>(reply->number_or("status", kFlushFail));
}

}  // namespace

int flush_add(const Config& cfg, std::string_view site, std::string_view queue_id) {
  if (!flush_site_eligible(cfg, site)) return kFlushDeny;
  return request(cfg, AttrList{{"request", "add"}, {"site", std::string(site)},
                               {"queue_id", std::string(queue_id)}});
}

int flush_send_site(const Config& cfg, std::string_view site) {
  if (!flush_site_eligible(cfg, site)) return kFlushDeny;
  return request(cfg, AttrList{{"request", "send_site"}, {"site", std::string(site)}});
}

int flush_send_file(const Config& cfg, std::string_view queue_id) {
  return request(cfg, AttrList{{"request", "send_file"}, {"queue_id", std::string(queue_id)}});
}

int flush_refresh(const Config& cfg) { return request(cfg, AttrList{{"request", "refresh"}}); }
int flush_purge(const Config& cfg) { return request(cfg, AttrList{{"request", "purge"}}); }

}  // namespace postern
