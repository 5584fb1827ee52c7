// TLS from lbd to backends ([pool.tls]) through a real lbd Server in this process and
// HTTPS origins on 127.0.0.1 with certificates made at test time: verification by CA and name,
// SNI, insecure mode, mTLS, keep-alive and session reuse, reload, and HTTPS health checks.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <random>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "lbd/admin/metrics.hpp"
#include "lbd/tls/upstream_tls_context.hpp"
#include "lbd/upstream/http_checker.hpp"
#include "tests/integration/health_test_support.hpp"
#include "tests/integration/http_config.hpp"
#include "tests/integration/http_support.hpp"
#include "tests/integration/tls_origin.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_pki.hpp"

using namespace lbtest;
using namespace std::chrono_literals;

namespace {

/// One http listener "web" and pool "app" of `servers` with `tls` as its [pool.tls] lines.
std::string pool_tls_config(const std::vector<std::string>& servers, const std::string& tls,
                            const std::string& pool_extra = "") {
  HttpConfig cfg{.pools = {{"app", servers}}};
  cfg.pool_extra = pool_extra + (tls.empty() ? "" : "\n[pool.tls]\n" + tls);
  return cfg.text();
}

/// Sends each request on one client connection and returns the responses (stops at the first
/// missing one).
std::vector<Response> keep_alive_exchange(const lb::Endpoint& ep,
                                          const std::vector<std::string>& requests) {
  std::vector<Response> out;
  const int fd = connect_to(ep);
  REQUIRE(fd >= 0);
  std::string buf;
  for (const auto& r : requests) {
    if (!send_all(fd, r)) break;
    auto res = read_response(fd, buf);
    if (!res) break;
    out.push_back(std::move(*res));
  }
  ::close(fd);
  return out;
}

/// The upgrade request of the WebSocket tests (the relay does not look at frames).
const std::string kUpgrade =
    "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";

std::string payload_bytes(std::size_t n) {
  std::mt19937 rng(7);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

/// A plain backend: 101 for an Upgrade request, then an echo until EOF, then a half-close.
TestBackend::Handler plain_upgrade_echo() {
  return [](int fd) {
    std::string buf;
    auto req = read_request(fd, buf);
    if (!req || header(req->base(), "Upgrade") != "websocket") return;
    send_all(fd,
             "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket"
             "\r\n\r\n");
    send_all(fd, buf);
    char chunk[16384];
    for (;;) {
      const auto n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      send_all(fd, std::string_view(chunk, static_cast<std::size_t>(n)));
    }
    ::shutdown(fd, SHUT_WR);
  };
}

/// Plain client: upgrade, send `payload`, half-close, read everything back.
std::string ws_echo_plain(const lb::Endpoint& ep, const std::string& payload) {
  const int fd = connect_to(ep);
  REQUIRE(fd >= 0);
  REQUIRE(send_all(fd, kUpgrade));
  std::string buf;
  auto res = read_response(fd, buf, true);
  REQUIRE(res);
  REQUIRE(res->result_int() == 101);
  REQUIRE(send_all(fd, payload));
  ::shutdown(fd, SHUT_WR);
  auto back = buf + read_to_eof(fd);
  ::close(fd);
  return back;
}

/// TLS client (no verification): upgrade, send `payload`, close_notify, read until the
/// server's close.
std::string ws_echo_tls(const lb::Endpoint& ep, const std::string& payload) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  const int fd = connect_to(ep);
  REQUIRE(fd >= 0);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  SSL_set_fd(ssl.get(), fd);
  SSL_set_tlsext_host_name(ssl.get(), "a.example.com");
  REQUIRE(SSL_connect(ssl.get()) == 1);
  auto write_all = [&](std::string_view s) {
    while (!s.empty()) {
      const int n = SSL_write(ssl.get(), s.data(), static_cast<int>(s.size()));
      REQUIRE(n > 0);
      s.remove_prefix(static_cast<std::size_t>(n));
    }
  };
  write_all(kUpgrade);
  std::string in;
  char chunk[16384];
  while (in.find("\r\n\r\n") == std::string::npos) {
    const int n = SSL_read(ssl.get(), chunk, sizeof chunk);
    REQUIRE(n > 0);
    in.append(chunk, static_cast<std::size_t>(n));
  }
  REQUIRE(in.starts_with("HTTP/1.1 101"));
  std::string back = in.substr(in.find("\r\n\r\n") + 4);
  write_all(payload);
  SSL_shutdown(ssl.get());  // our close_notify; reading goes on until the server's
  for (int i = 0; i < 100000; ++i) {
    const int n = SSL_read(ssl.get(), chunk, sizeof chunk);
    if (n <= 0) break;
    back.append(chunk, static_cast<std::size_t>(n));
  }
  ERR_clear_error();
  ::close(fd);
  return back;
}

/// [listener.tls] lines with `cert` as the only certificate.
std::string listener_tls(const PemFiles& cert) {
  return fmt::format("[listener.tls]\n[[listener.tls.certificate]]\ncert = \"{}\"\nkey = \"{}\"\n",
                     cert.cert, cert.key);
}

std::vector<std::string> gets(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(get(fmt::format("/{}", i)));
  return out;
}

}  // namespace

