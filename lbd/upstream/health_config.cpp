// Reading of [pool.health], [pool.outlier] and the per-server health keys from the TOML config.
#include "lbd/upstream/health_config.hpp"

#include <charconv>

#include <fmt/format.h>

#include "common/config/reader.hpp"
#include "common/config/regex.hpp"

namespace lbd {

using lb::config::TableReader;
using namespace std::chrono_literals;

const char* health_check_type_name(HealthCheckType t) {
  switch (t) {
    case HealthCheckType::none:
      return "none";
    case HealthCheckType::tcp:
      return "tcp";
    case HealthCheckType::http:
      return "http";
    case HealthCheckType::exec:
      return "exec";
  }
  return "?";
}

std::optional<StatusRange> parse_status_range(std::string_view text) {
  auto parse_code = [](std::string_view s) -> std::optional<std::uint16_t> {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || v < 100 || v > 599) return std::nullopt;
    return static_cast<std::uint16_t>(v);
  };
  const auto dash = text.find('-');
  if (dash == std::string_view::npos) {
    auto code = parse_code(text);
    if (!code) return std::nullopt;
    return StatusRange{*code, *code};
  }
  auto low = parse_code(text.substr(0, dash));
  auto high = parse_code(text.substr(dash + 1));
  if (!low || !high || *low > *high) return std::nullopt;
  return StatusRange{*low, *high};
}

namespace {

std::vector<StatusRange> read_status_list(TableReader& t, std::vector<StatusRange> fallback) {
  const toml::node* node = t.raw("expect_status");
  if (node == nullptr) return fallback;
  constexpr auto kSyntax = "expected a status (200), a range (\"200-399\") or a list of them";
  auto one = [&](const toml::node& n) -> std::optional<StatusRange> {
    if (const auto* i = n.as_integer()) {
      return parse_status_range(std::to_string(i->get()));
    }
    if (const auto* s = n.as_string()) return parse_status_range(s->get());
    return std::nullopt;
  };
  std::vector<StatusRange> out;
  bool ok = true;
  if (const auto* array = node->as_array()) {
    for (std::size_t i = 0; i < array->size(); ++i) {
      if (auto r = one(*array->get(i))) {
        out.push_back(*r);
      } else {
        ok = false;
      }
    }
    if (array->empty()) ok = false;
  } else if (auto r = one(*node)) {
    out.push_back(*r);
  } else {
    ok = false;
  }
  if (!ok) {
    t.error("expect_status", kSyntax);
    return fallback;
  }
  return out;
}

}  // namespace

HealthCheckConfig read_health_check(TableReader& t, HealthCheckConfig c) {
  c.type = t.enumeration("type", c.type,
                         {{"none", HealthCheckType::none},
                          {"tcp", HealthCheckType::tcp},
                          {"http", HealthCheckType::http},
                          {"exec", HealthCheckType::exec}});
  c.interval = t.duration("interval", c.interval, 10ms, 24h);
  c.jitter = t.duration("jitter", c.jitter, 0ns, 24h);
  // An inherited or default jitter follows a shorter interval instead of making it invalid.
  if (!t.has("jitter") && c.jitter >= c.interval) c.jitter = c.interval / 10;
  c.fast_interval = t.duration("fast_interval", c.fast_interval, 10ms, 24h);
  c.timeout = t.duration("timeout", c.timeout, 1ms, 1h);
  c.start_period = t.duration("start_period", c.start_period, 0ns, 24h);
  c.rise = static_cast<std::uint32_t>(t.integer("rise", c.rise, 1, 1000));
  c.fall = static_cast<std::uint32_t>(t.integer("fall", c.fall, 1, 1000));
  c.initially_up = t.enumeration("initial_state", c.initially_up, {{"up", true}, {"down", false}});
  if (t.has("address")) {
    const auto text = t.string("address", "");
    if (text.empty()) {
      c.address.reset();  // "" = the server's own address (also undoes a pool override)
    } else if (auto a = lb::IpAddress::parse(text)) {
      c.address = *a;
    } else {
      t.error("address", fmt::format("\"{}\" is not an IPv4 or IPv6 address", text));
    }
  }
  c.port = static_cast<std::uint16_t>(t.integer("port", c.port, 0, 65535));
  c.method = t.string("method", c.method);
  c.path = t.string("path", c.path);
  c.host = t.string("host", c.host);
  c.expect_status = read_status_list(t, c.expect_status);
  c.expect_body = t.string("expect_body", c.expect_body);
  c.expect_body_regex = t.string("expect_body_regex", c.expect_body_regex);
  if (auto j = t.table("expect_json")) {
    JsonExpectation e;
    if (auto k = j->required_string("key")) e.key = *k;
    if (auto v = j->required_string("value")) e.value = *v;
    j->reject_unknown_keys();
    c.expect_json = e;
  }
  c.send = t.string("send", c.send);
  c.expect = t.string("expect", c.expect);
  c.command = t.string("command", c.command);

  // Cross-key checks: a bad check must refuse the config, not silently probe something else.
  if (c.jitter >= c.interval) t.error("jitter", "must be shorter than interval");
  if (c.method.empty() || c.method.find_first_of(" \r\n") != std::string::npos) {
    t.error("method", "must be one token such as \"GET\" or \"HEAD\"");
  }
  if (c.path.empty() || c.path[0] != '/' || c.path.find_first_of(" \r\n") != std::string::npos) {
    t.error("path", "must start with '/' and contain no spaces");
  }
  if (c.host.find_first_of(" \r\n") != std::string::npos)
    t.error("host", "must not contain spaces");
  if (!c.expect_body_regex.empty()) {
    if (auto why = lb::config::regex_error(c.expect_body_regex)) {
      t.error("expect_body_regex", fmt::format("invalid regular expression \"{}\" (RE2 syntax): {}",
                                               c.expect_body_regex, *why));
    }
  }
  if (c.type == HealthCheckType::exec && c.command.empty()) {
    t.error_here("type = \"exec\" needs a command");
  }
  t.reject_unknown_keys();
  return c;
}

void read_pool_health(TableReader& pool, PoolHealthConfig& out) {
  if (auto h = pool.table("health")) out.check = read_health_check(*h, out.check);
  if (auto o = pool.table("outlier")) {
    auto& c = out.outlier;
    c.consecutive_errors =
        static_cast<std::uint32_t>(o->integer("consecutive_errors", c.consecutive_errors, 0, 1000));
    c.base_ejection_time = o->duration("base_ejection_time", c.base_ejection_time, 1ms, 24h);
    c.max_ejection_time = o->duration("max_ejection_time", c.max_ejection_time, 1ms, 24h);
    c.max_ejection_percent = static_cast<std::uint32_t>(
        o->integer("max_ejection_percent", c.max_ejection_percent, 0, 100));
    if (c.max_ejection_time < c.base_ejection_time) {
      o->error("max_ejection_time", "must not be shorter than base_ejection_time");
    }
    o->reject_unknown_keys();
  }
}

void read_server_health(TableReader& server, const PoolHealthConfig& pool,
                        ServerHealthConfig& out) {
  out.check = pool.check;
  if (auto h = server.table("health")) out.check = read_health_check(*h, pool.check);
  out.slow_start = server.duration("slow_start", out.slow_start, 0ns, 24h);
  out.state = server.enumeration(
      "state", out.state,
      {{"ready", AdminState::ready}, {"drain", AdminState::drain}, {"maint", AdminState::maint}});
}

}  // namespace lbd
