// Session persistence end to end through a real lbd Server in this process: every mode
// keeps one client on one server across many requests while other clients spread, forged cookies
// are refused and re-issued, a server that goes away re-sticks, a draining one keeps its clients.
#include <unistd.h>

#include <map>
#include <set>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "lbd/sticky/cookie_codec.hpp"
#include "tests/integration/http_config.hpp"
#include "tests/integration/http_support.hpp"

using namespace lbtest;

namespace {

constexpr const char* kKey = "0123456789abcdef0123456789abcdef-test-key";

struct ThreeOrigins {
  Origin o0{"s0"}, o1{"s1"}, o2{"s2"};
  TestBackend b0{o0.handler()}, b1{o1.handler()}, b2{o2.handler()};
  std::vector<std::string> addresses() const { return {b0.address(), b1.address(), b2.address()}; }
};

// The backend that answered (Origin puts its name in X-Backend).
std::string served_by(const std::optional<Response>& res) {
  return res ? header(res->base(), "X-Backend") : "<no response>";
}

// The value part of "NAME=VALUE; attrs".
std::string cookie_pair(const std::string& set_cookie) {
  return set_cookie.substr(0, set_cookie.find(';'));
}

std::string persistence_config(const std::vector<std::string>& servers, const std::string& table,
                               const std::string& server_extra = "") {
  HttpConfig c{.pools = {{"app", servers}}, .server_extra = server_extra};
  // [pool.persistence] must follow the pool's own keys and precede its servers.
  c.pool_extra = "algorithm = \"round_robin\"\n[pool.persistence]\n" + table;
  return c.text();
}

}  // namespace

TEST_CASE("persistence: cookie insert keeps a client on its server and strips the cookie") {
  ThreeOrigins o;
  InProcessLbd lbd(persistence_config(
      o.addresses(), fmt::format("mode = \"cookie\"\ncookie_key = \"{}\"\n", kKey)));
  auto first = round_trip(lbd.endpoint("web"), get("/"));
  REQUIRE(first);
  const auto set = header(first->base(), "Set-Cookie");
  REQUIRE(set.starts_with("LBSRV="));
  const std::string server = served_by(first);
  const std::string cookie = cookie_pair(set);
  for (int i = 0; i < 100; ++i) {
    auto res = round_trip(lbd.endpoint("web"),
                          get("/", "example.com", "Cookie: a=1; " + cookie + "; b=2\r\n"));
    REQUIRE(res);
    CHECK(served_by(res) == server);
    CHECK(header(res->base(), "Set-Cookie") == "<none>");
  }
  // Cookie-less clients spread (round robin) and each gets a cookie.
  std::set<std::string> spread;
  for (int i = 0; i < 6; ++i) spread.insert(served_by(round_trip(lbd.endpoint("web"), get("/"))));
  CHECK(spread.size() == 3);
  // indirect (default): the backend sees the other cookies, never ours.
  for (const auto* origin : {&o.o0, &o.o1, &o.o2}) {
    for (const auto& req : origin->seen()) {
      const auto c = header(req.base(), "Cookie");
      CHECK(c.find("LBSRV") == std::string::npos);
      if (c != "<none>") CHECK(c == "a=1; b=2");
    }
  }
}

TEST_CASE("persistence: a forged cookie is ignored and a valid one is issued") {
  ThreeOrigins o;
  InProcessLbd lbd(persistence_config(
      o.addresses(), fmt::format("mode = \"cookie\"\ncookie_key = \"{}\"\n", kKey)));
  // A cookie signed with another key naming app0, and plain garbage.
  lbd::CookieCodec other({"another-key-another-key-another-key-0000"}, "app");
  const auto forged = other.encode("app0", std::chrono::system_clock::now());
  for (const std::string& value : {forged, std::string("garbage")}) {
    auto res =
        round_trip(lbd.endpoint("web"), get("/", "example.com", "Cookie: LBSRV=" + value + "\r\n"));
    REQUIRE(res);
    const auto set = header(res->base(), "Set-Cookie");
    REQUIRE(set.starts_with("LBSRV="));
    CHECK(cookie_pair(set) != "LBSRV=" + value);
    // The re-issued cookie is honoured.
    auto again = round_trip(lbd.endpoint("web"),
                            get("/", "example.com", "Cookie: " + cookie_pair(set) + "\r\n"));
    CHECK(served_by(again) == served_by(res));
    CHECK(header(again->base(), "Set-Cookie") == "<none>");
  }
}

