// Per-worker state of the L7 sessions (plain and TLS share it through the worker's extension
// slot): the idle lists a drain and the parking sweep walk, the pooled backend connections, the
// parking lot, compiled routers and the free lists of read buffers. Private to the session files.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>

#include "common/asio.hpp"
#include "lbd/http/client_parking.hpp"
#include "lbd/http/router.hpp"
#include "lbd/session/worker_context.hpp"
#include "lbd/upstream_conn/h2_upstream.hpp"
#include "lbd/upstream_conn/upstream_pool.hpp"

namespace lbd::proxy::http_detail {

namespace beast = boost::beast;
namespace asio = lb::asio;
using lb::error_code;
using lb::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::nanoseconds;

struct IdleList;

/// A client connection waiting in its session for its next request; linked into one of
/// HttpWorkerState's lists so that a drain can close every idle keep-alive connection at once,
/// and (plain TCP, between requests) so that one idle for kParkAfter can be parked.
struct IdleNode {
  explicit IdleNode(tcp::socket* s = nullptr) : socket(s) {}
  IdleNode(const IdleNode&) = delete;
  IdleNode& operator=(const IdleNode&) = delete;
  ~IdleNode() { unlink(); }
  inline void unlink();
  tcp::socket* socket;
  IdleList* list = nullptr;  // the list it is linked in (null: none)
  Clock::time_point since{};
  bool park = false;  // set by the sweep: the read was cancelled so that the session parks
  IdleNode* prev = nullptr;
  IdleNode* next = nullptr;
};

/// A circular list of IdleNodes around a sentinel, oldest first.
struct IdleList {
  IdleList() { head.prev = head.next = &head; }
  IdleList(const IdleList&) = delete;
  IdleList& operator=(const IdleList&) = delete;
  // The worker drops its state before its io_context (and so before the suspended sessions):
  // detach the nodes so that their destructors do not touch the freed sentinel.
  ~IdleList() {
    for (auto* n = head.next; n != &head;) {
      auto* next = n->next;
      n->prev = n->next = nullptr;
      n->list = nullptr;
      n = next;
    }
    head.prev = head.next = nullptr;
  }
  bool empty() const { return head.next == &head; }
  std::size_t size() const { return size_; }
  IdleNode* oldest() { return empty() ? nullptr : head.next; }
  void push(IdleNode& n) {
    n.prev = head.prev;
    n.next = &head;
    n.list = this;
    head.prev->next = &n;
    head.prev = &n;
    ++size_;
  }
  template <typename F>
  void for_each(F&& f) {
    for (auto* n = head.next; n != &head; n = n->next) f(*n);
  }
  IdleNode head;
  std::size_t size_ = 0;
};

void IdleNode::unlink() {
  if (!prev) return;
  prev->next = next;
  next->prev = prev;
  prev = next = nullptr;
  if (list) --list->size_;
  list = nullptr;
}

// A plain-TCP keep-alive client idle this long is parked (client_parking.hpp): its session's
// frames are freed. Not at once: a new session per request cost ~8-15% more CPU per small
// keep-alive request (A/B with wrk), and a busy client's gaps are far shorter. Not much later
// either: a burst of clients that then idle grows the heap to all their sessions first, and
// glibc keeps that peak (9,900 clients in ~2 s, then idle: 5.3 KB each with 1 s, 2.2-2.8 KB
// with 100 ms, 1.4 KB parking at once).
constexpr auto kParkAfter = std::chrono::milliseconds(100);
// ...unless this many plain-TCP sessions of the worker already wait for a next request: then
// the worker holds many idle clients (a burst, or a large idle population) and memory matters
// more than the CPU of a new session per request, so the next one parks at once. A few dozen
// busy keep-alive clients stay under it.
constexpr std::size_t kIdleSessionsKept = 128;
// How often the worker looks for clients to park and for a drain while clients are idle.
constexpr auto kIdleSweep = std::chrono::milliseconds(100);

/// A listener's compiled routes and the pool of each route target (null when unknown).
struct Routing {
  Routing(const ListenerConfig& listener, const Config& config)
      : router(Router::compile(listener)) {
    for (const auto& name : router.pool_names()) pools.push_back(config.find_pool(name));
  }
  Router router;
  std::vector<const PoolConfig*> pools;  // by router pool index
};

/// Per-worker state of the HTTP sessions, kept in WorkerContext::extension_slot().
struct HttpWorkerState {
  explicit HttpWorkerState(WorkerContext& w)
      : worker(w), h2_upstreams(w), parking(w), drain_poll(w.io()) {}
  HttpWorkerState(const HttpWorkerState&) = delete;
  HttpWorkerState& operator=(const HttpWorkerState&) = delete;
  WorkerContext& worker;
  UpstreamPool upstreams;
  H2UpstreamPool h2_upstreams;  // pools with protocol = "h2"
  ParkingLot parking;           // plain-TCP clients between two requests
  ConfigPtr config;             // the config the cached routers were compiled from
  std::unordered_map<const ListenerConfig*, std::shared_ptr<const Routing>> routers;
  IdleList idle;      // waiting in their session, never parked (TLS, or before a first request)
  IdleList parkable;  // plain TCP between requests, oldest first: parked after kParkAfter
  // Free lists of read buffers and header strings: a connection holds them only while a request
  // is in flight, so idle keep-alive connections cost no buffer memory. Bounded in bytes, not in
  // count: 32 buffers were fewer than 50 busy keep-alive clients take in turn, and every miss was
  // a 4 KiB malloc and free per request.
  std::vector<beast::flat_buffer> spare_buffers;
  std::vector<std::string> spare_strings;
  std::size_t spare_bytes = 0;
  static constexpr std::size_t kSpareBudget = 512 * 1024;
  static constexpr std::size_t kMaxSpareCapacity = 64 * 1024;

