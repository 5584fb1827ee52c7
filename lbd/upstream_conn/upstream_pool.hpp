// Per-worker keep-alive pools of idle upstream (backend) connections for the L7 proxy: one LIFO
// list per backend, bounded by the pool's upstream_keepalive, aged out after server_idle. A
// connection never leaves the worker that opened it.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <unordered_map>
#include <vector>

#include "lbd/session/worker_context.hpp"

namespace lbd::proxy {

class UpstreamTlsContext;

/// Idle backend connections of one worker. Single-threaded (the worker's thread).
class UpstreamPool {
 public:
  using Clock = std::chrono::steady_clock;

  /// The most recently parked connection to `backend` idle for less than `max_idle` that speaks
  /// TLS with `tls` (nullptr = plain; a reload may switch a pool between the two), or nullopt.
  /// With `probe`, connections found closed or with unexpected bytes pending are skipped (one
  /// recv(MSG_PEEK) each, see upstream_connection_reusable); expired or skipped connections are
  /// closed on the way.
  std::optional<UpstreamConnection> take(const Backend* backend, Clock::time_point now,
                                         std::chrono::nanoseconds max_idle, bool probe = true,
                                         const UpstreamTlsContext* tls = nullptr);

  /// Parks `conn` (its lease names the backend) for reuse; when `limit` connections to that
  /// backend are already idle, the oldest is closed. limit 0 closes `conn` at once. A parked
  /// connection is not counted in Backend::active until take() hands it out again.
  void put(UpstreamConnection conn, Clock::time_point now, std::size_t limit);

  /// Idle connections held for `backend`.
  std::size_t idle(const Backend* backend) const;
  /// Idle connections held in total.
  std::size_t idle_total() const;

 private:
  struct Idle {
    UpstreamConnection conn;
    Clock::time_point since;
  };
  // Keyed by Backend identity: the lease inside each entry keeps its Backend alive, and a reload
  // that replaces a Backend simply lets the old entries age out.
  std::unordered_map<const Backend*, std::vector<Idle>> idle_;
};

/// True when `socket` is open with nothing to read (the peer has not closed it or sent bytes).
bool upstream_is_reusable(lb::tcp::socket& socket);

}  // namespace lbd::proxy
