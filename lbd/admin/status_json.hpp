// JSON builders for lbd's control socket and status page: pools and servers, stick-table dumps,
// connections, replication, VRRP roles, health. Pure functions of the plain data in
// status_model.hpp (no server, no I/O), so every field is unit-tested. The reply shapes are the
// control protocol's: lbctl and the status page read exactly these keys.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lbd/admin/status_model.hpp"
#include "lbd/replication/conn_table.hpp"
#include "lbd/sticky/stick_table.hpp"

namespace lbd::admin {

/// {"name","address","backup","state","healthy","ejected","admin","reason","last_check_ms"
/// (null when none yet),"weight","effective_weight","active","checks","failed_checks",
/// "candidate","overrides":{"admin"?,"weight"?}}
nlohmann::json server_json(const ServerView& s);
/// {"name","algorithm","persistence","generation","using_backups","candidates","servers":[...]}
nlohmann::json pool_json(const PoolView& p);
/// {"ok":true,"pools":[...]} — every pool, or only `only` (the caller checked it exists).
nlohmann::json pools_reply(const std::vector<PoolView>& pools,
                           std::optional<std::string_view> only = std::nullopt);

/// {"enabled":false} without [replication]; else node/peer ids, connected, in-sync flags,
/// counters, per-table journal positions and the error counters by reason.
nlohmann::json replication_json(const std::optional<repl::ReplicationStatus>& status);
/// {"role":"master|backup|unknown","vrids":[{"instance","vrid","interface","state","from",
/// "reason","since"(unix seconds)}]}
nlohmann::json roles_json(const RolesView& roles);
/// {"status":"ok|degraded|stopping","reasons":[...]}
nlohmann::json health_json(const NodeHealth& health);
/// The whole status page model: {"version","active_connections","reloads":{"ok","failed"},
/// "pools":[...],"replication":{...},"roles":{...},"health":{...}}.
nlohmann::json node_status_json(const NodeStatus& status);

/// One pool's stick table: {"pool","size","shown","truncated","entries":[{"key","server",
/// "ttl_ms","origin"}]}; keys printed with stick_key::describe (addresses as text, others hex
/// when not printable). `entries` holds at most `limit` of the table's `size` entries.
nlohmann::json table_json(std::string_view pool, std::size_t size,
                          const std::vector<StickEntryView>& entries, std::size_t limit);

/// Connections: {"local":N,"remote":M,"shown","truncated","connections":[{"side":"local|remote",
/// "client","listener","pool","server","mode":"l4|l7","age_ms"}]}, at most `limit` rows.
nlohmann::json conns_json(std::size_t local_total, std::size_t remote_total,
                          const std::vector<repl::ConnEntry>& local,
                          const std::vector<repl::ConnEntry>& remote, std::size_t limit,
                          std::chrono::system_clock::time_point now);

}  // namespace lbd::admin
