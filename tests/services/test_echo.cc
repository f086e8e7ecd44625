// test-echo: a service for master's system tests, built on the skeletons.
//
//   test-echo                 single-client server; one command per line:
//     echo TEXT | pid | whoami | cwd | ls DIR | service | config NAME | log TEXT |
//     sleep SECONDS | exit STATUS | crash | quit
//   test-echo crash-at-start  exits with status 1 before serving anyone
//   test-echo trigger         trigger server: logs "trigger: DATA"
//   test-echo multi           multi-client server answering the same commands,
//                             all clients at once from the event loop
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "global/mail_server.h"
#include "util/stream.h"
#include "util/strings.h"

using namespace postern;

namespace {

std::string list_dir(const std::string& path) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(path.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
  } else {
    return std::string("error: ") + std::strerror(errno);
  }
  std::sort(names.begin(), names.end());
  return join(names, " ");
}

// Answers one command; an empty optional closes the connection.
std::optional<std::string> answer(std::string_view line, ServiceContext& ctx) {
  auto space = line.find(' ');
  std::string_view cmd = line.substr(0, space);
  std::string arg(space == std::string_view::npos ? "" : line.substr(space + 1));
  if (cmd == "echo") return arg;
  if (cmd == "pid") return std::to_string(::getpid());
  if (cmd == "whoami") return fmt::format("uid={} gid={}", ::getuid(), ::getgid());
  if (cmd == "cwd") {
    char buf[4096];
    return ::getcwd(buf, sizeof buf) ? std::string(buf) : std::string("?");
  }
  if (cmd == "ls") return list_dir(arg.empty() ? "/" : arg);
  if (cmd == "service") return ctx.args().service_name + " " + ctx.args().service_type;
  if (cmd == "config") return ctx.cfg().get(arg);
  if (cmd == "sleep") {
    ::sleep(static_cast<unsigned>(std::atoi(arg.c_str())));
    return "ok";
  }
  if (cmd == "exit") std::exit(std::atoi(arg.c_str()));
  if (cmd == "crash") ::abort();
  if (cmd == "log") {
    log::info("{}", printable(arg));
    return "logged";
  }
  if (cmd == "quit") return std::nullopt;
  return "unknown command";
}

void serve(UniqueFd fd, ServiceContext& ctx) {
  Stream s = Stream::from_fd(std::move(fd));
  s.set_timeout(std::chrono::seconds(60));
  if (!s.write_flush(fmt::format("ready {}\n", ::getpid()))) return;
  for (;;) {
    auto line = s.read_line(4096);
    if (!line) return;
    std::string text(trim(*line));
    auto reply = answer(text, ctx);
    if (!reply) return;
    if (!s.write_flush(*reply + "\n")) return;
  }
}

// The multi-client mode: each client is served from the event loop.
void serve_async(UniqueFd fd, ServiceContext& ctx, std::function<void()> done) {
  struct Client {
    UniqueFd fd;
    std::string input;
  };
  auto c = std::make_shared<Client>(Client{std::move(fd), {}});
  int raw = c->fd.get();
  (void)write_all(raw, fmt::format("ready {}\n", ::getpid()));
  auto finish = [&ctx, c, raw, done] {
    ctx.loop().unwatch(raw);
    c->fd.reset();
    done();
  };
  ctx.loop().watch_read(raw, [&ctx, c, raw, finish] {
    char buf[4096];
    ssize_t n = ::read(raw, buf, sizeof buf);
    if (n <= 0 || c->input.size() > 65536) return finish();
    c->input.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = c->input.find('\n')) != std::string::npos) {
      std::string line(trim(std::string_view(c->input).substr(0, nl)));
      c->input.erase(0, nl + 1);
      auto reply = answer(line, ctx);
      if (!reply || !write_all(raw, *reply + "\n")) return finish();
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode;
  if (auto a = parse_service_args(argc, argv, "test-echo"); a && !a->args.empty()) mode = a->args[0];
  ServiceHooks hooks;
  if (mode == "crash-at-start") hooks.post_init = [](ServiceContext&) { std::exit(1); };
  if (mode == "trigger")
    return trigger_server_main(argc, argv, "test-echo",
                               [](std::string_view data, ServiceContext&) {
                                 log::info("trigger: {}", printable(data));
                               }, hooks);
  if (mode == "multi")
    return multi_server_main(
        argc, argv, "test-echo",
        [](UniqueFd fd, ServiceContext& ctx, std::function<void()> done) {
          serve_async(std::move(fd), ctx, std::move(done));
        },
        hooks);
  return single_server_main(argc, argv, "test-echo", serve, hooks);
}
