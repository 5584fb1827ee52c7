// Per-worker keep-alive pools of idle upstream (backend) connections for the L7 proxy: one LIFO
// list per backend, bounded by the pool's upstream_keepalive, aged out after server_idle. A
// connection never leaves the worker that opened it. Each idle connection is watched for
// readability, so one the backend closes (or writes to unasked) is closed at once instead of
// lingering in CLOSE-WAIT until a request happens to take it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
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
  // take() also closes, at most once a second, every connection idle for max_idle or longer in
  // any list: a reload gives servers new Backend identities, and the lists of the old ones are
  // never taken from again.

  /// Parks `conn` (its lease names the backend) for reuse; when `limit` connections to that
  /// backend are already idle, the oldest is closed. limit 0 closes `conn` at once. A parked
  /// connection is not counted in Backend::active until take() hands it out again. While parked
  /// it waits for readability on the worker's io_context: end of file or unsolicited bytes close
  /// it (TLS records without data, such as late session tickets, are consumed and it stays).
  void put(UpstreamConnection conn, Clock::time_point now, std::size_t limit);

  /// Closes every idle connection to `backend` (the server was marked down, ejected or put in
  /// maintenance: they would only be found dead or refused later, or linger in CLOSE-WAIT).
  /// Returns how many were closed.
  std::size_t drop(const Backend* backend);

  /// Idle connections held for `backend`.
  std::size_t idle(const Backend* backend) const;
  /// Idle connections held in total.
  std::size_t idle_total() const;
  /// Idle connections closed because the backend closed them or wrote to them while parked.
  std::uint64_t closed_by_backend() const { return closed_by_backend_; }
  /// Idle connections closed by drop() (their server went out of service).
  std::uint64_t closed_server_down() const { return closed_server_down_; }

 private:
  struct Idle {
    UpstreamConnection conn;
    Clock::time_point since;
    std::uint64_t id;  // names the entry to its readability wait (entries move in the vector)
  };

  void watch(const Backend* backend, std::uint64_t id, lb::tcp::socket& socket);
  void on_readable(const Backend* backend, std::uint64_t id);

  // Keyed by Backend identity: the lease inside each entry keeps its Backend alive, and a reload
  // that replaces a Backend simply lets the old entries age out.
  std::unordered_map<const Backend*, std::vector<Idle>> idle_;
  void sweep(Clock::time_point now, std::chrono::nanoseconds max_idle);

  std::uint64_t next_id_ = 0;
  Clock::time_point next_sweep_{};
  std::uint64_t closed_by_backend_ = 0;
  std::uint64_t closed_server_down_ = 0;
  // A wait that completed just before the pool was destroyed must not touch it.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

/// True when `socket` is open with nothing to read (the peer has not closed it or sent bytes).
bool upstream_is_reusable(lb::tcp::socket& socket);

}  // namespace lbd::proxy
