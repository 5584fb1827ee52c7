// What a backend receives: framing headers written from the parser's decision (one
// Content-Length, the canonical Transfer-Encoding), and no underscore spelling of a header lbd
// writes. The backend records the raw bytes, not a parsed view that would hide duplicates.
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>

#include <doctest/doctest.h>

#include "tests/integration/http_config.hpp"
#include "tests/integration/http_support.hpp"

using namespace lbtest;

namespace {

/// Records each request's raw bytes (header, and the body up to its end) and answers 200.
class RawRecorder {
 public:
  TestBackend::Handler handler() {
    return [this](int fd) {
      std::string raw;
      char chunk[4096];
      auto more = [&] {
        const auto got = ::recv(fd, chunk, sizeof chunk, 0);
        if (got <= 0) return false;
        raw.append(chunk, static_cast<std::size_t>(got));
        return true;
      };
      while (raw.find("\r\n\r\n") == std::string::npos) {
        if (!more()) return;
      }
      const auto header_end = raw.find("\r\n\r\n") + 4;
      if (raw.find("Transfer-Encoding: chunked") != std::string::npos) {
        while (raw.find("0\r\n\r\n", header_end) == std::string::npos) {
          if (!more()) return;
        }
      } else if (auto cl = raw.find("Content-Length: "); cl != std::string::npos) {
        const auto n = std::stoul(raw.substr(cl + 16));
        while (raw.size() < header_end + n) {
          if (!more()) return;
        }
      }
      {
        std::lock_guard lock(mutex_);
        seen_.push_back(raw);
      }
      send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    };
  }
  std::string last() {
    std::lock_guard lock(mutex_);
    return seen_.empty() ? std::string() : seen_.back();
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> seen_;
};

std::size_t occurrences(std::string_view text, std::string_view what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string_view::npos; pos = text.find(what, pos + 1)) {
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("http: the backend gets one canonical framing header whatever the client wrote") {
  RawRecorder recorder;
  TestBackend backend(recorder.handler());
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {backend.address()}}}}.text());
  const auto ep = lbd.endpoint("web");

  auto res = round_trip(ep, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello");
  REQUIRE(res);
  CHECK(res->result_int() == 200);
  auto raw = recorder.last();
  CHECK(occurrences(raw, "Content-Length: 5\r\n") == 1);
  CHECK(occurrences(raw, "5, 5") == 0);
  CHECK(raw.ends_with("\r\n\r\nhello"));

  res = round_trip(ep,
                   "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n"
                   "hello");
  REQUIRE(res);
  CHECK(res->result_int() == 200);
  raw = recorder.last();
  CHECK(occurrences(raw, "Content-Length") + occurrences(raw, "content-length") == 1);

  res = round_trip(ep,
                   "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: CHUNKED\r\n\r\n"
                   "5\r\nhello\r\n0\r\n\r\n");
  REQUIRE(res);
  CHECK(res->result_int() == 200);
  raw = recorder.last();
  CHECK(occurrences(raw, "CHUNKED") == 0);
  CHECK(occurrences(raw, "Transfer-Encoding: chunked\r\n") == 1);
}

TEST_CASE("http: a Transfer-Encoding with chunked twice or another coding gets 400") {
  RawRecorder recorder;
  TestBackend backend(recorder.handler());
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {backend.address()}}}}.text());
  const auto ep = lbd.endpoint("web");
  for (const char* te : {"chunked, chunked", "gzip, chunked", "identity, chunked"}) {
    CAPTURE(te);
    const auto res =
        round_trip(ep, std::string("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ") + te +
                           "\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    REQUIRE(res);
    CHECK(res->result_int() == 400);
  }
  CHECK(recorder.last().empty());
}

TEST_CASE("http: underscore spellings of the forwarding headers never reach the backend") {
  RawRecorder recorder;
  TestBackend backend(recorder.handler());
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {backend.address()}}}}.text());
  const auto res = round_trip(lbd.endpoint("web"),
                              "GET / HTTP/1.1\r\nHost: h\r\nX_Forwarded_For: 6.6.6.6\r\n"
                              "X_FORWARDED_PROTO: https\r\nX_Forwarded_Host: evil\r\n"
                              "X_Unrelated: kept\r\n\r\n");
  REQUIRE(res);
  CHECK(res->result_int() == 200);
  const auto raw = recorder.last();
  CHECK(occurrences(raw, "6.6.6.6") == 0);
  CHECK(occurrences(raw, "https") == 0);
  CHECK(occurrences(raw, "evil") == 0);
  CHECK(occurrences(raw, "X_Unrelated: kept") == 1);
  CHECK(occurrences(raw, "X-Forwarded-For: 127.0.0.1\r\n") == 1);
}
