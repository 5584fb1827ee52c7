// lbctl's human tables: see render.hpp.
#include "lbctl/render.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace lbctl {

using nlohmann::json;

namespace {

// A cell from a JSON value: strings bare, numbers and booleans as JSON prints them.
std::string cell(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "-";
  return v.dump();
}

std::string or_dash(const json& v) {
  return v.is_string() && v.get<std::string>().empty() ? "-" : cell(v);
}

std::string yes_no(const json& v) { return v.is_boolean() && v.get<bool>() ? "yes" : "no"; }

std::string servers(const json& reply) {
  Table t({"POOL", "SERVER", "ADDRESS", "STATE", "WEIGHT", "EFFECTIVE", "ACTIVE", "LAST CHECK",
           "REASON"});
  for (const auto& p : reply.at("pools")) {
    for (const auto& s : p.at("servers")) {
      std::string weight = cell(s.at("weight"));
      // An override made with lbctl is marked, so nobody wonders why the file says otherwise.
      const auto& o = s.at("overrides");
      if (o.contains("weight")) weight += "*";
      std::string state = cell(s.at("state"));
      if (o.contains("admin")) state += "*";
      if (s.value("backup", false)) state += " (backup)";
      t.add({cell(p.at("name")), cell(s.at("name")), cell(s.at("address")), state, weight,
             cell(s.at("effective_weight")), cell(s.at("active")),
             format_age_ms(s.at("last_check_ms")), cell(s.at("reason"))});
    }
  }
  return t.str() + "(* = runtime override, kept across reloads)\n";
}

std::string pools(const json& reply) {
  Table t({"POOL", "ALGORITHM", "PERSISTENCE", "SERVERS", "UP", "CANDIDATES", "BACKUPS"});
  for (const auto& p : reply.at("pools")) {
    t.add({cell(p.at("name")), cell(p.at("algorithm")), cell(p.at("persistence")),
           cell(p.at("servers")), cell(p.at("up")), cell(p.at("candidates")),
           p.value("using_backups", false) ? "in use" : "-"});
  }
  return t.str();
}

std::string server(const json& reply) {
  const auto& s = reply.at("server");
  return fmt::format("{}: state={} weight={} effective={} active={}\n", cell(s.at("name")),
                     cell(s.at("state")), cell(s.at("weight")), cell(s.at("effective_weight")),
                     cell(s.at("active")));
}

std::string tables(const json& reply) {
  std::string out;
  for (const auto& tb : reply.at("tables")) {
    out += fmt::format("table {}: {} entr{}", cell(tb.at("pool")), cell(tb.at("size")),
                       tb.at("size") == 1 ? "y" : "ies");
    if (tb.value("truncated", false)) out += fmt::format(" (first {} shown)", cell(tb.at("shown")));
    out += "\n";
    Table t({"KEY", "SERVER", "TTL", "ORIGIN"});
    for (const auto& e : tb.at("entries")) {
      t.add({cell(e.at("key")), cell(e.at("server")), format_age_ms(e.at("ttl_ms")),
             cell(e.at("origin"))});
    }
    out += t.str();
  }
  if (out.empty()) out = "no stick tables (no pool uses source_ip, learned_cookie or header)\n";
  return out;
}

std::string conns(const json& reply) {
  std::string out = fmt::format("connections: local={} peer={}", cell(reply.at("local")),
                                cell(reply.at("remote")));
  if (reply.value("truncated", false))
    out += fmt::format(" (first {} shown)", cell(reply.at("shown")));
  out += "\n";
  Table t({"SIDE", "CLIENT", "LISTENER", "POOL", "SERVER", "MODE", "AGE"});
  for (const auto& c : reply.at("connections")) {
    t.add({cell(c.at("side")), cell(c.at("client")), cell(c.at("listener")), cell(c.at("pool")),
           cell(c.at("server")), cell(c.at("mode")), format_age_ms(c.at("age_ms"))});
  }
  return out + t.str();
}

std::string replication(const json& reply) {
  const auto& r = reply.at("replication");
  if (!r.value("enabled", false)) return "replication: not configured\n";
  std::string out = fmt::format(
      "replication: node={} peer={} ({}) connected={} in_sync={} role={}\n"
      "  sessions={} disconnects={} resyncs sent={} received={} overflow={}\n"
      "  updates applied={} stale={} peer connections at takeover={}\n",
      cell(r.at("node_id")), or_dash(r.at("peer_id")), or_dash(r.at("peer_address")),
      yes_no(r.at("connected")), yes_no(r.at("in_sync")), cell(r.at("role")),
      cell(r.at("sessions")), cell(r.at("disconnects")), cell(r.at("resyncs_sent")),
      cell(r.at("resyncs_received")), cell(r.at("overflow_resyncs")), cell(r.at("updates_applied")),
      cell(r.at("updates_stale")), cell(r.at("takeover_peer_connections")));
  Table t({"TABLE", "ENTRIES", "PEER ENTRIES", "JOURNAL", "SENT", "ACKED", "BACKLOG"});
  for (const auto& tb : r.at("tables")) {
    t.add({cell(tb.at("name")), cell(tb.at("entries")), cell(tb.at("remote_entries")),
           cell(tb.at("journal_head")), cell(tb.at("sent_seq")), cell(tb.at("acked_seq")),
           cell(tb.at("backlog"))});
  }
  out += t.str();
  if (!r.at("errors").empty()) {
    out += "errors:";
    for (const auto& [reason, n] : r.at("errors").items())
      out += fmt::format(" {}={}", reason, cell(n));
    out += "\n";
  }
  return out;
}

std::string forward(const json& reply) {
  const auto& f = reply.at("forward");
  if (!f.value("enabled", false)) return "forward: no forward listener configured\n";
  std::string out = fmt::format("forward: nft transactions ok={} failed={} map updates={}\n",
                                cell(f.at("transactions_ok")), cell(f.at("transactions_failed")),
                                cell(f.at("map_updates")));
  Table t({"LISTENER", "VIPS", "SELECTOR", "SLOTS", "SNAT", "ON DOWN", "SLOTS PER BACKEND"});
  for (const auto& s : f.at("services")) {
    std::string vips, shares;
    for (const auto& v : s.at("vips")) vips += (vips.empty() ? "" : ",") + cell(v);
    for (const auto& [backend, n] : s.at("slots_per_backend").items()) {
      shares += fmt::format("{}{}={}", shares.empty() ? "" : " ", backend, cell(n));
    }
    t.add({cell(s.at("listener")), vips, cell(s.at("selector")), cell(s.at("slots")),
           or_dash(s.at("snat")), cell(s.at("on_server_down")), shares.empty() ? "-" : shares});
  }
  out += t.str();
  if (f.value("conntrack", false)) {
    out += fmt::format(
        "conntrack: flows={} peer entries held={} events={} overflows={} reconciles={} "
        "journaled={}\n  peer entries committed={} failed={} erased={} ignored={} resets={}\n",
        cell(f.at("flows")), cell(f.at("remote_flows")), cell(f.at("events")),
        cell(f.at("overflows")), cell(f.at("reconciles")), cell(f.at("journaled")),
        cell(f.at("committed")), cell(f.at("failed")), cell(f.at("erased")), cell(f.at("ignored")),
        cell(f.at("resets")));
    Table b({"BACKEND", "FLOWS"});
    for (const auto& [backend, n] : f.at("flows_per_backend").items()) b.add({backend, cell(n)});
    out += b.str();
  }
  out += "ruleset:\n" + f.value("ruleset", std::string());
  return out;
}

std::string roles(const json& reply) {
  const auto& r = reply.at("roles");
  std::string out = fmt::format("node role: {}\n", cell(r.at("role")));
  if (r.at("vrids").empty()) return out + "(vrrpd has not reported any state yet)\n";
  Table t({"INSTANCE", "VRID", "INTERFACE", "STATE", "FROM", "REASON"});
  for (const auto& v : r.at("vrids")) {
    t.add({cell(v.at("instance")), cell(v.at("vrid")), cell(v.at("interface")), cell(v.at("state")),
           cell(v.at("from")), cell(v.at("reason"))});
  }
  return out + t.str();
}

std::string health(const json& reply) {
  std::string out = "health: " + cell(reply.at("status")) + "\n";
  for (const auto& r : reply.at("reasons")) out += "  " + cell(r) + "\n";
  return out;
}

std::string vrrp(const json& reply) {
  Table t({"INSTANCE", "VRID", "INTERFACE", "STATE", "PRIORITY", "EFFECTIVE", "VIPS"});
  for (const auto& i : reply.at("instances")) {
    std::string vips;
    for (const auto& v : i.at("vips")) vips += (vips.empty() ? "" : ",") + cell(v);
    std::string state = cell(i.at("state"));
    if (i.value("switched_over", false)) state += " (switched over)";
    // The handover window (vrrpd's handover_drain): serving on unannounced, or forwarding.
    if (i.value("draining", false)) state += " (draining)";
    if (const auto to = i.value("forwarding_to", std::string()); !to.empty()) {
      state += " (forwarding to " + to + ")";
    }
    t.add({cell(i.at("name")), cell(i.at("vrid")), cell(i.at("interface")), state,
           cell(i.at("priority")), cell(i.at("effective_priority")), vips});
  }
  return t.str();
}

std::string vrrp_change(const json& reply) {
  std::string out;
  for (const auto& i : reply.at("instances")) {
    out += fmt::format("{} (vrid {}): {}\n", cell(i.at("name")), cell(i.at("vrid")),
                       cell(i.at("result")));
  }
  return out;
}

}  // namespace

