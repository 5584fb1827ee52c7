#include "lbd/admin/admin_view_json.hpp"

namespace lbd::admin {

nlohmann::json admin_view_json(const AdminView& v) {
  using nlohmann::json;
  json out;
  out["node"] = v.node_id;
  out["role"] = v.role;
  out["version"] = v.version;
  out["uptime_seconds"] = v.uptime_seconds;
  out["workers"] = v.workers;
  out["active_connections"] = v.active_connections;
  out["reloads"] = {{"ok", v.reloads_ok}, {"failed", v.reloads_failed}};
  json listeners = json::array();
  for (const auto& l : v.listeners) {
    json j{{"name", l.name}, {"mode", l.mode}, {"binds", l.binds}, {"active", l.active}};
    const auto it = v.totals.listeners.find(l.name);
    const ListenerTotals t = it == v.totals.listeners.end() ? ListenerTotals{} : it->second;
    j["connections"] = t.connections;
    j["responses"] = {{"1xx", t.responses[0]},
                      {"2xx", t.responses[1]},
                      {"3xx", t.responses[2]},
                      {"4xx", t.responses[3]},
                      {"5xx", t.responses[4]}};
    j["bytes_in"] = t.bytes_in;
    j["bytes_out"] = t.bytes_out;
    listeners.push_back(std::move(j));
  }
  out["listeners"] = std::move(listeners);
  json pools = json::array();
  for (const auto& p : v.pools) {
    json servers = json::array();
    for (const auto& s : p.servers) {
      BackendTotals t;
      if (auto pi = v.totals.backends.find(p.name); pi != v.totals.backends.end()) {
        if (auto si = pi->second.find(s.name); si != pi->second.end()) t = si->second;
      }
      servers.push_back(
          {{"name", s.name},
           {"address", s.address},
           {"state", s.state},
           {"backup", s.backup},
           {"ejected", s.ejected},
           {"weight", s.effective_weight},
           {"active", s.active},
           {"last_reason", s.reason},
           {"requests", t.requests},
           {"errors",
            {{"connect", t.connect_failures}, {"timeout", t.timeouts}, {"5xx", t.responses_5xx}}},
           {"latency_count", t.latency_count},
           {"latency_sum_seconds", static_cast<double>(t.latency_sum_ns) / 1e9}});
    }
    const auto h = v.pool_health.contains(p.name) ? v.pool_health.at(p.name) : PoolHealthCounters{};
    pools.push_back({{"name", p.name},
                     {"algorithm", p.algorithm},
                     {"health_flips", h.flips},
                     {"ejections", h.ejections},
                     {"servers", std::move(servers)}});
  }
  out["pools"] = std::move(pools);
  json tables = json::object();
  for (const auto& [pool, c] : v.stick_tables) {
    tables[pool] = {{"entries", c.entries},
                    {"inserts", c.inserts},
                    {"evictions", c.evictions},
                    {"expirations", c.expirations}};
  }
  out["stick_tables"] = std::move(tables);
  if (v.replication) {
    const auto& r = *v.replication;
    json t = json::array();
    for (const auto& tb : r.tables) {
      t.push_back({{"name", tb.name}, {"entries", tb.entries}, {"backlog", tb.backlog}});
    }
    out["replication"] = {{"node_id", r.node_id},
                          {"peer_id", r.peer_id},
                          {"peer_address", r.peer_address},
                          {"connected", r.connected},
                          {"in_sync", r.peer_has_our_data && r.we_have_peer_data},
                          {"sessions", r.sessions},
                          {"resyncs_sent", r.resyncs_sent},
                          {"resyncs_received", r.resyncs_received},
                          {"tables", std::move(t)}};
  } else {
    out["replication"] = nullptr;
  }
  out["access_log"] = {{"on", v.access_log_on},
                       {"written", v.access_log_written},
                       {"dropped", v.access_log_dropped}};
  return out;
}

}  // namespace lbd::admin
