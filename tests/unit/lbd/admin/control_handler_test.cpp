// The control socket's "pool/server" references.
#include "lbd/admin/control_handler.hpp"

#include <doctest/doctest.h>

using lbd::admin::parse_server_ref;

TEST_CASE("control_handler: pool/server splits at the first slash and needs both parts") {
  auto r = parse_server_ref("web/be1");
  REQUIRE(r.has_value());
  CHECK(r->pool == "web");
  CHECK(r->server == "be1");
  CHECK_FALSE(parse_server_ref("web").has_value());
  CHECK_FALSE(parse_server_ref("/be1").has_value());
  CHECK_FALSE(parse_server_ref("web/").has_value());
  CHECK(parse_server_ref("a/b/c")->server == "b/c");
}

namespace {

using nlohmann::json;

// A running lbd as the control handler sees it: one pool "web" with servers a and b, and a
// record of what the commands asked for.
class FakeTarget final : public lbd::admin::ControlTarget {
 public:
  FakeTarget() : sticky_(clock_) {
    lbd::admin::PoolView web;
    web.name = "web";
    web.algorithm = "round_robin";
    web.persistence = "none";
    for (const char* name : {"a", "b"}) {
      lbd::admin::ServerView s;
      s.name = name;
      s.state = "up";
      s.admin = "ready";
      s.weight = 1;
      web.servers.push_back(s);
    }
    pools_.push_back(web);
  }

  std::optional<std::vector<lbd::admin::PoolView>> pool_views(
      std::optional<std::string> pool) override {
    if (!pool) return pools_;
    for (const auto& p : pools_)
      if (p.name == *pool) return std::vector{p};
    return std::nullopt;
  }
  lb::Result<void> set_server_admin(const std::string& pool, const std::string& server,
                                    lbd::AdminState state) override {
    auto* s = find(pool, server);
    if (s == nullptr) return lb::fail("no server " + pool + "/" + server);
    s->admin = state == lbd::AdminState::drain   ? "drain"
               : state == lbd::AdminState::maint ? "maint"
                                                 : "ready";
    s->state = s->admin == "ready" ? "up" : s->admin;
    return {};
  }
  lb::Result<void> set_server_weight(const std::string& pool, const std::string& server,
                                     std::uint32_t weight) override {
    auto* s = find(pool, server);
    if (s == nullptr) return lb::fail("no server " + pool + "/" + server);
    s->weight = weight;
    return {};
  }
  bool reload_now(std::vector<std::string>& errors) override {
    ++reloads;
    if (!reload_error.empty()) errors.push_back(reload_error);
    return reload_error.empty();
  }
  void on_vrrp_state(lbd::admin::VridRole role) override { roles_.update(std::move(role)); }
  lbd::admin::RolesView roles() const override { return roles_.view(); }
  bool draining() const override { return false; }
  const lbd::Config& config() const override { return config_; }
  lbd::StickyRegistry& sticky_tables() override { return sticky_; }
  lbd::repl::ConnTable& conn_table() override { return conns_; }
  std::optional<lbd::repl::ReplicationStatus> replication_status() const override {
    return std::nullopt;
  }
  lbd::admin::NodeStatus node_status() override { return {}; }
  std::optional<lbd::admin::ForwardView> forward_view() override { return forward; }

  std::optional<lbd::admin::ForwardView> forward;
  int reloads = 0;
  std::string reload_error;

 private:
  lbd::admin::ServerView* find(const std::string& pool, const std::string& server) {
    for (auto& p : pools_)
      for (auto& s : p.servers)
        if (p.name == pool && s.name == server) return &s;
    return nullptr;
  }

  lb::ManualClock clock_;
  lbd::StickyRegistry sticky_;
  lbd::repl::ConnTable conns_;
  lbd::Config config_;
  lbd::admin::RoleTracker roles_;
  std::vector<lbd::admin::PoolView> pools_;
};

// Requests arrive as text on the socket (positive numbers parse as unsigned, as from lbctl).
json run(FakeTarget& target, const json& request) {
  return lbd::admin::handle(target, json::parse(request.dump()));
}

}  // namespace

TEST_CASE("control_handler: server drain sets the state and replies with the server") {
  FakeTarget target;
  const auto reply = run(target, {{"cmd", "server drain"}, {"server", "web/b"}});
  CHECK(reply.at("ok") == true);
  CHECK(reply.at("server").at("name") == "b");
  CHECK(target.pool_views("web")->front().servers[1].admin == "drain");
}