TEST_CASE(
    "upstream tls: requests reach the backend over TLS with SNI = verify_name, one "
    "handshake for sequential keep-alive requests") {
  TestPki pki;
  const auto cert = pki.issue("be", "backend.test", {"backend.test"});
  TlsOrigin origin("tls", cert);
  InProcessLbd lbd(pool_tls_config(
      {origin.address()},
      fmt::format("ca_file = \"{}\"\nverify_name = \"backend.test\"\n", pki.ca_file())));
  const auto responses = keep_alive_exchange(lbd.endpoint("web"), gets(5));
  REQUIRE(responses.size() == 5);
  for (int i = 0; i < 5; ++i) {
    CHECK(responses[static_cast<std::size_t>(i)].result_int() == 200);
    CHECK(responses[static_cast<std::size_t>(i)].body() == fmt::format("tls /{}", i));
  }
  CHECK(origin.requests() == 5);
  CHECK(origin.handshakes() == 1);
  CHECK(origin.connections() == 1);
  CHECK(origin.server_names() == std::vector<std::string>{"backend.test"});
  auto ctx = lbd.server().upstream_tls("app");
  REQUIRE(ctx);
  CHECK(ctx->full_handshakes() == 1);
  CHECK(ctx->handshake_errors().empty());
}

TEST_CASE("upstream tls: sni overrides the name sent, verification still uses verify_name") {
  TestPki pki;
  const auto cert = pki.issue("be", "backend.test", {"backend.test"});
  TlsOrigin origin("tls", cert);
  InProcessLbd lbd(pool_tls_config({origin.address()},
                                   fmt::format("ca_file = \"{}\"\nverify_name = \"backend.test\"\n"
                                               "sni = \"vhost.example\"\n",
                                               pki.ca_file())));
  REQUIRE(keep_alive_exchange(lbd.endpoint("web"), gets(1)).size() == 1);
  CHECK(origin.server_names() == std::vector<std::string>{"vhost.example"});
}

TEST_CASE(
    "upstream tls: a certificate from another CA gets 502 and the backend sees no "
    "request") {
  TestPki pki;
  TestPki other("another CA");
  const auto cert = other.issue("be", "backend.test", {"backend.test"});
  TlsOrigin origin("tls", cert);
  InProcessLbd lbd(pool_tls_config(
      {origin.address()},
      fmt::format("ca_file = \"{}\"\nverify_name = \"backend.test\"\n", pki.ca_file()),
      "connect_retries = 0"));
  const auto responses = keep_alive_exchange(lbd.endpoint("web"), gets(1));
  REQUIRE(responses.size() == 1);
  CHECK(responses[0].result_int() == 502);
  CHECK(origin.requests() == 0);
  CHECK(origin.handshakes() == 0);
  const auto errors = lbd.server().upstream_tls("app")->handshake_errors();
  REQUIRE(errors.size() == 1);
  CHECK(errors.begin()->first ==
        "certificate verify failed: unable to get local issuer certificate");
}

TEST_CASE(
    "upstream tls: a wrong verify_name gets 502, and without verify_name the certificate must "
    "name the server's IP address") {
  TestPki pki;
  const auto cert = pki.issue("be", "backend.test", {"backend.test"});
  TlsOrigin origin("tls", cert);
  {
    InProcessLbd lbd(pool_tls_config(
        {origin.address()},
        fmt::format("ca_file = \"{}\"\nverify_name = \"other.test\"\n", pki.ca_file()),
        "connect_retries = 0"));
    const auto responses = keep_alive_exchange(lbd.endpoint("web"), gets(1));
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].result_int() == 502);
    const auto errors = lbd.server().upstream_tls("app")->handshake_errors();
    CHECK(errors.contains("certificate verify failed: hostname mismatch"));
  }
  {
    InProcessLbd lbd(pool_tls_config({origin.address()},
                                     fmt::format("ca_file = \"{}\"\n", pki.ca_file()),
                                     "connect_retries = 0"));
    const auto responses = keep_alive_exchange(lbd.endpoint("web"), gets(1));
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].result_int() == 502);
    const auto errors = lbd.server().upstream_tls("app")->handshake_errors();
    CHECK(errors.contains("certificate verify failed: IP address mismatch"));
  }
  CHECK(origin.requests() == 0);
}