TEST_CASE("persistence: source_ip keeps a client on one server, others with a /32 mask spread") {
  ThreeOrigins o;
  InProcessLbd lbd(persistence_config(o.addresses(), "mode = \"source_ip\"\n"));
  const auto first = served_by(round_trip(lbd.endpoint("web"), get("/")));
  for (int i = 0; i < 100; ++i) {
    CHECK(served_by(round_trip(lbd.endpoint("web"), get("/"))) == first);
  }
  auto table = lbd.server().sticky_tables().find("app");
  REQUIRE(table);
  CHECK(table->size() == 1);
  CHECK(table->counters().hits >= 100);
}

TEST_CASE("persistence: source_ip on a tcp listener keeps the client on one server") {
  TestBackend b0(TestBackend::hello("s0")), b1(TestBackend::hello("s1")),
      b2(TestBackend::hello("s2"));
  const auto config = fmt::format(
      "[global]\nworkers = 2\nlog_level = \"warn\"\n"
      "[[listener]]\nname = \"l4\"\nbind = \"127.0.0.1:0\"\nmode = \"tcp\"\npool = \"app\"\n"
      "[[pool]]\nname = \"app\"\nalgorithm = \"round_robin\"\n[pool.persistence]\n"
      "mode = \"source_ip\"\n"
      "[[pool.server]]\nname = \"a\"\naddress = \"{}\"\n"
      "[[pool.server]]\nname = \"b\"\naddress = \"{}\"\n"
      "[[pool.server]]\nname = \"c\"\naddress = \"{}\"\n",
      b0.address(), b1.address(), b2.address());
  InProcessLbd lbd(config);
  std::string first;
  for (int i = 0; i < 100; ++i) {
    const int fd = connect_to(lbd.endpoint("l4"));
    REQUIRE(fd >= 0);
    const auto line = read_line(fd);
    ::close(fd);
    if (i == 0) first = line;
    CHECK(line == first);
  }
  CHECK(!first.empty());
}

TEST_CASE("persistence: header mode sends equal header values to one server and spreads others") {
  ThreeOrigins o;
  InProcessLbd lbd(
      persistence_config(o.addresses(), "mode = \"header\"\nheader = \"X-Session\"\n"));
  std::map<std::string, std::string> owner;
  for (int i = 0; i < 100; ++i) {
    for (const std::string user : {"alice", "bob", "carol"}) {
      const auto who = served_by(
          round_trip(lbd.endpoint("web"), get("/", "example.com", "X-Session: " + user + "\r\n")));
      if (!owner.contains(user)) owner[user] = who;
      CHECK(owner[user] == who);
    }
  }
  std::set<std::string> servers;
  for (const auto& [user, who] : owner) servers.insert(who);
  CHECK(servers.size() == 3);  // round robin gave each new key the next server
}

TEST_CASE("persistence: learned_cookie follows the backend's session cookie and URL parameter") {
  auto issuing = [](std::string name) {
    return [name](const Request& req) {
      Response res{http::status::ok, 11};
      res.set("X-Backend", name);
      if (req.find(http::field::cookie) == req.end() &&
          req.target().find(";jsessionid") == std::string::npos) {
        res.set(http::field::set_cookie, "JSESSIONID=" + name + "-session; Path=/");
      }
      res.body() = name;
      res.prepare_payload();
      return res;
    };
  };
  Origin o0("s0", issuing("s0")), o1("s1", issuing("s1"));
  TestBackend b0(o0.handler()), b1(o1.handler());
  InProcessLbd lbd(persistence_config({b0.address(), b1.address()},
                                      "mode = \"learned_cookie\"\nlearn_cookie = "
                                      "\"JSESSIONID\"\nurl_parameter = \"jsessionid\"\n"));
  auto first = round_trip(lbd.endpoint("web"), get("/"));
  REQUIRE(first);
  const auto server = served_by(first);
  const auto session = cookie_pair(header(first->base(), "Set-Cookie"));
  REQUIRE(session == "JSESSIONID=" + server + "-session");
  for (int i = 0; i < 100; ++i) {
    CHECK(served_by(round_trip(lbd.endpoint("web"),
                               get("/", "example.com", "Cookie: " + session + "\r\n"))) == server);
  }
  for (int i = 0; i < 10; ++i) {
    CHECK(served_by(round_trip(lbd.endpoint("web"), get("/x;jsessionid=" + server + "-session"))) ==
          server);
  }
  // Clients without a session spread.
  std::set<std::string> spread;
  for (int i = 0; i < 4; ++i) spread.insert(served_by(round_trip(lbd.endpoint("web"), get("/"))));
  CHECK(spread.size() == 2);
}

