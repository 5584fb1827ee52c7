// The conntrack table of forward-mode flows as the replicator sees it (the kernel side lives in
// lbd/forward/): a journal of local changes to stream to the peer, a snapshot for full resyncs,
// and the sink that installs the peer's entries. The replicator calls it on its io thread, except
// journal_head, size and remote_size, which its status() reads from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "lbd/replication/wire.hpp"
#include "lbd/sticky/journal.hpp"

namespace lbd::repl {

/// One journaled change: a flow that is new or changed state (`erase` false, `entry` whole), or
/// a flow that ended (`erase` true, only `entry.original` matters).
struct CtJournalRecord {
  std::uint64_t seq = 0;
  bool erase = false;
  CtEntry entry;
};

class CtTable {
 public:
  virtual ~CtTable() = default;

  /// The last sequence number journaled (0 before the first).
  virtual std::uint64_t journal_head() const = 0;
  /// Records after `since`, at most `max` (Journal::pull semantics: `overflowed` asks for a full
  /// resync).
  virtual JournalBatch<CtJournalRecord> pull(std::uint64_t since, std::size_t max) const = 0;
  /// Every local flow, fresh (timeouts as left now), for a full resync to the peer.
  virtual std::vector<CtEntry> snapshot() = 0;
  /// Local flows tracked now.
  virtual std::uint64_t size() const = 0;

  /// The peer's entries: installed (created or updated) / erased before the call returns, so
  /// that a ResyncEnd received after them means they are committed.
  virtual void apply(const CtUpdate& update) = 0;
  virtual void apply(const CtErase& erase) = 0;
  /// The peer's full resync starts / ended.
  virtual void resync_begin() {}
  virtual void resync_end() {}
  /// The peer's entries held now.
  virtual std::uint64_t remote_size() const = 0;
};

}  // namespace lbd::repl