TEST_CASE("upstream tls: a failed handshake is retried on another server of the pool") {
  TestPki pki;
  TestPki other("another CA");
  TlsOrigin bad("bad", other.issue("bad", "backend.test", {"backend.test"}));
  TlsOrigin good("good", pki.issue("good", "backend.test", {"backend.test"}));
  InProcessLbd lbd(pool_tls_config(
      {bad.address(), good.address()},
      fmt::format("ca_file = \"{}\"\nverify_name = \"backend.test\"\n", pki.ca_file()),
      "upstream_keepalive = 0"));
  for (int i = 0; i < 4; ++i) {
    const auto responses = keep_alive_exchange(lbd.endpoint("web"), gets(1));
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].result_int() == 200);
    CHECK(responses[0].body() == "good /0");
  }
  CHECK(bad.requests() == 0);
  CHECK(good.requests() == 4);
}

TEST_CASE("upstream tls: insecure = true talks to a backend whose certificate nothing verifies") {
  TestPki unknown("self-signed stand-in");
  TlsOrigin origin("tls", unknown.issue("be", "whatever", {"whatever"}));
  InProcessLbd lbd(pool_tls_config({origin.address()}, "insecure = true\nsni = \"x.test\"\n"));
  const auto responses = keep_alive_exchange(lbd.endpoint("web"), gets(2));
  REQUIRE(responses.size() == 2);
  CHECK(responses[1].body() == "tls /1");
  CHECK(origin.server_names() == std::vector<std::string>{"x.test"});
}

TEST_CASE("upstream tls: a backend requiring a client certificate gets lbd's (mTLS)") {
  TestPki pki;
  const auto cert = pki.issue("be", "backend.test", {"backend.test"});
  const auto client = pki.issue("lbd", "lbd-client", {"lbd-client"}, KeyType::ec_p256, true);
  TlsOrigin origin("tls", cert, {.client_ca = pki.ca_file()});
  const std::string base =
      fmt::format("ca_file = \"{}\"\nverify_name = \"backend.test\"\n", pki.ca_file());
  {
    InProcessLbd lbd(pool_tls_config(
        {origin.address()},
        base + fmt::format("cert = \"{}\"\nkey = \"{}\"\n", client.cert, client.key)));
    const auto responses = keep_alive_exchange(lbd.endpoint("web"), gets(1));
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].result_int() == 200);
  }
  {
    InProcessLbd lbd(pool_tls_config({origin.address()}, base, "connect_retries = 0"));
    const auto responses = keep_alive_exchange(lbd.endpoint("web"), gets(1));
    REQUIRE(responses.size() == 1);
    CHECK(responses[0].result_int() == 502);
  }
  CHECK(origin.requests() == 1);
}

TEST_CASE("upstream tls: new connections to a server resume its TLS session") {
  TestPki pki;
  TlsOrigin origin("tls", pki.issue("be", "backend.test", {"backend.test"}));
  InProcessLbd lbd(pool_tls_config(
      {origin.address()},
      fmt::format("ca_file = \"{}\"\nverify_name = \"backend.test\"\n", pki.ca_file()),
      "upstream_keepalive = 0"));
  for (int i = 0; i < 4; ++i) {
    REQUIRE(keep_alive_exchange(lbd.endpoint("web"), gets(1)).size() == 1);
  }
  CHECK(origin.handshakes() == 4);
  CHECK(origin.resumed() == 3);
  auto ctx = lbd.server().upstream_tls("app");
  CHECK(ctx->full_handshakes() == 1);
  CHECK(ctx->resumed_handshakes() == 3);
  // The same counts reach /metrics.
  const auto view = lbd.server().admin_view();
  REQUIRE(view.upstream_tls.count("app") == 1);
  CHECK(view.upstream_tls.at("app").full == 1);
  CHECK(view.upstream_tls.at("app").resumed == 3);
  const auto text = lbd::admin::render_metrics(view);
  CHECK(text.find("lbpair_pool_upstream_tls_handshakes_total{pool=\"app\",kind=\"resumed\"} 3") !=
        std::string::npos);
}

