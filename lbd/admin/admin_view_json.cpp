// /status.json (see admin_view_json.hpp).
#include "lbd/admin/admin_view_json.hpp"

#include "lbd/admin/status_json.hpp"

namespace lbd::admin {

nlohmann::json admin_view_json(const AdminView& v) {
  using nlohmann::json;
  json out = node_status_json(v.status);
  out["node"] = v.node_id;
  out["uptime_seconds"] = v.uptime_seconds;
  out["workers"] = v.workers;
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
  // The pools array is node_status_json's, in the same order: add the traffic to its objects.
  auto& pools = out["pools"];
  for (std::size_t i = 0; i < v.status.pools.size(); ++i) {
    const auto& p = v.status.pools[i];
    auto& pj = pools[i];
    const auto h = v.pool_health.contains(p.name) ? v.pool_health.at(p.name) : PoolHealthCounters{};
    pj["health_flips"] = h.flips;
    pj["ejections"] = h.ejections;
    const auto pi = v.totals.backends.find(p.name);
    for (std::size_t k = 0; k < p.servers.size(); ++k) {
      BackendTotals t;
      if (pi != v.totals.backends.end()) {
        if (auto si = pi->second.find(p.servers[k].name); si != pi->second.end()) t = si->second;
      }
      auto& sj = pj["servers"][k];
      sj["requests"] = t.requests;
      sj["errors"] = {
          {"connect", t.connect_failures}, {"timeout", t.timeouts}, {"5xx", t.responses_5xx}};
      sj["latency_count"] = t.latency_count;
      sj["latency_sum_seconds"] = static_cast<double>(t.latency_sum_ns) / 1e9;
    }
  }
  json tables = json::object();
  for (const auto& [pool, c] : v.stick_tables) {
    tables[pool] = {{"entries", c.entries},
                    {"inserts", c.inserts},
                    {"evictions", c.evictions},
                    {"expirations", c.expirations}};
  }
  out["stick_tables"] = std::move(tables);
  out["access_log"] = {{"on", v.access_log_on},
                       {"written", v.access_log_written},
                       {"dropped", v.access_log_dropped}};
  return out;
}

}  // namespace lbd::admin
