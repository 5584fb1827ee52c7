// lbctl: the operator's command line for lbd and vrrpd over their control sockets. Human tables
// by default, --json for scripts; exit 0 on success, 1 when the daemon refused or could not be
// reached, 2 on a usage error.
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/cli.hpp"
#include "common/control/server.hpp"
#include "lbctl/render.hpp"
#include "lbctl/request.hpp"

int main(int argc, char** argv) {
  CLI::App app{"lbctl - control lbd and vrrpd (lbpair)"};
  std::string lbd_socket = "/run/lbpair/lbd.sock";
  std::string vrrpd_socket = "/run/lbpair/vrrpd.sock";
  bool json_out = false;
  std::size_t limit = 100;
  unsigned timeout_ms = 5000;
  std::vector<std::string> words;
  app.add_option("--lbd-socket", lbd_socket, "lbd's control socket")->capture_default_str();
  app.add_option("--vrrpd-socket", vrrpd_socket, "vrrpd's control socket")->capture_default_str();
  app.add_flag("--json", json_out, "print the daemon's JSON reply (for scripts)");
  app.add_option("--limit", limit, "rows of show table / show conns")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_option("--timeout-ms", timeout_ms, "how long to wait for the daemon")
      ->check(CLI::Range(1, 600000))
      ->capture_default_str();
  app.add_option("command", words, "the command and its arguments (see below)");
  app.footer(lbctl::commands_help());
  app.set_version_flag("--version", std::string("lbctl ") + LBPAIR_VERSION);
  if (const auto stop = lb::cli::parse(app, argc, argv)) return *stop;

  auto request = lbctl::build_request(words, limit);
  if (!request) {
    std::fprintf(stderr, "lbctl: %s\n", request.error().message.c_str());
    return 2;
  }
  const bool to_lbd = request->daemon == lbctl::Daemon::lbd;
  const std::string& path = to_lbd ? lbd_socket : vrrpd_socket;
  auto reply = lb::control::request(path, request->message, std::chrono::milliseconds(timeout_ms));
  if (!reply) {
    std::fprintf(stderr, "lbctl: cannot reach %s at %s: %s (is it running? see %s)\n",
                 to_lbd ? "lbd" : "vrrpd", path.c_str(), reply.error().message.c_str(),
                 to_lbd ? "--lbd-socket and [global] control_socket in lbd.toml"
                        : "--vrrpd-socket and [global] control_socket in vrrpd.toml");
    return 1;
  }
  if (!reply->is_object() || !reply->value("ok", false)) {
    if (json_out) std::printf("%s\n", reply->dump(2).c_str());
    const std::string error =
        reply->is_object() ? reply->value("error", std::string("unknown error")) : reply->dump();
    std::fprintf(stderr, "lbctl: %s: %s\n", to_lbd ? "lbd" : "vrrpd", error.c_str());
    return 1;
  }
  if (json_out) {
    std::printf("%s\n", reply->dump(2).c_str());
  } else {
    std::fputs(lbctl::render(request->view, *reply).c_str(), stdout);
  }
  return 0;
}
