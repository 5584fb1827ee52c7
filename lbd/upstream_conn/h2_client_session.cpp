// H2ClientSession over libnghttp2's client session (memory send and receive, manual flow
// control of response bodies).
#include "lbd/upstream_conn/h2_client_session.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <charconv>

#include "lbd/upstream_conn/h2_output.hpp"

namespace lbd::proxy {

namespace {
// Output is gathered from nghttp2 up to this many bytes per write (a few DATA frames).
constexpr std::size_t kOutputBatch = 64 * 1024;
// Streams opened before the server's first SETTINGS said how many it takes (nghttp2's default).
constexpr std::uint32_t kStreamsBeforeSettings = 100;

nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), NGHTTP2_NV_FLAG_NONE};
}
}  // namespace

struct H2ClientSession::Stream {
  std::int32_t id = 0;
  // Response side.
  unsigned status = 0;
  bool final_seen = false;  // the final (non-1xx) response header was reported
  std::size_t header_list = 0;
  std::vector<H2Field> fields;  // the header block being received
  std::size_t unconsumed = 0;   // response body bytes handed over and not yet consumed
  // Request body waiting for the server's window.
  H2BodySource body;
  bool has_body = false;
  bool drained = false;
};

struct ClientCallbacks {
  static H2ClientSession& self(void* user) { return *static_cast<H2ClientSession*>(user); }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    if (auto* st = self(user).find(frame->hd.stream_id)) {
      st->header_list = 0;
      st->fields.clear();
    }
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                       std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                       std::uint8_t, void* user) {
    auto& s = self(user);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    auto* st = s.find(frame->hd.stream_id);
    if (!st) return 0;
    // RFC 9113 §6.5.2: the size of a field is its name, its value and 32.
    st->header_list += namelen + valuelen + 32;
    if (st->header_list > s.limits_.max_header_list) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets this stream (INTERNAL_ERROR)
    }
    const std::string_view n(reinterpret_cast<const char*>(name), namelen);
    const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":status") {
      unsigned code = 0;
      std::from_chars(v.data(), v.data() + v.size(), code);  // nghttp2 validated it
      st->status = code;
      return 0;
    }
    if (!n.empty() && n[0] == ':') return 0;
    st->fields.push_back(H2Field{std::string(n), std::string(v)});
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& s = self(user);
    const auto id = frame->hd.stream_id;
    const bool end_stream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    switch (frame->hd.type) {
      case NGHTTP2_SETTINGS:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) s.settings_received_ = true;
        break;
      case NGHTTP2_GOAWAY:
        s.goaway_received_ = true;
        break;
      case NGHTTP2_HEADERS: {
        auto* st = s.find(id);
        if (!st) break;
        if (!st->final_seen) {
          if (st->status < 200) {  // an interim response: the final one follows
            st->fields.clear();
            break;
          }
          st->final_seen = true;
          s.handler_.on_response(id, st->status, std::move(st->fields), end_stream);
          st = s.find(id);
          if (st && end_stream) s.handler_.on_end(id, {});
        } else if (end_stream) {
          s.handler_.on_end(id, std::move(st->fields));
        }
        break;
      }
      case NGHTTP2_DATA: {
        auto* st = s.find(id);
        if (st && end_stream) s.handler_.on_end(id, {});
        break;
      }
      default:
        break;
    }
    return 0;
  }

  static int on_data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t id,
                           const std::uint8_t* data, std::size_t len, void* user) {
    auto& s = self(user);
    auto* st = s.find(id);
    if (!st) {
      nghttp2_session_consume(session, id, len);  // nobody reads it: give the window back
      return 0;
    }
    st->unconsumed += len;
    s.handler_.on_data(id, std::span(data, len));
    return 0;
  }

  static int on_stream_close(nghttp2_session* session, std::int32_t id, std::uint32_t error,
                             void* user) {
    auto& s = self(user);
    auto it = s.streams_.find(id);
    if (it == s.streams_.end()) return 0;
    auto st = std::move(it->second);
    s.streams_.erase(it);
    if (st->unconsumed > 0) nghttp2_session_consume_connection(session, st->unconsumed);
    s.handler_.on_close(id, error);
    return 0;
  }

  static ssize_t read_body(nghttp2_session* session, std::int32_t id, std::uint8_t* buf,
                           std::size_t length, std::uint32_t* flags, nghttp2_data_source* source,
                           void* user) {
    auto& s = self(user);
    auto* st = static_cast<H2ClientSession::Stream*>(source->ptr);
    const auto n = st->body.read(session, id, std::span(buf, length), *flags);
    if (n > 0 && !st->drained) {
      st->drained = true;
      s.drained_.push_back(id);
    }
    return n;
  }
};

