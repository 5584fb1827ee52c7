#include "lbd/session/persistence.hpp"

namespace lbd::proxy {

const Backend* sticky_target(const PoolSnapshot* snapshot, std::string_view server) {
  if (!snapshot) return nullptr;
  const Backend* b = snapshot->find(server);
  return b && snapshot->accepts_sticky(b) ? b : nullptr;
}

StickyChoice lookup_sticky(WorkerContext& worker, std::string_view pool, std::string key) {
  StickyChoice choice;
  choice.table = worker.sticky_table(pool);
  if (!choice.table || key.empty()) return choice;
  choice.key = std::move(key);
  if (auto server = choice.table->lookup(choice.key)) {
    choice.had_entry = true;
    auto snapshot = worker.pool_snapshot(pool);
    choice.prefer = sticky_target(snapshot.get(), *server);
    if (!choice.prefer) {
      worker.counters().sticky_repicks.fetch_add(1, std::memory_order_relaxed);
      worker.logger()->debug("persistence: pool={} server={} no longer serves; re-picking", pool,
                             *server);
    }
  }
  return choice;
}

void commit_sticky(WorkerContext& worker, const StickyChoice& choice, const Backend* chosen,
                   bool stick_on_miss) {
  if (!choice.table || choice.key.empty() || !chosen) return;
  if (chosen == choice.prefer) {
    worker.counters().sticky_hits.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (!choice.had_entry && !stick_on_miss) return;
  choice.table->stick(choice.key, chosen->name);
}

}  // namespace lbd::proxy