TEST_CASE(
    "upstream tls: a session ticket arriving on an idle pooled connection does not "
    "discard it") {
  TestPki pki;
  TlsOrigin origin("tls", pki.issue("be", "backend.test", {"backend.test"}), {.late_ticket = true});
  InProcessLbd lbd(pool_tls_config(
      {origin.address()},
      fmt::format("ca_file = \"{}\"\nverify_name = \"backend.test\"\nmin_version = \"1.3\"\n",
                  pki.ca_file())));
  // Requests with a body: the pool probes the idle connection before reusing it.
  std::vector<std::string> posts;
  for (int i = 0; i < 3; ++i) {
    posts.push_back(fmt::format(
        "POST /p{} HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello", i));
  }
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  std::string buf;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(send_all(fd, posts[static_cast<std::size_t>(i)]));
    auto res = read_response(fd, buf);
    REQUIRE(res);
    CHECK(res->result_int() == 200);
    // The late ticket must be pending on lbd's idle connection before the next request.
    REQUIRE(wait_until([&] { return origin.late_tickets() > i; }, 2s));
    ::usleep(20'000);
  }
  ::close(fd);
  CHECK(origin.requests() == 3);
  CHECK(origin.handshakes() == 1);
}

TEST_CASE("upstream tls: a reload switches a pool from plain to TLS") {
  TestPki pki;
  TlsOrigin origin("tls", pki.issue("be", "backend.test", {"backend.test"}));
  InProcessLbd lbd(pool_tls_config({origin.address()}, "", "connect_retries = 0"));
  auto responses = keep_alive_exchange(lbd.endpoint("web"), gets(1));
  REQUIRE(responses.size() == 1);
  CHECK(responses[0].result_int() == 502);  // plain HTTP to a TLS port
  CHECK(lbd.server().upstream_tls("app") == nullptr);
  REQUIRE(lbd.reload(pool_tls_config(
      {origin.address()},
      fmt::format("ca_file = \"{}\"\nverify_name = \"backend.test\"\n", pki.ca_file()),
      "connect_retries = 0")));
  responses = keep_alive_exchange(lbd.endpoint("web"), gets(2));
  REQUIRE(responses.size() == 2);
  CHECK(responses[0].result_int() == 200);
  CHECK(responses[1].body() == "tls /1");
  CHECK(lbd.server().upstream_tls("app") != nullptr);
}

TEST_CASE("upstream tls: an HTTP health check of a TLS pool speaks TLS, a plain one fails") {
  TestPki pki;
  TlsOrigin origin("tls", pki.issue("be", "backend.test", {"backend.test"}));
  lbd::proxy::UpstreamTlsConfig tc;
  tc.ca_file = pki.ca_file();
  tc.verify_name = "backend.test";
  auto ctx = lbd::proxy::UpstreamTlsContext::build(tc);
  REQUIRE(ctx);
  lbd::Backend backend("s1", origin.endpoint(), 1);
  lbd::HealthCheckConfig c;
  c.type = lbd::HealthCheckType::http;
  c.path = "/health";
  c.tls = *ctx;
  lbd::HttpChecker tls_checker(c);
  CHECK(reason_of(run_probe(tls_checker, backend, 2s)) == "ok");
  CHECK(origin.requests() == 1);

  // The plain checker and the TLS origin may each write to a connection the other has closed.
  // lbd ignores SIGPIPE (lbd/server.cpp); this test runs the checker without a Server, so it does
  // the same, or the write kills the test program (seen once in a fresh-clone CI run).
  std::signal(SIGPIPE, SIG_IGN);
  c.tls = nullptr;
  lbd::HttpChecker plain_checker(c);
  CHECK(reason_of(run_probe(plain_checker, backend, 2s)) != "ok");

  tc.verify_name = "other.test";
  auto wrong = lbd::proxy::UpstreamTlsContext::build(tc);
  REQUIRE(wrong);
  c.tls = *wrong;
  lbd::HttpChecker wrong_checker(c);
  CHECK(reason_of(run_probe(wrong_checker, backend, 2s)) ==
        "tls: certificate verify failed: hostname mismatch");
  CHECK(origin.requests() == 1);
}

