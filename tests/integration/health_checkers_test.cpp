// Active checkers against real sockets on 127.0.0.1 whose behaviour the test flips.
#include <doctest/doctest.h>

#include "lbd/upstream/exec_checker.hpp"
#include "lbd/upstream/http_checker.hpp"
#include "lbd/upstream/tcp_checker.hpp"
#include "tests/integration/health_test_backend.hpp"
#include "tests/integration/health_test_support.hpp"

using lbtest::HealthTestBackend;
using lbtest::reason_of;
using lbtest::run_probe;
using Mode = HealthTestBackend::Mode;
using namespace std::chrono_literals;

namespace {
lbd::Backend backend_at(const lb::Endpoint& ep) { return lbd::Backend("s1", ep, 1); }
}  // namespace

TEST_CASE("tcp_checker: connect succeeds when up and names the refusal when refusing") {
  HealthTestBackend server;
  auto backend = backend_at(server.endpoint());
  lbd::HealthCheckConfig c;
  c.type = lbd::HealthCheckType::tcp;
  lbd::TcpChecker checker(c);
  CHECK(reason_of(run_probe(checker, backend, 1s)) == "ok");
  server.set_mode(Mode::refusing);
  CHECK(reason_of(run_probe(checker, backend, 1s)) == "connect: connection refused");
  server.set_mode(Mode::up);
  CHECK(reason_of(run_probe(checker, backend, 1s)) == "ok");
}

TEST_CASE("tcp_checker: send/expect checks the reply and times out on a silent server") {
  HealthTestBackend server;
  auto backend = backend_at(server.endpoint());
  lbd::HealthCheckConfig c;
  c.type = lbd::HealthCheckType::tcp;
  c.send = "PING\n";
  c.expect = "PONG";
  lbd::TcpChecker checker(c);
  CHECK(reason_of(run_probe(checker, backend, 1s)) == "ok");
  server.set_mode(Mode::wrong_body);
  CHECK(reason_of(run_probe(checker, backend, 1s)) == "reply does not contain \"PONG\"");
  server.set_mode(Mode::hanging);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(reason_of(run_probe(checker, backend, 200ms)) == "timeout after 200ms");
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
}

TEST_CASE("tcp_checker: the port override checks another port than the traffic port") {
  HealthTestBackend server;
  lbd::HealthCheckConfig c;
  c.type = lbd::HealthCheckType::tcp;
  c.port = server.port();
  lbd::TcpChecker checker(c);
  // Traffic port 1 has no listener; the check goes to the backend's port instead.
  auto backend = backend_at(*lb::Endpoint::parse("127.0.0.1:1"));
  CHECK(reason_of(run_probe(checker, backend, 1s)) == "ok");
  lbd::TcpChecker plain(lbd::HealthCheckConfig{.type = lbd::HealthCheckType::tcp});
  CHECK(reason_of(run_probe(plain, backend, 1s)) == "connect: connection refused");
}

TEST_CASE("http_checker: status, body, JSON and timeouts against a real server") {
  HealthTestBackend server;
  auto backend = backend_at(server.endpoint());
  lbd::HealthCheckConfig c;
  c.type = lbd::HealthCheckType::http;
  c.path = "/health";
  c.expect_status = {{200, 299}};
  c.expect_json = lbd::JsonExpectation{"status", "UP"};
  lbd::HttpChecker checker(c);
  CHECK(reason_of(run_probe(checker, backend, 1s)) == "ok");
  server.set_mode(Mode::status503);
  CHECK(reason_of(run_probe(checker, backend, 1s)) == "status 503");
  server.set_mode(Mode::json_down);
  CHECK(reason_of(run_probe(checker, backend, 1s)) == "json status=\"DOWN\", expected \"UP\"");
  server.set_mode(Mode::wrong_body);
  CHECK(reason_of(run_probe(checker, backend, 1s)) == "body is not JSON");
  server.set_mode(Mode::slow);
  server.slow_delay = 1000ms;
  CHECK(reason_of(run_probe(checker, backend, 200ms)) == "timeout after 200ms");
  server.set_mode(Mode::hanging);
  CHECK(reason_of(run_probe(checker, backend, 200ms)) == "timeout after 200ms");
  server.set_mode(Mode::refusing);
  CHECK(reason_of(run_probe(checker, backend, 1s)) == "connect: connection refused");
  server.set_mode(Mode::up);
  CHECK(reason_of(run_probe(checker, backend, 1s)) == "ok");
}

TEST_CASE("http_checker: a body substring check fails on the wrong body") {
  HealthTestBackend server;
  auto backend = backend_at(server.endpoint());
  lbd::HealthCheckConfig c;
  c.type = lbd::HealthCheckType::http;
  c.method = "GET";
  c.host = "app.example.com";
  c.expect_body = "UP";
  lbd::HttpChecker checker(c);
  CHECK(reason_of(run_probe(checker, backend, 1s)) == "ok");
  server.set_mode(Mode::wrong_body);
  CHECK(reason_of(run_probe(checker, backend, 1s)) == "body does not contain \"UP\"");
}

TEST_CASE("exec_checker: exit 0 is up, other exits are down with the status") {
  lbd::Backend backend("s1", *lb::Endpoint::parse("127.0.0.1:4321"), 1);
  lbd::HealthCheckConfig c;
  c.type = lbd::HealthCheckType::exec;
  c.command = "exit 0";
  CHECK(reason_of(run_probe(*lbd::make_health_checker(c), backend, 2s)) == "ok");
  c.command = "exit 3";
  CHECK(reason_of(run_probe(*lbd::make_health_checker(c), backend, 2s)) == "exit status 3");
  c.command =
      R"(test "$LBD_SERVER_NAME:$LBD_SERVER_ADDRESS:$LBD_SERVER_PORT" = "s1:127.0.0.1:4321")";
  CHECK(reason_of(run_probe(*lbd::make_health_checker(c), backend, 2s)) == "ok");
}

TEST_CASE("exec_checker: a command that outlives the timeout is killed by its PID group") {
  lbd::Backend backend("s1", *lb::Endpoint::parse("127.0.0.1:4321"), 1);
  lbd::HealthCheckConfig c;
  c.type = lbd::HealthCheckType::exec;
  // A pipeline: the grandchild sleep must die with the shell, or the test would wait for it.
  c.command = "sleep 30 | cat";
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(reason_of(run_probe(*lbd::make_health_checker(c), backend, 200ms)) ==
        "timeout after 200ms");
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
}

TEST_CASE("http_checker: HEAD requests and slow answers within the timeout pass") {
  HealthTestBackend server;
  auto backend = backend_at(server.endpoint());
  lbd::HealthCheckConfig c;
  c.type = lbd::HealthCheckType::http;
  c.method = "HEAD";
  lbd::HttpChecker head(c);
  CHECK(reason_of(run_probe(head, backend, 1s)) == "ok");
  server.slow_delay = 100ms;
  server.set_mode(Mode::slow);
  c.method = "GET";
  lbd::HttpChecker get(c);
  CHECK(reason_of(run_probe(get, backend, 2s)) == "ok");
}
