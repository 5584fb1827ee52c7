// ServerSession over libnghttp2's server session (memory send and receive, manual flow control).
#include "lbd/h2/server_session.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "lbd/upstream_conn/h2_body_source.hpp"
#include "lbd/upstream_conn/h2_output.hpp"

namespace lbd::h2 {

std::string_view to_string(Defence d) {
  switch (d) {
    case Defence::rapid_reset:
      return "rapid_reset";
    case Defence::continuation_flood:
      return "continuation_flood";
    case Defence::settings_flood:
      return "settings_flood";
    case Defence::ping_flood:
      return "ping_flood";
    case Defence::empty_frame_flood:
      return "empty_frame_flood";
    case Defence::header_list_too_large:
      return "header_list_too_large";
    case Defence::too_many_streams:
      return "too_many_streams";
    case Defence::window_stall:
      return "window_stall";
    case Defence::stream_ids_exhausted:
      return "stream_ids_exhausted";
    case Defence::output_flood:
      return "output_flood";
    case Defence::protocol_error:
      return "protocol_error";
  }
  return "unknown";
}

namespace {
// Output is gathered from nghttp2 up to this many bytes per write (a few DATA frames).
constexpr std::size_t kOutputBatch = 64 * 1024;

// RFC 9113 §8.2.2: connection-specific fields must not appear in HTTP/2.
bool connection_specific(std::string_view name) {
  return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
         name == "transfer-encoding" || name == "upgrade";
}

nghttp2_nv make_nv(std::string_view name, std::string_view value) {
  return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), NGHTTP2_NV_FLAG_NONE};
}
}  // namespace

struct ServerSession::Stream {
  std::int32_t id = 0;
  Request request;
  std::size_t header_list = 0;  // decoded bytes of the current header block
  bool too_large = false;
  bool delivered = false;      // on_request was called: the handler knows the stream
  std::size_t unconsumed = 0;  // request body bytes handed over and not yet consumed
  // Response body waiting for the client's window.
  proxy::H2BodySource body;
  bool responded = false;
  bool has_body = false;
  bool drained = false;  // listed in drained_
  std::vector<Header> request_trailers;
  Clock::time_point progress{};  // last time its output moved (or became non-empty)
  std::size_t pending() const { return body.pending(); }
};

// nghttp2's C callbacks, forwarding to the session.
struct Callbacks {
  static ServerSession& self(void* user) { return *static_cast<ServerSession*>(user); }

