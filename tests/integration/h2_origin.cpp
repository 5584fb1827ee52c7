#include "tests/integration/h2_origin.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <map>
#include <vector>

#include "lbd/h2/server_session.hpp"

namespace lbtest {

namespace {

using Clock = std::chrono::steady_clock;
using lbd::h2::Header;

std::size_t query_number(const std::string& path, std::string_view key) {
  const auto at = path.find(std::string(key) + "=");
  if (at == std::string::npos) return 0;
  std::size_t v = 0;
  const auto* start = path.data() + at + key.size() + 1;
  std::from_chars(start, path.data() + path.size(), v);
  return v;
}

struct OriginConnection final : lbd::h2::StreamHandler {
  struct Stream {
    std::string path;
    std::string body;
    std::vector<Header> trailers;
    std::size_t big_left = 0;
    bool big = false;
    std::string out;  // response body not queued yet (then `out_trailers` end it)
    std::vector<Header> out_trailers;
    bool responding = false;
    bool cut = false;  // /cut: the body is never ended
  };

  OriginConnection(std::atomic<std::size_t>& max_open, std::atomic<std::size_t>& big_bytes,
                   std::atomic<std::size_t>& requests, std::uint32_t max_streams)
      : max_open(max_open), big_bytes(big_bytes), requests(requests) {
    lbd::h2::Limits l;
    l.max_concurrent_streams = max_streams;
    l.stall_timeout = std::chrono::seconds(60);
    session = std::make_unique<lbd::h2::ServerSession>(*this, l);
  }

  void respond(std::int32_t id, std::string_view body, std::span<const Header> trailers = {}) {
    const std::vector<Header> h{{"content-type", "text/plain"}};
    auto it = streams.find(id);
    if (it == streams.end() || !session->submit_response(id, 200, h, false)) return;
    it->second.out.assign(body);
    it->second.out_trailers.assign(trailers.begin(), trailers.end());
    it->second.responding = true;
    pump();
  }

  void on_request(std::int32_t id, lbd::h2::Request&& r) override {
    ++requests;
    auto& st = streams[id];
    st.path = r.path;
    max_open.store(std::max(max_open.load(), streams.size()));
    if (r.method == "HEAD") {  // no body (the client's nghttp2 would reset one)
      const std::vector<Header> h{{"content-length", "11"}};
      session->submit_response(id, 200, h, true);
    } else if (r.path.starts_with("/hold")) {
      holds.emplace(Clock::now() + std::chrono::milliseconds(query_number(r.path, "ms")), id);
    } else if (r.path == "/reset") {
      session->reset(id, 2 /* INTERNAL_ERROR */);
    } else if (r.path == "/goaway") {
      respond(id, "bye");
      session->shutdown();
    } else if (r.path.starts_with("/big") || r.path.starts_with("/chunks")) {
      st.big = true;
      st.big_left = query_number(r.path, "n");
      std::vector<Header> h{{"content-type", "application/octet-stream"}};
      if (r.path.starts_with("/big")) h.push_back({"content-length", std::to_string(st.big_left)});
      session->submit_response(id, 200, h, st.big_left == 0);
    } else if (r.path == "/cut") {  // a header and 1000 body bytes, then a reset
      const std::vector<Header> h{{"content-type", "text/plain"}};
      session->submit_response(id, 200, h, false);
      st.out.assign(1000, 'c');
      st.cut = true;
      st.responding = true;
      pump();
      cuts.emplace(Clock::now() + std::chrono::milliseconds(200), id);
    } else if (r.path == "/headers") {
      std::string text = "method=" + r.method + "\nauthority=" + r.authority + "\n";
      for (const auto& f : r.headers) text += f.name + ": " + f.value + "\n";
      respond(id, text);
    } else if (r.path == "/trailers") {
      const std::vector<Header> t{{"x-origin-trailer", "yes"}};
      respond(id, "t", t);
    } else if (r.path != "/echo") {
      respond(id, "h2 " + r.path);
    } else if (r.end_stream) {
      respond(id, "");
    }
  }
  void on_data(std::int32_t id, std::span<const std::uint8_t> data) override {
    auto it = streams.find(id);
    if (it != streams.end()) it->second.body.append(data.begin(), data.end());
    session->consume(id, data.size());
  }
  void on_trailers(std::int32_t id, std::vector<Header>&& t) override {
    if (auto it = streams.find(id); it != streams.end()) it->second.trailers = std::move(t);
  }
  void on_end_stream(std::int32_t id) override {
    auto it = streams.find(id);
    if (it != streams.end() && it->second.path == "/echo") {
      respond(id, it->second.body, it->second.trailers);
    }
  }
  void on_writable(std::int32_t) override {}
  void on_close(std::int32_t id, std::uint32_t) override { streams.erase(id); }
  void on_defence(lbd::h2::Defence) override {}

