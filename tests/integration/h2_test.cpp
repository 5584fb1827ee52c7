// HTTP/2 to clients end to end, with real clients (curl, nghttp, h2load) against lbd in this
// process: h2c with prior knowledge, ALPN h2 over TLS, routing, cookie persistence, request
// bodies, a flood counted in /metrics, and HTTP/1.1 still served on the same listeners.
#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "tests/integration/http_config.hpp"
#include "tests/integration/http_support.hpp"
#include "tests/integration/lbd_harness.hpp"
#include "tests/integration/tls_fixture.hpp"
#include "tests/support/process.hpp"

using namespace lbtest;
using namespace std::chrono_literals;

namespace {

constexpr const char* kH2CookieKey = "0123456789abcdef0123456789abcdef-h2-test-key";

/// `curl` with a deadline; stdout and stderr together.
CommandResult h2_curl(const std::string& args) {
  return run_command("curl -sS --max-time 10 " + args + " 2>&1");
}

std::string h2_url(const lb::Endpoint& ep, const std::string& path) {
  return fmt::format("http://{}{}", ep.to_string(), path);
}

/// The value of `name` (lower case) in curl's -D - output, or "".
std::string h2_header(const std::string& out, const std::string& name) {
  const auto key = "\n" + name + ": ";
  const auto at = out.find(key);
  if (at == std::string::npos) return "";
  const auto start = at + key.size();
  return out.substr(start, out.find_first_of("\r\n", start) - start);
}

HttpConfig h2c_config(const std::vector<std::pair<std::string, std::vector<std::string>>>& pools) {
  HttpConfig c{.pools = pools};
  c.listener_extra = "h2c = true";
  return c;
}

}  // namespace

TEST_CASE("h2: curl --http2-prior-knowledge is served over h2c and HTTP/1.1 still works") {
  Origin origin("o");
  TestBackend backend(origin.handler());
  InProcessLbd lbd(h2c_config({{"app", {backend.address()}}}).text());
  const auto ep = lbd.endpoint("web");
  const auto r = h2_curl("--http2-prior-knowledge -w '|%{http_version} %{http_code}' " +
                         h2_url(ep, "/hello?x=1"));
  CHECK(r.exit_code == 0);
  CHECK(r.output == "o /hello?x=1|2 200");
  REQUIRE(origin.count() == 1);
  const auto seen = origin.seen().front();
  CHECK(header(seen.base(), "Host") == ep.to_string());
  CHECK(header(seen.base(), "Via").find("2 lbd") != std::string::npos);
  CHECK(header(seen.base(), "X-Forwarded-Proto") == "http");
  const auto h1 = round_trip(ep, get("/one"));
  REQUIRE(h1);
  CHECK(h1->result_int() == 200);
}

TEST_CASE("h2: curl --http2 over TLS negotiates h2 by ALPN, and alpn = [\"http/1.1\"] refuses it") {
  TlsLbd t;
  const auto port = t.endpoint().port;
  const auto args = fmt::format(
      "--http2 --cacert {} --resolve a.example.com:{}:127.0.0.1 -w '|%{{http_version}}' "
      "https://a.example.com:{}/tls",
      t.pki.ca_file(), port, port);
  auto r = h2_curl(args);
  CHECK(r.exit_code == 0);
  CHECK(r.output == "o /tls|2");
  REQUIRE(t.origin.count() == 1);
  CHECK(header(t.origin.seen().front().base(), "X-Forwarded-Proto") == "https");
  REQUIRE(t.lbd.reload(t.config("alpn = [\"http/1.1\"]")));
  r = h2_curl(args);
  CHECK(r.exit_code == 0);
  CHECK(r.output == "o /tls|1.1");
}

TEST_CASE("h2: nghttp fetches through h2c and gets the body") {
  Origin origin("o");
  TestBackend backend(origin.handler());
  InProcessLbd lbd(h2c_config({{"app", {backend.address()}}}).text());
  const auto r = run_command("timeout 20 nghttp " + h2_url(lbd.endpoint("web"), "/ng") + " 2>&1");
  CHECK(r.exit_code == 0);
  CHECK(r.output == "o /ng");
}

