// The replicator's inside, shared by its .cpp files (and included by nothing else): one Conn per
// TCP connection, and the Impl that owns the listener, the dialling, the sessions and the table
// registry. The files split it by concern:
//   replicator.cpp          registry, start/stop, role, status, log limiting, the public facade
//   replicator_link.cpp     accepting, dialling, session events, closing, ticks
//   replicator_send.cpp     the writer: control frames, journal increments, writes
//   replicator_resync.cpp   a full resync to the peer
//   replicator_receive.cpp  the reader and applying the peer's frames to the tables
//   replicator_ct.cpp       forward mode's conntrack entries, both ways
// Every coroutine runs on the one io_context (the control thread), so the state needs no lock
// except what status() reads from other threads (mutex_).
#pragma once

#include <sys/socket.h>

#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/asio.hpp"
#include "common/format.hpp"
#include "common/log.hpp"
#include "common/net/asio_endpoint.hpp"
#include "lbd/replication/conn_table.hpp"
#include "lbd/replication/ct_table.hpp"
#include "lbd/replication/log_text.hpp"
#include "lbd/replication/peer_session.hpp"
#include "lbd/replication/replicator.hpp"
#include "lbd/replication/secure_channel.hpp"
#include "lbd/replication/table_sync.hpp"
#include "lbd/sticky/stick_table.hpp"

namespace lbd::repl {

using lb::error_code;
using lb::tcp;
using lb::use_awaitable;
using lb::asio::redirect_error;
using lb::asio::steady_timer;
namespace asio = lb::asio;
using awaitable_void = lb::awaitable<void>;
using Bytes = std::vector<std::uint8_t>;

inline constexpr std::size_t kReadBufferSize = 64 * 1024;
/// Unauthenticated incoming connections held at once, in total and from one source address. A
/// new connection beyond either bound replaces the oldest pending one (of its source first), so
/// half-open connections cannot keep the real peer out: its handshake takes one round trip.
inline constexpr std::size_t kMaxPendingSessions = 16;
inline constexpr std::size_t kMaxPendingPerSource = 4;
/// A full resync writes whenever this much is buffered (checked after each shard or batch).
inline constexpr std::size_t kResyncFlushBytes = 256 * 1024;
/// The same warning (per reason) is logged at most this often.
inline constexpr auto kLogEvery = std::chrono::seconds(10);

using lb::from_asio;
using lb::to_asio;

class Replicator::Impl : public std::enable_shared_from_this<Impl> {
 public:
  /// One TCP connection and its session.
  struct Conn {
    Conn(asio::io_context& io, tcp::socket s, PeerSessionOptions o, PeerMemory& m,
         lb::SteadyTime now)
        : socket(std::move(s)), role(o.role), session(std::move(o), m, now), wake(io), tick(io) {}
    tcp::socket socket;
    HandshakeRole role;
    PeerSession session;
    SecureChannel channel;  // frames in and out: clear for the handshake, sealed after it
    std::string remote;
    lb::IpAddress source;         // the remote address, v4-mapped IPv6 unmapped
    lb::SteadyTime opened{};      // for evicting the oldest pending handshake
    bool keys_exhausted = false;  // the channel refused to seal: the session must end
    std::vector<Frame> control;   // hello, auth, acks, heartbeats: written before data
    steady_timer wake;            // the writer sleeps on it; cancel() wakes it
    steady_timer tick;
    bool closed = false;
    bool active = false;  // the session that carries data (at most one)
    bool counted_pending = false;
    bool resync_pending = false;
    std::map<std::string, std::uint64_t, std::less<>> sent;  // per table: last seq written
    lb::SteadyTime resync_started{};
    std::uint64_t resync_entries = 0;
    // Accumulated per read, flushed into the status under the mutex.
    std::uint64_t applied = 0, stale = 0, ct_received = 0, ct_sent = 0;
  };
  using ConnPtr = std::shared_ptr<Conn>;
  using Heads = std::map<std::string, std::uint64_t, std::less<>>;

