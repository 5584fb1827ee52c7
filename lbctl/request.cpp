// lbctl's command words to control requests: see request.hpp.
#include "lbctl/request.hpp"

#include <charconv>

#include <fmt/format.h>

namespace lbctl {

namespace {

using nlohmann::json;

Request lbd(std::string view, json message) {
  return Request{Daemon::lbd, std::move(view), std::move(message)};
}

bool valid_server_ref(const std::string& s) {
  const auto slash = s.find('/');
  return slash != std::string::npos && slash > 0 && slash + 1 < s.size();
}

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

// "51" -> {"vrid":51}; anything else names an instance; none = every master instance.
lb::Result<json> vrrp_target(json message, const std::vector<std::string>& words) {
  if (words.size() > 3)
    return lb::fail("too many arguments: vrrp " + words[1] + " [VRID|INSTANCE]");
  if (words.size() == 3) {
    unsigned vrid = 0;
    const auto& w = words[2];
    const auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), vrid);
    if (ec == std::errc() && end == w.data() + w.size()) {
      if (vrid < 1 || vrid > 255) return lb::fail(fmt::format("VRID {} is not in 1..255", w));
      message["vrid"] = vrid;
    } else {
      message["instance"] = w;
    }
  }
  return message;
}

}  // namespace

std::string commands_help() {
  return R"(Commands (lbd):
  show pools                          pools: algorithm, servers up, candidates
  show servers [POOL]                 state, weights, active connections, last check, reason
  server enable|disable|drain|maint POOL/SERVER
                                      admin state (disable = maint: no traffic; drain: no new
                                      clients, sticky clients and open connections go on)
  server weight POOL/SERVER N         weight 0..256 (kept across reloads, like the admin state)
  show table [POOL]                   stick-table entries (at most --limit per table)
  clear table POOL [KEY]              remove one entry or all (replicated to the peer)
  show conns                          live connections, local and the peer's (at most --limit)
  show replication                    peer, sync state, backlog per table
  show forward                        forward mode: slot tables, conntrack stream, nft ruleset
  show roles                          VRRP role per VRID as vrrpd reported it
  show status                         everything above in one JSON document (use --json)
  health                              ok / degraded / stopping, with reasons
  reload                              re-read lbd's config file (refused configs are reported)
Commands (vrrpd):
  vrrp show                           state and priority of every virtual router
  vrrp switchover [VRID|INSTANCE]     hand mastership to the peer (all master VRIDs if none)
  vrrp resume [VRID|INSTANCE]         end a switchover: configured priority again)";
}

lb::Result<Request> build_request(const std::vector<std::string>& words, std::size_t limit) {
  if (words.empty()) return lb::fail("no command given (see --help)");
  const auto& w0 = words[0];
  const std::size_t n = words.size();
  auto arity = [&](std::size_t min, std::size_t max, const char* usage) -> lb::Result<void> {
    if (n < min || n > max) return lb::fail(fmt::format("usage: lbctl {}", usage));
    return {};
  };
  if (w0 == "show" && n >= 2) {
    const auto& what = words[1];
    if (what == "pools" || what == "replication" || what == "roles" || what == "status" ||
        what == "forward") {
      if (auto r = arity(2, 2, ("show " + what).c_str()); !r) return std::unexpected(r.error());
      return lbd(what, {{"cmd", "show " + what}});
    }
    if (what == "servers" || what == "table") {
      if (auto r = arity(2, 3, ("show " + what + " [POOL]").c_str()); !r) {
        return std::unexpected(r.error());
      }
      json m{{"cmd", "show " + what}};
      if (n == 3) m["pool"] = words[2];
      if (what == "table") m["limit"] = limit;
      return lbd(what == "servers" ? "servers" : "table", m);
    }
    if (what == "conns") {
      if (auto r = arity(2, 2, "show conns"); !r) return std::unexpected(r.error());
      return lbd("conns", {{"cmd", "show conns"}, {"limit", limit}});
    }
  }
  if (w0 == "server" && n >= 2) {
    const auto& action = words[1];
    if (action == "enable" || action == "disable" || action == "drain" || action == "maint") {
      if (n != 3 || !valid_server_ref(words[2])) {
        return lb::fail(fmt::format("usage: lbctl server {} POOL/SERVER", action));
      }
      return lbd("server", {{"cmd", "server " + action}, {"server", words[2]}});
    }
    if (action == "weight") {
      unsigned weight = 0;
      bool ok = n == 4 && valid_server_ref(words[2]);
      if (ok) {
        const auto& w = words[3];
        const auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), weight);
        ok = ec == std::errc() && end == w.data() + w.size() && weight <= 256;
      }
      if (!ok) return lb::fail("usage: lbctl server weight POOL/SERVER N (N in 0..256)");
      return lbd("server", {{"cmd", "server weight"}, {"server", words[2]}, {"weight", weight}});
    }
  }
  if (w0 == "clear" && n >= 2 && words[1] == "table") {
    if (n < 3 || n > 4) return lb::fail("usage: lbctl clear table POOL [KEY]");
    json m{{"cmd", "clear table"}, {"pool", words[2]}};
    if (n == 4) m["key"] = words[3];
    return lbd("cleared", m);
  }
  if (w0 == "reload" || w0 == "health") {
    if (n != 1) return lb::fail(fmt::format("usage: lbctl {}", w0));
    return lbd(w0 == "reload" ? "done" : "health", {{"cmd", w0}});
  }
  if (w0 == "vrrp" && n >= 2) {
    const auto& action = words[1];
    if (action == "show") {
      if (n != 2) return lb::fail("usage: lbctl vrrp show");
      return Request{Daemon::vrrpd, "vrrp", {{"cmd", "status"}}};
    }
    if (action == "switchover" || action == "resume") {
      auto m = vrrp_target({{"cmd", action}}, words);
      if (!m) return std::unexpected(m.error());
      return Request{Daemon::vrrpd, "vrrp_change", *m};
    }
  }
  return lb::fail(fmt::format("unknown command \"{}\" (see --help)", join(words)));
}

}  // namespace lbctl
