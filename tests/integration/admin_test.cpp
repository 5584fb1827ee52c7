// The admin listener and the access log end to end: known traffic through an in-process lbd,
// then /metrics parsed strictly and checked, the access log parsed as JSON, the allow-list and
// basic authentication refusing, SIGUSR1 reopening a renamed log in a real lbd process, and the
// status page rendered by headless Chromium.
#include <crypt.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <set>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tests/integration/http_config.hpp"
#include "tests/integration/http_support.hpp"
#include "tests/integration/tls_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/prometheus_text.hpp"
#include "tests/support/test_pki.hpp"
#include "tests/support/text_file.hpp"

using namespace lbtest;
using namespace std::chrono_literals;

namespace {

// Origin answering 404 for /missing and 200 otherwise.
Response answer(const Request& req, const std::string& name) {
  Response res{req.target() == "/missing" ? http::status::not_found : http::status::ok, 11};
  res.set("X-Backend", name);
  res.body() = name + "\n";
  res.prepare_payload();
  return res;
}

std::string admin_get(std::string_view path, std::string_view extra = "") {
  return fmt::format("GET {} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n{}\r\n", path, extra);
}

std::string base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += kAlphabet[(v >> k) & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const unsigned v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/lbpair-admin-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

}  // namespace

TEST_CASE("admin: /metrics after 20 requests (3 answered 404) is strict and counts them") {
  Origin a("a", [](const Request& r) { return answer(r, "a"); });
  Origin b("b", [](const Request& r) { return answer(r, "b"); });
  TestBackend ba(a.handler()), bb(b.handler());
  TempDir dir;
  const std::string log_path = dir.path + "/access.log";
  HttpConfig cfg{.pools = {{"app", {ba.address(), bb.address()}}}};
  InProcessLbd lbd(cfg.text() + "[admin]\nlisten = \"127.0.0.1:0\"\n[access_log]\npath = \"" +
                   log_path + "\"\n");
  const auto web = lbd.endpoint("web");
  const auto admin = lbd.server().admin_endpoint();
  REQUIRE(admin);

  for (int i = 0; i < 20; ++i) {
    const bool missing = i % 7 == 3;  // i = 3, 10, 17
    const auto res = round_trip(web, get(missing ? "/missing" : "/ok?i=" + std::to_string(i),
                                         "example.com", "Connection: close\r\n"));
    REQUIRE(res);
    CHECK(res->result_int() == (missing ? 404 : 200));
  }
  // A connection's counters are written when its request ends, which can be just after the
  // client saw the response: poll until all 20 are in.
  std::optional<lb::test::PromText> m;
  std::string error;
  REQUIRE(wait_until(
      [&] {
        const auto res = round_trip(*admin, admin_get("/metrics"));
        if (!res || res->result_int() != 200) return false;
        m = lb::test::parse_prometheus_text(res->body(), error);
        REQUIRE_MESSAGE(m, error);
        CHECK(res->at(http::field::content_type) == "text/plain; version=0.0.4; charset=utf-8");
        return m->sum("lbpair_listener_requests_total", {{"listener", "web"}}) == 20;
      },
      5s));
  CHECK(m->value("lbpair_listener_requests_total", {{"listener", "web"}, {"code", "2xx"}}) == 17);
  CHECK(m->value("lbpair_listener_requests_total", {{"listener", "web"}, {"code", "4xx"}}) == 3);
  CHECK(m->value("lbpair_listener_requests_total", {{"listener", "web"}, {"code", "5xx"}}) == 0);
  CHECK(m->value("lbpair_listener_connections_total", {{"listener", "web"}}) == 20);
  CHECK(m->value("lbpair_listener_received_bytes_total", {{"listener", "web"}}) > 20 * 40);
  CHECK(m->value("lbpair_listener_sent_bytes_total", {{"listener", "web"}}) > 20 * 40);
  // Round robin over two servers: 10 each, every one with a latency sample.
  CHECK(m->value("lbpair_server_requests_total", {{"pool", "app"}, {"server", "app0"}}) == 10);
  CHECK(m->value("lbpair_server_requests_total", {{"pool", "app"}, {"server", "app1"}}) == 10);
  CHECK(m->sum("lbpair_server_response_seconds_count", {{"pool", "app"}}) == 20);
  CHECK(m->value("lbpair_server_state", {{"server", "app0"}, {"state", "up"}}) == 1);
  CHECK(m->sum("lbpair_server_errors_total") == 0);
  CHECK(m->value("lbpair_lbd_reloads_total", {{"result", "failed"}}) == 0);

  // The access log: one JSON line per request, matching what was sent.
  REQUIRE(wait_until([&] { return read_lines(log_path).size() == 20; }, 5s));
  int not_found = 0;
  std::set<std::string> servers;
  for (const auto& line : read_lines(log_path)) {
    const auto j = nlohmann::json::parse(line);
    CHECK(j["kind"] == "http");
    CHECK(j["listener"] == "web");
    CHECK(j["pool"] == "app");
    CHECK(j["route"] == "default");
    CHECK(j["method"] == "GET");
    CHECK(j["client"].get<std::string>().starts_with("127.0.0.1:"));
    CHECK(j["total_ms"].get<double>() >= j["first_byte_ms"].get<double>());
    CHECK(j["bytes_in"].get<int>() > 0);
    CHECK(j["tls_version"] == "");
    servers.insert(j["server"].get<std::string>());
    if (j["target"] == "/missing") {
      CHECK(j["status"] == 404);
      ++not_found;
    } else {
      CHECK(j["status"] == 200);
      CHECK(j["target"].get<std::string>().starts_with("/ok?i="));
    }
  }
  CHECK(not_found == 3);
  CHECK(servers == std::set<std::string>{"app0", "app1"});
  const auto status = round_trip(*admin, admin_get("/status.json"));
  REQUIRE(status);
  const auto j = nlohmann::json::parse(status->body());
  CHECK(j["access_log"]["written"] == 20);
  CHECK(j["pools"][0]["servers"][0]["requests"] == 10);
}

TEST_CASE("admin: a tcp listener's relayed connections feed its connect and session histograms") {
  TestBackend echo(TestBackend::echo());
  InProcessLbd lbd(fmt::format(
      "[global]\nworkers = 2\nlog_level = \"warn\"\n[[listener]]\nname = \"l4\"\n"
      "bind = \"127.0.0.1:0\"\nmode = \"tcp\"\npool = \"p\"\n[[pool]]\nname = \"p\"\n"
      "[[pool.server]]\nname = \"e\"\naddress = \"{}\"\n[admin]\nlisten = \"127.0.0.1:0\"\n",
      echo.address()));
  for (int i = 0; i < 3; ++i) {
    const int fd = connect_to(lbd.endpoint("l4"));
    REQUIRE(fd >= 0);
    REQUIRE(send_all(fd, "ping"));
    CHECK(read_exact(fd, 4) == "ping");
    ::shutdown(fd, SHUT_WR);
    bool clean = false;
    read_to_eof(fd, &clean);  // the relay ends once both directions are done
    CHECK(clean);
    ::close(fd);
  }
  // The session is counted when the relay's completion runs, just after the client saw EOF.
  std::optional<lb::test::PromText> m;
  REQUIRE(wait_until(
      [&] {
        const auto res = round_trip(*lbd.server().admin_endpoint(), admin_get("/metrics"));
        std::string error;
        m = lb::test::parse_prometheus_text(res ? res->body() : "", error);
        return m &&
               m->value("lbpair_listener_tcp_session_seconds_count", {{"listener", "l4"}}) == 3;
      },
      5s));
  CHECK(m->value("lbpair_listener_tcp_connect_seconds_count", {{"listener", "l4"}}) == 3);
  CHECK(m->value("lbpair_listener_tcp_connect_seconds_bucket",
                 {{"listener", "l4"}, {"le", "+Inf"}}) == 3);
  CHECK(m->value("lbpair_listener_tcp_session_seconds_sum", {{"listener", "l4"}}) > 0);
}

TEST_CASE("admin: unknown paths get 404, other methods 405, and an oversized request 413") {
  Origin a("a");
  TestBackend ba(a.handler());
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {ba.address()}}}}.text() +
                   "[admin]\nlisten = \"127.0.0.1:0\"\nmax_request_size = \"1KiB\"\n");
  const auto admin = *lbd.server().admin_endpoint();
  CHECK(round_trip(admin, admin_get("/nope"))->result_int() == 404);
  CHECK(round_trip(admin, "DELETE /metrics HTTP/1.1\r\nHost: a\r\n\r\n")->result_int() == 405);
  const auto big =
      round_trip(admin, admin_get("/metrics", "X-Pad: " + std::string(2000, 'p') + "\r\n"));
  CHECK((!big || big->result_int() == 413));
  const auto page = round_trip(admin, admin_get("/status"));
  REQUIRE(page);
  CHECK(page->result_int() == 200);
  CHECK(page->body().find("<meta name=\"viewport\"") != std::string::npos);
  CHECK(page->body().find("src=\"http") == std::string::npos);  // no external assets
}