TEST_CASE("h2: h2load -n 2000 -c 10 -m 10 completes every request") {
  Origin origin("o");
  TestBackend backend(origin.handler());
  InProcessLbd lbd(h2c_config({{"app", {backend.address()}}}).text());
  const auto r = run_command("timeout 60 h2load -n 2000 -c 10 -m 10 " +
                             h2_url(lbd.endpoint("web"), "/load") + " 2>&1");
  CHECK(r.exit_code == 0);
  INFO(r.output);
  CHECK(r.output.find("2000 succeeded, 0 failed, 0 errored") != std::string::npos);
  CHECK(r.output.find("status codes: 2000 2xx") != std::string::npos);
}

TEST_CASE("h2: streams are routed by path and header to their pools") {
  Origin web("web"), api("api");
  TestBackend bw(web.handler()), ba(api.handler());
  auto c = h2c_config({{"web", {bw.address()}}, {"api", {ba.address()}}});
  c.routes =
      "[[listener.route]]\npool = \"api\"\npath_prefix = \"/api/\"\n"
      "[[listener.route]]\npool = \"api\"\n[[listener.route.header]]\nname = \"X-Api\"\n"
      "present = true\n";
  InProcessLbd lbd(c.text());
  const auto ep = lbd.endpoint("web");
  CHECK(h2_curl("--http2-prior-knowledge " + h2_url(ep, "/api/v1")).output == "api /api/v1");
  CHECK(h2_curl("--http2-prior-knowledge " + h2_url(ep, "/page")).output == "web /page");
  CHECK(h2_curl("--http2-prior-knowledge -H 'X-Api: 1' " + h2_url(ep, "/page")).output ==
        "api /page");
}

TEST_CASE("h2: cookie persistence keeps an h2 client on its server") {
  Origin o0("s0"), o1("s1"), o2("s2");
  TestBackend b0(o0.handler()), b1(o1.handler()), b2(o2.handler());
  auto c = h2c_config({{"app", {b0.address(), b1.address(), b2.address()}}});
  c.pool_extra = fmt::format(
      "algorithm = \"round_robin\"\n[pool.persistence]\nmode = \"cookie\"\ncookie_key = \"{}\"\n",
      kH2CookieKey);
  InProcessLbd lbd(c.text());
  const auto ep = lbd.endpoint("web");
  const auto first = h2_curl("--http2-prior-knowledge -D - " + h2_url(ep, "/")).output;
  const auto set = h2_header(first, "set-cookie");
  REQUIRE(set.starts_with("LBSRV="));
  const auto server = h2_header(first, "x-backend");
  const auto cookie = set.substr(0, set.find(';'));
  for (int i = 0; i < 6; ++i) {
    const auto out = h2_curl("--http2-prior-knowledge -D - -H 'Cookie: a=1' -H 'Cookie: " + cookie +
                             "' " + h2_url(ep, "/"))
                         .output;
    CHECK(h2_header(out, "x-backend") == server);
  }
  std::set<std::string> spread;
  for (int i = 0; i < 6; ++i) {
    spread.insert(
        h2_header(h2_curl("--http2-prior-knowledge -D - " + h2_url(ep, "/")).output, "x-backend"));
  }
  CHECK(spread.size() == 3);
}

TEST_CASE("h2: a request body is streamed to the backend and echoed back") {
  Origin origin("o", Origin::echo(true));
  TestBackend backend(origin.handler());
  InProcessLbd lbd(h2c_config({{"app", {backend.address()}}}).text());
  TempConfig file(std::string(300 * 1024, 'b'));
  const auto r =
      h2_curl(fmt::format("--http2-prior-knowledge --data-binary @{} -o /dev/null -w "
                          "'%{{http_code}} %{{size_download}}' "
                          "{}",
                          file.path(), h2_url(lbd.endpoint("web"), "/echo")));
  CHECK(r.output == fmt::format("200 {}", 300 * 1024));
}

TEST_CASE(
    "h2: response bodies with a content-length arrive whole, shorter and longer than a chunk") {
  // A body announced by its length is decoded through a buffer of that length when it is short,
  // of 16 KiB when it is longer.
  Origin origin("o", Origin::echo(false));
  TestBackend backend(origin.handler());
  InProcessLbd lbd(h2c_config({{"app", {backend.address()}}}).text());
  for (const std::size_t size :
       {std::size_t{1}, std::size_t{16 * 1024 + 1}, std::size_t{300 * 1024}}) {
    TempConfig file(std::string(size, 'c'));
    const auto r =
        h2_curl(fmt::format("--http2-prior-knowledge --data-binary @{} -o /dev/null -w "
                            "'%{{http_code}} %{{size_download}}' "
                            "{}",
                            file.path(), h2_url(lbd.endpoint("web"), "/echo")));
    CHECK(r.output == fmt::format("200 {}", size));
  }
}

