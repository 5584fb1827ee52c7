// lbd: the load-balancer daemon. Parses the command line, loads the config, runs the server.
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include <unistd.h>

#include <CLI/CLI.hpp>

#include "common/cli.hpp"
#include "common/log.hpp"
#include "common/signals.hpp"
#include "lbd/config.hpp"
#include "lbd/server.hpp"

int main(int argc, char** argv) {
  CLI::App app{"lbd - reverse proxy load balancer (lbpair)"};
  std::string config_path = "/etc/lbpair/lbd.toml";
  bool check_only = false;
  app.add_option("-c,--config", config_path, "configuration file")->capture_default_str();
  app.add_flag("--check-config", check_only,
               "validate the configuration and exit (0 valid, 2 not)");
  app.set_version_flag("--version", std::string("lbd ") + LBPAIR_VERSION);
  if (const auto stop = lb::cli::parse(app, argc, argv)) return *stop;

  lb::config::Diagnostics diags;
  const lbd::Config config = lbd::load_config(config_path, diags);
  if (!diags.empty()) {
    std::fputs(diags.to_string().c_str(), stderr);
    std::fprintf(stderr, "lbd: %zu configuration error(s) in %s\n", diags.size(),
                 config_path.c_str());
    return 2;
  }
  if (check_only) {
    std::printf("lbd: configuration %s is valid (%zu listeners, %zu pools)\n", config_path.c_str(),
                config.listeners.size(), config.pools.size());
    return 0;
  }
  lb::log::init(*lb::log::parse_level(config.global.log_level));
  auto log = lb::log::get("lbd");
  std::vector<std::string> errors;
  // Workers accept as soon as they exist; a SIGTERM before Server::run installs its handler must
  // wait (pending) rather than kill lbd mid-start. Worker threads inherit the block.
  lb::block_daemon_signals();
  // splice(2) cannot pass MSG_NOSIGNAL: a write to a reset peer must fail with EPIPE, not kill
  // lbd. Set here, for the whole process, rather than by a library as a side effect.
  std::signal(SIGPIPE, SIG_IGN);
  auto server = lbd::Server::create(config_path, errors);
  if (!server) {
    for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
    std::fprintf(stderr, "lbd: cannot start: %zu error(s)\n", errors.size());
    return 2;
  }
  log->info("started: version={} config={} pid={} {}", LBPAIR_VERSION, config_path, ::getpid(),
            server->describe());
  return server->run(/*handle_signals=*/true);
}
