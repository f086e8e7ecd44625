#include "qmgr/agent_call.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "global/attr.h"
#include "util/unique_fd.h"

namespace postern::qmgr {

namespace {

constexpr size_t kMaxReply = 1 << 20;

class Call : public std::enable_shared_from_this<Call> {
 public:
  Call(EventLoop& loop, std::string path, std::chrono::seconds timeout, AgentDone done)
      : loop_(loop), path_(std::move(path)), timeout_(timeout), done_(std::move(done)) {}

  void start(const DeliverRequest& req) {
    out_ = attr_encode(AttrEncoding::kNul, req.to_attrs());
    arm(std::min<std::chrono::seconds>(timeout_, std::chrono::seconds(60)));
    connect_now();
  }

 private:
  void connect_now() {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof(addr.sun_path)) return finish_later(fail(Errc::kInvalid, "socket path too long"));
    std::memcpy(addr.sun_path, path_.data(), path_.size());
    fd_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd_) return finish_later(connect_error(errno));
    if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      int err = errno;
      if (err == EAGAIN) {
        // The agent's backlog is full: try again shortly (until the timer).
        fd_.reset();
        auto self = shared_from_this();
        retry_ = loop_.add_timer(std::chrono::milliseconds(10), [self] {
          self->retry_ = 0;
          self->connect_now();
        });
        return;
      }
      if (err != EINPROGRESS) return finish_later(connect_error(err));
    }
    auto self = shared_from_this();
    loop_.watch_read(fd_.get(), [self] { self->readable(); });
  }

  Result<DeliverReply> connect_error(int err) const {
    return fail(Errc::kTemporary, "connect to " + path_ + ": connect to " + path_ + ": " +
                                      std::strerror(err));
  }

  void arm(std::chrono::seconds t) {
    if (timer_) loop_.cancel_timer(timer_);
    auto self = shared_from_this();
    timer_ = loop_.add_timer(std::chrono::duration_cast<EventLoop::Millis>(t), [self] {
      self->timer_ = 0;
      self->finish(fail(Errc::kTemporary, self->path_ + ": timeout"));
    });
  }

  void readable() {
    char buf[8192];
    for (;;) {
      ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
      if (n > 0) {
        in_.append(buf, static_cast<size_t>(n));
        if (in_.size() > kMaxReply) return finish(fail(Errc::kTemporary, path_ + ": reply too large"));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n < 0) return finish(fail(Errc::kTemporary, path_ + ": read: " + std::strerror(errno)));
      eof_ = true;
      break;
    }
    if (!greeted_) {
      size_t used = 0;
      auto hello = attr_decode(in_, AttrEncoding::kNul, &used);
      if (!hello) {
        if (hello.error().code == Errc::kEof && !eof_) return;
        return finish(fail(Errc::kTemporary, path_ + ": " + (eof_ ? std::string("lost connection")
                                                                   : hello.error().text)));
      }
      if (hello->str("protocol") != kDeliverProtocol)
        return finish(fail(Errc::kTemporary,
                           path_ + ": unexpected protocol: \"" + std::string(hello->str("protocol")) +
                               "\" (expected \"" + std::string(kDeliverProtocol) + "\")"));
      in_.erase(0, used);
      greeted_ = true;
      arm(timeout_);
      if (!send_more()) return;
    }
    if (in_.empty() && !eof_) return;
    auto reply = attr_decode(in_, AttrEncoding::kNul);
    if (!reply) {
      if (reply.error().code == Errc::kEof && !eof_) return;
      return finish(fail(Errc::kTemporary,
                         path_ + ": " + (eof_ ? std::string("lost connection") : reply.error().text)));
    }
    finish(DeliverReply::from_attrs(*reply));
  }

  // Sends what is left of the request; false when the call ended.
  bool send_more() {
    while (sent_ < out_.size()) {
      ssize_t n = ::send(fd_.get(), out_.data() + sent_, out_.size() - sent_, MSG_NOSIGNAL);
      if (n > 0) {
        sent_ += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        auto self = shared_from_this();
        loop_.watch_write(fd_.get(), [self] {
          if (self->send_more() && self->sent_ == self->out_.size())
            self->loop_.unwatch_write(self->fd_.get());
        });
        return true;
      }
      finish(fail(Errc::kTemporary, path_ + ": write: " + std::strerror(errno)));
      return false;
    }
    return true;
  }

  void finish_later(Result<DeliverReply> r) {
    auto self = shared_from_this();
    auto shared = std::make_shared<Result<DeliverReply>>(std::move(r));
    loop_.add_timer(std::chrono::milliseconds(0), [self, shared] { self->finish(std::move(*shared)); });
  }

  void finish(Result<DeliverReply> r) {
    if (finished_) return;
    finished_ = true;
    if (timer_) loop_.cancel_timer(timer_);
    if (retry_) loop_.cancel_timer(retry_);
    timer_ = retry_ = 0;
    if (fd_) {
      loop_.unwatch(fd_.get());
      fd_.reset();
    }
    auto done = std::move(done_);
    done(std::move(r));  // may drop the last reference to this
  }

  EventLoop& loop_;
  std::string path_;
  std::chrono::seconds timeout_;
  AgentDone done_;
  UniqueFd fd_;
  std::string out_, in_;
  size_t sent_ = 0;
  bool greeted_ = false, eof_ = false, finished_ = false;
  EventLoop::TimerId timer_ = 0, retry_ = 0;
};

}  // namespace

void start_agent_call(EventLoop& loop, const std::string& socket_path,
                      const DeliverRequest& request, std::chrono::seconds timeout,
                      AgentDone done) {
  auto call = std::make_shared<Call>(loop, socket_path, timeout, std::move(done));
  call->start(request);
}

}  // namespace postern::qmgr