TEST_CASE("admin: a client outside the allow-list gets 403") {
  Origin a("a");
  TestBackend ba(a.handler());
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {ba.address()}}}}.text() +
                   "[admin]\nlisten = \"127.0.0.1:0\"\nallow = [\"192.0.2.0/24\"]\n");
  const auto res = round_trip(*lbd.server().admin_endpoint(), admin_get("/metrics"));
  REQUIRE(res);
  CHECK(res->result_int() == 403);
  CHECK(res->body().find("lbpair_") == std::string::npos);
}

TEST_CASE("admin: basic authentication refuses no or wrong credentials and accepts the right") {
  Origin a("a");
  TestBackend ba(a.handler());
  crypt_data data{};
  const std::string hash = crypt_r("correct horse", "$6$lbpairtest$", &data);
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {ba.address()}}}}.text() +
                   "[admin]\nlisten = \"127.0.0.1:0\"\nauth_user = \"ops\"\n"
                   "auth_password_hash = \"" +
                   hash + "\"\n");
  const auto admin = *lbd.server().admin_endpoint();
  const auto none = round_trip(admin, admin_get("/metrics"));
  REQUIRE(none);
  CHECK(none->result_int() == 401);
  CHECK(none->at(http::field::www_authenticate).starts_with("Basic realm="));
  const auto wrong = round_trip(
      admin, admin_get("/metrics", "Authorization: Basic " + base64("ops:wrong") + "\r\n"));
  CHECK(wrong->result_int() == 401);
  const auto user = round_trip(
      admin,
      admin_get("/metrics", "Authorization: Basic " + base64("other:correct horse") + "\r\n"));
  CHECK(user->result_int() == 401);
  const auto right = round_trip(
      admin, admin_get("/metrics", "Authorization: Basic " + base64("ops:correct horse") + "\r\n"));
  REQUIRE(right);
  CHECK(right->result_int() == 200);
  CHECK(right->body().find("# TYPE lbpair_listener_requests_total counter") != std::string::npos);
}

