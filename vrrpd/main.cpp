// vrrpd: the VRRPv3 router daemon. Parses the command line, loads the config, runs the instances.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "common/log.hpp"
#include "vrrpd/config.hpp"

int main(int argc, char** argv) {
  CLI::App app{"vrrpd - VRRPv3 (RFC 5798) router (lbpair)"};
  std::string config_path = "/etc/lbpair/vrrpd.toml";
  bool check_only = false;
  app.add_option("-c,--config", config_path, "configuration file")->capture_default_str();
  app.add_flag("--check-config", check_only,
               "validate the configuration and exit (0 valid, 2 not)");
  app.set_version_flag("--version", std::string("vrrpd ") + LBPAIR_VERSION);
  CLI11_PARSE(app, argc, argv);

  lb::config::Diagnostics diags;
  const vrrp::Config config = vrrp::load_config(config_path, diags);
  if (!diags.empty()) {
    std::fputs(diags.to_string().c_str(), stderr);
    std::fprintf(stderr, "vrrpd: %zu configuration error(s) in %s\n", diags.size(),
                 config_path.c_str());
    return 2;
  }
  if (check_only) {
    std::printf("vrrpd: configuration %s is valid (%zu instances)\n", config_path.c_str(),
                config.instances.size());
    return 0;
  }
  lb::log::init(*lb::log::parse_level(config.log_level));
  auto log = lb::log::get("vrrpd");
  log->info("starting: version={} config={} instances={}", LBPAIR_VERSION, config_path,
            config.instances.size());
  log->error("the VRRP router is not built yet (issue #8); exiting");
  return 1;
}
