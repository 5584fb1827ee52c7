#include "lbd/forward/ct_stream.hpp"

#include <cstring>

#include <fmt/format.h>

#include "common/asio.hpp"
#include "common/format.hpp"
#include "common/log.hpp"
#include "lbd/forward/ct_entry.hpp"

namespace lbd::forward {

namespace {

using namespace std::chrono_literals;

/// The journal holds this many records (≈ 64 bytes each) before a slow peer needs a full resync.
constexpr std::size_t kJournalCapacity = 256 * 1024;
/// Event datagrams read per wake-up: the control thread's other work is never starved.
constexpr std::size_t kDatagramsPerWake = 64;
/// How often the view is compared with a dump (lost events, peers' timeouts to re-arm).
constexpr auto kRefreshInterval = 60s;
constexpr auto kLogEvery = 10s;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double since_s(std::int64_t ns) {
  if (ns == 0) return -1;
  return static_cast<double>(now_ns() - ns) / 1e9;
}

}  // namespace

struct CtStream::Io {
  Io(lb::asio::io_context& io, int fd) : context(io), descriptor(io, fd), refresh(io) {}
  lb::asio::io_context& context;
  lb::asio::posix::stream_descriptor descriptor;
  lb::asio::steady_timer refresh;
};

lb::Result<std::unique_ptr<CtStream>> CtStream::open(boost::asio::io_context& io,
                                                     std::size_t event_buffer) {
  auto events = CtEvents::open(event_buffer);
  if (!events) return lb::fail(events.error().message);
  auto conntrack = Conntrack::open();
  if (!conntrack) return lb::fail(conntrack.error().message);
  return std::unique_ptr<CtStream>(new CtStream(io, std::move(*events), std::move(*conntrack)));
}

CtStream::CtStream(boost::asio::io_context& io, std::unique_ptr<CtEvents> events,
                   std::unique_ptr<Conntrack> conntrack)
    : io_(std::make_unique<Io>(io, events->fd())),
      events_(std::move(events)),
      conntrack_(std::move(conntrack)),
      log_(lb::log::get("lbd.forward")),
      tracker_(kJournalCapacity) {}

CtStream::~CtStream() {
  *alive_ = false;
  lb::error_code ignored;
  io_->refresh.cancel();
  io_->descriptor.cancel(ignored);
  // The socket belongs to CtEvents (mnl_socket_close): the descriptor must not close it too.
  (void)io_->descriptor.release();
}

void CtStream::set_vips(std::vector<lb::Endpoint> vips) { vips_ = std::move(vips); }

void CtStream::start() {
  if (started_) return;
  started_ = true;
  reconcile("start");
  arm();
  schedule_refresh();
}

void CtStream::arm() {
  io_->descriptor.async_wait(lb::asio::posix::stream_descriptor::wait_read,
                             [this, alive = alive_](const lb::error_code& ec) {
                               if (!*alive || ec) return;
                               on_readable();
                             });
}

void CtStream::on_readable() {
  const auto r =
      events_->read(vips_, kDatagramsPerWake, [this](const CtEvents::Event& e) { on_event(e); });
  journaled_.fetch_add(tracker_.flush(lb::SteadyClock::instance().now()),
                       std::memory_order_relaxed);
  if (r.failed) warn_limited(fmt::format("conntrack events: read: {}", std::strerror(r.error)));
  if (r.overflow) {
    overflows_.fetch_add(1, std::memory_order_relaxed);
    warn_limited(
        "conntrack events: the kernel dropped events (socket buffer full); "
        "reconciling with a dump");
    // After the queued events: the dump then reflects everything they said and more.
    lb::asio::post(io_->context, [this, alive = alive_] {
      if (*alive) reconcile("overflow");
    });
  }
  publish();
  if (r.more) {
    lb::asio::post(io_->context, [this, alive = alive_] {
      if (*alive) on_readable();
    });
  } else {
    arm();
  }
}

void CtStream::on_event(const CtEvents::Event& e) {
  // Our own installs and erases of the peer's entries come back as events: not news.
  if (e.port_id != 0 && e.port_id == conntrack_->port_id()) return;
  events_read_.fetch_add(1, std::memory_order_relaxed);
  if (auto it = held_.find(e.entry.original); it != held_.end()) {
    if (e.ended || backup_) {
      // A held entry that expired (or any change on a backup): the peer's flow, not ours.
      if (e.ended) {
        held_.erase(it);
        remote_flows_.store(held_.size(), std::memory_order_relaxed);
      }
      return;
    }
    // Traffic through this node moved the peer's flow on: it is ours now (a takeover).
    held_.erase(it);
    remote_flows_.store(held_.size(), std::memory_order_relaxed);
  }
  if (backup_) return;
  tracker_.on_event(e.entry, e.ended);
}

void CtStream::reconcile(const char* why) {
  if (backup_) return;  // a backup carries no flows of its own: nothing to tell the peer
  auto dump = conntrack_->dump_marked(vips_);
  if (!dump) {
    warn_limited(fmt::format("conntrack: reconcile ({}): {}", why, dump.error().message));
    return;
  }
  auto& flows = *dump;
  // The peer's entries held here are not this node's flows (unless traffic adopted them).
  std::erase_if(flows, [&](const repl::CtEntry& e) { return held_.contains(e.original); });
  const auto n = tracker_.reconcile(flows, lb::SteadyClock::instance().now());
  journaled_.fetch_add(n, std::memory_order_relaxed);
  reconciles_.fetch_add(1, std::memory_order_relaxed);
  last_reconcile_ns_.store(now_ns(), std::memory_order_relaxed);
  publish();
  log_->debug("conntrack: reconciled ({}): flows={} journaled={}", why, tracker_.size(), n);
}

void CtStream::schedule_refresh() {
  io_->refresh.expires_after(kRefreshInterval);
  io_->refresh.async_wait([this, alive = alive_](const lb::error_code& ec) {
    if (!*alive || ec) return;
    reconcile("refresh");
    schedule_refresh();
  });
}

void CtStream::on_role(bool master, bool backup) {
  const bool was_master = master_;
  master_ = master;
  const bool was_backup = backup_;
  backup_ = backup;
  if (backup && !was_backup) {
    // The flows this node carried are the peer's now: forget them without telling it they
    // ended (it carries them on).
    tracker_.clear();
    publish();
  }
  if (master && !was_master && started_) {
    // The peer's flows come through here now: adopt them, so their changes and ends are
    // journaled (the peer gets them back when it returns).
    held_.clear();
    remote_flows_.store(0, std::memory_order_relaxed);
    reconcile("became master");
  }
}

std::vector<repl::CtEntry> CtStream::snapshot() {
  reconcile("resync");
  return tracker_.snapshot(lb::SteadyClock::instance().now());
}

void CtStream::apply(const repl::CtUpdate& update) {
  last_received_ns_.store(now_ns(), std::memory_order_relaxed);
  for (const auto& e : update.entries) {
    if (in_resync_) resync_stale_.erase(e.original);
    if (master_) {
      ignored_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (auto r = conntrack_->install(e); !r) {
      failed_.fetch_add(1, std::memory_order_relaxed);
      warn_limited(fmt::format("conntrack: peer entry {} -> {} not installed: {}",
                               source_of(e.original), source_of(e.reply), r.error().message));
      continue;
    }
    committed_.fetch_add(1, std::memory_order_relaxed);
    held_.insert(e.original);
  }
  remote_flows_.store(held_.size(), std::memory_order_relaxed);
}

void CtStream::apply(const repl::CtErase& erase) {
  last_received_ns_.store(now_ns(), std::memory_order_relaxed);
  for (const auto& t : erase.originals) {
    if (master_ && !held_.contains(t)) {
      ignored_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    held_.erase(t);
    if (auto r = conntrack_->remove(t); !r) {
      failed_.fetch_add(1, std::memory_order_relaxed);
      warn_limited(
          fmt::format("conntrack: peer erase {} not applied: {}", source_of(t), r.error().message));
      continue;
    }
    erased_.fetch_add(1, std::memory_order_relaxed);
  }
  remote_flows_.store(held_.size(), std::memory_order_relaxed);
}

void CtStream::resync_begin() {
  in_resync_ = true;
  resync_stale_ = held_;
}

void CtStream::resync_end() {
  in_resync_ = false;
  // What the peer no longer has ended while we were apart.
  if (!master_) {
    for (const auto& t : resync_stale_) {
      held_.erase(t);
      if (conntrack_->remove(t)) erased_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  resync_stale_.clear();
  remote_flows_.store(held_.size(), std::memory_order_relaxed);
}

std::size_t CtStream::reset_backend(const std::vector<lb::Endpoint>& vips,
                                    const lb::Endpoint& backend) {
  auto dump = conntrack_->dump_marked(vips);
  if (!dump) {
    warn_limited(fmt::format("conntrack: reset of {}: {}", backend, dump.error().message));
    return 0;
  }
  std::size_t n = 0;
  for (const auto& e : *dump) {
    if (source_of(e.reply) != backend) continue;
    if (!conntrack_->remove(e.original)) continue;
    ++n;
    // The DESTROY events of our own deletions are skipped (port id): tell the view and the
    // peer here, so the peer drops its copies too.
    tracker_.on_event(e, true);
    held_.erase(e.original);
  }
  remote_flows_.store(held_.size(), std::memory_order_relaxed);
  journaled_.fetch_add(tracker_.flush(lb::SteadyClock::instance().now()),
                       std::memory_order_relaxed);
  publish();
  resets_.fetch_add(n, std::memory_order_relaxed);
  return n;
}

void CtStream::publish() {
  flows_.store(tracker_.size(), std::memory_order_relaxed);
  std::map<std::string, std::uint64_t> per;
  for (const auto& [backend, n] : tracker_.per_backend()) per[backend.to_string()] = n;
  std::lock_guard lock(view_mutex_);
  per_backend_ = std::move(per);
}

CtStreamView CtStream::view() const {
  CtStreamView v;
  v.flows = flows_.load(std::memory_order_relaxed);
  v.remote_flows = remote_flows_.load(std::memory_order_relaxed);
  v.events = events_read_.load(std::memory_order_relaxed);
  v.overflows = overflows_.load(std::memory_order_relaxed);
  v.reconciles = reconciles_.load(std::memory_order_relaxed);
  v.journaled = journaled_.load(std::memory_order_relaxed);
  v.committed = committed_.load(std::memory_order_relaxed);
  v.failed = failed_.load(std::memory_order_relaxed);
  v.erased = erased_.load(std::memory_order_relaxed);
  v.ignored = ignored_.load(std::memory_order_relaxed);
  v.resets = resets_.load(std::memory_order_relaxed);
  v.since_reconcile_s = since_s(last_reconcile_ns_.load(std::memory_order_relaxed));
  v.since_received_s = since_s(last_received_ns_.load(std::memory_order_relaxed));
  std::lock_guard lock(view_mutex_);
  v.flows_per_backend = per_backend_;
  return v;
}

void CtStream::warn_limited(const std::string& message) {
  const auto now = std::chrono::steady_clock::now();
  if (last_warning_ != std::chrono::steady_clock::time_point{} && now - last_warning_ < kLogEvery) {
    log_->debug("{}", message);
    return;
  }
  last_warning_ = now;
  log_->warn("{}", message);
}

}  // namespace lbd::forward
