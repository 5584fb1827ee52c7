// Replicator: forward mode's conntrack entries (the CtTable that lbd/forward/ provides). Out:
// the journal's increments as runs of CtUpdate / CtErase, and the kernel's flows in a full
// resync. In: the peer's entries, handed to the table, which installs them before returning.
#include "lbd/replication/replicator_impl.hpp"

namespace lbd::repl {

bool Replicator::Impl::pull_ct(Conn& c, Bytes& out, std::size_t& frames) {
  auto& cursor = c.sent.try_emplace(std::string(kCtTableName), 0).first->second;
  auto batch = ct_table_->pull(cursor, config_.batch_max);
  if (batch.overflowed) {
    journal_overflow(c, kCtTableName);
    return false;
  }
  if (!batch.records.empty()) {
    encode_ct(c, batch.records, out, frames);
    cursor = batch.records.back().seq;
  }
  return true;
}

void Replicator::Impl::encode_ct(Conn& c, const std::vector<CtJournalRecord>& records, Bytes& out,
                                 std::size_t& frames) {
  CtUpdate update;
  CtErase erase;
  auto flush = [&] {
    if (!update.entries.empty()) {
      c.ct_sent += update.entries.size();
      encode_or_count(c, update, out, frames);
      update.entries.clear();
    }
    if (!erase.originals.empty()) {
      c.ct_sent += erase.originals.size();
      encode_or_count(c, erase, out, frames);
      erase.originals.clear();
    }
  };
  for (const auto& r : records) {
    // A change of kind ends the run: the peer applies the frames in journal order.
    if (r.erase ? !update.entries.empty() : !erase.originals.empty()) flush();
    if (r.erase) {
      erase.originals.push_back(r.entry.original);
      erase.seq = r.seq;
      if (erase.originals.size() == kMaxCtBatch) flush();
    } else {
      update.entries.push_back(r.entry);
      update.seq = r.seq;
      if (update.entries.size() == kMaxCtBatch) flush();
    }
  }
  flush();
}

lb::awaitable<bool> Replicator::Impl::send_ct_snapshot(ConnPtr cp, Bytes& out, std::size_t& frames,
                                                       std::uint64_t& entries) {
  if (ct_table_ == nullptr) co_return true;
  // Read from the kernel now (lbd/forward/), in frames of kMaxCtBatch entries, seq 0.
  const auto flows = ct_table_->snapshot();
  for (std::size_t at = 0; at < flows.size(); at += kMaxCtBatch) {
    CtUpdate batch;
    const auto end = std::min(flows.size(), at + kMaxCtBatch);
    batch.entries.assign(flows.begin() + static_cast<std::ptrdiff_t>(at),
                         flows.begin() + static_cast<std::ptrdiff_t>(end));
    cp->ct_sent += batch.entries.size();
    entries += batch.entries.size();
    encode_or_count(*cp, batch, out, frames);
    if (!co_await flush_resync(cp, out, frames)) co_return false;
  }
  co_return true;
}

void Replicator::Impl::on_peer(Conn& c, const CtUpdate& u) {
  c.resync_entries += u.entries.size();
  c.ct_received += u.entries.size();
  if (ct_table_ == nullptr) {
    unknown_table(kCtTableName);
  } else {
    ct_table_->apply(u);
  }
}

void Replicator::Impl::on_peer(Conn& c, const CtErase& e) {
  c.ct_received += e.originals.size();
  if (ct_table_ != nullptr) ct_table_->apply(e);
}

}  // namespace lbd::repl
