#include "lbd/config.hpp"

#include <algorithm>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "common/config/reader.hpp"
#include "common/log.hpp"
#include "lbd/balance/hash_key.hpp"
#include "lbd/persistence_config.hpp"
#include "lbd/route_config.hpp"

namespace lbd {

using lb::config::TableReader;

const char* listener_mode_name(ListenerMode mode) {
  switch (mode) {
    case ListenerMode::tcp:
      return "tcp";
    case ListenerMode::http:
      return "http";
    case ListenerMode::forward:
      return "forward";
  }
  return "?";
}

const PoolConfig* Config::find_pool(std::string_view name) const {
  for (const auto& p : pools) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

namespace {

constexpr std::int64_t kMaxU32 = 0xffffffffLL;

bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return false;
    }
  }
  return true;
}

std::string read_name(TableReader& t) {
  auto name = t.required_string("name");
  if (!name) return {};
  if (!valid_name(*name)) {
    t.error("name", fmt::format("\"{}\" is not a valid name (1-64 of A-Z a-z 0-9 - _ .)", *name));
  }
  return *name;
}

GlobalConfig read_global(TableReader& t) {
  GlobalConfig g;
  if (const auto* node = t.raw("workers")) {
    if (const auto* s = node->as_string(); s && s->get() == "auto") {
      g.workers = 0;
    } else if (const auto* i = node->as_integer(); i && i->get() >= 1 && i->get() <= 256) {
      g.workers = static_cast<unsigned>(i->get());
    } else {
      t.error("workers", "expected \"auto\" or an integer in [1, 256]");
    }
  }
  g.log_level = t.string("log_level", g.log_level);
  if (!lb::log::parse_level(g.log_level)) {
    t.error("log_level", fmt::format("unknown level \"{}\"; expected one of trace, debug, info, "
                                     "warn, error, critical, off",
                                     g.log_level));
  }
  g.drain_timeout =
      t.duration("drain_timeout", g.drain_timeout, std::chrono::seconds(0), std::chrono::hours(1));
  g.splice = t.boolean("splice", g.splice);
  g.control_socket = t.string("control_socket", g.control_socket);
  if (g.control_socket.size() >= 108) {
    t.error("control_socket", "path too long for a unix socket (at most 107 bytes)");
  } else if (!g.control_socket.empty() && g.control_socket.front() != '/') {
    t.error("control_socket", "expected an absolute path (or \"\" for none)");
  }
  g.tls_watch_interval = t.duration("tls_watch_interval", g.tls_watch_interval,
                                    std::chrono::seconds(0), std::chrono::hours(1));
  t.reject_unknown_keys();
  return g;
}

TimeoutsConfig read_timeouts(TableReader& t) {
  TimeoutsConfig c;
  const auto min = std::chrono::milliseconds(1);
  const auto max = std::chrono::hours(24);
  c.connect = t.duration("connect", c.connect, min, max);
  c.client_idle = t.duration("client_idle", c.client_idle, min, max);
  c.server_idle = t.duration("server_idle", c.server_idle, min, max);
  c.request_header = t.duration("request_header", c.request_header, min, max);
  c.request_body = t.duration("request_body", c.request_body, min, max);
  c.keep_alive = t.duration("keep_alive", c.keep_alive, min, max);
  c.server_response = t.duration("server_response", c.server_response, min, max);
  t.reject_unknown_keys();
  return c;
}

