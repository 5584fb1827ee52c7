// HTTP/2 to the servers of a pool with protocol = "h2": per worker, a few connections per server
// (TLS with ALPN h2 under [pool.tls], else h2c with prior knowledge), each carrying many streams
// of many clients. A stream goes to a connection of the picked server that has room (the
// server's SETTINGS_MAX_CONCURRENT_STREAMS); when every one is full, or going away after a
// GOAWAY, another connection is opened (and the streams that come meanwhile wait for it). A
// connection that fails closes its streams with an error; an idle one closes after server_idle.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "lbd/session/worker_context.hpp"
#include "lbd/upstream_conn/h2_client_session.hpp"

namespace lbd::proxy {

class H2Connection;

/// The error code a stream gets when its connection failed (not an HTTP/2 code).
inline constexpr std::uint32_t kH2ConnectionFailed = 0x100;

/// One request/response exchange over an upstream HTTP/2 connection, as the proxy sees it. The
/// connection fills the response fields and calls `wake` on every event; the proxy reads them
/// after a wake. Destroying it before the exchange ended resets the stream (CANCEL).
class H2UpstreamStream {
 public:
  H2UpstreamStream(std::shared_ptr<H2Connection> conn, std::function<void()> wake);
  ~H2UpstreamStream();
  H2UpstreamStream(const H2UpstreamStream&) = delete;
  H2UpstreamStream& operator=(const H2UpstreamStream&) = delete;

  const Backend* backend() const;

  // ---- response (read after a wake) ----
  unsigned status = 0;          // 0: no response header yet
  std::vector<H2Field> fields;  // the response header (valid once status != 0)
  std::string body;             // received body bytes not taken yet (at most the stream window)
  bool ended = false;           // the whole response (and its trailers) arrived
  std::vector<H2Field> trailers;
  bool closed = false;      // no more events will come
  std::uint32_t error = 0;  // when closed without `ended`: RST_STREAM code or kH2ConnectionFailed

  // ---- request ----
  /// Room for request body bytes now (0: wait for a wake).
  std::size_t writable() const;
  /// Queues request body bytes; returns how many were taken.
  std::size_t write_body(std::span<const std::uint8_t> bytes);
  /// Ends the request body, with trailers when not empty.
  void end_body(std::span<const H2Field> trailers);
  /// `n` bytes taken from `body` were passed on: the server may send that many more.
  void consume(std::size_t n);
  /// Resets the stream (CANCEL): the client went away or a deadline passed.
  void cancel();

 private:
  friend class H2Connection;
  friend class H2UpstreamPool;
  void notify() {
    if (wake) wake();
  }
  std::shared_ptr<H2Connection> conn_;
  std::function<void()> wake;
  std::int32_t id_ = -1;
  const Backend* counted_ = nullptr;  // in Backend::active while this stream lives
};

/// The upstream HTTP/2 connections of one worker. Single-threaded (the worker's thread).
class H2UpstreamPool {
 public:
  explicit H2UpstreamPool(WorkerContext& worker);
  ~H2UpstreamPool();
  H2UpstreamPool(const H2UpstreamPool&) = delete;
  H2UpstreamPool& operator=(const H2UpstreamPool&) = delete;

  /// Opens a stream with `fields` (pseudo-header fields first) to a server of `pool`, picked
  /// with `pc`: on a connection with room, else on a new one (connect timeout, retries and
  /// errors as connect_upstream; the server's SETTINGS must follow within `connect_timeout`).
  /// `wake` is called on every event of the stream.
  lb::awaitable<std::expected<std::unique_ptr<H2UpstreamStream>, UpstreamError>> open(
      const PoolConfig& pool, std::chrono::nanoseconds server_idle,
      std::chrono::nanoseconds connect_timeout, const ClientInfo& client, PickContext pc,
      std::span<const H2Field> fields, bool has_body, std::function<void()> wake);

  /// Connections held (connecting, open or going away) to `backend`, and in total.
  std::size_t connections(const Backend* backend) const;
  std::size_t connections() const;

  struct Lists;

 private:
  WorkerContext& worker_;
  std::shared_ptr<Lists> lists_;
};

}  // namespace lbd::proxy