  /// The compiled routes of `listener` for a connection whose config snapshot is `config`:
  /// cached per worker for the worker's current config; a connection accepted under an older
  /// config compiles its own.
  std::shared_ptr<const Routing> routing_for(const ConfigPtr& config,
                                             const ListenerConfig& listener) {
    if (this->config != config && (config == worker.config() || !this->config)) {
      this->config = config;
      routers.clear();
    }
    if (this->config != config) return std::make_shared<const Routing>(listener, *config);
    auto& r = routers[&listener];
    if (!r) r = std::make_shared<const Routing>(listener, *config);
    return r;
  }

  /// Gives `b` (or `s`) spare storage when it has none.
  void take(beast::flat_buffer& b) { take_spare(b, spare_buffers); }
  void take(std::string& s) { take_spare(s, spare_strings); }
  /// Keeps `b`'s storage for another connection when it holds no data; leaves `b` without storage.
  void give(beast::flat_buffer& b) {
    if (b.size() == 0) keep_spare(b, spare_buffers);
  }
  /// Keeps `s`'s storage (its text is dropped); leaves `s` empty.
  void give(std::string& s) {
    s.clear();
    keep_spare(s, spare_strings);
  }
  asio::steady_timer drain_poll;
  bool polling = false;

  void add_idle(IdleNode& n, bool can_park) {
    n.since = Clock::now();
    n.park = false;
    (can_park ? parkable : idle).push(n);
    if (!polling) start_poll();
  }

  // The worker does not signal the drain, so one timer per worker looks for it while idle
  // connections exist (and only then), and wakes them so they close at once instead of at their
  // keep-alive timeout. The same timer parks the clients idle for kParkAfter.
  void start_poll() {
    polling = true;
    drain_poll.expires_after(kIdleSweep);
    drain_poll.async_wait([this](const error_code& ec) {
      polling = false;
      if (ec) return;
      error_code ignored;
      if (worker.draining()) {
        idle.for_each([&](IdleNode& n) { n.socket->cancel(ignored); });
        parkable.for_each([&](IdleNode& n) { n.socket->cancel(ignored); });
        return;
      }
      const auto now = Clock::now();
      while (auto* n = parkable.oldest()) {
        if (now - n->since < kParkAfter) break;
        n->unlink();
        n->park = true;
        n->socket->cancel(ignored);  // no syscall: the pending read completes as aborted
      }
      if (!idle.empty() || !parkable.empty()) start_poll();
    });
  }

 private:
  // Heap storage an item holds: a string's inline (SSO) buffer is none.
  static std::size_t storage(const beast::flat_buffer& b) { return b.capacity(); }
  static std::size_t storage(const std::string& s) { return s.capacity() > 15 ? s.capacity() : 0; }
  template <typename T>
  void take_spare(T& item, std::vector<T>& spares) {
    if (storage(item) > 0 || spares.empty()) return;
    item = std::move(spares.back());
    spares.pop_back();
    spare_bytes -= storage(item);
  }
  template <typename T>
  void keep_spare(T& item, std::vector<T>& spares) {
    const auto n = storage(item);
    if (n > 0 && n <= kMaxSpareCapacity && spare_bytes + n <= kSpareBudget) {
      spare_bytes += n;
      spares.push_back(std::move(item));
    }
    item = T{};
  }
};

inline HttpWorkerState& worker_state(WorkerContext& worker) {
  auto& slot = worker.extension_slot();
  if (!slot) slot = std::make_shared<HttpWorkerState>(worker);
  return *static_cast<HttpWorkerState*>(slot.get());
}

}  // namespace lbd::proxy::http_detail
