// libFuzzer target for the client side of HTTP/2 towards a backend: any bytes from a server after
// its SETTINGS frame, through lbd::proxy::H2ClientSession with three streams open (one with a
// request body), a handler that passes every body byte on. No server may crash it, make it open
// more streams than its limit, or leave it unable to finish.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <span>
#include <vector>

#include "lbd/upstream_conn/h2_client_session.hpp"

namespace {

using lbd::proxy::H2Field;

class Passing final : public lbd::proxy::H2ClientHandler {
 public:
  lbd::proxy::H2ClientSession* session = nullptr;
  std::set<std::int32_t> open;
  void on_response(std::int32_t stream, unsigned status, std::vector<H2Field>&&, bool) override {
    if (status < 200 || status > 999) std::abort();  // 1xx are not reported, nghttp2 checks
    if (!open.contains(stream)) std::abort();
  }
  void on_data(std::int32_t stream, std::span<const std::uint8_t> data) override {
    session->consume(stream, data.size());
  }
  void on_end(std::int32_t, std::vector<H2Field>&&) override {}
  void on_writable(std::int32_t) override {}
  void on_close(std::int32_t stream, std::uint32_t) override { open.erase(stream); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The server's connection preface: an empty SETTINGS frame.
  static constexpr std::array<std::uint8_t, 9> kSettings = {0, 0, 0, 4, 0, 0, 0, 0, 0};
  lbd::proxy::H2ClientLimits limits;
  limits.stream_window = 65535;
  limits.connection_window = 4 * 65535;
  limits.max_header_list = 4096;
  limits.stream_output = 4096;
  limits.max_streams = 8;
  Passing handler;
  lbd::proxy::H2ClientSession session(handler, limits);
  handler.session = &session;
  const std::vector<H2Field> request = {
      {":method", "POST"}, {":scheme", "http"}, {":authority", "a"}, {":path", "/"}};
  for (int i = 0; i < 3; ++i) {
    const auto id = session.submit_request(request, i == 0);
    if (id > 0) handler.open.insert(id);
  }
  session.output();
  session.clear_output();
  session.receive(kSettings);
  static const std::uint8_t kBody[1000] = {};
  std::size_t off = 0;
  while (off < size && !session.done()) {
    const std::size_t n = std::min<std::size_t>(size - off, 1 + data[off] % 64);
    const bool more = session.receive(std::span(data + off, n));
    off += n;
    for (auto id : handler.open) {
      if (id != 1) continue;
      const std::size_t room = std::min(sizeof kBody, session.writable(id));
      if (session.write_body(id, std::span(kBody, room)) > room) std::abort();
    }
    if (session.open_streams() > limits.max_streams) std::abort();
    session.output();
    session.clear_output();
    if (!more) break;
    // Open another stream now and then, as a busy pool would.
    if (data[off - 1] % 7 == 0 && session.can_open()) {
      const auto id = session.submit_request(request, false);
      if (id > 0) handler.open.insert(id);
    }
  }
  if (handler.open.contains(1)) session.end_body(1);
  session.shutdown();
  for (int i = 0; i < 4; ++i) {
    session.output();
    session.clear_output();
  }
  return 0;
}