TEST_CASE("h2: a PING flood gets GOAWAY and is counted in /metrics") {
  Origin origin("o");
  TestBackend backend(origin.handler());
  auto c = h2c_config({{"app", {backend.address()}}});
  std::string text = c.text() + "[admin]\nlisten = \"127.0.0.1:0\"\n";
  InProcessLbd lbd(text);
  // Preface, empty SETTINGS, then 300 PINGs (RFC 9113 §6.7) in one write.
  std::string raw("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  raw += std::string("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);
  for (int i = 0; i < 300; ++i)
    raw += std::string("\x00\x00\x08\x06\x00\x00\x00\x00\x00", 9) + "pingpong";
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  send_all(fd, raw);
  const auto got = read_to_eof(fd);
  ::close(fd);
  // GOAWAY (type 7) with ENHANCE_YOUR_CALM (0xb) somewhere in what came back.
  CHECK(got.find(std::string("\x07\x00\x00\x00\x00\x00", 6)) != std::string::npos);
  const auto admin = *lbd.server().admin_endpoint();
  const auto metrics =
      round_trip(admin, "GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  REQUIRE(metrics);
  CHECK(metrics->body().find(
            "lbpair_h2_protocol_errors_total{listener=\"web\",reason=\"ping_flood\"} 1") !=
        std::string::npos);
  CHECK(metrics->body().find("lbpair_h2_connections_total{listener=\"web\"} 1") !=
        std::string::npos);
}

TEST_CASE("h2: headless Chromium loads a page over h2 through lbd") {
  const char* chromium = "/usr/bin/chromium";
  REQUIRE_MESSAGE(::access(chromium, X_OK) == 0, "chromium is missing: run scripts/deps");
  TestPki pki;
  const auto cert = pki.issue("a", "a.example.com", {"a.example.com"});
  // The page writes the protocol its own navigation used into the DOM.
  Origin origin("o", [](const Request&) {
    Response res{http::status::ok, 11};
    res.set(http::field::content_type, "text/html");
    res.body() =
        "<!doctype html><html><body><div id=\"p\"></div><script>"
        "document.getElementById('p').textContent = 'proto=' + "
        "performance.getEntriesByType('navigation')[0].nextHopProtocol;"
        "</script></body></html>";
    res.prepare_payload();
    return res;
  });
  TestBackend backend(origin.handler());
  InProcessLbd lbd(tls_config(backend.address(), tls_section({cert})));
  const auto port = lbd.endpoint("web").port;
  const std::string profile = pki.path("chromium-profile");
  const auto r = run_command(fmt::format(
      "timeout 30 {} --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir={} "
      "--ignore-certificate-errors --host-resolver-rules='MAP a.example.com 127.0.0.1' "
      "--virtual-time-budget=3000 --dump-dom https://a.example.com:{}/page 2>/dev/null",
      chromium, profile, port));
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("<div id=\"p\">proto=h2</div>") != std::string::npos);
}

TEST_CASE("h2: a drain sends GOAWAY and the stream in flight still gets its response") {
  Origin origin("o", [](const Request&) {
    std::this_thread::sleep_for(1500ms);  // the drain starts while this stream is in flight
    Response res{http::status::ok, 11};
    res.body() = "late";
    res.prepare_payload();
    return res;
  });
  TestBackend backend(origin.handler());
  InProcessLbd lbd(h2c_config({{"app", {backend.address()}}}).text());
  CommandResult r;
  std::thread client([&] {
    r = run_command("timeout 20 nghttp -v " + h2_url(lbd.endpoint("web"), "/slow") + " 2>&1");
  });
  REQUIRE(wait_until([&] { return origin.count() == 1; }, 10s));
  lbd.server().request_shutdown();
  client.join();
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("recv GOAWAY frame") != std::string::npos);
  CHECK(r.output.find("error_code=NO_ERROR") != std::string::npos);
  CHECK(r.output.find("late") != std::string::npos);
}