TEST_CASE("access log: after a rename, SIGUSR1 makes lbd write the next lines to a new file") {
  Origin a("a");
  TestBackend ba(a.handler());
  TempDir dir;
  const std::string log_path = dir.path + "/access.log";
  const auto addr = dead_address();
  HttpConfig cfg{.pools = {{"app", {ba.address()}}}, .bind = addr};
  TempConfig conf(cfg.text() + "[access_log]\npath = \"" + log_path + "\"\n");
  ChildProcess lbd({lbd_binary(), "-c", conf.path()}, dir.path + "/lbd.out");
  const auto ep = *lb::Endpoint::parse(addr);
  auto request = [&](const std::string& path) {
    const auto res = round_trip(ep, get(path, "example.com", "Connection: close\r\n"));
    return res && res->result_int() == 200;
  };
  REQUIRE(wait_until([&] { return request("/first"); }, 10s));
  REQUIRE(request("/second"));
  REQUIRE(wait_until([&] { return read_lines(log_path).size() >= 2; }, 5s));
  REQUIRE(std::rename(log_path.c_str(), (log_path + ".1").c_str()) == 0);
  lbd.signal(SIGUSR1);
  // The writer thread re-creates the path when it handles the reopen, with or without traffic.
  // Lines are queued by the workers after the response went out and written by that thread, so
  // a request made after the new file exists lands in it, and only once it was written.
  REQUIRE(wait_until([&] { return std::filesystem::exists(log_path); }, 5s));
  REQUIRE(request("/third"));
  REQUIRE(wait_until([&] { return read_lines(log_path).size() >= 1; }, 5s));
  const auto old_lines = read_lines(log_path + ".1");
  const auto new_lines = read_lines(log_path);
  REQUIRE(old_lines.size() == 2);
  REQUIRE(new_lines.size() == 1);
  CHECK(nlohmann::json::parse(old_lines.at(0))["target"] == "/first");
  CHECK(nlohmann::json::parse(old_lines.at(1))["target"] == "/second");
  CHECK(nlohmann::json::parse(new_lines.at(0))["target"] == "/third");
}

