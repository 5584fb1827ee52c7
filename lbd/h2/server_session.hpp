// The server side of one HTTP/2 connection over libnghttp2, without I/O: client bytes in,
// bytes to send out, stream events to a handler. It carries the connection's defences (floods,
// rapid reset, header-list and header-block bounds, bounded output, stalled windows, stream-id
// exhaustion), each of which ends in RST_STREAM or GOAWAY and is reported to the handler.
// Single-threaded: the owning connection's worker thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lbd/h2/rate_window.hpp"
#include "lbd/upstream_conn/h2_client_session.hpp"

struct nghttp2_session;

namespace lbd::h2 {

using Clock = std::chrono::steady_clock;

/// Why a defence fired (the `reason` label of lbpair_h2_protocol_errors_total).
enum class Defence : std::uint8_t {
  rapid_reset,            // too many RST_STREAM from the client per period (CVE-2023-44487)
  continuation_flood,     // header block too large or too many CONTINUATION frames (CVE-2024-27316)
  settings_flood,         // too many SETTINGS frames per period
  ping_flood,             // too many PING frames per period
  empty_frame_flood,      // too many empty DATA / CONTINUATION frames per period
  header_list_too_large,  // decoded header list beyond the limit (HPACK bomb): 431 on the stream
  too_many_streams,       // a stream beyond max_concurrent_streams: refused
  window_stall,           // output held for longer than the stall timeout by a closed window
  stream_ids_exhausted,   // the client's stream ids ran out: graceful GOAWAY
  output_flood,           // the client does not read the frames it provokes (ACK queue full)
  protocol_error,         // anything else nghttp2 rejected (bad preface, malformed frames)
};
inline constexpr std::size_t kDefenceCount = 11;
std::string_view to_string(Defence d);

struct Limits {
  std::uint32_t max_concurrent_streams = 100;
  /// Decoded header list (RFC 9113 §6.5.2: name + value + 32 per field); the listener's
  /// max_header_size.
  std::size_t max_header_list = 16 * 1024;
  /// Compressed bytes of one header block (HEADERS + CONTINUATION).
  std::size_t max_header_block = 64 * 1024;
  /// CONTINUATION frames of one header block.
  std::uint32_t max_continuations = 16;
  /// Request-body window of each stream, and of the connection (the sum the client may send
  /// before the proxy consumed it).
  std::uint32_t stream_window = 256 * 1024;
  std::uint32_t connection_window = 1024 * 1024;
  std::uint32_t max_resets = 100;        // RST_STREAM from the client per period
  std::uint32_t max_settings = 100;      // SETTINGS frames per period
  std::uint32_t max_pings = 100;         // PING frames per period
  std::uint32_t max_empty_frames = 100;  // empty DATA / CONTINUATION frames per period
  Clock::duration period = std::chrono::seconds(1);
  std::size_t stream_output = 64 * 1024;        // response bytes buffered per stream
  std::size_t connection_output = 1024 * 1024;  // response bytes buffered on the connection
  Clock::duration stall_timeout = std::chrono::seconds(30);
  /// A client stream id above this starts a graceful GOAWAY (ids end at 2^31-1).
  std::int32_t last_stream_id = 0x7fffffff - 1024;
};

/// One field; the name is lower case (HTTP/2 requires it). The upstream HTTP/2 client's type,
/// so that fields pass between the two sessions without a copy into another type.
using Header = proxy::H2Field;

/// One request header block, pseudo-header fields apart.
struct Request {
  std::string method;
  std::string scheme;
  std::string authority;
  std::string path;
  std::vector<Header> headers;  // regular fields in arrival order (cookie crumbs apart)
  bool end_stream = false;      // no body follows
};

/// Stream events. Called from inside receive() / output() / check_stalls(); a handler may call
/// the session's submit functions from them.
class StreamHandler {
 public:
  virtual ~StreamHandler() = default;
  /// A new stream's request header is complete.
  virtual void on_request(std::int32_t stream, Request&& request) = 0;
  /// Request body bytes (valid during the call). They hold flow-control window until consume().
  virtual void on_data(std::int32_t stream, std::span<const std::uint8_t> data) = 0;
  /// The request's trailer fields (pseudo-header fields apart), just before on_end_stream.
  virtual void on_trailers(std::int32_t /*stream*/, std::vector<Header>&& /*trailers*/) {}
  /// The request body is complete.
  virtual void on_end_stream(std::int32_t stream) = 0;
  /// Response bytes of `stream` were sent: it has room for more (see writable()).
  virtual void on_writable(std::int32_t stream) = 0;
  /// The stream is gone (response done, reset by either side, or the connection ends).
  virtual void on_close(std::int32_t stream, std::uint32_t error_code) = 0;
  /// A defence fired (once per event; the connection logs the first).
  virtual void on_defence(Defence d) = 0;
};

class ServerSession {
 public:
  ServerSession(StreamHandler& handler, const Limits& limits);
  ~ServerSession();
  ServerSession(const ServerSession&) = delete;
  ServerSession& operator=(const ServerSession&) = delete;