std::string Table::str() const {
  std::vector<std::size_t> width;
  for (const auto& row : rows_) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows_) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string format_age_ms(const json& ms) {
  if (!ms.is_number()) return "-";
  const auto v = ms.get<std::int64_t>();
  if (v < 1000) return fmt::format("{}ms", v);
  if (v < 60'000) return fmt::format("{:.1f}s", static_cast<double>(v) / 1000.0);
  if (v < 3'600'000) return fmt::format("{}m{:02}s", v / 60'000, (v / 1000) % 60);
  return fmt::format("{}h{:02}m", v / 3'600'000, (v / 60'000) % 60);
}

std::string render(const std::string& view, const json& reply) {
  try {
    if (view == "servers") return servers(reply);
    if (view == "pools") return pools(reply);
    if (view == "server") return server(reply);
    if (view == "table") return tables(reply);
    if (view == "conns") return conns(reply);
    if (view == "replication") return replication(reply);
    if (view == "roles") return roles(reply);
    if (view == "forward") return forward(reply);
    if (view == "health") return health(reply);
    if (view == "vrrp") return vrrp(reply);
    if (view == "vrrp_change") return vrrp_change(reply);
    if (view == "cleared")
      return fmt::format("removed {} entr{}\n", cell(reply.at("removed")),
                         reply.at("removed") == 1 ? "y" : "ies");
    if (view == "done") return "ok\n";
  } catch (const json::exception&) {
    // A daemon of another version may answer with another shape: show what it said.
  }
  return reply.dump(2) + "\n";
}

}  // namespace lbctl