  /// Queues /big bytes as far as the windows allow; true when some were queued.
  bool pump() {
    static const std::string chunk(16 * 1024, 'b');
    bool moved = false;
    for (auto& [id, st] : streams) {
      if (st.responding) {
        const auto n = session->write_body(
            id, std::span(reinterpret_cast<const std::uint8_t*>(st.out.data()), st.out.size()));
        st.out.erase(0, n);
        if (st.out.empty() && !st.cut) {
          session->end_body(id, st.out_trailers);
          st.responding = false;
        }
        moved = moved || n > 0;
      }
      while (st.big && st.big_left > 0) {
        const auto n =
            session->write_body(id, std::span(reinterpret_cast<const std::uint8_t*>(chunk.data()),
                                              std::min(chunk.size(), st.big_left)));
        if (n == 0) break;
        st.big_left -= n;
        big_bytes += n;
        moved = true;
        if (st.big_left == 0) session->end_body(id);
      }
    }
    return moved;
  }

  void answer_due_holds() {
    const auto now = Clock::now();
    while (!holds.empty() && holds.begin()->first <= now) {
      const auto id = holds.begin()->second;
      holds.erase(holds.begin());
      if (streams.contains(id)) respond(id, "held");
    }
    while (!cuts.empty() && cuts.begin()->first <= now) {
      const auto id = cuts.begin()->second;
      cuts.erase(cuts.begin());
      if (streams.contains(id)) session->reset(id, 2 /* INTERNAL_ERROR */);
    }
  }

  std::atomic<std::size_t>& max_open;
  std::atomic<std::size_t>& big_bytes;
  std::atomic<std::size_t>& requests;
  std::map<std::int32_t, Stream> streams;
  std::multimap<Clock::time_point, std::int32_t> holds;
  std::multimap<Clock::time_point, std::int32_t> cuts;
  std::unique_ptr<lbd::h2::ServerSession> session;
};

}  // namespace

H2Origin::H2Origin(std::uint32_t max_streams)
    : max_streams_(max_streams),
      backend_(std::make_unique<TestBackend>([this](int fd) { serve(fd); })) {}

H2Origin::~H2Origin() { backend_.reset(); }

void H2Origin::serve(int fd) {
  OriginConnection c(max_open_, big_bytes_, requests_, max_streams_);
  std::vector<std::uint8_t> buf(16 * 1024);
  const auto give_up = Clock::now() + std::chrono::seconds(60);  // every test ends before
  while (Clock::now() < give_up) {
    c.answer_due_holds();
    do {
      for (auto out = c.session->output(); !out.empty(); out = c.session->output()) {
        if (!send_all(fd, out)) return;
        c.session->clear_output();
      }
    } while (c.pump());
    if (c.session->done()) return;
    int timeout_ms = 50;
    if (!c.holds.empty()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          c.holds.begin()->first - Clock::now());
      timeout_ms = static_cast<int>(std::clamp<long>(left.count(), 0, 50));
    }
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, timeout_ms) <= 0) continue;
    const auto n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) return;
    c.session->receive(std::span(buf.data(), static_cast<std::size_t>(n)), Clock::now());
  }
}

}  // namespace lbtest