LimitsConfig read_limits(TableReader& t) {
  LimitsConfig c;
  c.max_connections =
      static_cast<std::uint32_t>(t.integer("max_connections", c.max_connections, 1, 10'000'000));
  c.max_header_size = t.size("max_header_size", c.max_header_size, 1024, 1024 * 1024);
  c.max_body_size = t.size("max_body_size", c.max_body_size);
  c.max_concurrent_streams = static_cast<std::uint32_t>(
      t.integer("max_concurrent_streams", c.max_concurrent_streams, 1, 10'000));
  t.reject_unknown_keys();
  return c;
}

ServerConfig read_server(TableReader& t, const PoolHealthConfig& pool_health) {
  ServerConfig s;
  s.name = read_name(t);
  if (auto a = t.required_endpoint("address")) s.address = *a;
  s.weight = static_cast<std::uint32_t>(t.integer("weight", s.weight, 0, 256));
  s.max_connections =
      static_cast<std::uint32_t>(t.integer("max_connections", s.max_connections, 0, kMaxU32));
  s.backup = t.boolean("backup", s.backup);
  read_server_health(t, pool_health, s.health);
  t.reject_unknown_keys();
  return s;
}

bool is_prime(std::uint64_t n) {
  if (n < 2) return false;
  for (std::uint64_t d = 2; d * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

// agent_type and agent_path of a [[pool]] (HTTP agents): a path is an origin-form target, so
// that it goes on the request line as written.
void read_agent_http(TableReader& t, BalanceOptions& b) {
  b.agent.type = t.enumeration("agent_type", b.agent.type,
                               {{"tcp", AgentType::tcp}, {"http", AgentType::http}});
  b.agent.path = t.string("agent_path", b.agent.path);
  // As with agent_port, the defaults may be written anywhere (conf/lbd.toml shows them);
  // a value that could only matter to an HTTP agent elsewhere is an error.
  if (b.agent.type == AgentType::http && b.algorithm != Algorithm::agent) {
    t.error("agent_type", "agent_type = \"http\" is only used with algorithm = \"agent\"");
  }
  const bool has_control_or_space =
      std::any_of(b.agent.path.begin(), b.agent.path.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; });
  if (!b.agent.path.starts_with('/') || has_control_or_space) {
    t.error("agent_path", fmt::format("\"{}\" is not a path: it must start with '/' and contain "
                                      "no spaces or control characters",
                                      b.agent.path));
  } else if (b.agent.path != "/" && b.agent.type != AgentType::http) {
    t.error("agent_path", "agent_path is only used with agent_type = \"http\"");
  }
}

// The balancing keys of a [[pool]]. `server_count` lets the Maglev table size be
// checked against the pool it serves.
BalanceOptions read_balance(TableReader& t, std::size_t server_count) {
  BalanceOptions b;
  b.algorithm = t.enumeration("algorithm", b.algorithm,
                              {{"round_robin", Algorithm::round_robin},
                               {"least_conn", Algorithm::least_conn},
                               {"p2c", Algorithm::p2c},
                               {"random", Algorithm::random},
                               {"least_time", Algorithm::least_time},
                               {"source_hash", Algorithm::source_hash},
                               {"ring_hash", Algorithm::ring_hash},
                               {"maglev", Algorithm::maglev},
                               {"agent", Algorithm::agent}});
  if (t.has("hash_key")) {
    const auto text = t.string("hash_key", "source_ip");
    if (auto key = parse_hash_key(text)) {
      b.hash_key = *key;
    } else {
      t.error("hash_key", fmt::format("invalid hash key \"{}\"; expected \"source_ip\", "
                                      "\"header:NAME\", \"cookie:NAME\" or \"path\"",
                                      text));
    }
  }
  b.ring_virtual_nodes =
      static_cast<std::uint32_t>(t.integer("ring_virtual_nodes", b.ring_virtual_nodes, 1, 10'000));
  // Up to 2^24 slots (64 MiB of table per worker at most); prime so every permutation is full.
  constexpr std::int64_t kMaxMaglev = 1 << 24;
  b.maglev_table_size = static_cast<std::uint32_t>(
      t.integer("maglev_table_size", b.maglev_table_size, 2, kMaxMaglev));
  if (t.has("maglev_table_size")) {
    if (!is_prime(b.maglev_table_size)) {
      t.error("maglev_table_size", fmt::format("{} is not prime", b.maglev_table_size));
    } else if (b.algorithm == Algorithm::maglev &&
               b.maglev_table_size < 100 * static_cast<std::uint64_t>(server_count)) {
      t.error("maglev_table_size",
              fmt::format("{} is smaller than 100 × {} servers; use a prime ≥ {}",
                          b.maglev_table_size, server_count, 100 * server_count));
    }
  } else if (b.algorithm == Algorithm::maglev && 100 * server_count > b.maglev_table_size) {
    t.error("maglev_table_size",
            fmt::format("the default 65537 is smaller than 100 × {} servers; set a prime ≥ {}",
                        server_count, 100 * server_count));
  }
  b.hash_balance_factor = t.number("hash_balance_factor", b.hash_balance_factor, 0.0, 100.0);
  if (b.hash_balance_factor != 0.0 && b.hash_balance_factor < 1.0) {
    t.error("hash_balance_factor",
            fmt::format("{} is below 1.0; use 0 (off) or a factor ≥ 1.0 such as 1.25",
                        b.hash_balance_factor));
  }
  b.least_time_decay = t.duration("least_time_decay", b.least_time_decay,
                                  std::chrono::milliseconds(1), std::chrono::hours(1));
  b.agent.port = static_cast<std::uint16_t>(t.integer("agent_port", b.agent.port, 0, 65535));
  b.agent.interval = t.duration("agent_interval", b.agent.interval, std::chrono::milliseconds(10),
                                std::chrono::hours(1));
  b.agent.timeout = t.duration("agent_timeout", b.agent.timeout, std::chrono::milliseconds(1),
                               std::chrono::minutes(1));
  if (b.algorithm == Algorithm::agent && b.agent.port == 0) {
    t.error("agent_port", "algorithm \"agent\" needs agent_port (1..65535)");
  }
  if (b.algorithm != Algorithm::agent && b.agent.port != 0) {
    t.error("agent_port", "agent_port is only used with algorithm = \"agent\"");
  }
  if (b.agent.timeout > b.agent.interval) {
    t.error("agent_timeout", "agent_timeout must not exceed agent_interval");
  }
  read_agent_http(t, b);
  return b;
}

PoolConfig read_pool(TableReader& t) {
  PoolConfig p;
  p.name = read_name(t);
  p.connect_retries = static_cast<std::uint32_t>(t.integer("connect_retries", 2, 0, 16));
  p.send_proxy_protocol = t.enumeration("send_proxy_protocol", p.send_proxy_protocol,
                                        {{"off", ProxyProtocolSend::off},
                                         {"v1", ProxyProtocolSend::v1},
                                         {"v2", ProxyProtocolSend::v2}});
  p.upstream_keepalive =
      static_cast<std::uint32_t>(t.integer("upstream_keepalive", p.upstream_keepalive, 0, 100000));
  p.protocol = t.enumeration("protocol", p.protocol,
                             {{"http/1.1", UpstreamProtocol::http1}, {"h2", UpstreamProtocol::h2}});
  if (p.protocol == UpstreamProtocol::h2 && p.send_proxy_protocol != ProxyProtocolSend::off) {
    // One HTTP/2 connection carries the streams of many clients: a PROXY header at its start
    // would name only the first.
    t.error("protocol",
            "protocol = \"h2\" multiplexes clients on one connection; it cannot be combined with "
            "send_proxy_protocol");
  }
  read_pool_health(t, p.health);
  if (auto persistence = t.table("persistence")) p.persistence = read_persistence(*persistence);
  std::set<std::string> names;
  for (auto& s : t.tables("server")) {
    auto server = read_server(s, p.health);
    if (!server.name.empty() && !names.insert(server.name).second) {
      s.error("name",
              fmt::format("duplicate server name \"{}\" in pool \"{}\"", server.name, p.name));
    }
    p.servers.push_back(std::move(server));
  }
  if (p.servers.empty()) t.error_here(fmt::format("pool \"{}\" has no [[pool.server]]", p.name));
  if (auto tls = t.table("tls")) {
    bool enabled = true;
    auto c = proxy::read_pool_tls(*tls, enabled);
    if (enabled) p.tls = std::move(c);
  }
  // Active checks talk to the servers as the traffic does: over TLS when the pool uses it.
  if (p.tls) {
    for (auto& s : p.servers) s.health.check.tls = p.tls->context;
  }
  p.balance = read_balance(t, p.servers.size());
  t.reject_unknown_keys();
  return p;
}

// The keys of a mode = "forward" listener, and what such a listener cannot have: the kernel
// forwards packets of IPv4 TCP flows to a specific VIP and port, and never sees the payload.
void read_forward_keys(TableReader& t, ListenerConfig& l) {
  const bool forward = l.mode == ListenerMode::forward;
  for (const char* key : {"forward_slots", "snat_address", "on_server_down"}) {
    if (t.has(key) && !forward) t.error(key, fmt::format("{} needs mode = \"forward\"", key));
  }
  auto& f = l.forward;
  f.slots = static_cast<std::uint32_t>(t.integer("forward_slots", f.slots, 2, 65537));
  if (t.has("forward_slots") && !is_prime(f.slots)) {
    t.error("forward_slots", fmt::format("{} is not prime", f.slots));
  }
  if (t.has("snat_address")) {
    const auto text = t.string("snat_address", "");
    const auto a = lb::IpAddress::parse(text);
    if (!a || !a->is_v4()) {
      t.error("snat_address", fmt::format("\"{}\" is not an IPv4 address", text));
    } else {
      f.snat_address = *a;
    }
  }
  f.on_server_down = t.enumeration(
      "on_server_down", f.on_server_down,
      {{"keep", forward::OnServerDown::keep}, {"reset", forward::OnServerDown::reset}});
  if (!forward) return;
  for (const auto& b : l.binds) {
    if (!b.address.is_v4() || b.address == lb::IpAddress() || b.port == 0) {
      t.error("bind", fmt::format("{}: mode = \"forward\" needs a specific IPv4 address and port "
                                  "(IPv6 and wildcard addresses are not forwarded)",
                                  b.to_string()));
    }
  }
  if (l.accept_proxy_protocol) {
    t.error("accept_proxy_protocol", "mode = \"forward\" does not read the stream");
  }
  if (l.max_connections != 0) {
    t.error("max_connections",
            "mode = \"forward\" does not count connections (the kernel "
            "forwards them)");
  }
  if (!l.sni_routes.empty()) t.error("sni_route", "sni_route needs mode = \"tcp\"");
}

// What the pool of a forward listener may use: the selector the kernel can run, no TLS, no
// PROXY header, no per-server connection limits.
void check_forward_pool(TableReader& t, const ListenerConfig& l, const PoolConfig& pool) {
  if (auto s = forward::selector_for(pool.balance, pool.persistence.mode); !s) {
    t.error("pool", fmt::format("pool \"{}\": {}", pool.name, s.error()));
  }
  if (pool.tls) {
    t.error("pool", fmt::format("pool \"{}\" has [pool.tls]; mode = \"forward\" does not "
                                "touch the stream",
                                pool.name));
  }
  if (pool.protocol == UpstreamProtocol::h2) {
    t.error("pool", fmt::format("pool \"{}\" has protocol = \"h2\"; mode = \"forward\" does "
                                "not touch the stream",
                                pool.name));
  }
  if (pool.send_proxy_protocol != ProxyProtocolSend::off) {
    t.error("pool", fmt::format("pool \"{}\" sends a PROXY header; mode = \"forward\" does "
                                "not touch the stream",
                                pool.name));
  }
  for (const auto& s : pool.servers) {
    if (!s.address.address.is_v4()) {
      t.error("pool", fmt::format("pool \"{}\": server \"{}\" is not IPv4; mode = \"forward\" "
                                  "forwards IPv4 only",
                                  pool.name, s.name));
    }
    if (s.max_connections != 0) {
      t.error("pool", fmt::format("pool \"{}\": server \"{}\" has max_connections, which "
                                  "mode = \"forward\" cannot enforce",
                                  pool.name, s.name));
    }
  }
  if (l.forward.slots < 100 * static_cast<std::uint64_t>(pool.servers.size())) {
    t.error("forward_slots",
            fmt::format("{} slots is fewer than 100 × {} servers; use a prime ≥ {}",
                        l.forward.slots, pool.servers.size(), 100 * pool.servers.size()));
  }
}

// accept_proxy_protocol and proxy_protocol_from of a [[listener]].
void read_proxy_protocol_keys(TableReader& t, ListenerConfig& l) {
  l.accept_proxy_protocol = t.boolean("accept_proxy_protocol", false);
  for (const auto& text : t.string_array("proxy_protocol_from")) {
    if (auto cidr = lb::Cidr::parse(text)) {
      l.proxy_protocol_from.push_back(*cidr);
    } else {
      t.error("proxy_protocol_from", fmt::format("\"{}\" is not an address or CIDR", text));
    }
  }
  // A PROXY header rewrites the client address that logs, ACLs and persistence trust: only the
  // listed sources may send one, and there is no implicit "everyone".
  if (l.accept_proxy_protocol && !t.has("proxy_protocol_from")) {
    t.error("accept_proxy_protocol",
            "accept_proxy_protocol needs proxy_protocol_from (the addresses of the proxies "
            "allowed to send a PROXY header, e.g. [\"10.0.0.0/8\"]; [\"0.0.0.0/0\", \"::/0\"] "
            "trusts everyone)");
  }
  if (!l.accept_proxy_protocol && t.has("proxy_protocol_from")) {
    t.error("proxy_protocol_from", "proxy_protocol_from needs accept_proxy_protocol = true");
  }
}

// forward_headers of a [[listener]] (after its mode).
void read_forward_headers(TableReader& t, ListenerConfig& l) {
  if (!t.has("forward_headers")) return;
  l.forward_headers = 0;
  for (const auto& name : t.string_array("forward_headers")) {
    if (auto bit = proxy::forward_header_bit(name)) {
      l.forward_headers |= *bit;
    } else {
      t.error("forward_headers",
              fmt::format("unknown header \"{}\" (x-forwarded-for, x-forwarded-proto, "
                          "x-forwarded-host, forwarded or via)",
                          name));
    }
  }
  if (l.mode != ListenerMode::http) {
    t.error("forward_headers", "forward_headers needs mode = \"http\"");
  }
}

ListenerConfig read_listener(TableReader& t) {
  ListenerConfig l;
  l.name = read_name(t);
  const auto binds = t.string_or_array("bind");
  if (binds.empty()) t.error("bind", "a listener needs at least one bind address");
  for (const auto& b : binds) {
    if (auto e = lb::config::parse_endpoint(b)) {
      l.binds.push_back(*e);
    } else {
      t.error("bind", e.error());
    }
  }
  l.mode = t.enumeration("mode", l.mode,
                         {{"tcp", ListenerMode::tcp},
                          {"http", ListenerMode::http},
                          {"forward", ListenerMode::forward}});
  if (auto p = t.required_string("pool")) {
    if (p->empty()) t.error("pool", "must name a [[pool]]");
    l.default_pool = *p;
  }
  l.max_connections = static_cast<std::uint32_t>(t.integer("max_connections", 0, 0, 10'000'000));
  read_proxy_protocol_keys(t, l);
  l.h2c = t.boolean("h2c", false);
  read_forward_headers(t, l);
  for (auto& r : t.tables("route")) l.routes.push_back(read_route(r));
  for (auto& r : t.tables("sni_route")) l.sni_routes.push_back(read_sni_route(r));
  if (l.mode != ListenerMode::tcp && !l.sni_routes.empty()) {
    t.error("sni_route", "sni_route (TLS pass-through) needs mode = \"tcp\"");
  }
  if (l.h2c && l.mode != ListenerMode::http) t.error("h2c", "h2c needs mode = \"http\"");
  if (auto tls = t.table("tls")) {
    if (l.h2c) t.error("h2c", "h2c is for plain listeners; with TLS, HTTP/2 is chosen by alpn");
    if (l.mode != ListenerMode::http) {
      tls->error_here("TLS termination needs mode = \"http\"");
    } else {
      l.tls = proxy::read_listener_tls(*tls);
    }
  }
  if (l.mode != ListenerMode::http && !l.routes.empty()) {
    t.error("route", "routes need mode = \"http\"");
  }
  read_forward_keys(t, l);
  t.reject_unknown_keys();
  return l;
}

// What the pool of a tcp listener may use: a TCP listener sees no HTTP, so only the client
// address can key hashing and persistence there.
void check_tcp_pool(TableReader& l, const ListenerConfig& listener, const PoolConfig& pool) {
  if (pool.protocol == UpstreamProtocol::h2) {
    l.error("pool", fmt::format("pool \"{}\" has protocol = \"h2\", which needs mode = "
                                "\"http\" (a tcp listener relays bytes)",
                                listener.default_pool));
  }
  if (pool.tls) {
    l.error("pool", fmt::format("pool \"{}\" has [pool.tls], which needs mode = \"http\" "
                                "(TLS to backends is not supported on tcp listeners)",
                                listener.default_pool));
  }
  if (pool.balance.hash_key.kind != HashKey::Kind::source_ip) {
    l.error("pool", fmt::format("pool \"{}\" hashes on \"{}\", which needs mode = "
                                "\"http\" (tcp listeners can hash on source_ip only)",
                                listener.default_pool, to_string(pool.balance.hash_key)));
  }
  const auto mode = pool.persistence.mode;
  if (mode != PersistenceMode::none && mode != PersistenceMode::source_ip) {
    l.error("pool", fmt::format("pool \"{}\" uses persistence mode \"{}\", which needs "
                                "mode = \"http\" (tcp listeners support source_ip only)",
                                listener.default_pool, persistence_mode_name(mode)));
  }
}

// The listener's default pool exists and suits the listener's mode.
void check_listener_pool(TableReader& l, const ListenerConfig& listener, const Config& c,
                         const std::set<std::string>& pool_names) {
  if (listener.default_pool.empty()) {
    // read_listener reported the missing or empty name; there is no pool to check against.
  } else if (!pool_names.contains(listener.default_pool)) {
    l.error("pool", fmt::format("unknown pool \"{}\"", listener.default_pool));
  } else if (listener.mode == ListenerMode::forward) {
    check_forward_pool(l, listener, *c.find_pool(listener.default_pool));
  } else if (listener.mode == ListenerMode::tcp) {
    check_tcp_pool(l, listener, *c.find_pool(listener.default_pool));
  }
}

// The pools of the listener's routes and sni_routes exist (sni_routes: and suit a tcp listener).
void check_route_pools(TableReader& l, const ListenerConfig& listener, const Config& c,
                       const std::set<std::string>& pool_names) {
  auto sni_routes = l.tables("sni_route");
  for (std::size_t i = 0; i < listener.sni_routes.size() && i < sni_routes.size(); ++i) {
    const auto& pool = listener.sni_routes[i].pool;
    if (!pool_names.contains(pool)) {
      sni_routes[i].error("pool", fmt::format("unknown pool \"{}\"", pool));
    } else if (c.find_pool(pool)->protocol == UpstreamProtocol::h2) {
      sni_routes[i].error("pool", fmt::format("pool \"{}\" has protocol = \"h2\", which needs "
                                              "mode = \"http\" (a tcp listener relays bytes)",
                                              pool));
    } else if (c.find_pool(pool)->tls) {
      sni_routes[i].error("pool", fmt::format("pool \"{}\" has [pool.tls], which needs mode = "
                                              "\"http\" (TLS to backends is not supported on "
                                              "tcp listeners)",
                                              pool));
    } else if (c.find_pool(pool)->persistence.mode != PersistenceMode::none &&
               c.find_pool(pool)->persistence.mode != PersistenceMode::source_ip) {
      sni_routes[i].error("pool", fmt::format("pool \"{}\" needs mode = \"http\" for its "
                                              "persistence mode",
                                              pool));
    }
  }
  auto routes = l.tables("route");  // positions for route errors
  for (std::size_t i = 0; i < listener.routes.size() && i < routes.size(); ++i) {
    if (!pool_names.contains(listener.routes[i].pool)) {
      routes[i].error("pool", fmt::format("unknown pool \"{}\"", listener.routes[i].pool));
    }
  }
}

Config read_config(TableReader root, const std::string& file) {
  Config c;
  c.source_file = file;
  if (auto g = root.table("global")) c.global = read_global(*g);
  if (auto t = root.table("timeouts")) c.timeouts = read_timeouts(*t);
  if (auto l = root.table("limits")) c.limits = read_limits(*l);

  auto pool_tables = root.tables("pool");
  std::set<std::string> pool_names;
  for (auto& p : pool_tables) {
    auto pool = read_pool(p);
    if (!pool.name.empty() && !pool_names.insert(pool.name).second) {
      p.error("name", fmt::format("duplicate pool name \"{}\"", pool.name));
    }
    c.pools.push_back(std::move(pool));
  }

  auto listener_tables = root.tables("listener");
  if (listener_tables.empty()) root.error_here("no [[listener]] configured");
  std::set<std::string> listener_names;
  for (auto& l : listener_tables) {
    auto listener = read_listener(l);
    if (!listener.name.empty() && !listener_names.insert(listener.name).second) {
      l.error("name", fmt::format("duplicate listener name \"{}\"", listener.name));
    }
    check_listener_pool(l, listener, c, pool_names);
    check_route_pools(l, listener, c, pool_names);
    c.listeners.push_back(std::move(listener));
  }
  c.replication = read_replication(root);
  c.admin = read_admin(root);
  c.access_log = read_access_log(root);
  root.reject_unknown_keys();
  return c;
}

}  // namespace

Config load_config(const std::string& path, lb::config::Diagnostics& diags) {
  return lb::config::load_file<Config>(path, diags, read_config);
}

Config load_config_from_string(std::string_view text, const std::string& name,
                               lb::config::Diagnostics& diags) {
  return lb::config::load_string<Config>(text, name, diags, read_config);
}

}  // namespace lbd
