// lbd::proxy::H2BodySource: the body bytes of a stream fed to nghttp2 by its data-source read
// callback. Called directly for the reads themselves, and through a real nghttp2 client session
// (frames read back from its output) for what nghttp2 makes of EOF, deferral and trailers.
#include "lbd/upstream_conn/h2_body_source.hpp"

#include <nghttp2/nghttp2.h>

#include <doctest/doctest.h>

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace {

using lbd::proxy::H2BodySource;
using lbd::proxy::H2Field;

std::span<const std::uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

struct Frame {
  std::uint8_t type = 0;
  std::uint8_t flags = 0;
  std::int32_t stream = 0;
  std::string payload;
};
constexpr std::uint8_t kData = 0;
constexpr std::uint8_t kHeaders = 1;
constexpr std::uint8_t kEndStream = 0x1;

/// A client session whose one request's body comes from `body`, and the frames it sends.
class ClientWithBody {
 public:
  explicit ClientWithBody(H2BodySource& body) : body_(body) {
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_client_new(&session_, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    const std::array<nghttp2_nv, 4> nv{{
        nv_of(":method", "POST"),
        nv_of(":scheme", "http"),
        nv_of(":authority", "a.example"),
        nv_of(":path", "/"),
    }};
    nghttp2_data_provider provider{};
    provider.source.ptr = this;
    provider.read_callback = &ClientWithBody::read;
    id_ = nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(), &provider, nullptr);
  }
  ~ClientWithBody() { nghttp2_session_del(session_); }
  ClientWithBody(const ClientWithBody&) = delete;
  ClientWithBody& operator=(const ClientWithBody&) = delete;

  std::int32_t id() const { return id_; }
  nghttp2_session* session() { return session_; }

  /// The frames of the stream sent since the last call (connection-level frames left out).
  std::vector<Frame> sent() {
    std::string out;
    for (;;) {
      const std::uint8_t* data = nullptr;
      const auto n = nghttp2_session_mem_send(session_, &data);
      REQUIRE(n >= 0);
      if (n == 0) break;
      out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    if (out.starts_with(kPreface)) out.erase(0, kPreface.size());
    std::vector<Frame> frames;
    for (std::size_t at = 0; at + 9 <= out.size();) {
      const auto u = [&](std::size_t i) { return static_cast<std::uint8_t>(out[at + i]); };
      const std::size_t len = (std::size_t{u(0)} << 16) | (std::size_t{u(1)} << 8) | u(2);
      Frame f{.type = u(3),
              .flags = u(4),
              .stream = static_cast<std::int32_t>(((u(5) & 0x7f) << 24) | (u(6) << 16) |
                                                  (u(7) << 8) | u(8)),
              .payload = out.substr(at + 9, len)};
      at += 9 + len;
      if (f.stream == id_) frames.push_back(std::move(f));
    }
    return frames;
  }

 private:
  static nghttp2_nv nv_of(std::string_view name, std::string_view value) {
    return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                      reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
                      value.size(), NGHTTP2_NV_FLAG_NONE};
  }
  static ssize_t read(nghttp2_session* session, std::int32_t id, std::uint8_t* buf,
                      std::size_t length, std::uint32_t* flags, nghttp2_data_source* source,
                      void*) {
    auto* self = static_cast<ClientWithBody*>(source->ptr);
    return self->body_.read(session, id, std::span(buf, length), *flags);
  }

  H2BodySource& body_;
  nghttp2_session* session_ = nullptr;
  std::int32_t id_ = -1;
};

}  // namespace

TEST_CASE("h2 body source: a read takes at most what nghttp2 asks for, in order") {
  H2BodySource body;
  body.append(bytes("0123456789"));
  CHECK(body.pending() == 10);
  std::array<std::uint8_t, 4> buf{};
  std::uint32_t flags = 0;
  CHECK(body.read(nullptr, 1, buf, flags) == 4);
  CHECK(std::string_view(reinterpret_cast<const char*>(buf.data()), 4) == "0123");
  CHECK(body.pending() == 6);
  CHECK(body.read(nullptr, 1, buf, flags) == 4);
  CHECK(std::string_view(reinterpret_cast<const char*>(buf.data()), 4) == "4567");
  body.append(bytes("ab"));  // bytes queued between reads follow the ones left
  CHECK(body.read(nullptr, 1, buf, flags) == 4);
  CHECK(std::string_view(reinterpret_cast<const char*>(buf.data()), 4) == "89ab");
  CHECK(flags == 0);  // not ended: no EOF
  CHECK(body.pending() == 0);
}

TEST_CASE("h2 body source: an empty queue defers the stream, an ended one signals EOF") {
  H2BodySource body;
  std::array<std::uint8_t, 8> buf{};
  std::uint32_t flags = 0;
  CHECK(body.read(nullptr, 1, buf, flags) == NGHTTP2_ERR_DEFERRED);
  CHECK(flags == 0);
  body.append(bytes("xyz"));
  body.end({});
  CHECK(body.ended());
  CHECK(body.read(nullptr, 1, buf, flags) == 3);  // the last bytes and EOF in one read
  CHECK(flags == NGHTTP2_DATA_FLAG_EOF);
  flags = 0;
  H2BodySource empty;
  empty.end({});
  CHECK(empty.read(nullptr, 1, buf, flags) == 0);
  CHECK(flags == NGHTTP2_DATA_FLAG_EOF);
}

TEST_CASE("h2 body source: an abandoned body drops its bytes and ends") {
  H2BodySource body;
  body.append(bytes("unsent"));
  body.abandon();
  CHECK(body.pending() == 0);
  CHECK(body.ended());
  std::array<std::uint8_t, 8> buf{};
  std::uint32_t flags = 0;
  CHECK(body.read(nullptr, 1, buf, flags) == 0);
  CHECK(flags == NGHTTP2_DATA_FLAG_EOF);
}

TEST_CASE("h2 body source: nghttp2 sends DATA as bytes come, waits when empty, ends the stream") {
  H2BodySource body;
  ClientWithBody client(body);
  REQUIRE(client.id() > 0);
  auto frames = client.sent();
  REQUIRE(frames.size() == 1);  // the request header; the body waits (deferred)
  CHECK(frames[0].type == kHeaders);
  CHECK((frames[0].flags & kEndStream) == 0);

  body.append(bytes("hello"));
  body.resume(client.session(), client.id());
  frames = client.sent();
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].type == kData);
  CHECK(frames[0].payload == "hello");
  CHECK((frames[0].flags & kEndStream) == 0);

  body.resume(client.session(), client.id());
  CHECK(client.sent().empty());  // resumed with nothing queued: deferred again, nothing sent

  body.append(bytes(" world"));
  body.end({});
  body.resume(client.session(), client.id());
  frames = client.sent();
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].type == kData);
  CHECK(frames[0].payload == " world");
  CHECK((frames[0].flags & kEndStream) != 0);
}

TEST_CASE("h2 body source: trailers follow the body in a HEADERS frame that ends the stream") {
  H2BodySource body;
  ClientWithBody client(body);
  body.append(bytes("payload"));
  body.end({H2Field{"grpc-status", "0"}});
  const auto frames = client.sent();
  REQUIRE(frames.size() == 3);
  CHECK(frames[0].type == kHeaders);
  CHECK(frames[1].type == kData);
  CHECK(frames[1].payload == "payload");
  CHECK((frames[1].flags & kEndStream) == 0);  // NO_END_STREAM: the trailers end it
  CHECK(frames[2].type == kHeaders);
  CHECK((frames[2].flags & kEndStream) != 0);
  CHECK_FALSE(frames[2].payload.empty());
}
