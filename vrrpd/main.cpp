// vrrpd: the VRRPv3 router daemon. Parses the command line, loads the config, forks the guard,
// runs the instances until SIGTERM/SIGINT (graceful) and reloads on SIGHUP.
#include <net/if.h>
#include <sched.h>
#include <sys/mman.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "common/asio.hpp"
#include "common/cli.hpp"
#include "common/control/protocol.hpp"
#include "common/control/server.hpp"
#include "common/log.hpp"
#include "common/metrics/http_endpoint.hpp"
#include "common/sd_notify.hpp"
#include "common/signals.hpp"
#include "vrrpd/config.hpp"
#include "vrrpd/daemon.hpp"
#include "vrrpd/guard.hpp"
#include "vrrpd/metrics.hpp"
#include "vrrpd/netlink_address_manager.hpp"

namespace {

void set_realtime(int priority) {
  auto log = lb::log::get("vrrpd");
  if (priority <= 0) return;
  sched_param p{};
  p.sched_priority = priority;
  if (::sched_setscheduler(0, SCHED_FIFO, &p) != 0) {
    log->warn("realtime: SCHED_FIFO priority={} failed: {}", priority, std::strerror(errno));
    return;
  }
  // A page fault on a cold page is a scheduling hiccup too.
  if (::mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
    log->warn("realtime: mlockall failed: {}", std::strerror(errno));
  }
  log->info("realtime: SCHED_FIFO priority={}", priority);
}

// --release-vips: the last layer of the SIGKILL guarantee, for a supervisor to run after vrrpd
// ended however it ended (the guard covers the common case; this covers guard and vrrpd both
// killed). Idempotent; an interface that no longer exists holds nothing.
int release_vips(const vrrp::Config& config) {
  auto addresses = vrrp::NetlinkAddressManager::create();
  if (!addresses) {
    std::fprintf(stderr, "vrrpd: %s\n", addresses.error().message.c_str());
    return 1;
  }
  int failures = 0;
  std::size_t removed = 0;
  for (const auto& inst : config.instances) {
    const int ifindex = static_cast<int>(::if_nametoindex(inst.interface.c_str()));
    if (ifindex == 0) continue;
    for (const auto& vip : inst.vips) {
      if (auto r = (*addresses)->remove(ifindex, vip); !r) {
        std::fprintf(stderr, "vrrpd: %s\n", r.error().message.c_str());
        ++failures;
      } else {
        ++removed;
      }
    }
  }
  std::printf("vrrpd: released %zu configured VIP(s)\n", removed);
  return failures == 0 ? 0 : 1;
}

struct Options {
  std::string config_path = "/etc/lbpair/vrrpd.toml";
  bool check_only = false;
  bool release_only = false;
};

// The command line into `o`; an exit code when the process ends here (--help, --version, an
// unknown option).
std::optional<int> parse_command_line(int argc, char** argv, Options& o) {
  CLI::App app{"vrrpd - VRRPv3 (RFC 5798) router (lbpair)"};
  app.add_option("-c,--config", o.config_path, "configuration file")->capture_default_str();
  app.add_flag("--check-config", o.check_only,
               "validate the configuration and exit (0 valid, 2 not)");
  app.add_flag("--release-vips", o.release_only,
               "remove every configured VIP from this node and exit (systemd ExecStopPost)");
  app.set_version_flag("--version", std::string("vrrpd ") + LBPAIR_VERSION);
  return lb::cli::parse(app, argc, argv);
}

// The config at `path`, or nullopt after printing every error to stderr.
std::optional<vrrp::Config> load_checked(const std::string& path) {
  lb::config::Diagnostics diags;
  vrrp::Config config = vrrp::load_config(path, diags);
  if (!diags.empty()) {
    std::fputs(diags.to_string().c_str(), stderr);
    std::fprintf(stderr, "vrrpd: %zu configuration error(s) in %s\n", diags.size(), path.c_str());
    return std::nullopt;
  }
  return config;
}

// SIGHUP: reads `path` again and applies it; any error keeps the running config.
void reload(vrrp::Daemon& daemon, vrrp::Config& config, const std::string& path,
            const std::shared_ptr<spdlog::logger>& log) {
  lb::sd_notify("RELOADING=1");
  // systemd waits for READY=1 after RELOADING=1, whatever the outcome.
  struct Ready {
    ~Ready() { lb::sd_notify("READY=1"); }
  } ready;
  lb::config::Diagnostics d;
  auto next = vrrp::load_config(path, d);
  if (!d.empty()) {
    log->error("reload: {} error(s), keeping the running config:\n{}", d.size(), d.to_string());
    return;
  }
  if (auto r = daemon.reload(next); !r) {
    log->error("reload: {}; keeping the running config", r.error().message);
    return;
  }
  if (next.metrics_listen != config.metrics_listen) {
    log->warn("reload: metrics_listen changed; the new address takes effect on restart");
  }
  if (next.control_socket != config.control_socket) {
    log->warn("reload: control_socket changed; the new path takes effect on restart");
  }
  lb::log::init(*lb::log::parse_level(next.log_level));
  config = std::move(next);
}

// What vrrpd serves besides VRRP, each when configured.
struct Endpoints {
  std::unique_ptr<lb::control::Server> control;
  std::unique_ptr<lb::metrics::HttpEndpoint> metrics;
};

// Opens the control socket and the /metrics endpoint; false (logged) when one cannot be opened.
bool start_endpoints(lb::asio::io_context& ctx, const vrrp::Config& config, vrrp::Daemon& daemon,
                     Endpoints& out, const std::shared_ptr<spdlog::logger>& log) {
  if (!config.control_socket.empty()) {
    auto s = lb::control::Server::start(
        ctx, config.control_socket,
        [&daemon](const nlohmann::json& req) { return daemon.handle_control(req); });
    if (!s) {
      log->critical("{}", s.error().message);
      return false;
    }
    out.control = std::move(*s);
  }
  // One scrape target per process (the Prometheus convention): vrrpd serves its own /metrics.
  if (config.metrics_listen) {
    auto m = lb::metrics::HttpEndpoint::start(ctx, *config.metrics_listen, [&daemon] {
      return vrrp::render_metrics(vrrp::collect(daemon));
    });
    if (!m) {
      log->critical("{}", m.error().message);
      return false;
    }
    out.metrics = std::move(*m);
    log->info("metrics: listening on {}", out.metrics->bound().to_string());
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  if (const auto stop = parse_command_line(argc, argv, opts)) return *stop;
  auto loaded = load_checked(opts.config_path);
  if (!loaded) return 2;
  vrrp::Config config = std::move(*loaded);
  if (opts.check_only) {
    std::printf("vrrpd: configuration %s is valid (%zu instances)\n", opts.config_path.c_str(),
                config.instances.size());
    return 0;
  }
  if (opts.release_only) return release_vips(config);
  lb::log::init(*lb::log::parse_level(config.log_level));
  auto log = lb::log::get("vrrpd");
  log->info("starting: version={} config={} instances={}", LBPAIR_VERSION, opts.config_path,
            config.instances.size());

  // A write to a closed peer (a control client that went away) must fail with EPIPE, not kill
  // vrrpd while it holds VIPs. Scripts get the default back (lb::spawn).
  std::signal(SIGPIPE, SIG_IGN);
  // The guard first, while the process is small and has no threads or sockets.
  auto guard = vrrp::Guard::start();
  if (!guard) {
    log->critical("guard: {}", guard.error().message);
    return 1;
  }
  set_realtime(config.realtime_priority);

  auto addresses = vrrp::NetlinkAddressManager::create();
  if (!addresses) {
    log->critical("{}", addresses.error().message);
    return 1;
  }
  lb::asio::io_context ctx(1);
  vrrp::Daemon daemon(ctx, **addresses, &*guard);
  daemon.reaper().watch(guard->pid(), [log](int status) {
    // Without the guard a SIGKILL would leave the VIPs behind; say so loudly.
    log->critical(
        "guard: process exited unexpectedly (status={}); a crash of vrrpd would now "
        "leave its VIPs on this node",
        status);
  });
  // A signal during start-up waits (pending) for the handler below instead of killing vrrpd
  // with its default action.
  lb::block_daemon_signals();
  if (auto r = daemon.start(config); !r) {
    log->critical("start: {}", r.error().message);
    guard->release();
    return 1;
  }
  Endpoints endpoints;
  if (!start_endpoints(ctx, config, daemon, endpoints, log)) {
    daemon.stop();
    guard->release();
    return 1;
  }

  lb::SignalHandler signals(
      ctx, [&] { reload(daemon, config, opts.config_path, log); },
      [&](int sig) {
        log->info("stopping: signal={}", sig);
        lb::sd_notify("STOPPING=1");
        daemon.stop();
        guard->release();
        if (endpoints.control) endpoints.control->stop();
        if (endpoints.metrics) endpoints.metrics->stop();
        signals.stop();
        ctx.stop();
      });
  lb::unblock_daemon_signals();
  // Ready only once signals are handled: systemd (and tests) may send SIGHUP right after READY.
  lb::sd_notify("READY=1");
  ctx.run();
  log->info("stopped");
  return 0;
}