  Impl(asio::io_context& io, ReplicationConfig config, const lb::Clock& clock);

  // ---- registry and lifecycle (replicator.cpp) ---------------------------------------------
  void add_table(StickyTable& t);
  void remove_table(std::string_view name);
  void set_conn_table(ConnTable* t);
  void set_ct_table(CtTable* t);
  void clear_tables();
  StickyTable* find_table(std::string_view name) const {
    auto it = tables_.find(name);
    return it == tables_.end() ? nullptr : it->second;
  }
  lb::Result<void> start();
  void stop();
  void disconnect() {
    if (active_) close(active_, "", "disconnect requested");
  }
  void on_role(Role role);
  ReplicationStatus status() const;
  void count_error(const std::string& category, std::uint64_t n = 1) {
    std::lock_guard lock(mutex_);
    stats_.errors[category] += n;
  }
  /// Logs `message` as a warning unless one under `key` was logged within kLogEvery; says how
  /// many were held back when it next logs.
  void warn_limited(const std::string& key, const std::string& message);

  // ---- connections (replicator_link.cpp) ---------------------------------------------------
  awaitable_void accept_loop(std::shared_ptr<Impl> /*keep_alive*/, std::uint64_t gen);
  awaitable_void dial_loop(std::shared_ptr<Impl> /*keep_alive*/, std::uint64_t gen);
  awaitable_void dial(std::uint64_t gen);
  awaitable_void tick_loop(std::shared_ptr<Impl> /*keep_alive*/, ConnPtr c);
  ConnPtr start_conn(tcp::socket socket, HandshakeRole role);
  /// Makes room for a new incoming handshake from `source` by closing the oldest pending one
  /// (from the same source when it holds its share, else from any source) when a bound is hit.
  void bound_pending(const lb::IpAddress& source);
  void handle(const ConnPtr& c, SessionOutput out);
  void on_established(const ConnPtr& c, bool full_resync);
  /// Ends `c` (idempotent); a non-empty `category` counts it as an error of that name.
  void close(ConnPtr c, const std::string& category, const std::string& reason);
  /// The node whose dialled session would lose the tie-break (it has the larger id) waits one
  /// more reconnect_interval, so that after a start or a cut the pair rarely builds two
  /// sessions (and two full resyncs) only to close one.
  lb::Duration dial_grace() const {
    const bool loses = !config_.peer_id.empty() && config_.node_id > config_.peer_id;
    return loses ? config_.reconnect_interval : lb::Duration::zero();
  }
  void schedule_dial();
  static void wake(Conn& c) { c.wake.cancel(); }
  bool preferred(const Conn& c) const {
    // The session dialled by the node with the smaller id wins: both nodes agree on it.
    return (c.role == HandshakeRole::connector) == (config_.node_id < c.session.peer_id());
  }

  // ---- writing (replicator_send.cpp, replicator_resync.cpp) --------------------------------
  awaitable_void write_loop(std::shared_ptr<Impl> /*keep_alive*/, ConnPtr c);
  /// Writes `out` and clears it; false when the session ended.
  lb::awaitable<bool> write(ConnPtr cp, Bytes& out, std::size_t& frames);
  void encode_or_count(Conn& c, const Frame& f, Bytes& out, std::size_t& frames);
  void encode_control(Conn& c, Bytes& out, std::size_t& frames);
  /// Up to batch_max records of every journal since what `c` sent; a journal that overflowed
  /// asks for a full resync instead.
  void pull_increments(Conn& c, Bytes& out, std::size_t& frames);
  void journal_overflow(Conn& c, std::string_view table);
  lb::awaitable<bool> send_resync(ConnPtr cp, Bytes& out, std::size_t& frames);
  Heads journal_heads() const;
  /// Writes what is buffered once it reaches kResyncFlushBytes; false when the session ended.
  lb::awaitable<bool> flush_resync(ConnPtr cp, Bytes& out, std::size_t& frames);
  lb::awaitable<bool> send_stick_snapshot(ConnPtr cp, Bytes& out, std::size_t& frames,
                                          std::uint64_t& entries);
  void encode_conn_snapshot(Conn& c, Bytes& out, std::size_t& frames, std::uint64_t& entries);
  void resync_sent(Conn& c, const Heads& heads, std::uint64_t entries,
                   std::chrono::steady_clock::time_point started);