TEST_CASE("persistence: a sticky server removed from service re-sticks, draining keeps clients") {
  ThreeOrigins o;
  const auto table = std::string("mode = \"header\"\nheader = \"X-Session\"\n");
  InProcessLbd lbd(persistence_config(o.addresses(), table));
  auto ask = [&](const std::string& user) {
    return served_by(
        round_trip(lbd.endpoint("web"), get("/", "example.com", "X-Session: " + user + "\r\n")));
  };
  const auto alice = ask("alice");
  REQUIRE(alice.starts_with("s"));
  const auto index = alice.substr(1);
  // Drain alice's server (config state): alice stays, a new client goes elsewhere.
  auto with_state = [&](const std::string& state) {
    std::string text = persistence_config(o.addresses(), table);
    const auto marker = fmt::format("name = \"app{}\"\naddress", index);
    const auto at = text.find(marker);
    REQUIRE(at != std::string::npos);
    const auto line_end = text.find('\n', text.find("address", at));
    text.insert(line_end + 1, "state = \"" + state + "\"\n");
    return text;
  };
  REQUIRE(lbd.reload(with_state("drain")));
  for (int i = 0; i < 20; ++i) CHECK(ask("alice") == alice);
  for (int i = 0; i < 10; ++i) CHECK(ask(fmt::format("new{}", i)) != alice);
  // Maintenance: alice is re-picked onto another server and stays there.
  REQUIRE(lbd.reload(with_state("maint")));
  const auto moved = ask("alice");
  CHECK(moved != alice);
  for (int i = 0; i < 20; ++i) CHECK(ask("alice") == moved);
  // The table survived both reloads (same persistence settings): bob's entry is still there.
  CHECK(lbd.server().sticky_tables().find("app")->size() >= 11);
}

TEST_CASE("persistence: modes other than source_ip are refused on tcp listeners") {
  lb::config::Diagnostics diags;
  lbd::load_config_from_string(
      "[[listener]]\nname = \"l4\"\nbind = \"127.0.0.1:0\"\nmode = \"tcp\"\npool = \"app\"\n"
      "[[pool]]\nname = \"app\"\n[pool.persistence]\nmode = \"header\"\nheader = \"X-S\"\n"
      "[[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:1\"\n",
      "t.toml", diags);
  REQUIRE(diags.items().size() == 1);
  CHECK(diags.items()[0].to_string().find("tcp listeners support source_ip only") !=
        std::string::npos);
}

TEST_CASE("persistence: a cookie for a server in maintenance is re-picked and re-issued") {
  ThreeOrigins o;
  const auto table = fmt::format("mode = \"cookie\"\ncookie_key = \"{}\"\n", kKey);
  InProcessLbd lbd(persistence_config(o.addresses(), table));
  auto first = round_trip(lbd.endpoint("web"), get("/"));
  REQUIRE(first);
  const auto server = served_by(first);
  const auto cookie = cookie_pair(header(first->base(), "Set-Cookie"));
  // Put that server (s<i> = app<i>) in maintenance.
  std::string text = persistence_config(o.addresses(), table);
  const auto at = text.find(fmt::format("name = \"app{}\"\naddress", server.substr(1)));
  REQUIRE(at != std::string::npos);
  text.insert(text.find('\n', text.find("address", at)) + 1, "state = \"maint\"\n");
  REQUIRE(lbd.reload(text));
  auto moved =
      round_trip(lbd.endpoint("web"), get("/", "example.com", "Cookie: " + cookie + "\r\n"));
  REQUIRE(moved);
  CHECK(served_by(moved) != server);
  const auto reissued = cookie_pair(header(moved->base(), "Set-Cookie"));
  REQUIRE(reissued.starts_with("LBSRV="));
  for (int i = 0; i < 20; ++i) {
    auto res =
        round_trip(lbd.endpoint("web"), get("/", "example.com", "Cookie: " + reissued + "\r\n"));
    CHECK(served_by(res) == served_by(moved));
  }
}