TEST_CASE("status page: headless Chromium shows every server with its state (one down)") {
  const char* chromium = "/usr/bin/chromium";
  REQUIRE_MESSAGE(::access(chromium, X_OK) == 0, "chromium is missing: run scripts/deps");
  Origin a("a");
  TestBackend ba(a.handler());
  // "app1" points to a closed port and has a TCP check that fails at once: it shows as down.
  HttpConfig cfg{.pools = {{"app", {ba.address(), dead_address()}}}};
  cfg.pool_extra =
      "[pool.health]\ntype = \"tcp\"\ninterval = \"100ms\"\nfall = 1\nrise = 1\n"
      "initial_state = \"down\"\n";
  InProcessLbd lbd(cfg.text() + "[admin]\nlisten = \"127.0.0.1:0\"\n");
  const auto admin = *lbd.server().admin_endpoint();
  // Wait until the health checks settled: app0 up, app1 down.
  REQUIRE(wait_until(
      [&] {
        const auto res = round_trip(admin, admin_get("/status.json"));
        if (!res) return false;
        const auto j = nlohmann::json::parse(res->body());
        return j["pools"][0]["servers"][0]["state"] == "up" &&
               j["pools"][0]["servers"][1]["state"] == "down";
      },
      5s));
  TempDir dir;
  const std::string out = dir.path + "/dom.html";
  // The page fetches status.json and renders it; --virtual-time-budget lets that finish.
  const std::string cmd = fmt::format(
      "timeout 20 {} --headless --no-sandbox --disable-gpu --no-first-run "
      "--user-data-dir={}/profile "
      "--virtual-time-budget=5000 --dump-dom http://{}/status > {} 2>/dev/null",
      chromium, dir.path, admin.to_string(), out);
  REQUIRE(std::system(cmd.c_str()) == 0);
  const auto dom = read_text(out);
  CHECK(dom.find("data-loaded=\"1\"") != std::string::npos);
  CHECK(dom.find("<tr class=\"server state-up\" data-server=\"app0\" data-state=\"up\"") !=
        std::string::npos);
  CHECK(dom.find("<tr class=\"server state-down\" data-server=\"app1\" data-state=\"down\"") !=
        std::string::npos);
  CHECK(dom.find("id=\"role\" class=\"badge role-unknown\">unknown<") != std::string::npos);
  CHECK(dom.find("id=\"health\" class=\"badge health-ok\"") != std::string::npos);
  CHECK(dom.find("<div id=\"replication\">not configured</div>") != std::string::npos);
  CHECK(dom.find("data-listener=\"web\"") != std::string::npos);
}

TEST_CASE(
    "access log and metrics: a TLS request logs its version and cipher, a refused one counts") {
  TestPki pki;
  const auto cert = pki.issue("a", "a.example.com", {"a.example.com"});
  Origin origin("o");
  TestBackend backend(origin.handler());
  TempDir dir;
  const std::string log_path = dir.path + "/access.log";
  HttpConfig cfg{.pools = {{"app", {backend.address()}}}};
  cfg.routes =
      fmt::format("[listener.tls]\n[[listener.tls.certificate]]\ncert = \"{}\"\nkey = \"{}\"\n",
                  cert.cert, cert.key);
  InProcessLbd lbd(cfg.text() + "[admin]\nlisten = \"127.0.0.1:0\"\n[access_log]\npath = \"" +
                   log_path + "\"\n");
  auto r =
      tls_exchange(lbd.endpoint("web"), {.sni = "a.example.com", .max_version = TLS1_2_VERSION},
                   {"GET /tls HTTP/1.1\r\nHost: a.example.com\r\n\r\n"});
  REQUIRE_MESSAGE(r.handshake_ok, r.error);
  r = tls_exchange(lbd.endpoint("web"),
                   {.sni = "a.example.com", .max_version = TLS1_1_VERSION, .allow_legacy = true});
  CHECK_FALSE(r.handshake_ok);
  REQUIRE(wait_until([&] { return read_lines(log_path).size() == 1; }, 5s));
  const auto j = nlohmann::json::parse(read_lines(log_path).at(0));
  CHECK(j["target"] == "/tls");
  CHECK(j["tls_version"] == "TLSv1.2");
  CHECK_FALSE(j["tls_cipher"].get<std::string>().empty());
  const auto admin = *lbd.server().admin_endpoint();
  REQUIRE(wait_until(
      [&] {
        const auto res = round_trip(admin, admin_get("/metrics"));
        std::string error;
        const auto m = lb::test::parse_prometheus_text(res ? res->body() : "", error);
        return m && m->value("lbpair_listener_tls_handshake_errors_total",
                             {{"listener", "web"}, {"reason", "unsupported protocol"}}) == 1;
      },
      5s));
}