H2ClientSession::H2ClientSession(H2ClientHandler& handler, const H2ClientLimits& limits)
    : handler_(handler), limits_(limits) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &ClientCallbacks::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &ClientCallbacks::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &ClientCallbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &ClientCallbacks::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &ClientCallbacks::on_stream_close);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  // Response bodies hold window until the client took them: backpressure toward the server.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_peer_max_concurrent_streams(opt, kStreamsBeforeSettings);
  nghttp2_session_client_new2(&session_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);

  const std::array<nghttp2_settings_entry, 3> iv{{
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits.stream_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
       static_cast<std::uint32_t>(std::min<std::size_t>(limits.max_header_list, 0xffffffffu))},
  }};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv.data(), iv.size());
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<std::int32_t>(limits.connection_window));
}

H2ClientSession::~H2ClientSession() { nghttp2_session_del(session_); }

H2ClientSession::Stream* H2ClientSession::find(std::int32_t id) const {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

bool H2ClientSession::receive(std::span<const std::uint8_t> bytes) {
  if (failed_) return false;
  const auto rv = nghttp2_session_mem_recv(session_, bytes.data(), bytes.size());
  if (rv < 0) {
    failed_ = true;
    return false;
  }
  return nghttp2_session_want_read(session_) != 0;
}

std::string_view H2ClientSession::output() {
  if (!failed_ && !append_session_output(session_, out_, kOutputBatch)) failed_ = true;
  if (!drained_.empty()) {
    auto ids = std::move(drained_);
    drained_.clear();
    for (auto id : ids) {
      if (auto* st = find(id)) {
        st->drained = false;
        handler_.on_writable(id);
      }
    }
  }
  return out_;
}

bool H2ClientSession::can_open() const {
  if (going_away() || !nghttp2_session_check_request_allowed(session_)) return false;
  std::uint32_t max = settings_received_ ? nghttp2_session_get_remote_settings(
                                               session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS)
                                         : kStreamsBeforeSettings;
  max = std::min(max, limits_.max_streams);
  return streams_.size() < max;
}

std::int32_t H2ClientSession::submit_request(std::span<const H2Field> fields, bool has_body) {
  if (!can_open()) return -1;
  auto st = std::make_unique<Stream>();
  std::vector<nghttp2_nv> nv;
  nv.reserve(fields.size());
  for (const auto& f : fields) nv.push_back(make_nv(f.name, f.value));
  nghttp2_data_provider provider{};
  provider.source.ptr = st.get();
  provider.read_callback = &ClientCallbacks::read_body;
  const auto id = nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(),
                                         has_body ? &provider : nullptr, st.get());
  if (id < 0) return -1;
  st->id = id;
  st->has_body = has_body;
  streams_[id] = std::move(st);
  return id;
}

std::size_t H2ClientSession::writable(std::int32_t stream) const {
  const auto* st = find(stream);
  if (!st || !st->has_body || st->body.ended()) return 0;
  const auto pending = st->body.pending();
  return pending >= limits_.stream_output ? 0 : limits_.stream_output - pending;
}

std::size_t H2ClientSession::write_body(std::int32_t stream, std::span<const std::uint8_t> bytes) {
  const auto n = std::min(bytes.size(), writable(stream));
  if (n == 0) return 0;
  auto* st = find(stream);
  st->body.append(bytes.first(n));
  st->body.resume(session_, stream);
  return n;
}

void H2ClientSession::end_body(std::int32_t stream, std::span<const H2Field> trailers) {
  auto* st = find(stream);
  if (!st || !st->has_body || st->body.ended()) return;
  st->body.end(std::vector<H2Field>(trailers.begin(), trailers.end()));
  st->body.resume(session_, stream);
}

void H2ClientSession::consume(std::int32_t stream, std::size_t n) {
  auto* st = find(stream);
  if (!st) return;  // closed: its bytes were given back then
  n = std::min(n, st->unconsumed);
  st->unconsumed -= n;
  nghttp2_session_consume(session_, stream, n);
}

void H2ClientSession::reset(std::int32_t stream, std::uint32_t error_code) {
  if (!find(stream)) return;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream, error_code);
}

void H2ClientSession::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
}

bool H2ClientSession::done() const {
  if (!out_.empty()) return false;
  if (failed_) return true;
  return !nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_);
}

}  // namespace lbd::proxy
