// AgentPoller against real TCP agents on 127.0.0.1 (port 0): replies land on the backend, a
// silent or absent agent keeps the last report. Every run is bounded by io_context::run_for.
#include "lbd/upstream/agent_poller.hpp"

#include <doctest/doctest.h>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
namespace asio = lb::asio;

/// An agent that answers successive connections with successive replies (the last one repeats);
/// an empty reply means "accept and say nothing".
class FakeAgent {
 public:
  FakeAgent(asio::io_context& io, std::deque<std::string> replies)
      : acceptor_(io, lb::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        replies_(std::move(replies)) {
    accept();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int connections = 0;

 private:
  void accept() {
    acceptor_.async_accept([this](lb::error_code ec, lb::tcp::socket socket) {
      if (ec) return;
      ++connections;
      auto reply = replies_.front();
      if (replies_.size() > 1) replies_.pop_front();
      auto s = std::make_shared<lb::tcp::socket>(std::move(socket));
      if (reply.empty()) {
        held_.push_back(s);  // keep it open and silent
      } else {
        auto text = std::make_shared<std::string>(reply);
        asio::async_write(*s, asio::buffer(*text), [s, text](lb::error_code, std::size_t) {});
      }
      accept();
    });
  }

  lb::tcp::acceptor acceptor_;
  std::deque<std::string> replies_;
  std::vector<std::shared_ptr<lb::tcp::socket>> held_;
};

std::shared_ptr<const lbd::Backend> backend_on_loopback() {
  return std::make_shared<const lbd::Backend>(
      "app1", lb::Endpoint{*lb::IpAddress::parse("127.0.0.1"), 9}, 1);
}

}  // namespace

TEST_CASE("agent poller: replies from a TCP agent set the backend's weight and state") {
  asio::io_context io;
  FakeAgent agent(io, {"50%\n", "drain\n", "up 75%"});  // the last one closes without a newline
  auto backend = backend_on_loopback();
  std::vector<lbd::AgentStatus> seen;
  lbd::AgentPoller poller(io.get_executor(), {backend},
                          {.port = agent.port(), .interval = 5ms, .timeout = 2s},
                          [&](const lbd::Backend& b, const lb::Result<lbd::AgentReport>& r) {
                            CHECK(&b == backend.get());
                            REQUIRE(r);
                            seen.push_back(lbd::agent_status(b));
                            if (seen.size() == 3) io.stop();
                          });
  poller.start();
  io.run_for(5s);
  REQUIRE(seen.size() == 3);
  CHECK(seen[0] == lbd::AgentStatus{50, lbd::AgentState::up});
  CHECK(seen[1] == lbd::AgentStatus{50, lbd::AgentState::drain});
  CHECK(seen[2] == lbd::AgentStatus{75, lbd::AgentState::up});
}

TEST_CASE("agent poller: a silent agent times out and the last report stays") {
  asio::io_context io;
  FakeAgent agent(io, {"30%\n", ""});
  auto backend = backend_on_loopback();
  std::vector<std::string> errors;
  int polls = 0;
  lbd::AgentPoller poller(io.get_executor(), {backend},
                          {.port = agent.port(), .interval = 5ms, .timeout = 50ms},
                          [&](const lbd::Backend&, const lb::Result<lbd::AgentReport>& r) {
                            ++polls;
                            if (!r) errors.push_back(r.error().message);
                            if (errors.size() == 2) io.stop();
                          });
  poller.start();
  io.run_for(5s);
  REQUIRE(errors.size() == 2);
  CHECK(errors[0] == "timeout after 50ms");
  CHECK(polls == 3);
  CHECK(lbd::agent_status(*backend) == lbd::AgentStatus{30, lbd::AgentState::up});
}

TEST_CASE("agent poller: a refused connection or a bad reply is reported, status unchanged") {
  asio::io_context io;
  // A port that was just free: bind, note it, close.
  std::uint16_t closed_port = 0;
  {
    lb::tcp::acceptor probe(io, lb::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    closed_port = probe.local_endpoint().port();
  }
  auto backend = backend_on_loopback();
  std::string error;
  lbd::AgentPoller refused(io.get_executor(), {backend},
                           {.port = closed_port, .interval = 1s, .timeout = 1s},
                           [&](const lbd::Backend&, const lb::Result<lbd::AgentReport>& r) {
                             REQUIRE_FALSE(r);
                             error = r.error().message;
                             io.stop();
                           });
  refused.start();
  io.run_for(5s);
  CHECK(error.starts_with("connect: "));
  refused.stop();

  io.restart();
  FakeAgent agent(io, {"sideways\n"});
  lbd::AgentPoller bad(io.get_executor(), {backend},
                       {.port = agent.port(), .interval = 1s, .timeout = 1s},
                       [&](const lbd::Backend&, const lb::Result<lbd::AgentReport>& r) {
                         REQUIRE_FALSE(r);
                         error = r.error().message;
                         io.stop();
                       });
  bad.start();
  io.run_for(5s);
  CHECK(error == "bad reply: unknown token \"sideways\"");
  CHECK(lbd::agent_status(*backend) == lbd::AgentStatus{100, lbd::AgentState::up});
}

TEST_CASE("agent poller: after stop() no poll runs and no status is written") {
  asio::io_context io;
  FakeAgent agent(io, {"10%\n"});
  auto backend = backend_on_loopback();
  int polls = 0;
  {
    lbd::AgentPoller poller(
        io.get_executor(), {backend}, {.port = agent.port(), .interval = 5ms, .timeout = 1s},
        [&](const lbd::Backend&, const lb::Result<lbd::AgentReport>&) { ++polls; });
    poller.start();
    poller.stop();
  }  // destroyed while its first poll is in flight
  io.run_for(200ms);
  CHECK(polls == 0);
  CHECK(lbd::agent_status(*backend) == lbd::AgentStatus{100, lbd::AgentState::up});
}

namespace {

/// An HTTP agent: reads each request's header, remembers it, answers with successive raw
/// responses (the last one repeats) and closes; an empty response means "read and say nothing".
class FakeHttpAgent {
 public:
  FakeHttpAgent(asio::io_context& io, std::deque<std::string> responses)
      : acceptor_(io, lb::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        responses_(std::move(responses)) {
    accept();
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::vector<std::string> requests;

  /// "HTTP/1.1 <status>" with `body` and a Content-Length.
  static std::string response(int status, const std::string& body) {
    return "HTTP/1.1 " + std::to_string(status) +
           " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }

 private:
  void accept() {
    acceptor_.async_accept([this](lb::error_code ec, lb::tcp::socket socket) {
      if (ec) return;
      auto s = std::make_shared<lb::tcp::socket>(std::move(socket));
      auto in = std::make_shared<std::string>();
      auto reply = std::make_shared<std::string>(responses_.front());
      if (responses_.size() > 1) responses_.pop_front();
      asio::async_read_until(
          *s, asio::dynamic_buffer(*in), "\r\n\r\n",
          [this, s, in, reply](lb::error_code read_ec, std::size_t) {
            if (read_ec) return;
            requests.push_back(*in);
            if (reply->empty()) {
              held_.push_back(s);
              return;
            }
            asio::async_write(*s, asio::buffer(*reply), [s, reply](lb::error_code, std::size_t) {
              lb::error_code ignored;
              s->shutdown(lb::tcp::socket::shutdown_both, ignored);
            });
          });
      accept();
    });
  }

  lb::tcp::acceptor acceptor_;
  std::deque<std::string> responses_;
  std::vector<std::shared_ptr<lb::tcp::socket>> held_;
};

lbd::AgentOptions http_options(std::uint16_t port, std::chrono::nanoseconds timeout = 2s) {
  return {.port = port,
          .interval = 5ms,
          .timeout = timeout,
          .type = lbd::AgentType::http,
          .path = "/lb/agent?pool=app"};
}

}  // namespace

TEST_CASE("agent poller: an HTTP agent's 2xx body sets weight and state (first line only)") {
  asio::io_context io;
  FakeHttpAgent agent(io, {FakeHttpAgent::response(200, "25%\n"),
                           FakeHttpAgent::response(200, "drain\nignored second line 999%"),
                           FakeHttpAgent::response(202, "maint"),
                           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "3\r\nup \r\n3\r\n80%\r\n0\r\n\r\n"});
  auto backend = backend_on_loopback();
  std::vector<lbd::AgentStatus> seen;
  lbd::AgentPoller poller(io.get_executor(), {backend}, http_options(agent.port()),
                          [&](const lbd::Backend& b, const lb::Result<lbd::AgentReport>& r) {
                            REQUIRE(r);
                            seen.push_back(lbd::agent_status(b));
                            if (seen.size() == 4) io.stop();
                          });
  poller.start();
  io.run_for(5s);
  REQUIRE(seen.size() == 4);
  CHECK(seen[0] == lbd::AgentStatus{25, lbd::AgentState::up});
  CHECK(seen[1] == lbd::AgentStatus{25, lbd::AgentState::drain});
  CHECK(seen[2] == lbd::AgentStatus{25, lbd::AgentState::down});
  CHECK(seen[3] == lbd::AgentStatus{80, lbd::AgentState::up});
  REQUIRE_FALSE(agent.requests.empty());
  const auto& request = agent.requests.front();
  CHECK(request.starts_with("GET /lb/agent?pool=app HTTP/1.1\r\n"));
  CHECK(request.find("Host: 127.0.0.1:" + std::to_string(agent.port()) + "\r\n") !=
        std::string::npos);
}

TEST_CASE(
    "agent poller: an HTTP agent's error status, long body or silence keeps the last report") {
  asio::io_context io;
  FakeHttpAgent agent(
      io, {FakeHttpAgent::response(200, "40% up"), FakeHttpAgent::response(503, "down"),
           FakeHttpAgent::response(200, std::string(600, ' ') + "down"),
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n12c\r\n" + std::string(300, ' ') +
               "\r\n12c\r\n" + std::string(296, ' ') + "down\r\n0\r\n\r\n",
           FakeHttpAgent::response(200, "sideways"), ""});
  auto backend = backend_on_loopback();
  std::vector<std::string> errors;
  lbd::AgentPoller poller(io.get_executor(), {backend}, http_options(agent.port(), 100ms),
                          [&](const lbd::Backend&, const lb::Result<lbd::AgentReport>& r) {
                            if (!r) errors.push_back(r.error().message);
                            if (errors.size() == 5) io.stop();
                          });
  poller.start();
  io.run_for(5s);
  REQUIRE(errors.size() == 5);
  CHECK(errors[0] == "status 503");
  CHECK(errors[1] == "reply longer than 512 bytes");  // Content-Length
  CHECK(errors[2] == "reply longer than 512 bytes");  // chunked
  CHECK(errors[3] == "bad reply: unknown token \"sideways\"");
  CHECK(errors[4] == "timeout after 100ms");
  CHECK(lbd::agent_status(*backend) == lbd::AgentStatus{40, lbd::AgentState::up});
}

TEST_CASE("agent poller: a new poller inherits the last reports of same-named backends") {
  asio::io_context io;
  auto old_backend = backend_on_loopback();
  lbd::apply_agent_report(*old_backend, {.weight_percent = 30, .state = lbd::AgentState::drain});
  auto other = std::make_shared<const lbd::Backend>(
      "app2", lb::Endpoint{*lb::IpAddress::parse("127.0.0.1"), 10}, 1);
  lbd::apply_agent_report(*other, {.weight_percent = 70, .state = std::nullopt});
  lbd::AgentPoller previous(io.get_executor(), {old_backend, other}, {.port = 1});
  auto renamed = std::make_shared<const lbd::Backend>(
      "app3", lb::Endpoint{*lb::IpAddress::parse("127.0.0.1"), 10}, 1);
  auto fresh = backend_on_loopback();  // "app1" again, as after a reload
  lbd::AgentPoller next(io.get_executor(), {fresh, renamed}, {.port = 1});
  next.inherit(previous);
  CHECK(lbd::agent_status(*fresh) == lbd::AgentStatus{30, lbd::AgentState::drain});
  CHECK(lbd::agent_status(*renamed) == lbd::AgentStatus{100, lbd::AgentState::up});
}