TEST_CASE("upstream tls: WebSocket echo through a plain listener to a TLS backend") {
  TestPki pki;
  TlsOrigin origin("tls", pki.issue("be", "backend.test", {"backend.test"}));
  InProcessLbd lbd(pool_tls_config(
      {origin.address()},
      fmt::format("ca_file = \"{}\"\nverify_name = \"backend.test\"\n", pki.ca_file())));
  const auto payload = payload_bytes(48 * 1024);
  CHECK(ws_echo_plain(lbd.endpoint("web"), payload) == payload);
  CHECK(origin.requests() == 1);
}

TEST_CASE("upstream tls: WebSocket echo through a TLS listener to a plain backend") {
  TestPki pki;
  const auto cert = pki.issue("a", "a.example.com", {"a.example.com"});
  TestBackend backend(plain_upgrade_echo());
  HttpConfig cfg{.pools = {{"app", {backend.address()}}}};
  cfg.routes = listener_tls(cert);
  InProcessLbd lbd(cfg.text());
  const auto payload = payload_bytes(48 * 1024);
  CHECK(ws_echo_tls(lbd.endpoint("web"), payload) == payload);
}

TEST_CASE("upstream tls: WebSocket echo with TLS on both sides") {
  TestPki pki;
  const auto cert = pki.issue("a", "a.example.com", {"a.example.com"});
  TlsOrigin origin("tls", pki.issue("be", "backend.test", {"backend.test"}));
  HttpConfig cfg{.pools = {{"app", {origin.address()}}}};
  cfg.routes = listener_tls(cert);
  cfg.pool_extra =
      fmt::format("[pool.tls]\nca_file = \"{}\"\nverify_name = \"backend.test\"\n", pki.ca_file());
  InProcessLbd lbd(cfg.text());
  const auto payload = payload_bytes(48 * 1024);
  CHECK(ws_echo_tls(lbd.endpoint("web"), payload) == payload);
  CHECK(origin.requests() == 1);
}

TEST_CASE("upstream tls: a changed ca_file is picked up by the file watch") {
  TestPki pki;
  TestPki other("another CA");
  TlsOrigin origin("tls", other.issue("be", "backend.test", {"backend.test"}));
  const auto ca = pki.path("pool-ca.pem");
  write_file(ca, read_file(pki.ca_file()));
  const auto text = pool_tls_config(
      {origin.address()}, fmt::format("ca_file = \"{}\"\nverify_name = \"backend.test\"\n", ca),
      "connect_retries = 0\nupstream_keepalive = 0");
  InProcessLbd lbd("[global]\ntls_watch_interval = \"20ms\"\n" + text.substr(text.find("workers")));
  auto responses = keep_alive_exchange(lbd.endpoint("web"), gets(1));
  REQUIRE(responses.size() == 1);
  CHECK(responses[0].result_int() == 502);
  const auto ok_before = lbd.server().reloads_ok();
  write_file(ca, read_file(other.ca_file()));
  REQUIRE(wait_until([&] { return lbd.server().reloads_ok() > ok_before; }, 3000ms));
  responses = keep_alive_exchange(lbd.endpoint("web"), gets(1));
  REQUIRE(responses.size() == 1);
  CHECK(responses[0].result_int() == 200);
}

TEST_CASE("upstream tls: an idle upgraded TLS connection is closed after the idle timeouts") {
  TestPki pki;
  const auto cert = pki.issue("a", "a.example.com", {"a.example.com"});
  TestBackend backend(plain_upgrade_echo());
  HttpConfig cfg{.pools = {{"app", {backend.address()}}}};
  cfg.routes = listener_tls(cert);
  cfg.timeouts = "client_idle = \"200ms\"\nserver_idle = \"200ms\"";
  InProcessLbd lbd(cfg.text());
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  SSL_set_fd(ssl.get(), fd);
  REQUIRE(SSL_connect(ssl.get()) == 1);
  REQUIRE(SSL_write(ssl.get(), kUpgrade.data(), static_cast<int>(kUpgrade.size())) > 0);
  char chunk[4096];
  std::string in;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) {  // the 101, then nothing until lbd closes
    const int n = SSL_read(ssl.get(), chunk, sizeof chunk);
    if (n <= 0) break;
    in.append(chunk, static_cast<std::size_t>(n));
  }
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  ERR_clear_error();
  ::close(fd);
  CHECK(in.starts_with("HTTP/1.1 101"));
  CHECK(elapsed >= 150ms);
  CHECK(elapsed < 2s);
}
