// lbd's control-socket commands: see control_handler.hpp.
#include "lbd/admin/control_handler.hpp"

#include <fmt/format.h>

#include "common/control/protocol.hpp"
#include "common/net/ip_address.hpp"
#include "lbd/admin/status_json.hpp"
#include "lbd/sticky/key_derivation.hpp"

namespace lbd::admin {

using lb::control::error_reply;
using nlohmann::json;

std::optional<ServerRef> parse_server_ref(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 >= text.size()) {
    return std::nullopt;
  }
  return ServerRef{std::string(text.substr(0, slash)), std::string(text.substr(slash + 1))};
}

namespace {

std::optional<std::string> string_arg(const json& req, const char* name) {
  auto it = req.find(name);
  if (it == req.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// "limit": a positive integer up to kMaxLimit; absent = kDefaultLimit.
std::optional<std::size_t> limit_arg(const json& req, std::string& error) {
  auto it = req.find("limit");
  if (it == req.end()) return kDefaultLimit;
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() == 0 ||
      it->get<std::uint64_t>() > kMaxLimit) {
    error = fmt::format("limit must be an integer in [1, {}]", kMaxLimit);
    return std::nullopt;
  }
  return it->get<std::size_t>();
}

json ok() { return {{"ok", true}}; }

json show_servers(ControlTarget& server, const json& req) {
  auto pool = string_arg(req, "pool");
  auto pools = server.pool_views(pool);
  if (!pools) return error_reply(fmt::format("no pool {}", *pool));
  return pools_reply(*pools);
}

json show_pools(ControlTarget& server) {
  json list = json::array();
  const auto views = server.pool_views(std::nullopt);
  for (const auto& p : *views) {
    std::size_t up = 0;
    for (const auto& s : p.servers) up += s.state == "up" ? 1 : 0;
    list.push_back({{"name", p.name},
                    {"algorithm", p.algorithm},
                    {"persistence", p.persistence},
                    {"servers", p.servers.size()},
                    {"up", up},
                    {"candidates", p.candidates()},
                    {"using_backups", p.using_backups},
                    {"generation", p.generation}});
  }
  return {{"ok", true}, {"pools", list}};
}

json server_command(ControlTarget& server, std::string_view action, const json& req) {
  const auto text = string_arg(req, "server");
  if (!text) return error_reply("missing \"server\": expected \"pool/server\"");
  const auto ref = parse_server_ref(*text);
  if (!ref) return error_reply(fmt::format("bad server \"{}\": expected \"pool/server\"", *text));
  lb::Result<void> r;
  if (action == "weight") {
    auto it = req.find("weight");
    if (it == req.end() || !it->is_number_unsigned() || it->get<std::uint64_t>() > 256) {
      return error_reply("weight must be an integer in [0, 256]");
    }
    r = server.set_server_weight(ref->pool, ref->server, it->get<std::uint32_t>());
  } else {
    AdminState state = AdminState::ready;
    if (action == "enable") {
      state = AdminState::ready;
    } else if (action == "drain") {
      state = AdminState::drain;
    } else if (action == "disable" || action == "maint") {
      // disable = maintenance: no traffic at all (HAProxy's meaning); checks go on.
      state = AdminState::maint;
    } else {
      return error_reply(fmt::format("unknown server action \"{}\"", action));
    }
    r = server.set_server_admin(ref->pool, ref->server, state);
  }
  if (!r) return error_reply(r.error().message);
  auto pools = server.pool_views(ref->pool);
  for (const auto& s : pools->front().servers) {
    if (s.name == ref->server) return {{"ok", true}, {"server", server_json(s)}};
  }
  return ok();
}

json show_table(ControlTarget& server, const json& req) {
  std::string error;
  const auto limit = limit_arg(req, error);
  if (!limit) return error_reply(error);
  const auto pool = string_arg(req, "pool");
  const auto tables = server.sticky_tables().tables();
  if (pool && !tables.contains(*pool)) {
    return error_reply(fmt::format("no stick table for pool {}", *pool));
  }
  json list = json::array();
  for (const auto& [name, table] : tables) {
    if (pool && name != *pool) continue;
    list.push_back(table_json(name, table->size(), table->dump(*limit), *limit));
  }
  return {{"ok", true}, {"tables", list}};
}

// The stored key for what an operator typed: an address for source_ip tables (masked like the
// table masks them), the text itself otherwise.
std::string stick_key_from_text(const PoolConfig* pool, const std::string& text) {
  if (pool != nullptr && pool->persistence.mode == PersistenceMode::source_ip) {
    if (auto ip = lb::IpAddress::parse(text)) {
      return stick_key::from_address(*ip, pool->persistence.ipv4_mask, pool->persistence.ipv6_mask);
    }
  }
  return text;
}

json clear_table(ControlTarget& server, const Config& config, const json& req) {
  const auto pool = string_arg(req, "pool");
  if (!pool) return error_reply("missing \"pool\"");
  auto table = server.sticky_tables().find(*pool);
  if (!table) return error_reply(fmt::format("no stick table for pool {}", *pool));
  if (const auto key = string_arg(req, "key")) {
    const bool removed = table->erase(stick_key_from_text(config.find_pool(*pool), *key));
    if (!removed)
      return error_reply(fmt::format("no entry \"{}\" in the table of {}", *key, *pool));
    return {{"ok", true}, {"removed", 1}};
  }
  // Erased one batch at a time (each erase is journaled, so the peer forgets them too); bounded
  // by the size at the start plus what workers add meanwhile.
  std::size_t removed = 0;
  const std::size_t budget = table->size() + 1024;
  while (removed < budget) {
    const auto batch = table->dump(1024);
    if (batch.empty()) break;
    for (const auto& e : batch) removed += table->erase(e.key) ? 1 : 0;
  }
  return {{"ok", true}, {"removed", removed}};
}

json show_conns(ControlTarget& server, const json& req) {
  std::string error;
  const auto limit = limit_arg(req, error);
  if (!limit) return error_reply(error);
  auto& conns = server.conn_table();
  std::vector<repl::ConnEntry> local, remote;
  conns.for_each_local([&](const repl::ConnEntry& e) {
    if (local.size() < *limit) local.push_back(e);
  });
  conns.for_each_remote([&](const repl::ConnEntry& e) {
    if (local.size() + remote.size() < *limit) remote.push_back(e);
  });
  return conns_json(conns.local_size(), conns.remote_size(), local, remote, *limit,
                    std::chrono::system_clock::now());
}

json show_forward(ControlTarget& server) {
  const auto v = server.forward_view();
  if (!v) return {{"ok", true}, {"forward", {{"enabled", false}}}};
  json services = json::array();
  for (const auto& s : v->services) {
    services.push_back({{"listener", s.listener},
                        {"vips", s.vips},
                        {"selector", s.selector},
                        {"slots", s.slots},
                        {"slots_per_backend", s.slots_per_backend},
                        {"snat", s.snat},
                        {"on_server_down", s.on_server_down}});
  }
  json f{{"enabled", true},
         {"services", services},
         {"ruleset", v->ruleset},
         {"transactions_ok", v->transactions_ok},
         {"transactions_failed", v->transactions_failed},
         {"map_updates", v->map_updates},
         {"conntrack", v->conntrack}};
  if (v->conntrack) {
    f["flows"] = v->flows;
    f["remote_flows"] = v->remote_flows;
    f["flows_per_backend"] = v->flows_per_backend;
    f["events"] = v->events;
    f["overflows"] = v->overflows;
    f["reconciles"] = v->reconciles;
    f["journaled"] = v->journaled;
    f["committed"] = v->committed;
    f["failed"] = v->failed;
    f["erased"] = v->erased;
    f["ignored"] = v->ignored;
    f["resets"] = v->resets;
    f["since_reconcile_s"] = v->since_reconcile_s;
    f["since_received_s"] = v->since_received_s;
  }
  return {{"ok", true}, {"forward", f}};
}

json vrrp_state(ControlTarget& server, const json& req) {
  VridRole role;
  const auto instance = string_arg(req, "instance");
  const auto state = string_arg(req, "state");
  auto vrid = req.find("vrid");
  if (!instance || !state || vrid == req.end() || !vrid->is_number_unsigned()) {
    return error_reply("vrrp_state needs \"instance\", \"vrid\" and \"state\"");
  }
  role.instance = *instance;
  role.state = *state;
  role.vrid = vrid->get<std::uint32_t>();
  role.interface = string_arg(req, "interface").value_or("");
  role.from = string_arg(req, "from").value_or("");
  role.reason = string_arg(req, "reason").value_or("");
  // Optional (older vrrpd sends none): "192.0.2.10/24" or a bare address; others are skipped.
  if (auto vips = req.find("vips"); vips != req.end() && vips->is_array()) {
    for (const auto& v : *vips) {
      if (!v.is_string() || role.vips.size() >= 64) continue;
      const auto text = v.get<std::string>();
      if (auto a = lb::IpAddress::parse(text.substr(0, text.find('/')))) role.vips.push_back(*a);
    }
  }
  role.since = std::chrono::system_clock::now();
  server.on_vrrp_state(std::move(role));
  return {{"ok", true}, {"role", std::string(repl::role_name(server.roles().node_role))}};
}

}  // namespace

json handle(ControlTarget& server, const json& request) {
  const std::string cmd = request.at("cmd").get<std::string>();
  if (cmd == "show servers") return show_servers(server, request);
  if (cmd == "show pools") return show_pools(server);
  if (cmd.starts_with("server ")) return server_command(server, cmd.substr(7), request);
  if (cmd == "show table") return show_table(server, request);
  if (cmd == "clear table") return clear_table(server, server.config(), request);
  if (cmd == "show conns") return show_conns(server, request);
  if (cmd == "show forward") return show_forward(server);
  if (cmd == "show replication") {
    return {{"ok", true}, {"replication", replication_json(server.replication_status())}};
  }
  if (cmd == "show roles") return {{"ok", true}, {"roles", roles_json(server.roles())}};
  if (cmd == "show status") {
    auto body = node_status_json(server.node_status());
    body["ok"] = true;
    return body;
  }
  if (cmd == "health") {
    auto pools = server.pool_views(std::nullopt);
    auto body = health_json(assess_health(*pools, server.draining()));
    body["ok"] = true;
    // vrrpd re-sends its states when false (this lbd restarted since the last transition).
    body["roles_known"] = !server.roles().vrids.empty();
    return body;
  }
  if (cmd == "reload") {
    std::vector<std::string> errors;
    if (server.reload_now(errors)) return ok();
    json reply = error_reply(errors.empty() ? "reload failed"
                                            : fmt::format("reload refused: {}", errors.front()));
    reply["errors"] = errors;
    return reply;
  }
  if (cmd == "vrrp_state") return vrrp_state(server, request);
  return error_reply(fmt::format("unknown command \"{}\"", cmd));
}

}  // namespace lbd::admin
