#include "lbd/forward/flow_tracker.hpp"

#include <algorithm>
#include <chrono>
#include <unordered_set>

#include "lbd/forward/ct_entry.hpp"

namespace lbd::forward {

namespace {

bool worth_replicating(const repl::CtEntry& e) {
  return e.tcp_state != kTcpStateNone && e.tcp_state != kTcpStateSynSent;
}

std::uint32_t seconds_between(lb::SteadyTime from, lb::SteadyTime to) {
  if (to <= from) return 0;
  return static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(to - from).count());
}

}  // namespace

std::size_t CtTupleHash::operator()(const repl::CtTuple& t) const noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a over the tuple's bytes
  auto mix = [&](std::uint8_t b) { h = (h ^ b) * 0x100000001b3ULL; };
  for (auto b : t.src) mix(b);
  for (auto b : t.dst) mix(b);
  mix(static_cast<std::uint8_t>(t.sport >> 8));
  mix(static_cast<std::uint8_t>(t.sport));
  mix(static_cast<std::uint8_t>(t.dport >> 8));
  mix(static_cast<std::uint8_t>(t.dport));
  return static_cast<std::size_t>(h);
}

void FlowTracker::on_event(const repl::CtEntry& entry, bool ended) {
  if (ended) {
    pending_[entry.original] = std::nullopt;
  } else {
    pending_[entry.original] = entry;
  }
}

void FlowTracker::journal_update(Flow& flow, lb::SteadyTime now) {
  flow.sent = now;
  flow.sent_timeout = flow.entry.timeout_s;
  journal_.append(repl::CtJournalRecord{0, false, flow.entry});
}

void FlowTracker::insert(const repl::CtEntry& entry, lb::SteadyTime now) {
  auto [it, added] = flows_.try_emplace(entry.original, Flow{entry, now, now, 0});
  (void)added;
  ++per_backend_[source_of(entry.reply)];
  journal_update(it->second, now);
}

void FlowTracker::erase(std::unordered_map<repl::CtTuple, Flow, CtTupleHash>::iterator it) {
  const auto backend = source_of(it->second.entry.reply);
  if (auto b = per_backend_.find(backend); b != per_backend_.end() && --b->second == 0) {
    per_backend_.erase(b);
  }
  repl::CtJournalRecord r;
  r.erase = true;
  r.entry.original = it->first;
  journal_.append(r);
  flows_.erase(it);
}

void FlowTracker::upsert(const repl::CtEntry& entry, lb::SteadyTime now, bool refresh_due) {
  auto it = flows_.find(entry.original);
  if (it == flows_.end()) {
    if (worth_replicating(entry)) insert(entry, now);
    return;
  }
  Flow& f = it->second;
  const bool changed = f.entry.tcp_state != entry.tcp_state || f.entry.reply != entry.reply;
  f.entry = entry;
  f.updated = now;
  if (changed || refresh_due) journal_update(f, now);
}

std::size_t FlowTracker::flush(lb::SteadyTime now) {
  const auto before = journal_.head_seq();
  for (auto& [tuple, entry] : pending_) {
    if (entry) {
      upsert(*entry, now, false);
    } else if (auto it = flows_.find(tuple); it != flows_.end()) {
      erase(it);
    }
  }
  pending_.clear();
  return static_cast<std::size_t>(journal_.head_seq() - before);
}

std::size_t FlowTracker::reconcile(const std::vector<repl::CtEntry>& dump, lb::SteadyTime now) {
  const auto before = journal_.head_seq();
  flush(now);
  std::unordered_set<repl::CtTuple, CtTupleHash> present;
  present.reserve(dump.size());
  for (const auto& e : dump) {
    present.insert(e.original);
    bool due = false;
    if (auto it = flows_.find(e.original); it != flows_.end()) {
      // The peer's copy counts down from what it was told; the master's is re-armed by every
      // packet. Re-send once half of the told timeout has passed.
      due = seconds_between(it->second.sent, now) * 2 >= it->second.sent_timeout;
    }
    upsert(e, now, due);
  }
  for (auto it = flows_.begin(); it != flows_.end();) {
    auto next = std::next(it);
    if (!present.contains(it->first)) erase(it);
    it = next;
  }
  return static_cast<std::size_t>(journal_.head_seq() - before);
}

std::vector<repl::CtEntry> FlowTracker::snapshot(lb::SteadyTime now) const {
  std::vector<repl::CtEntry> out;
  out.reserve(flows_.size());
  for (const auto& [tuple, f] : flows_) {
    repl::CtEntry e = f.entry;
    const auto elapsed = seconds_between(f.updated, now);
    e.timeout_s = e.timeout_s > elapsed ? e.timeout_s - elapsed : 1;
    out.push_back(e);
  }
  return out;
}

}  // namespace lbd::forward