TEST_CASE("persistence: a cookie signed for another pool with the same key is refused") {
  ThreeOrigins o;
  InProcessLbd lbd(persistence_config(
      o.addresses(), fmt::format("mode = \"cookie\"\ncookie_key = \"{}\"\n", kKey)));
  const auto now = std::chrono::system_clock::now();
  // Same key and server name, but issued by pool "other": must not pin a client to app2 here.
  const auto foreign = lbd::CookieCodec({kKey}, "other").encode("app2", now);
  const auto own = lbd::CookieCodec({kKey}, "app").encode("app2", now);
  for (int i = 0; i < 3; ++i) {
    auto res = round_trip(lbd.endpoint("web"),
                          get("/", "example.com", "Cookie: LBSRV=" + foreign + "\r\n"));
    REQUIRE(res);
    CHECK(header(res->base(), "Set-Cookie").starts_with("LBSRV="));  // refused: issued anew
    res = round_trip(lbd.endpoint("web"), get("/", "example.com", "Cookie: LBSRV=" + own + "\r\n"));
    CHECK(served_by(res) == "s2");
    CHECK(header(res->base(), "Set-Cookie") == "<none>");
  }
}

TEST_CASE("persistence: a session cookie is honoured for 24 h, refreshed after 12 h") {
  ThreeOrigins o;
  InProcessLbd lbd(persistence_config(
      o.addresses(), fmt::format("mode = \"cookie\"\ncookie_key = \"{}\"\n", kKey)));
  const lbd::CookieCodec codec({kKey}, "app");
  const auto now = std::chrono::system_clock::now();
  using std::chrono::hours;
  // 25 h old: refused and issued anew (whatever server the balancer picks).
  auto res = round_trip(
      lbd.endpoint("web"),
      get("/", "example.com", "Cookie: LBSRV=" + codec.encode("app1", now - hours(25)) + "\r\n"));
  REQUIRE(res);
  CHECK(header(res->base(), "Set-Cookie").starts_with("LBSRV="));
  // 13 h old: honoured, and a fresh one comes back for the same server.
  res = round_trip(
      lbd.endpoint("web"),
      get("/", "example.com", "Cookie: LBSRV=" + codec.encode("app1", now - hours(13)) + "\r\n"));
  REQUIRE(res);
  CHECK(served_by(res) == "s1");
  const auto fresh = header(res->base(), "Set-Cookie");
  REQUIRE(fresh.starts_with("LBSRV="));
  const auto claims = codec.verify(cookie_pair(fresh).substr(6), now + std::chrono::minutes(1));
  REQUIRE(claims.claims);
  CHECK(claims.claims->server == "app1");
  // 1 h old: honoured, nothing re-issued.
  res = round_trip(
      lbd.endpoint("web"),
      get("/", "example.com", "Cookie: LBSRV=" + codec.encode("app1", now - hours(1)) + "\r\n"));
  CHECK(served_by(res) == "s1");
  CHECK(header(res->base(), "Set-Cookie") == "<none>");
}

TEST_CASE("persistence: indirect mode keeps every other cookie of every Cookie header") {
  ThreeOrigins o;
  InProcessLbd lbd(persistence_config(
      o.addresses(), fmt::format("mode = \"cookie\"\ncookie_key = \"{}\"\n", kKey)));
  const auto ours =
      "LBSRV=" + lbd::CookieCodec({kKey}, "app").encode("app0", std::chrono::system_clock::now());
  for (const std::string& cookies : {"Cookie: a=1; " + ours + "\r\nCookie: b=2\r\n",
                                     "Cookie: a=1\r\nCookie: " + ours + "; b=2\r\n"}) {
    CAPTURE(cookies);
    auto res = round_trip(lbd.endpoint("web"), get("/", "example.com", cookies));
    CHECK(served_by(res) == "s0");
    const auto seen = o.o0.seen();
    REQUIRE_FALSE(seen.empty());
    const auto& req = seen.back();
    std::string all;
    for (auto [it, end] = req.base().equal_range(boost::beast::http::field::cookie); it != end;
         ++it) {
      if (!all.empty()) all += " | ";
      all += std::string(it->value());
    }
    CHECK(all == "a=1; b=2");
  }
}
