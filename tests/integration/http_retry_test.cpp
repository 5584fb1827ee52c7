// The keep-alive race: a reused backend connection closed by the backend right after it read the
// request. lbd replays an idempotent request on a new connection, never a POST or PATCH the
// backend may have acted on.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>

#include <doctest/doctest.h>

#include "tests/integration/http_config.hpp"
#include "tests/integration/http_support.hpp"

using namespace lbtest;

namespace {

/// Answers the first request of each connection (keep-alive), then reads the next one, records
/// its method and closes without answering.
class ClosesSecondRequest {
 public:
  TestBackend::Handler handler() {
    return [this](int fd) {
      std::string buf;
      for (int i = 0; i < 2; ++i) {
        auto req = read_request(fd, buf);
        if (!req) return;
        {
          std::lock_guard lock(mutex_);
          methods_.emplace_back(req->method_string());
        }
        if (i == 1) return;
        send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      }
    };
  }
  std::size_t received(std::string_view method) {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(std::count(methods_.begin(), methods_.end(), method));
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> methods_;
};

/// Primes lbd's pool with one idle connection, then sends `method` (no body) on a new client
/// connection; returns the status the client got.
unsigned after_reused_connection_dies(const lb::Endpoint& ep, std::string_view method) {
  auto primed = round_trip(ep, get("/prime"));
  REQUIRE(primed);
  REQUIRE(primed->result_int() == 200);
  const auto res = round_trip(ep, std::string(method) + " /x HTTP/1.1\r\nHost: h\r\n\r\n");
  return res ? res->result_int() : 0;
}

}  // namespace

TEST_CASE("http: a bodiless POST or PATCH whose reused connection died is not sent again") {
  ClosesSecondRequest backend_logic;
  TestBackend backend(backend_logic.handler());
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {backend.address()}}}}.text());
  const auto ep = lbd.endpoint("web");
  CHECK(after_reused_connection_dies(ep, "POST") == 502);
  CHECK(backend_logic.received("POST") == 1);
  CHECK(after_reused_connection_dies(ep, "PATCH") == 502);
  CHECK(backend_logic.received("PATCH") == 1);
}

TEST_CASE("http: an idempotent request whose reused connection died is replayed once") {
  ClosesSecondRequest backend_logic;
  TestBackend backend(backend_logic.handler());
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {backend.address()}}}}.text());
  const auto ep = lbd.endpoint("web");
  CHECK(after_reused_connection_dies(ep, "DELETE") == 200);
  CHECK(backend_logic.received("DELETE") == 2);
  CHECK(after_reused_connection_dies(ep, "PUT") == 200);
  CHECK(backend_logic.received("PUT") == 2);
}
