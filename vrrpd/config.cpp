#include "vrrpd/config.hpp"

#include <set>

#include <fmt/format.h>

#include "common/config/reader.hpp"
#include "common/log.hpp"

namespace vrrp {

using lb::config::TableReader;

namespace {

InstanceConfig read_instance(TableReader& t) {
  InstanceConfig c;
  if (auto n = t.required_string("name")) c.name = *n;
  if (auto v = t.required_integer("vrid", 1, 255)) c.vrid = static_cast<std::uint8_t>(*v);
  if (auto i = t.required_string("interface")) c.interface = *i;
  c.priority = static_cast<std::uint8_t>(t.integer("priority", c.priority, 1, 255));
  const auto interval = t.duration("advert_interval", c.advert_interval,
                                   std::chrono::milliseconds(10), std::chrono::milliseconds(40950));
  if (interval % std::chrono::milliseconds(10) != std::chrono::nanoseconds(0)) {
    t.error("advert_interval",
            "must be a multiple of 10ms (the VRRPv3 wire unit is the centisecond)");
  }
  c.advert_interval = std::chrono::duration_cast<std::chrono::milliseconds>(interval);
  c.preempt = t.boolean("preempt", c.preempt);
  c.preempt_delay = std::chrono::duration_cast<std::chrono::milliseconds>(t.duration(
      "preempt_delay", c.preempt_delay, std::chrono::milliseconds(0), std::chrono::hours(1)));
  c.preempt_gate_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      t.duration("preempt_gate_timeout", c.preempt_gate_timeout, std::chrono::milliseconds(0),
                 std::chrono::hours(1)));
  c.accept_mode = t.boolean("accept_mode", c.accept_mode);
  if (!c.accept_mode) {
    // Refused rather than silently ignored: dropping traffic to the VIP would need packet
    // filtering, and lbd on the master must receive that traffic anyway.
    t.error("accept_mode",
            "accept_mode = false is not supported: the master must accept traffic to its VIPs "
            "(lbd serves them)");
  }
  for (const auto& v : t.string_array("vips")) {
    if (auto vip = Vip::parse(v)) {
      if (!c.vips.empty() && vip->address.family() != c.vips.front().address.family()) {
        t.error("vips", fmt::format("\"{}\": one instance carries one address family (RFC 5798 "
                                    "§5.2.9); use a second instance for the other",
                                    v));
      } else {
        c.vips.push_back(*vip);
      }
    } else {
      t.error("vips", fmt::format("invalid address \"{}\": expected \"192.0.2.10/24\", "
                                  "\"2001:db8::10/64\" or an address",
                                  v));
    }
  }
  if (c.vips.empty()) t.error("vips", "an instance needs at least one virtual IP");
  for (const auto& p : t.string_array("unicast_peers")) {
    if (auto a = lb::IpAddress::parse(p)) {
      c.unicast_peers.push_back(*a);
    } else {
      t.error("unicast_peers", fmt::format("invalid address \"{}\"", p));
    }
  }
  c.track_interfaces = t.string_array("track_interfaces");
  c.track_scripts = t.string_array("track_scripts");
  c.garp_repeat = static_cast<int>(t.integer("garp_repeat", c.garp_repeat, 1, 100));
  c.garp_master_delay = std::chrono::duration_cast<std::chrono::milliseconds>(
      t.duration("garp_master_delay", c.garp_master_delay, std::chrono::milliseconds(0),
                 std::chrono::hours(1)));
  c.garp_master_refresh = std::chrono::duration_cast<std::chrono::milliseconds>(
      t.duration("garp_master_refresh", c.garp_master_refresh, std::chrono::milliseconds(0),
                 std::chrono::hours(24)));
  c.notify = t.string("notify", c.notify);
  c.handover_drain = std::chrono::duration_cast<std::chrono::milliseconds>(t.duration(
      "handover_drain", c.handover_drain, std::chrono::milliseconds(0), std::chrono::hours(1)));
  t.reject_unknown_keys();
  return c;
}

TrackScriptConfig read_track_script(TableReader& t) {
  using std::chrono::milliseconds;
  TrackScriptConfig c;
  if (auto n = t.required_string("name")) c.name = *n;
  if (auto cmd = t.required_string("command")) c.command = *cmd;
  auto ms = [&](const char* key, milliseconds fallback) {
    return std::chrono::duration_cast<milliseconds>(
        t.duration(key, fallback, milliseconds(10), std::chrono::hours(1)));
  };
  c.interval = ms("interval", c.interval);
  c.timeout = ms("timeout", c.timeout);
  c.rise = static_cast<int>(t.integer("rise", c.rise, 1, 100));
  c.fall = static_cast<int>(t.integer("fall", c.fall, 1, 100));
  c.weight = static_cast<int>(t.integer("weight", c.weight, 0, 254));
  if (!c.command.empty() && c.command.find_first_not_of(" \t") == std::string::npos) {
    t.error("command", "must not be blank");
  }
  t.reject_unknown_keys();
  return c;
}

TrackLbdConfig read_track_lbd(TableReader& t) {
  using std::chrono::milliseconds;
  TrackLbdConfig c;
  auto ms = [&](const char* key, milliseconds fallback) {
    return std::chrono::duration_cast<milliseconds>(
        t.duration(key, fallback, milliseconds(10), std::chrono::hours(1)));
  };
  c.interval = ms("interval", c.interval);
  c.timeout = ms("timeout", c.timeout);
  c.rise = static_cast<int>(t.integer("rise", c.rise, 1, 100));
  c.fall = static_cast<int>(t.integer("fall", c.fall, 1, 100));
  c.weight = static_cast<int>(t.integer("weight", c.weight, 0, 254));
  c.degraded_is_down = t.boolean("degraded_is_down", c.degraded_is_down);
  if (c.timeout > c.interval) {
    t.error("timeout", "must not exceed interval (one health request at a time)");
  }
  t.reject_unknown_keys();
  return c;
}

Config read_config(TableReader root, const std::string& file) {
  Config c;
  c.source_file = file;
  if (auto g = root.table("global")) {
    c.log_level = g->string("log_level", c.log_level);
    c.control_socket = g->string("control_socket", c.control_socket);
    c.lbd_control_socket = g->string("lbd_control_socket", c.lbd_control_socket);
    if (g->has("metrics_listen") && g->raw("metrics_listen")->as_string() &&
        g->raw("metrics_listen")->as_string()->get().empty()) {
      // "" = off, as documented in conf/vrrpd.toml.
    } else {
      c.metrics_listen = g->endpoint("metrics_listen");
    }
    c.realtime_priority =
        static_cast<int>(g->integer("realtime_priority", c.realtime_priority, 0, 99));
    if (!lb::log::parse_level(c.log_level)) {
      g->error("log_level", fmt::format("unknown level \"{}\"", c.log_level));
    }
    g->reject_unknown_keys();
  }
  std::set<std::string> script_names;
  for (auto& t : root.tables("track_script")) {
    auto script = read_track_script(t);
    if (!script.name.empty() && !script_names.insert(script.name).second) {
      t.error("name", fmt::format("duplicate track_script name \"{}\"", script.name));
    }
    c.track_scripts.push_back(std::move(script));
  }
  if (auto t = root.table("track_lbd")) {
    c.track_lbd = read_track_lbd(*t);
    if (c.lbd_control_socket.empty()) {
      t->error_here("[track_lbd] needs [global] lbd_control_socket (where to ask lbd)");
    }
  }
  auto tables = root.tables("instance");
  std::set<std::string> names;
  std::set<std::pair<std::string, int>> vrids;
  for (auto& t : tables) {
    auto inst = read_instance(t);
    if (!inst.name.empty() && !names.insert(inst.name).second) {
      t.error("name", fmt::format("duplicate instance name \"{}\"", inst.name));
    }
    if (inst.vrid != 0 && !vrids.insert({inst.interface, inst.vrid}).second) {
      t.error("vrid",
              fmt::format("VRID {} is used twice on interface {}", inst.vrid, inst.interface));
    }
    for (const auto& s : inst.track_scripts) {
      if (!script_names.count(s)) {
        t.error("track_scripts", fmt::format("no [[track_script]] named \"{}\"", s));
      }
    }
    c.instances.push_back(std::move(inst));
  }
  root.reject_unknown_keys();
  return c;
}

}  // namespace

std::optional<Vip> Vip::parse(std::string_view text) {
  auto cidr = lb::Cidr::parse(text);
  if (!cidr) return std::nullopt;
  return Vip{*lb::IpAddress::parse(text.substr(0, text.find('/'))), cidr->prefix_len};
}

std::string Vip::to_string() const { return fmt::format("{}/{}", address.to_string(), prefix_len); }

Config load_config(const std::string& path, lb::config::Diagnostics& diags) {
  return lb::config::load_file<Config>(path, diags, read_config);
}

Config load_config_from_string(std::string_view text, const std::string& name,
                               lb::config::Diagnostics& diags) {
  return lb::config::load_string<Config>(text, name, diags, read_config);
}

}  // namespace vrrp
