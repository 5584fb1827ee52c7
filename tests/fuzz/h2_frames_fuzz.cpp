// libFuzzer target for the HTTP/2 frame path: the client preface, then any bytes, through
// lbd::h2::ServerSession with a handler that answers every request and reads every body. No
// input may crash it, buffer more response bytes than its bounds, or leave it unable to finish.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "lbd/h2/server_session.hpp"

namespace {

using lbd::h2::Clock;

class Answering final : public lbd::h2::StreamHandler {
 public:
  lbd::h2::ServerSession* session = nullptr;
  std::vector<std::int32_t> open;
  void on_request(std::int32_t id, lbd::h2::Request&& r) override {
    if (r.method.empty() || r.path.empty()) std::abort();  // nghttp2 validated the pseudo-headers
    const std::vector<lbd::h2::Header> h{{"content-type", "text/plain"}};
    if (id % 3 == 0) {
      session->submit_response(id, 204, h, true);
    } else {
      session->submit_response(id, 200, h, false);
      open.push_back(id);
    }
  }
  void on_data(std::int32_t id, std::span<const std::uint8_t> d) override {
    session->consume(id, d.size());
  }
  void on_end_stream(std::int32_t) override {}
  void on_writable(std::int32_t) override {}
  void on_close(std::int32_t, std::uint32_t) override {}
  void on_defence(lbd::h2::Defence) override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  lbd::h2::Limits limits;
  limits.stream_output = 4096;
  limits.connection_output = 16384;
  limits.max_header_list = 4096;
  Answering handler;
  lbd::h2::ServerSession session(handler, limits);
  handler.session = &session;
  auto now = Clock::time_point{} + std::chrono::hours(1);
  session.receive(
      std::span(reinterpret_cast<const std::uint8_t*>(kPreface.data()), kPreface.size()), now);
  // Feed in pieces of varying size, with output and body writes in between.
  std::size_t off = 0;
  static const std::uint8_t kBody[1000] = {};
  while (off < size) {
    const std::size_t n = std::min<std::size_t>(size - off, 1 + data[off] % 64);
    const bool more = session.receive(std::span(data + off, n), now);
    off += n;
    for (auto id : handler.open) session.write_body(id, std::span(kBody, sizeof kBody));
    if (session.buffered() > limits.connection_output) std::abort();
    session.output();
    session.clear_output();
    now += std::chrono::milliseconds(100);
    session.check_stalls(now);
    if (!more) break;
  }
  for (auto id : handler.open) session.end_body(id);
  for (int i = 0; i < 4; ++i) {
    session.output();
    session.clear_output();
  }
  return 0;
}
