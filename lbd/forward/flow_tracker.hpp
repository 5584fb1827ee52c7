// The master's view of its forward-mode flows, between the kernel's conntrack events and the
// replication journal: which flows the peer has been told about, in which TCP state, and when.
// Events are coalesced (a burst read from the event socket is journaled once per flow, and only
// a change of TCP state, a new flow or an end is journaled); a full dump reconciles the view
// (after lost events, and periodically, so that the peer's copies are re-armed before their
// timeout runs out while the master's is refreshed by every packet). Pure; one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <unordered_map>
#include <vector>

#include "common/clock.hpp"
#include "common/net/ip_address.hpp"
#include "lbd/replication/ct_table.hpp"

namespace lbd::forward {

/// TCP conntrack states (include/uapi/linux/netfilter/nf_conntrack_tcp.h).
inline constexpr std::uint8_t kTcpStateNone = 0;
inline constexpr std::uint8_t kTcpStateSynSent = 1;

struct CtTupleHash {
  std::size_t operator()(const repl::CtTuple& t) const noexcept;
};

class FlowTracker {
 public:
  explicit FlowTracker(std::size_t journal_capacity) : journal_(journal_capacity) {}

  /// A NEW or UPDATE event (`ended` false) or a DESTROY event (`ended` true); held until flush.
  void on_event(const repl::CtEntry& entry, bool ended);
  /// Journals the held events, one record per flow at most: a flow past SYN_SENT that the peer
  /// has not been told about, a change of TCP state, or the end of a flow the peer knows. A flow
  /// that is still in SYN_SENT is not journaled: its retransmitted SYN is DNATed afresh by
  /// whichever node holds the VIP. Returns the records journaled.
  std::size_t flush(lb::SteadyTime now);
  /// Makes the view match `dump` (every marked flow, read from the kernel now): journals the
  /// flows it lacked or whose state differs, the flows the peer was last told about more than
  /// half their timeout ago (re-armed), and the end of flows that are gone. Held events are
  /// flushed first. Returns the records journaled.
  std::size_t reconcile(const std::vector<repl::CtEntry>& dump, lb::SteadyTime now);
  /// Every tracked flow with the timeout left at `now` (at least 1 s), for a full resync.
  std::vector<repl::CtEntry> snapshot(lb::SteadyTime now) const;

  /// Forgets every flow and held event without journaling anything (the node became a backup:
  /// its flows are the peer's now, and the peer must not hear that they ended).
  void clear() {
    flows_.clear();
    pending_.clear();
    per_backend_.clear();
  }

  std::size_t size() const { return flows_.size(); }
  /// Tracked flows per backend (the DNAT target, the reply tuple's source).
  const std::map<lb::Endpoint, std::uint64_t>& per_backend() const { return per_backend_; }
  const repl::Journal<repl::CtJournalRecord>& journal() const { return journal_; }

 private:
  struct Flow {
    repl::CtEntry entry;             // latest known
    lb::SteadyTime updated{};        // when `entry` was read
    lb::SteadyTime sent{};           // when the peer was last told
    std::uint32_t sent_timeout = 0;  // the timeout it was told then
  };
  void journal_update(Flow& flow, lb::SteadyTime now);
  void insert(const repl::CtEntry& entry, lb::SteadyTime now);
  void erase(std::unordered_map<repl::CtTuple, Flow, CtTupleHash>::iterator it);
  void upsert(const repl::CtEntry& entry, lb::SteadyTime now, bool refresh_due);

  std::unordered_map<repl::CtTuple, Flow, CtTupleHash> flows_;
  std::map<repl::CtTuple, std::optional<repl::CtEntry>> pending_;  // nullopt: ended
  std::map<lb::Endpoint, std::uint64_t> per_backend_;
  repl::Journal<repl::CtJournalRecord> journal_;
};

}  // namespace lbd::forward