  static int on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user) {
    auto& s = self(user);
    const auto now = s.now_;
    const auto& lim = s.limits_;
    switch (hd->type) {
      case NGHTTP2_RST_STREAM:
        if (s.resets_.add(now)) {
          s.fire(Defence::rapid_reset, NGHTTP2_ENHANCE_YOUR_CALM);
          return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        break;
      case NGHTTP2_SETTINGS:
        if (!(hd->flags & NGHTTP2_FLAG_ACK) && s.settings_.add(now)) {
          s.fire(Defence::settings_flood, NGHTTP2_ENHANCE_YOUR_CALM);
          return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        break;
      case NGHTTP2_PING:
        if (!(hd->flags & NGHTTP2_FLAG_ACK) && s.pings_.add(now)) {
          s.fire(Defence::ping_flood, NGHTTP2_ENHANCE_YOUR_CALM);
          return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        break;
      case NGHTTP2_DATA:
        if (hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM) && s.empty_frames_.add(now)) {
          s.fire(Defence::empty_frame_flood, NGHTTP2_ENHANCE_YOUR_CALM);
          return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        break;
      case NGHTTP2_HEADERS:
        s.block_bytes_ = hd->length;
        s.block_frames_ = 0;
        // A new stream beyond the advertised limit: nghttp2 refuses it; count it here, where
        // it is seen before the refusal.
        if (hd->stream_id > nghttp2_session_get_last_proc_stream_id(s.session_) &&
            !nghttp2_session_get_stream_user_data(s.session_, hd->stream_id) &&
            s.streams_.size() >= lim.max_concurrent_streams) {
          s.fire(Defence::too_many_streams, std::nullopt);
        }
        if (s.block_bytes_ > lim.max_header_block) {
          s.fire(Defence::continuation_flood, NGHTTP2_ENHANCE_YOUR_CALM);
          return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        break;
      case NGHTTP2_CONTINUATION:
        s.block_bytes_ += hd->length;
        if (++s.block_frames_ > lim.max_continuations || s.block_bytes_ > lim.max_header_block) {
          s.fire(Defence::continuation_flood, NGHTTP2_ENHANCE_YOUR_CALM);
          return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        if (hd->length == 0 && s.empty_frames_.add(now)) {
          s.fire(Defence::empty_frame_flood, NGHTTP2_ENHANCE_YOUR_CALM);
          return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        break;
      default:
        break;
    }
    return 0;
  }

  static int on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    auto& s = self(user);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    const auto id = frame->hd.stream_id;
    auto st = std::make_unique<ServerSession::Stream>();
    st->id = id;
    nghttp2_session_set_stream_user_data(session, id, st.get());
    s.streams_[id] = std::move(st);
    if (id > s.limits_.last_stream_id && !s.going_away_) {
      // The client's ids run out soon: this stream is served, the client opens a new
      // connection for the next ones.
      nghttp2_submit_goaway(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR, nullptr, 0);
      s.going_away_ = true;
      s.handler_.on_defence(Defence::stream_ids_exhausted);
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
    if (st->header_list > s.limits_.max_header_list) st->too_large = true;
    if (st->too_large) return 0;
    const std::string_view n(reinterpret_cast<const char*>(name), namelen);
    const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
      // Request trailers (nghttp2 refuses pseudo-header fields in them).
      if (st->delivered) st->request_trailers.push_back(Header{std::string(n), std::string(v)});
      return 0;
    }
    auto& r = st->request;
    if (!n.empty() && n[0] == ':') {
      // nghttp2 has validated the pseudo-header fields (RFC 9113 §8.3.1).
      if (n == ":method") {
        r.method.assign(v);
      } else if (n == ":scheme") {
        r.scheme.assign(v);
      } else if (n == ":authority") {
        r.authority.assign(v);
      } else if (n == ":path") {
        r.path.assign(v);
      }
      return 0;
    }
    r.headers.push_back(Header{std::string(n), std::string(v)});
    return 0;
  }

  static int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    auto& s = self(user);
    const auto id = frame->hd.stream_id;
    const bool end_stream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS: {
        auto* st = s.find(id);
        if (!st) break;
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
          if (st->too_large) {
            // The 431 of HTTP/1.1, on this stream only; the rest of the body is refused.
            const std::array<Header, 0> none{};
            s.handler_.on_defence(Defence::header_list_too_large);
            s.submit_response(id, 431, none, true);
            if (!end_stream) nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, 0);
            break;
          }
          st->request.end_stream = end_stream;
          st->delivered = true;
          st->header_list = 0;  // trailers are counted on their own
          s.handler_.on_request(id, std::move(st->request));
          st = s.find(id);  // the handler may have reset it
        } else if (st->too_large) {
          // Trailers over the limit are dropped whole, not cut.
          st->request_trailers.clear();
          st->too_large = false;
          s.handler_.on_defence(Defence::header_list_too_large);
        }
        if (st && st->delivered && end_stream && frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
          if (!st->request_trailers.empty()) {
            s.handler_.on_trailers(id, std::move(st->request_trailers));
            st = s.find(id);
          }
          if (st) s.handler_.on_end_stream(id);
        }
        break;
      }
      case NGHTTP2_DATA: {
        auto* st = s.find(id);
        if (st && st->delivered && end_stream) s.handler_.on_end_stream(id);
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
    if (!st || !st->delivered) {
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
    s.buffered_ -= st->pending();
    if (st->unconsumed > 0) nghttp2_session_consume_connection(session, st->unconsumed);
    if (st->delivered) s.handler_.on_close(id, error);
    return 0;
  }

  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& s = self(user);
    if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR &&
        !s.terminated_) {
      // nghttp2 ended the connection on its own (malformed frames, flow-control violation).
      s.terminated_ = s.going_away_ = true;
      s.handler_.on_defence(Defence::protocol_error);
    }
    return 0;
  }

  static ssize_t read_body(nghttp2_session* session, std::int32_t id, std::uint8_t* buf,
                           std::size_t length, std::uint32_t* flags, nghttp2_data_source* source,
                           void* user) {
    auto& s = self(user);
    auto* st = static_cast<ServerSession::Stream*>(source->ptr);
    const auto n = st->body.read(session, id, std::span(buf, length), *flags);
    if (n > 0) {
      s.buffered_ -= static_cast<std::size_t>(n);
      st->progress = s.now_;
      if (!st->drained) {
        st->drained = true;
        s.drained_.push_back(id);
      }
    }
    return n;
  }
};

ServerSession::ServerSession(StreamHandler& handler, const Limits& limits)
    : handler_(handler),
      limits_(limits),
      resets_(limits.max_resets, limits.period),
      settings_(limits.max_settings, limits.period),
      pings_(limits.max_pings, limits.period),
      empty_frames_(limits.max_empty_frames, limits.period) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, &Callbacks::on_begin_frame);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &Callbacks::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, &Callbacks::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Callbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Callbacks::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Callbacks::on_stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &Callbacks::on_frame_send);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  // Request bodies hold window until the backend took them: backpressure toward the client.
  nghttp2_option_set_no_auto_window_update(opt, 1);
  // nghttp2's own bound stays as a backstop above ours (ours names the reason).
  nghttp2_option_set_max_continuations(opt, limits.max_continuations + 1);
  nghttp2_session_server_new2(&session_, cbs, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cbs);

  const std::array<nghttp2_settings_entry, 3> iv{{
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits.stream_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
       static_cast<std::uint32_t>(std::min<std::size_t>(limits.max_header_list, 0xffffffffu))},
  }};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv.data(), iv.size());
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<std::int32_t>(limits.connection_window));
}

