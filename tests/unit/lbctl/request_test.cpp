// lbctl: command words to control requests, and the usage errors for bad ones.
#include "lbctl/request.hpp"

#include <doctest/doctest.h>

using lbctl::build_request;
using lbctl::Daemon;

namespace {
nlohmann::json message(std::vector<std::string> words) {
  auto r = build_request(words, 100);
  REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
  return r->message;
}
std::string usage_error(std::vector<std::string> words) {
  auto r = build_request(words, 100);
  REQUIRE_FALSE(r.has_value());
  return r.error().message;
}
}  // namespace

TEST_CASE("lbctl request: show servers with and without a pool") {
  CHECK(message({"show", "servers"}) == nlohmann::json{{"cmd", "show servers"}});
  CHECK(message({"show", "servers", "web"}) ==
        nlohmann::json{{"cmd", "show servers"}, {"pool", "web"}});
  CHECK(build_request({"show", "servers"}, 100)->view == "servers");
  CHECK(build_request({"show", "servers"}, 100)->daemon == Daemon::lbd);
}

TEST_CASE("lbctl request: server admin actions and weight carry pool/server") {
  CHECK(message({"server", "drain", "web/be1"}) ==
        nlohmann::json{{"cmd", "server drain"}, {"server", "web/be1"}});
  CHECK(message({"server", "disable", "web/be1"})["cmd"] == "server disable");
  CHECK(message({"server", "enable", "web/be1"})["cmd"] == "server enable");
  CHECK(message({"server", "maint", "web/be1"})["cmd"] == "server maint");
  CHECK(message({"server", "weight", "web/be1", "5"}) ==
        nlohmann::json{{"cmd", "server weight"}, {"server", "web/be1"}, {"weight", 5}});
}

TEST_CASE("lbctl request: bad server references and weights are usage errors") {
  CHECK(usage_error({"server", "drain", "be1"}).find("POOL/SERVER") != std::string::npos);
  CHECK(usage_error({"server", "drain", "web/"}).find("POOL/SERVER") != std::string::npos);
  CHECK(usage_error({"server", "weight", "web/be1", "257"}).find("0..256") != std::string::npos);
  CHECK(usage_error({"server", "weight", "web/be1", "x"}).find("0..256") != std::string::npos);
  CHECK(usage_error({"server", "weight", "web/be1"}).find("0..256") != std::string::npos);
}

TEST_CASE("lbctl request: listings carry the limit") {
  auto r = build_request({"show", "conns"}, 7);
  REQUIRE(r);
  CHECK(r->message == nlohmann::json{{"cmd", "show conns"}, {"limit", 7}});
  CHECK(message({"show", "table", "web"}) ==
        nlohmann::json{{"cmd", "show table"}, {"pool", "web"}, {"limit", 100}});
}

TEST_CASE("lbctl request: clear table with and without a key") {
  CHECK(message({"clear", "table", "web"}) ==
        nlohmann::json{{"cmd", "clear table"}, {"pool", "web"}});
  CHECK(message({"clear", "table", "web", "192.0.2.7"})["key"] == "192.0.2.7");
  CHECK(usage_error({"clear", "table"}).find("POOL") != std::string::npos);
}

TEST_CASE("lbctl request: vrrp commands go to vrrpd with a vrid or an instance") {
  auto show = build_request({"vrrp", "show"}, 100);
  REQUIRE(show);
  CHECK(show->daemon == Daemon::vrrpd);
  CHECK(show->message == nlohmann::json{{"cmd", "status"}});
  CHECK(message({"vrrp", "switchover"}) == nlohmann::json{{"cmd", "switchover"}});
  CHECK(message({"vrrp", "switchover", "51"}) ==
        nlohmann::json{{"cmd", "switchover"}, {"vrid", 51}});
  CHECK(message({"vrrp", "resume", "web4"}) ==
        nlohmann::json{{"cmd", "resume"}, {"instance", "web4"}});
  CHECK(usage_error({"vrrp", "switchover", "0"}).find("1..255") != std::string::npos);
}

TEST_CASE("lbctl request: unknown or empty commands are usage errors naming the words") {
  CHECK(usage_error({}).find("no command") != std::string::npos);
  CHECK(usage_error({"show", "everything"}) == "unknown command \"show everything\" (see --help)");
  CHECK(usage_error({"reload", "now"}) == "usage: lbctl reload");
  CHECK(message({"reload"}) == nlohmann::json{{"cmd", "reload"}});
  CHECK(message({"health"}) == nlohmann::json{{"cmd", "health"}});
}

TEST_CASE("lbctl request: show forward asks lbd") {
  auto r = lbctl::build_request({"show", "forward"}, 100);
  REQUIRE(r);
  CHECK(r->daemon == lbctl::Daemon::lbd);
  CHECK(r->view == "forward");
  CHECK(r->message == nlohmann::json{{"cmd", "show forward"}});
}
