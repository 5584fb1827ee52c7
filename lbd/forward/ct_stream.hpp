// The conntrack side of forward-mode replication, on the control thread: reads the kernel's
// events of the marked flows (asio waits on the netlink socket; reads are bounded per wake-up),
// keeps the FlowTracker's view and its journal (what the replicator streams to the peer),
// reconciles the view with a dump after lost events (ENOBUFS) and periodically, and installs or
// erases the peer's entries with their NAT binding (Conntrack). It is the replicator's CtTable.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/error.hpp"
#include "common/net/ip_address.hpp"
#include "lbd/forward/conntrack.hpp"
#include "lbd/forward/ct_events.hpp"
#include "lbd/forward/flow_tracker.hpp"
#include "lbd/replication/ct_table.hpp"

namespace boost::asio {
class io_context;
}

namespace spdlog {
class logger;
}

namespace lbd::forward {

/// Counters and sizes for /metrics and `lbctl show forward` (read from any thread).
struct CtStreamView {
  std::uint64_t flows = 0;         // local flows tracked (journaled to the peer)
  std::uint64_t remote_flows = 0;  // the peer's entries held in the kernel
  std::map<std::string, std::uint64_t> flows_per_backend;
  std::uint64_t events = 0;       // events read (the traffic's; ours are skipped)
  std::uint64_t overflows = 0;    // ENOBUFS: events the kernel dropped, view reconciled
  std::uint64_t reconciles = 0;   // full dumps compared with the view
  std::uint64_t journaled = 0;    // records journaled for the peer
  std::uint64_t committed = 0;    // the peer's entries the kernel took (created or updated)
  std::uint64_t failed = 0;       // the peer's entries the kernel refused
  std::uint64_t erased = 0;       // the peer's ended flows removed
  std::uint64_t ignored = 0;      // the peer's entries not applied while this node is master
  std::uint64_t resets = 0;       // entries deleted by on_server_down = "reset"
  double since_reconcile_s = -1;  // seconds since the last dump (-1: none yet)
  double since_received_s = -1;   // seconds since the peer's last entry (-1: none yet)
};

class CtStream final : public repl::CtTable {
 public:
  /// Opens the event socket (`event_buffer` bytes of socket buffer) and the conntrack handle
  /// (CAP_NET_ADMIN).
  /// Room for event bursts (many thousand new flows per second) before the kernel drops some.
  static constexpr std::size_t kEventBuffer = 8 * 1024 * 1024;
  static lb::Result<std::unique_ptr<CtStream>> open(boost::asio::io_context& io,
                                                    std::size_t event_buffer = kEventBuffer);
  ~CtStream() override;
  CtStream(const CtStream&) = delete;
  CtStream& operator=(const CtStream&) = delete;

  /// The forward VIPs (config order); flows to other destinations are ignored.
  void set_vips(std::vector<lb::Endpoint> vips);
  /// Starts reading events and the periodic refresh, and reconciles once.
  void start();
  /// This node's VRRP role (vrrpd's report; `master`/`backup`, or neither when unknown). A
  /// backup journals nothing (no traffic passes; its only events are the peer's entries it
  /// installed and their expiry); a master does not apply the peer's entries (they describe
  /// flows it now carries). Becoming master adopts the peer's entries and reconciles.
  void on_role(bool master, bool backup);
  /// Deletes the entries of the flows to `backend` through `vips` (on_server_down = "reset"):
  /// their next packet finds no NAT binding and the client gets a RST. Returns how many.
  std::size_t reset_backend(const std::vector<lb::Endpoint>& vips, const lb::Endpoint& backend);

  CtStreamView view() const;

  // repl::CtTable
  std::uint64_t journal_head() const override { return tracker_.journal().head_seq(); }
  repl::JournalBatch<repl::CtJournalRecord> pull(std::uint64_t since,
                                                 std::size_t max) const override {
    return tracker_.journal().pull(since, max);
  }
  std::vector<repl::CtEntry> snapshot() override;
  std::uint64_t size() const override { return flows_.load(std::memory_order_relaxed); }
  void apply(const repl::CtUpdate& update) override;
  void apply(const repl::CtErase& erase) override;
  void resync_begin() override;
  void resync_end() override;
  std::uint64_t remote_size() const override {
    return remote_flows_.load(std::memory_order_relaxed);
  }

 private:
  struct Io;
  CtStream(boost::asio::io_context& io, std::unique_ptr<CtEvents> events,
           std::unique_ptr<Conntrack> conntrack);
  void arm();
  void on_readable();
  void on_event(const CtEvents::Event& e);
  void reconcile(const char* why);
  void schedule_refresh();
  void publish();  // sizes and per-backend counts for view()
  void warn_limited(const std::string& message);

  std::unique_ptr<Io> io_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::unique_ptr<CtEvents> events_;
  std::unique_ptr<Conntrack> conntrack_;
  std::shared_ptr<spdlog::logger> log_;
  std::vector<lb::Endpoint> vips_;
  FlowTracker tracker_;
  // The peer's entries installed here (tuples), and those not yet seen again in its resync.
  std::unordered_set<repl::CtTuple, CtTupleHash> held_;
  std::unordered_set<repl::CtTuple, CtTupleHash> resync_stale_;
  bool in_resync_ = false;
  bool master_ = false;
  bool backup_ = false;
  bool started_ = false;
  std::chrono::steady_clock::time_point last_warning_{};

  std::atomic<std::uint64_t> flows_{0}, remote_flows_{0};
  std::atomic<std::uint64_t> events_read_{0}, overflows_{0}, reconciles_{0}, journaled_{0};
  std::atomic<std::uint64_t> committed_{0}, failed_{0}, erased_{0}, ignored_{0}, resets_{0};
  std::atomic<std::int64_t> last_reconcile_ns_{0}, last_received_ns_{0};
  mutable std::mutex view_mutex_;
  std::map<std::string, std::uint64_t> per_backend_;  // view_mutex_
};

}  // namespace lbd::forward