TEST_CASE("control_handler: a server that does not exist is an error naming it") {
  FakeTarget target;
  const auto reply = run(target, {{"cmd", "server maint"}, {"server", "web/zz"}});
  CHECK(reply.at("ok") == false);
  CHECK(reply.at("error").get<std::string>().find("web/zz") != std::string::npos);
}

TEST_CASE("control_handler: weights outside [0, 256] are refused before reaching the server") {
  FakeTarget target;
  CHECK(run(target, {{"cmd", "server weight"}, {"server", "web/a"}, {"weight", 257}})["ok"] ==
        false);
  CHECK(target.pool_views("web")->front().servers[0].weight == 1);
  CHECK(run(target, {{"cmd", "server weight"}, {"server", "web/a"}, {"weight", 7}})["ok"] == true);
  CHECK(target.pool_views("web")->front().servers[0].weight == 7);
}

TEST_CASE("control_handler: show servers of an unknown pool is an error") {
  FakeTarget target;
  CHECK(run(target, {{"cmd", "show servers"}, {"pool", "nope"}})["ok"] == false);
  CHECK(run(target, {{"cmd", "show pools"}}).at("pools").size() == 1);
}

TEST_CASE("control_handler: a refused reload reports the reasons") {
  FakeTarget target;
  target.reload_error = "lbd.toml:3:1: pool.x: unknown key";
  const auto reply = run(target, {{"cmd", "reload"}});
  CHECK(reply.at("ok") == false);
  CHECK(reply.at("errors").size() == 1);
  CHECK(target.reloads == 1);
}

TEST_CASE("control_handler: vrrp_state from vrrpd makes the node master of its VRID") {
  FakeTarget target;
  const auto reply =
      run(target, {{"cmd", "vrrp_state"}, {"instance", "vi"}, {"vrid", 51}, {"state", "master"}});
  CHECK(reply.at("role") == "master");
  CHECK(run(target, {{"cmd", "vrrp_state"}, {"instance", "vi"}})["ok"] == false);
}

TEST_CASE("control_handler: vrrp_state carries the instance's VIPs, bad entries skipped") {
  FakeTarget target;
  const auto reply =
      run(target, {{"cmd", "vrrp_state"},
                   {"instance", "vi"},
                   {"vrid", 51},
                   {"state", "backup"},
                   {"vips", {"192.0.2.10/24", 7, "not an address", "2001:db8::10"}}});
  CHECK(reply.at("ok") == true);
  const auto roles = target.roles();
  REQUIRE(roles.vrids.size() == 1);
  CHECK(roles.vrids[0].vips == std::vector<lb::IpAddress>{*lb::IpAddress::parse("192.0.2.10"),
                                                          *lb::IpAddress::parse("2001:db8::10")});
}

TEST_CASE("control_handler: an unknown command is an error, not an exception") {
  FakeTarget target;
  CHECK(run(target, {{"cmd", "explode"}})["ok"] == false);
}

TEST_CASE("control_handler: show forward says when there is no forward listener") {
  FakeTarget target;
  const auto reply = run(target, {{"cmd", "show forward"}});
  CHECK(reply.at("ok") == true);
  CHECK(reply.at("forward").at("enabled") == false);
}

TEST_CASE(
    "control_handler: show forward lists the services, the conntrack counts and the ruleset") {
  FakeTarget target;
  lbd::admin::ForwardView v;
  v.services.push_back({.listener = "fwd",
                        .vips = {"192.0.2.10:80"},
                        .selector = "tuple_hash",
                        .slots = 1021,
                        .slots_per_backend = {{"198.51.100.11:8080", 511}},
                        .snat = "198.51.100.254",
                        .on_server_down = "reset"});
  v.ruleset = "table ip lbpair {}";
  v.conntrack = true;
  v.flows = 3;
  v.committed = 7;
  v.flows_per_backend = {{"198.51.100.11:8080", 3}};
  target.forward = v;
  const auto reply = run(target, {{"cmd", "show forward"}});
  const auto& f = reply.at("forward");
  CHECK(f.at("enabled") == true);
  CHECK(f.at("services").at(0).at("on_server_down") == "reset");
  CHECK(f.at("services").at(0).at("slots_per_backend").at("198.51.100.11:8080") == 511);
  CHECK(f.at("ruleset") == "table ip lbpair {}");
  CHECK(f.at("flows") == 3);
  CHECK(f.at("committed") == 7);
  CHECK(f.at("flows_per_backend").at("198.51.100.11:8080") == 3);
}
