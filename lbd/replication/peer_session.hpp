// The protocol logic of one replication connection, without sockets or clocks: the handshake
// (order and checks; the cryptography is in handshake.hpp), the resume-or-resync decision,
// per-table acks, heartbeats and the dead-peer timeout. The replicator feeds it decoded frames and
// ticks and does what the outputs say.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "lbd/replication/handshake.hpp"
#include "lbd/replication/wire.hpp"

namespace lbd::repl {

/// What this node remembers about its peer across sessions (owned by the replicator; it lives as
/// long as the process, so a reconnect can resume instead of resyncing).
struct PeerMemory {
  /// The peer incarnation whose complete data we hold (0 = none): set when a full resync from it
  /// ends, sent in our Hello so the peer can resume instead of resyncing.
  std::uint64_t held_incarnation = 0;
  /// Per table: the last sequence number the peer acked from us in this incarnation. The
  /// replicator pulls each journal from here after a resume.
  std::map<std::string, std::uint64_t, std::less<>> acked;
};

struct PeerSessionOptions {
  std::string node_id;           // ours, 1..64 bytes
  std::string expected_peer_id;  // empty = accept any id other than ours
  std::string secret;            // shared secret (MAC and key derivation)
  HandshakeRole role = HandshakeRole::connector;
  std::uint64_t incarnation = 0;  // ours, random per process start
  Nonce nonce{};                  // fresh per session (random_nonce())
  lb::Duration handshake_timeout = std::chrono::seconds(5);
  lb::Duration heartbeat_interval = std::chrono::seconds(1);
  lb::Duration dead_after = std::chrono::seconds(5);  // silence from the peer that ends a session
};

/// Why a session ended, carried with the close so the replicator counts it under the right
/// error category without reading the log text.
enum class SessionFault : std::uint8_t {
  protocol,           // out of order, malformed, wrong version or node id
  auth,               // the peer's proof of the secret did not check out
  handshake_timeout,  // no authenticated session within handshake_timeout
  dead_peer,          // an established peer silent for dead_after
};
/// The status's error category of a fault: "protocol", "auth", "handshake_timeout", "dead_peer".
std::string_view fault_name(SessionFault fault);

struct SessionClose {
  SessionFault fault = SessionFault::protocol;
  std::string reason;  // for the log line
  bool operator==(const SessionClose&) const = default;
};

/// What the replicator must do after a call.
struct SessionOutput {
  std::vector<Frame> send;     // write these, in order
  std::vector<Frame> deliver;  // apply these peer data frames to the tables, in order
  bool established = false;    // the peer just authenticated
  bool full_resync = false;    // with `established`: send the peer a full resync (else resume)
  std::optional<SessionClose> close;  // close the connection, count and log why
  /// The session's traffic keys, with our Auth in `send`: frames after that Auth are sealed,
  /// and once `established`, the peer's frames must be sealed too (secure_channel.hpp).
  std::optional<TrafficKeys> keys;
};

/// One session. Not thread-safe: owned by the replicator's connection coroutine.
class PeerSession {
 public:
  enum class Phase { awaiting_hello, awaiting_auth, established, closed };

  PeerSession(PeerSessionOptions options, PeerMemory& memory, lb::SteadyTime now);

  /// What to send first: the connector's Hello (the acceptor waits for it and says nothing).
  SessionOutput start(lb::SteadyTime now);
  /// A decoded frame from the peer. Handshake: the acceptor answers the connector's Hello with
  /// its own, the connector then sends its Auth, and only once that checks out does the
  /// acceptor send its Auth. Data frames are delivered only once established; anything out of
  /// order closes the session. Delivered frames with seq > 0 are acked by `take_acks`.
  SessionOutput on_frame(const Frame& frame, lb::SteadyTime now);
  /// Timers: handshake timeout, heartbeat when we have sent nothing for a while, dead peer.
  SessionOutput on_tick(lb::SteadyTime now);
  /// Tell the session that a frame was written (data frames from the journals included), so
  /// heartbeats are only sent on an idle link.
  void sent(lb::SteadyTime now) { last_sent_ = now; }
  /// One Ack per table with newly delivered sequence numbers; call after applying `deliver`.
  std::vector<Frame> take_acks();

  Phase phase() const { return phase_; }
  const std::string& peer_id() const { return peer_id_; }
  std::uint64_t peer_incarnation() const { return peer_incarnation_; }
  /// True between the peer's ResyncBegin and ResyncEnd.
  bool receiving_resync() const { return receiving_resync_; }

 private:
  SessionOutput fail(SessionFault fault, std::string reason);
  SessionOutput on_hello(const Hello& hello);
  SessionOutput on_auth(const Auth& auth);
  /// Acks, heartbeats and the data frames of an established session.
  SessionOutput on_data(const Frame& frame);
  TranscriptHash transcript() const;
  TrafficKeys keys() const;
  void note_received(const std::string& table, std::uint64_t seq);

  PeerSessionOptions options_;
  PeerMemory& memory_;
  Phase phase_ = Phase::awaiting_hello;
  lb::SteadyTime started_;
  lb::SteadyTime last_received_;
  lb::SteadyTime last_sent_;
  std::string peer_id_;
  std::uint64_t peer_incarnation_ = 0;
  Hello own_hello_;
  Hello peer_hello_;
  bool got_hello_ = false;
  bool resume_ok_ = false;  // the peer's Hello says it holds our current incarnation's data
  bool receiving_resync_ = false;
  std::map<std::string, std::uint64_t, std::less<>> to_ack_;
};

}  // namespace lbd::repl
