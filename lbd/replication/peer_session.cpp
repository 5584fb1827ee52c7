// PeerSession: handshake order, resume decision, acks and liveness of one replication connection.
#include "lbd/replication/peer_session.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <type_traits>

#include "lbd/replication/log_text.hpp"

namespace lbd::repl {

PeerSession::PeerSession(PeerSessionOptions options, PeerMemory& memory, lb::SteadyTime now)
    : options_(std::move(options)),
      memory_(memory),
      started_(now),
      last_received_(now),
      last_sent_(now),
      own_hello_{kProtocolVersion, options_.node_id, options_.incarnation, options_.nonce,
                 memory_.held_incarnation} {}

std::string_view fault_name(SessionFault fault) {
  switch (fault) {
    case SessionFault::protocol:
      return "protocol";
    case SessionFault::auth:
      return "auth";
    case SessionFault::handshake_timeout:
      return "handshake_timeout";
    case SessionFault::dead_peer:
      return "dead_peer";
  }
  return "protocol";
}

SessionOutput PeerSession::fail(SessionFault fault, std::string reason) {
  phase_ = Phase::closed;
  SessionOutput out;
  out.close = SessionClose{fault, std::move(reason)};
  return out;
}

SessionOutput PeerSession::start(lb::SteadyTime now) {
  SessionOutput out;
  // The acceptor speaks only when spoken to: its Hello answers the connector's.
  if (options_.role == HandshakeRole::connector) {
    out.send.push_back(own_hello_);
    last_sent_ = now;
  }
  return out;
}

TranscriptHash PeerSession::transcript() const {
  return options_.role == HandshakeRole::connector ? transcript_hash(own_hello_, peer_hello_)
                                                   : transcript_hash(peer_hello_, own_hello_);
}

TrafficKeys PeerSession::keys() const {
  const bool connector = options_.role == HandshakeRole::connector;
  return derive_traffic_keys(options_.secret, options_.role, transcript(),
                             connector ? own_hello_.nonce : peer_hello_.nonce,
                             connector ? peer_hello_.nonce : own_hello_.nonce);
}

void PeerSession::note_received(const std::string& table, std::uint64_t seq) {
  if (seq == 0) return;  // resync frames are not acked one by one
  auto& s = to_ack_[table];
  s = std::max(s, seq);
}

std::vector<Frame> PeerSession::take_acks() {
  std::vector<Frame> acks;
  for (auto& [table, seq] : to_ack_) acks.push_back(Ack{table, seq});
  to_ack_.clear();
  return acks;
}

SessionOutput PeerSession::on_frame(const Frame& frame, lb::SteadyTime now) {
  if (phase_ == Phase::closed) return fail(SessionFault::protocol, "session already closed");
  last_received_ = now;
  if (const auto* hello = std::get_if<Hello>(&frame)) return on_hello(*hello);
  if (const auto* auth = std::get_if<Auth>(&frame)) return on_auth(*auth);
  if (phase_ != Phase::established) {
    return fail(SessionFault::protocol, "data frame before authentication");
  }
  return on_data(frame);
}

SessionOutput PeerSession::on_hello(const Hello& hello) {
  if (got_hello_) return fail(SessionFault::protocol, "second hello");
  got_hello_ = true;
  if (hello.version != kProtocolVersion) {
    return fail(SessionFault::protocol, fmt::format("peer speaks protocol version {}, we speak {}",
                                                    hello.version, kProtocolVersion));
  }
  if (hello.node_id == options_.node_id) {
    return fail(SessionFault::protocol, "peer uses our own node id");
  }
  if (!options_.expected_peer_id.empty() && hello.node_id != options_.expected_peer_id) {
    return fail(SessionFault::protocol,
                fmt::format("unexpected peer node id \"{}\"", escape_for_log(hello.node_id)));
  }
  peer_hello_ = hello;
  peer_id_ = hello.node_id;
  peer_incarnation_ = hello.incarnation;
  // Whether the peer holds our current incarnation's data; it counts only once the peer's
  // Auth (which covers this field) checks out.
  resume_ok_ = hello.resume_incarnation != 0 && hello.resume_incarnation == options_.incarnation;
  SessionOutput out;
  if (options_.role == HandshakeRole::acceptor) {
    // No proof yet: the connector proves first (handshake.hpp).
    out.send.push_back(own_hello_);
  } else {
    out.send.push_back(Auth{handshake_mac(options_.secret, options_.role, transcript())});
    out.keys = keys();
  }
  phase_ = Phase::awaiting_auth;
  return out;
}

SessionOutput PeerSession::on_auth(const Auth& auth) {
  if (phase_ != Phase::awaiting_auth) {
    return fail(SessionFault::protocol, "auth before hello, or twice");
  }
  const HandshakeRole peer_role = options_.role == HandshakeRole::connector
                                      ? HandshakeRole::acceptor
                                      : HandshakeRole::connector;
  if (!verify_handshake_mac(options_.secret, peer_role, transcript(), auth.mac)) {
    return fail(SessionFault::auth, fmt::format("peer \"{}\" failed authentication (wrong secret?)",
                                                escape_for_log(peer_id_)));
  }
  SessionOutput out;
  if (options_.role == HandshakeRole::acceptor) {
    out.send.push_back(Auth{handshake_mac(options_.secret, options_.role, transcript())});
    out.keys = keys();
  }
  phase_ = Phase::established;
  out.established = true;
  out.full_resync = !resume_ok_;
  // A peer that lacks our data must get everything; what it acked before no longer counts.
  if (out.full_resync) memory_.acked.clear();
  return out;
}

SessionOutput PeerSession::on_data(const Frame& frame) {
  SessionOutput out;
  std::visit(
      [&](const auto& f) {
        using T = std::decay_t<decltype(f)>;
        if constexpr (std::is_same_v<T, Ack>) {
          auto& acked = memory_.acked[f.table];
          acked = std::max(acked, f.seq);
        } else if constexpr (std::is_same_v<T, Heartbeat>) {
          // Liveness only: last_received_ is already updated.
        } else if constexpr (std::is_same_v<T, ResyncBegin>) {
          if (receiving_resync_) {
            out = fail(SessionFault::protocol, "resync_begin inside a resync");
            return;
          }
          receiving_resync_ = true;
          out.deliver.push_back(f);
        } else if constexpr (std::is_same_v<T, ResyncEnd>) {
          if (!receiving_resync_) {
            out = fail(SessionFault::protocol, "resync_end without resync_begin");
            return;
          }
          receiving_resync_ = false;
          // Only now do we hold all of this incarnation's data: a later reconnect may resume.
          memory_.held_incarnation = peer_incarnation_;
          out.deliver.push_back(f);
        } else if constexpr (std::is_same_v<T, Update> || std::is_same_v<T, Erase>) {
          note_received(f.table, f.seq);
          out.deliver.push_back(f);
        } else if constexpr (std::is_same_v<T, ConnAdd> || std::is_same_v<T, ConnRemove>) {
          note_received(std::string(kConnTableName), f.seq);
          out.deliver.push_back(f);
        } else if constexpr (std::is_same_v<T, CtUpdate> || std::is_same_v<T, CtErase>) {
          note_received(std::string(kCtTableName), f.seq);
          out.deliver.push_back(f);
        } else {
          // Hello/Auth are handled by on_frame; kept for safety.
          out = fail(SessionFault::protocol, "unexpected frame");
        }
      },
      frame);
  return out;
}

SessionOutput PeerSession::on_tick(lb::SteadyTime now) {
  if (phase_ == Phase::closed) return fail(SessionFault::protocol, "session already closed");
  if (phase_ != Phase::established) {
    if (now - started_ >= options_.handshake_timeout) {
      return fail(SessionFault::handshake_timeout, "handshake timed out");
    }
    return {};
  }
  if (now - last_received_ >= options_.dead_after) {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now - last_received_).count();
    return fail(SessionFault::dead_peer,
                fmt::format("peer \"{}\" silent for {} ms", escape_for_log(peer_id_), ms));
  }
  SessionOutput out;
  out.send = take_acks();
  if (!out.send.empty() || now - last_sent_ >= options_.heartbeat_interval) {
    if (out.send.empty()) out.send.push_back(Heartbeat{});
    last_sent_ = now;
  }
  return out;
}

}  // namespace lbd::repl