  // ---- reading (replicator_receive.cpp) ----------------------------------------------------
  awaitable_void read_loop(std::shared_ptr<Impl> /*keep_alive*/, ConnPtr c);
  /// Decodes and handles every whole frame buffered in `c`; false when the session ended.
  bool drain_frames(const ConnPtr& c, std::uint64_t& frames);
  void apply_frame(Conn& c, const Frame& f);
  void on_peer(Conn& c, const Update& u);
  void on_peer(Conn& c, const Erase& e);
  void on_peer(Conn& c, const ConnAdd& a);
  void on_peer(Conn& c, const ConnRemove& r);
  void on_peer(Conn& c, const CtUpdate& u);
  void on_peer(Conn& c, const CtErase& e);
  void on_peer(Conn& c, const ResyncBegin&);
  void on_peer(Conn& c, const ResyncEnd&);
  /// Handshake and session frames: PeerSession keeps them to itself.
  template <typename Other>
  void on_peer(Conn&, const Other&) {}
  void count_remote(Conn& c, StickyTable::RemoteResult r);
  void unknown_table(std::string_view table);

  // ---- forward mode's conntrack entries (replicator_ct.cpp) --------------------------------
  /// The conntrack journal's increments; false when it overflowed (a full resync follows).
  bool pull_ct(Conn& c, Bytes& out, std::size_t& frames);
  /// Encodes `records` of the conntrack journal as CtUpdate / CtErase frames (runs of one kind,
  /// at most kMaxCtBatch entries each, the frame's seq its last record's).
  void encode_ct(Conn& c, const std::vector<CtJournalRecord>& records, Bytes& out,
                 std::size_t& frames);
  /// The resync's conntrack entries, read from the kernel now.
  lb::awaitable<bool> send_ct_snapshot(ConnPtr cp, Bytes& out, std::size_t& frames,
                                       std::uint64_t& entries);

  asio::io_context& io_;
  ReplicationConfig config_;
  const lb::Clock& clock_;
  std::shared_ptr<spdlog::logger> log_;
  const std::uint64_t incarnation_;
  PeerMemory memory_;

  std::optional<tcp::acceptor> acceptor_;
  std::optional<lb::Endpoint> bound_;
  steady_timer dial_timer_;
  std::chrono::steady_clock::time_point next_dial_{};
  lb::Duration backoff_;
  std::uint64_t generation_ = 0;
  bool running_ = false;
  ConnPtr active_;
  ConnPtr outgoing_;  // dialled and not yet established
  std::set<ConnPtr> conns_;
  std::size_t pending_incoming_ = 0;
  bool logged_in_sync_sent_ = false;
  bool logged_in_sync_received_ = false;
  Role role_ = Role::unknown;
  std::map<std::string, std::pair<std::chrono::steady_clock::time_point, std::uint64_t>> limiter_;

  // Written on the io thread under mutex_; status() reads them from any thread. The io thread
  // reads tables_ / conn_table_ without the lock (it is their only writer).
  mutable std::mutex mutex_;
  std::map<std::string, StickyTable*, std::less<>> tables_;
  ConnTable* conn_table_ = nullptr;
  CtTable* ct_table_ = nullptr;
  ReplicationStatus stats_;
  Heads acked_mirror_;
  Heads sent_mirror_;
};

}  // namespace lbd::repl