ServerSession::~ServerSession() { nghttp2_session_del(session_); }

ServerSession::Stream* ServerSession::find(std::int32_t id) const {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

void ServerSession::fire(Defence d, std::optional<std::uint32_t> goaway) {
  if (goaway && !terminated_) {
    nghttp2_session_terminate_session(session_, *goaway);
    terminated_ = going_away_ = true;
  }
  handler_.on_defence(d);
}

bool ServerSession::receive(std::span<const std::uint8_t> bytes, Clock::time_point now) {
  now_ = now;
  if (failed_ || terminated_) return false;
  const auto rv = nghttp2_session_mem_recv(session_, bytes.data(), bytes.size());
  if (rv < 0) {
    failed_ = true;
    switch (rv) {
      case NGHTTP2_ERR_CALLBACK_FAILURE:
        break;  // a defence fired and submitted its GOAWAY
      case NGHTTP2_ERR_TOO_MANY_CONTINUATIONS:
        fire(Defence::continuation_flood, NGHTTP2_ENHANCE_YOUR_CALM);
        break;
      case NGHTTP2_ERR_FLOODED:
        fire(Defence::output_flood, NGHTTP2_ENHANCE_YOUR_CALM);
        break;
      default:
        fire(Defence::protocol_error, NGHTTP2_PROTOCOL_ERROR);
        break;
    }
    return false;
  }
  return !terminated_ && nghttp2_session_want_read(session_);
}

std::string_view ServerSession::output() {
  if (!proxy::append_session_output(session_, out_, kOutputBatch)) failed_ = true;
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

bool ServerSession::submit_response(std::int32_t stream, unsigned status,
                                    std::span<const Header> headers, bool end_stream) {
  auto* st = find(stream);
  if (!st || st->responded) return false;
  std::array<char, 4> code{};
  const auto code_len = static_cast<std::size_t>(
      std::snprintf(code.data(), code.size(), "%03u", std::min(status, 999u)));
  std::vector<nghttp2_nv> nv;
  nv.reserve(headers.size() + 1);
  nv.push_back(make_nv(":status", std::string_view(code.data(), code_len)));
  for (const auto& h : headers) {
    if (!connection_specific(h.name)) nv.push_back(make_nv(h.name, h.value));
  }
  nghttp2_data_provider provider{};
  provider.source.ptr = st;
  provider.read_callback = &Callbacks::read_body;
  const int rv = nghttp2_submit_response(session_, stream, nv.data(), nv.size(),
                                         end_stream ? nullptr : &provider);
  if (rv != 0) return false;
  st->responded = true;
  st->has_body = !end_stream;
  return true;
}

std::size_t ServerSession::writable(std::int32_t stream) const {
  const auto* st = find(stream);
  if (!st || !st->has_body || st->body.ended()) return 0;
  const auto pending = st->pending();
  if (pending >= limits_.stream_output || buffered_ >= limits_.connection_output) return 0;
  return std::min(limits_.stream_output - pending, limits_.connection_output - buffered_);
}

std::size_t ServerSession::write_body(std::int32_t stream, std::span<const std::uint8_t> bytes) {
  const auto n = std::min(bytes.size(), writable(stream));
  if (n == 0) return 0;
  auto* st = find(stream);
  if (st->pending() == 0) st->progress = now_;
  st->body.append(bytes.first(n));
  buffered_ += n;
  st->body.resume(session_, stream);
  return n;
}

void ServerSession::end_body(std::int32_t stream, std::span<const Header> trailers) {
  auto* st = find(stream);
  if (!st || !st->has_body || st->body.ended()) return;
  std::vector<Header> kept;
  for (const auto& h : trailers) {
    if (!connection_specific(h.name)) kept.push_back(h);
  }
  st->body.end(std::move(kept));
  st->body.resume(session_, stream);
}

void ServerSession::reset(std::int32_t stream, std::uint32_t error_code) {
  if (!find(stream)) return;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream, error_code);
}

void ServerSession::consume(std::int32_t stream, std::size_t n) {
  auto* st = find(stream);
  if (!st) return;  // closed: its bytes were given back then
  n = std::min(n, st->unconsumed);
  st->unconsumed -= n;
  nghttp2_session_consume(session_, stream, n);
}

void ServerSession::shutdown() {
  if (going_away_) return;
  going_away_ = true;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
}

void ServerSession::check_stalls(Clock::time_point now) {
  now_ = now;
  std::vector<std::int32_t> stalled;
  for (const auto& [id, st] : streams_) {
    if (st->pending() > 0 && now - st->progress >= limits_.stall_timeout) stalled.push_back(id);
  }
  for (auto id : stalled) {
    auto* st = find(id);
    buffered_ -= st->pending();
    st->body.abandon();
    handler_.on_defence(Defence::window_stall);
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  }
}

bool ServerSession::done() const {
  if (!out_.empty()) return false;
  if (failed_) return !nghttp2_session_want_write(session_);
  return !nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_);
}

}  // namespace lbd::h2
