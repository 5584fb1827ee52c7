// JSON builders for the control socket and the status page: see status_json.hpp.
#include "lbd/admin/status_json.hpp"

#include "lbd/sticky/key_derivation.hpp"

namespace lbd::admin {

using nlohmann::json;

std::size_t PoolView::candidates() const {
  std::size_t n = 0;
  for (const auto& s : servers) n += s.candidate ? 1 : 0;
  return n;
}

NodeHealth assess_health(const std::vector<PoolView>& pools, bool draining) {
  NodeHealth h;
  if (draining) {
    h.status = "stopping";
    h.reasons.push_back("draining for shutdown");
    return h;
  }
  for (const auto& p : pools) {
    if (p.candidates() == 0) h.reasons.push_back("pool " + p.name + ": no server available");
  }
  if (!h.reasons.empty()) h.status = "degraded";
  return h;
}

json server_json(const ServerView& s) {
  json overrides = json::object();
  if (s.admin_override) overrides["admin"] = *s.admin_override;
  if (s.weight_override) overrides["weight"] = *s.weight_override;
  return {{"name", s.name},
          {"address", s.address},
          {"backup", s.backup},
          {"state", s.state},
          {"healthy", s.healthy},
          {"ejected", s.ejected},
          {"admin", s.admin},
          {"reason", s.reason},
          {"last_check_ms", s.last_check_age ? json(s.last_check_age->count()) : json(nullptr)},
          {"weight", s.weight},
          {"effective_weight", s.effective_weight},
          {"active", s.active},
          {"checks", s.checks},
          {"failed_checks", s.failed_checks},
          {"candidate", s.candidate},
          {"overrides", overrides}};
}

json pool_json(const PoolView& p) {
  json servers = json::array();
  for (const auto& s : p.servers) servers.push_back(server_json(s));
  return {{"name", p.name},
          {"algorithm", p.algorithm},
          {"persistence", p.persistence},
          {"generation", p.generation},
          {"using_backups", p.using_backups},
          {"candidates", p.candidates()},
          {"servers", servers}};
}

json pools_reply(const std::vector<PoolView>& pools, std::optional<std::string_view> only) {
  json list = json::array();
  for (const auto& p : pools) {
    if (!only || p.name == *only) list.push_back(pool_json(p));
  }
  return {{"ok", true}, {"pools", list}};
}

json replication_json(const std::optional<repl::ReplicationStatus>& status) {
  if (!status) return {{"enabled", false}};
  const auto& s = *status;
  json tables = json::array();
  for (const auto& t : s.tables) {
    tables.push_back({{"name", t.name},
                      {"journal_head", t.journal_head},
                      {"sent_seq", t.sent_seq},
                      {"acked_seq", t.acked_seq},
                      {"backlog", t.backlog},
                      {"entries", t.entries},
                      {"remote_entries", t.remote_entries}});
  }
  json errors = json::object();
  for (const auto& [reason, n] : s.errors) errors[reason] = n;
  return {{"enabled", true},
          {"node_id", s.node_id},
          {"running", s.running},
          {"connected", s.connected},
          {"peer_id", s.peer_id},
          {"peer_address", s.peer_address},
          {"role", std::string(repl::role_name(s.role))},
          {"peer_has_our_data", s.peer_has_our_data},
          {"we_have_peer_data", s.we_have_peer_data},
          {"in_sync", s.connected && s.peer_has_our_data && s.we_have_peer_data},
          {"sessions", s.sessions},
          {"disconnects", s.disconnects},
          {"resyncs_sent", s.resyncs_sent},
          {"resyncs_received", s.resyncs_received},
          {"overflow_resyncs", s.overflow_resyncs},
          {"bytes_sent", s.bytes_sent},
          {"bytes_received", s.bytes_received},
          {"frames_sent", s.frames_sent},
          {"frames_received", s.frames_received},
          {"updates_applied", s.updates_applied},
          {"updates_stale", s.updates_stale},
          {"ct_entries_sent", s.ct_entries_sent},
          {"ct_entries_received", s.ct_entries_received},
          {"takeover_peer_connections", s.takeover_peer_connections},
          {"tables", tables},
          {"errors", errors}};
}

json roles_json(const RolesView& roles) {
  json vrids = json::array();
  for (const auto& r : roles.vrids) {
    vrids.push_back(
        {{"instance", r.instance},
         {"vrid", r.vrid},
         {"interface", r.interface},
         {"state", r.state},
         {"from", r.from},
         {"reason", r.reason},
         {"since",
          std::chrono::duration_cast<std::chrono::seconds>(r.since.time_since_epoch()).count()}});
  }
  return {{"role", std::string(repl::role_name(roles.node_role))}, {"vrids", vrids}};
}

json health_json(const NodeHealth& health) {
  return {{"status", health.status}, {"reasons", health.reasons}};
}

json node_status_json(const NodeStatus& st) {
  json pools = json::array();
  for (const auto& p : st.pools) pools.push_back(pool_json(p));
  return {{"version", st.version},
          {"active_connections", st.active_connections},
          {"reloads", {{"ok", st.reloads_ok}, {"failed", st.reloads_failed}}},
          {"pools", pools},
          {"replication", replication_json(st.replication)},
          {"roles", roles_json(st.roles)},
          {"health", health_json(st.health)}};
}

json table_json(std::string_view pool, std::size_t size, const std::vector<StickEntryView>& entries,
                std::size_t limit) {
  json list = json::array();
  for (const auto& e : entries) {
    if (list.size() >= limit) break;
    list.push_back(
        {{"key", stick_key::describe(e.key)},
         {"server", e.server},
         {"ttl_ms", std::chrono::duration_cast<std::chrono::milliseconds>(e.remaining).count()},
         {"origin", e.origin == StickOrigin::local ? "local" : "remote"}});
  }
  const std::size_t shown = list.size();
  return {{"pool", std::string(pool)},
          {"size", size},
          {"shown", shown},
          {"truncated", shown < size},
          {"entries", list}};
}

json conns_json(std::size_t local_total, std::size_t remote_total,
                const std::vector<repl::ConnEntry>& local,
                const std::vector<repl::ConnEntry>& remote, std::size_t limit,
                std::chrono::system_clock::time_point now) {
  json list = json::array();
  auto add = [&](const std::vector<repl::ConnEntry>& from, const char* side) {
    for (const auto& c : from) {
      if (list.size() >= limit) return;
      const auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - c.start);
      list.push_back({{"side", side},
                      {"client", c.client.to_string()},
                      {"listener", c.listener},
                      {"pool", c.pool},
                      {"server", c.backend},
                      {"mode", c.mode == repl::ConnMode::l4 ? "l4" : "l7"},
                      {"age_ms", std::max<std::int64_t>(age.count(), 0)}});
    }
  };
  add(local, "local");
  add(remote, "remote");
  const std::size_t shown = list.size();
  return {{"ok", true},
          {"local", local_total},
          {"remote", remote_total},
          {"shown", shown},
          {"truncated", shown < local_total + remote_total},
          {"connections", list}};
}

}  // namespace lbd::admin
