// Idle keep-alive client connections between two HTTP requests, held without a coroutine once
// they were idle for 100 ms, or at once when their worker already has many idle sessions
// (kParkAfter, kIdleSessionsKept in http_session_impl.hpp): the connection's state
// shrinks to a ParkedClient and one pending wait with a plain callback, so 10,000 idle clients
// cost about what their sockets cost (no session frames, no timer each).
// One ParkingLot per worker keeps them in FIFO queues by timeout, closes the expired ones with
// one timer, and closes them all when the worker drains.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/asio.hpp"
#include "lbd/session/conn_tracking.hpp"
#include "lbd/session/worker_context.hpp"

namespace lbd::proxy {

class ParkingLot;

/// What survives of an HTTP client connection between two requests.
struct ParkedClient {
  explicit ParkedClient(ClientConnection c) : client(std::move(c)) {}
  ParkedClient(const ParkedClient&) = delete;
  ParkedClient& operator=(const ParkedClient&) = delete;
  ~ParkedClient() { unlink(); }

  ClientConnection client;
  TrackedConnection tracked;        // the connection-table entry of this client
  std::size_t tracked_backend = 0;  // hash of the backend name it is tracked under
  std::uint32_t tracked_at_s = 0;   // steady-clock second it was last re-pointed

  /// Leaves its queue (idempotent; no-op once the lot is gone).
  void unlink();

 private:
  friend class ParkingLot;
  ParkedClient* prev_ = nullptr;
  ParkedClient* next_ = nullptr;
  void* queue_ = nullptr;  // the ParkingLot::Queue it is linked in (null: not parked)
  std::chrono::steady_clock::time_point deadline_{};
};

/// Runs when a parked client became readable (`ec` clear: bytes, or its close, wait to be read),
/// timed out or was closed by a drain (`ec` set: both just close it). Worker thread.
using ResumeParked = void (*)(WorkerContext& worker, std::unique_ptr<ParkedClient> parked,
                              lb::error_code ec);

/// Per-worker waiting room of parked clients. Single-threaded (the worker's thread).
class ParkingLot {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ParkingLot(WorkerContext& worker);
  /// Detaches the parked clients still linked (their reads are cancelled with the io_context).
  ~ParkingLot();
  ParkingLot(const ParkingLot&) = delete;
  ParkingLot& operator=(const ParkingLot&) = delete;

  /// Starts a wait for the client's socket to become readable, with a callback, and returns: the
  /// client is held only by that pending wait (no read buffer: a parked client costs its socket
  /// and this struct). `resume` runs once: when readable, at `deadline`, or when the worker
  /// drains. Clients are
  /// queued by `timeout` (their keep-alive), each queue in deadline order.
  void park(std::unique_ptr<ParkedClient> parked, Clock::time_point deadline,
            std::chrono::nanoseconds timeout, ResumeParked resume);

  /// Clients parked now.
  std::size_t size() const { return size_; }

 private:
  struct Queue {
    ParkingLot* lot;
    std::chrono::nanoseconds timeout;
    ParkedClient* head = nullptr;  // oldest, expires first
    ParkedClient* tail = nullptr;
  };
  struct WaitDone;

  Queue& queue_for(std::chrono::nanoseconds timeout);
  void link(Queue& q, ParkedClient& p);
  void publish_size();  // WorkerCounters::parked_clients, for Server::parked_clients()
  void arm();
  void on_timer();

  WorkerContext& worker_;
  lb::asio::steady_timer timer_;
  Clock::time_point timer_at_ = Clock::time_point::max();
  bool timer_waiting_ = false;
  std::vector<std::unique_ptr<Queue>> queues_;  // stable addresses: parked clients point at them
  std::size_t size_ = 0;

  friend struct ParkedClient;
};

}  // namespace lbd::proxy
