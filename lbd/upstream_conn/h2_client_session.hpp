// The client side of one HTTP/2 connection to a backend over libnghttp2, without I/O: requests
// in, bytes to send out, bytes from the server in, stream events to a handler. It bounds what
// it buffers (request body bytes per stream and per connection, the decoded response header
// list) and holds response body bytes under flow control until the caller says they were passed
// on (consume), so that a slow client makes the backend wait instead of lbd buffer.
// Single-threaded: the owning connection's worker thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lbd/upstream_conn/h2_body_source.hpp"

struct nghttp2_session;

namespace lbd::proxy {

struct H2ClientLimits {
  /// Response body bytes one stream may receive before lbd passed them on (its window).
  std::uint32_t stream_window = 256 * 1024;
  /// ... and all streams of the connection together: every stream's window (max_streams x
  /// stream_window), so that streams of slow clients, each holding its window, never stall the
  /// others' (the bound on what lbd holds is per stream).
  std::uint32_t connection_window = 256 * 256 * 1024;
  /// Decoded response header list (and trailers) of one stream; larger resets the stream.
  std::size_t max_header_list = 64 * 1024;
  /// Request body bytes buffered per stream until the server's window takes them.
  std::size_t stream_output = 64 * 1024;
  /// Streams lbd opens at most on one connection, whatever the server allows.
  std::uint32_t max_streams = 256;
};

/// Stream events. Called from inside receive() / output(); a handler may call the session's
/// functions from them, except that it must not destroy the session.
class H2ClientHandler {
 public:
  virtual ~H2ClientHandler() = default;
  /// The final response header of `stream` (1xx interim responses are not reported).
  virtual void on_response(std::int32_t stream, unsigned status, std::vector<H2Field>&& fields,
                           bool end_stream) = 0;
  /// Response body bytes (valid during the call); they hold window until consume().
  virtual void on_data(std::int32_t stream, std::span<const std::uint8_t> data) = 0;
  /// The response is complete, with its trailer fields (empty when it had none).
  virtual void on_end(std::int32_t stream, std::vector<H2Field>&& trailers) = 0;
  /// Request body bytes of `stream` went out: it has room for more (see writable()).
  virtual void on_writable(std::int32_t stream) = 0;
  /// The stream is gone; `error_code` 0 after a complete exchange, else the RST_STREAM code
  /// (REFUSED_STREAM: the server did not process it, e.g. after its GOAWAY).
  virtual void on_close(std::int32_t stream, std::uint32_t error_code) = 0;
};

class H2ClientSession {
 public:
  H2ClientSession(H2ClientHandler& handler, const H2ClientLimits& limits);
  ~H2ClientSession();
  H2ClientSession(const H2ClientSession&) = delete;
  H2ClientSession& operator=(const H2ClientSession&) = delete;

  /// Feeds bytes from the server. False: the connection failed or is done; send what output()
  /// still has, then close.
  bool receive(std::span<const std::uint8_t> bytes);

  /// The bytes to send next (the connection preface first; empty: nothing now). Stable until
  /// clear_output().
  std::string_view output();
  void clear_output() { out_.clear(); }

  /// Whether another stream may be opened now: no GOAWAY either way, fewer open streams than
  /// the server's SETTINGS_MAX_CONCURRENT_STREAMS (and limits.max_streams), not failed.
  bool can_open() const;
  /// Opens a stream: `fields` carries the pseudo-header fields first (:method, :scheme,
  /// :authority, :path). With `has_body`, body bytes follow through write_body()/end_body().
  /// Returns the stream id, or -1 when no stream can be opened.
  std::int32_t submit_request(std::span<const H2Field> fields, bool has_body);
  /// Room for request body bytes on `stream` (0: wait for on_writable()).
  std::size_t writable(std::int32_t stream) const;
  /// Queues request body bytes; returns how many were taken (at most writable()).
  std::size_t write_body(std::int32_t stream, std::span<const std::uint8_t> bytes);
  /// Ends the request body, with trailer fields when `trailers` is not empty.
  void end_body(std::int32_t stream, std::span<const H2Field> trailers = {});
  /// `n` response body bytes of `stream` were passed on: the server may send that many more.
  void consume(std::int32_t stream, std::size_t n);
  /// Resets `stream` with `error_code` (RFC 9113 §7); on_close follows.
  void reset(std::int32_t stream, std::uint32_t error_code);
  /// Ends an idle connection: GOAWAY(NO_ERROR), then done() once it went out.
  void shutdown();

  /// Nothing left to read or write: close the connection.
  bool done() const;
  /// The server sent GOAWAY, or the session failed: no new streams here.
  bool going_away() const { return goaway_received_ || failed_ || shut_down_; }
  /// nghttp2 failed the session (the server broke the protocol).
  bool failed() const { return failed_; }
  /// The server's first SETTINGS arrived: its stream limit is known.
  bool settings_received() const { return settings_received_; }
  std::size_t open_streams() const { return streams_.size(); }

 private:
  struct Stream;
  friend struct ClientCallbacks;
  Stream* find(std::int32_t id) const;

  H2ClientHandler& handler_;
  H2ClientLimits limits_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<std::int32_t, std::unique_ptr<Stream>> streams_;
  std::vector<std::int32_t> drained_;  // streams whose request body moved during output()
  std::string out_;
  bool settings_received_ = false;  // the server's first SETTINGS arrived
  bool goaway_received_ = false;
  bool shut_down_ = false;
  bool failed_ = false;
};

}  // namespace lbd::proxy