  /// Feeds bytes from the client (the connection preface first). False: the connection is
  /// failing or done reading; send what output() still has, then close.
  bool receive(std::span<const std::uint8_t> bytes, Clock::time_point now);

  /// The bytes to send next (empty: nothing now). Stable until clear_output(); then call it
  /// again. Notifies on_writable() for streams whose output moved.
  std::string_view output();
  void clear_output() { out_.clear(); }

  /// Response header of `stream`; `end_stream` for a response without body. False when the
  /// stream is gone.
  bool submit_response(std::int32_t stream, unsigned status, std::span<const Header> headers,
                       bool end_stream);
  /// Room for response body bytes on `stream` (0: wait for on_writable()).
  std::size_t writable(std::int32_t stream) const;
  /// Queues body bytes; returns how many were taken (at most writable()).
  std::size_t write_body(std::int32_t stream, std::span<const std::uint8_t> bytes);
  /// Ends the response body, with trailer fields when `trailers` is not empty.
  void end_body(std::int32_t stream, std::span<const Header> trailers = {});
  /// Resets `stream` with `error_code` (RFC 9113 §7).
  void reset(std::int32_t stream, std::uint32_t error_code);
  /// `n` request body bytes of `stream` were passed on: the client may send that many more.
  void consume(std::int32_t stream, std::size_t n);
  /// Graceful stop: GOAWAY(NO_ERROR) naming the last stream taken; open streams finish.
  void shutdown();
  /// Resets streams whose buffered output has not moved for the stall timeout.
  void check_stalls(Clock::time_point now);

  /// Nothing left to read or write: close the connection.
  bool done() const;
  /// A GOAWAY was submitted (shutdown, a defence, or a protocol error).
  bool going_away() const { return going_away_; }
  std::size_t open_streams() const { return streams_.size(); }
  /// Response bytes buffered on the connection (all streams).
  std::size_t buffered() const { return buffered_; }

 private:
  struct Stream;
  friend struct Callbacks;

  Stream* find(std::int32_t id) const;
  /// Fires a defence: reports it and, when `goaway`, ends the connection with that error code.
  void fire(Defence d, std::optional<std::uint32_t> goaway);

  StreamHandler& handler_;
  Limits limits_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<std::int32_t, std::unique_ptr<Stream>> streams_;
  std::vector<std::int32_t> drained_;  // streams whose output moved during output()
  std::string out_;
  std::size_t buffered_ = 0;
  Clock::time_point now_{};
  RateWindow resets_;
  RateWindow settings_;
  RateWindow pings_;
  RateWindow empty_frames_;
  std::size_t block_bytes_ = 0;     // compressed bytes of the header block being received
  std::uint32_t block_frames_ = 0;  // its CONTINUATION frames
  bool going_away_ = false;
  bool terminated_ = false;  // a GOAWAY with an error code was submitted
  bool failed_ = false;      // nghttp2 returned a fatal error
};

}  // namespace lbd::h2
