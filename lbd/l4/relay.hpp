// Byte relay between two connected TCP sockets until both directions are done: splice(2) through
// a pipe (zero copy) driven by readiness waits, or a read/write copy as the fallback. Used by L4
// sessions and by HTTP Upgrade (after 101). Half-closes are propagated with shutdown(SHUT_WR).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "common/asio.hpp"

namespace lbd::proxy {

/// A pipe for splice(2): [0] read end, [1] write end; both non-blocking, close-on-exec.
struct Pipe {
  int fds[2] = {-1, -1};
};

/// Per-worker free lists of pipes and copy buffers, so an idle connection holds neither: a
/// direction takes one only while bytes are in flight. Single-threaded (the worker's thread).
class RelayResources {
 public:
  static constexpr std::size_t kBufferSize = 16 * 1024;

  /// `max_spare_pipes` / `max_spare_buffers`: how many idle ones to keep for reuse.
  explicit RelayResources(std::size_t max_spare_pipes = 64, std::size_t max_spare_buffers = 64);
  ~RelayResources();
  RelayResources(const RelayResources&) = delete;
  RelayResources& operator=(const RelayResources&) = delete;

  /// An empty pipe, or {-1,-1} when pipe2 fails (EMFILE...): the caller then copies instead.
  Pipe acquire_pipe();
  /// Returns an EMPTY pipe for reuse (closed when over the spare limit).
  void release_pipe(Pipe p);
  /// Closes a pipe that may still hold bytes.
  static void close_pipe(Pipe p);
  std::unique_ptr<std::uint8_t[]> acquire_buffer();
  void release_buffer(std::unique_ptr<std::uint8_t[]> b);
  std::size_t spare_pipes() const { return pipes_.size(); }

 private:
  std::size_t max_spare_pipes_;
  std::size_t max_spare_buffers_;
  std::vector<Pipe> pipes_;
  std::vector<std::unique_ptr<std::uint8_t[]>> buffers_;
};

struct RelayOptions {
  /// The relay ends (both sockets cancelled) when client→server has moved nothing for
  /// `client_idle` AND server→client nothing for `server_idle` (a finished direction counts as
  /// idle).
  std::chrono::nanoseconds client_idle = std::chrono::seconds(60);
  std::chrono::nanoseconds server_idle = std::chrono::seconds(60);
  /// splice(2) when possible; false forces the read/write copy.
  bool use_splice = true;
};

struct RelayResult {
  std::uint64_t client_to_server = 0;
  std::uint64_t server_to_client = 0;
  bool timed_out = false;
  /// The first hard error (reset, ...); empty when both directions ended with a FIN.
  lb::error_code error;
};

using RelayDone = std::move_only_function<void(const RelayResult&)>;

/// Takes both sockets over and relays in the background; returns at once, so an idle connection
/// holds no coroutine frame of its caller (L4 memory per connection). When both directions are
/// done, or on an error or the idle timeout, both sockets are closed (abortively after an error)
/// and `done` runs with the result: destroy per-connection state (tickets, leases) there.
/// Worker thread only; `resources` must outlive the relay.
void start_relay(lb::tcp::socket client, lb::tcp::socket server, RelayResources& resources,
                 const RelayOptions& options, RelayDone done);

/// Relays until both directions saw EOF and propagated it, or until an error / the idle timeout
/// (then both sockets' pending operations are cancelled and the caller should close them).
/// Both sockets must belong to the calling coroutine's executor and outlive the call. Never
/// throws for I/O errors.
lb::awaitable<RelayResult> relay(lb::tcp::socket& client, lb::tcp::socket& server,
                                 RelayResources& resources, const RelayOptions& options);

}  // namespace lbd::proxy
