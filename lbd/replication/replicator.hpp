// The replicator: lbd's end of the replication link to its peer. It listens for the peer
// (refusing any other source address) and connects to it from its own listen address,
// authenticates with PeerSession, seals every later frame (SecureChannel), sends a full resync or
// resumes from the last ack, then streams journal increments in batches, applies what the peer
// sends, and reconnects with backoff. Runs on the control thread's io_context; Asio stays in the
// .cpp.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/error.hpp"
#include "common/net/ip_address.hpp"
#include "lbd/replication/replication_config.hpp"

namespace boost::asio {
class io_context;
}

namespace lbd {
class StickyTable;
}

namespace lbd::repl {

class ConnTable;
class CtTable;

/// This node's VRRP role as vrrpd reports it (logged, exposed, and used to count the peer's
/// connections that a takeover orphans).
enum class Role : std::uint8_t { unknown, backup, master };
std::string_view role_name(Role role);

/// One replicated table as the status shows it. For the connection table (`kConnTableName`)
/// `entries` is the local count and `remote_entries` the peer's; for stick tables `entries` is
/// the table size (local and remote origin together) and `remote_entries` is 0.
struct TableStatus {
  std::string name;
  std::uint64_t journal_head = 0;  // last local update journaled
  std::uint64_t sent_seq = 0;      // last journal record written to the peer (this session)
  std::uint64_t acked_seq = 0;     // last record the peer acknowledged (this incarnation)
  std::uint64_t backlog = 0;       // journal_head - acked_seq
  std::uint64_t entries = 0;
  std::uint64_t remote_entries = 0;
};

/// A snapshot for the control socket and metrics.
struct ReplicationStatus {
  std::string node_id;
  bool running = false;
  bool connected = false;    // an authenticated session is up
  std::string peer_id;       // of the current (or last) session
  std::string peer_address;  // remote endpoint of the current session
  Role role = Role::unknown;
  bool peer_has_our_data = false;  // a full resync to the peer completed (this process's life)
  bool we_have_peer_data = false;  // a full resync from the peer completed (this process's life)
  std::uint64_t sessions = 0;      // sessions established
  std::uint64_t disconnects = 0;   // established sessions that ended
  std::uint64_t resyncs_sent = 0;
  std::uint64_t resyncs_received = 0;
  std::uint64_t overflow_resyncs = 0;  // full resyncs forced by a journal overflow
  std::uint64_t bytes_sent = 0, bytes_received = 0;
  std::uint64_t frames_sent = 0, frames_received = 0;
  std::uint64_t updates_applied = 0;  // peer updates applied to our tables
  std::uint64_t updates_stale = 0;    // peer updates that lost last-writer-wins
  /// Conntrack entries of forward-mode flows: sent to the peer (increments, erases and resync
  /// entries), and received from it (handed to the conntrack table, which counts what the kernel
  /// committed).
  std::uint64_t ct_entries_sent = 0;
  std::uint64_t ct_entries_received = 0;
  /// Peer connections held when this node last became master (they died if the peer failed).
  std::uint64_t takeover_peer_connections = 0;
  std::vector<TableStatus> tables;  // stick tables by name, then the connection table
  /// Closed sessions and dropped frames by reason: "auth", "decode", "integrity" (a sealed frame
  /// that does not open), "protocol", "dead_peer", "handshake_timeout", "io", "not_peer" (a
  /// connection from another address than the peer's), "pending_evicted" (an unauthenticated
  /// connection closed for a newer one), "key_limit", "unknown_table", "rejected", "encode".
  std::map<std::string, std::uint64_t> errors;
};

/// The replication endpoint of one lbd node.
///
/// Connections: both nodes listen and connect. One authenticated session carries both
/// directions. When two sessions authenticate at once (both nodes dialled), every node keeps the
/// one dialled by the node with the smaller id and closes the other, so both make the same
/// choice without talking; a node only dials while it has no session.
///
/// Threading: construct, start, stop, disconnect, the table registry and on_role must be called
/// on the io_context's thread (or while it does not run); `status()` is thread-safe. The tables
/// are thread-safe and written by workers concurrently. Registered tables must outlive their
/// registration (remove_table / set_conn_table(nullptr) / stop / destruction); after `stop()`
/// returns nothing touches them.
class Replicator {
 public:
  /// `clock` must be the clock the stick tables use: TTLs are sent as `expiry - clock.now()`,
  /// and the session timers (heartbeats, dead peer, handshake) read it too.
  Replicator(boost::asio::io_context& io, ReplicationConfig config,
             const lb::Clock& clock = lb::SteadyClock::instance());
  ~Replicator();
  Replicator(const Replicator&) = delete;
  Replicator& operator=(const Replicator&) = delete;

  /// Registers a stick table under its name (replaces one of the same name). A table added
  /// while connected is replicated from its journal's start (or by a full resync if it
  /// overflowed).
  void add_table(StickyTable& table);
  void remove_table(std::string_view name);
  /// The connection table, or nullptr for none.
  void set_conn_table(ConnTable* table);
  /// The conntrack table of forward-mode flows (kCtTableName), or nullptr for none.
  void set_ct_table(CtTable* table);

  /// Binds the listener (the port first bound when started again after stop(), so a peer's
  /// configured address stays right) and starts accepting and dialling. Fails when the bind
  /// fails. Idempotent while running.
  lb::Result<void> start();
  /// Closes every session and the listener and stops dialling. Start may be called again; the
  /// memory of the peer (incarnation, acks) survives, so the next session may resume.
  void stop();
  /// Drops the current session (operator command, tests); dialling resumes after the backoff.
  void disconnect();

  /// vrrpd's role report. Logged on change; on becoming master the peer's live connections are
  /// counted (a terminating proxy cannot take them over; they reconnect).
  void on_role(Role role);

  /// The bound listen address (port 0 resolved), or the configured one before start().
  lb::Endpoint listen_endpoint() const;
  /// Points dialling at another address (tests, reload). Takes effect at the next dial.
  void set_peer_endpoint(const lb::Endpoint& peer);

  ReplicationStatus status() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace lbd::repl
