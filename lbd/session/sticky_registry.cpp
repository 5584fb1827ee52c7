#include "lbd/session/sticky_registry.hpp"

namespace lbd {

bool same_stick_table(const PersistenceOptions& a, const PersistenceOptions& b) {
  return a.mode == b.mode && a.ttl == b.ttl && a.max_entries == b.max_entries &&
         a.ipv4_mask == b.ipv4_mask && a.ipv6_mask == b.ipv6_mask &&
         a.learn_cookie == b.learn_cookie && a.url_parameter == b.url_parameter &&
         a.header == b.header;
}

StickyTables StickyRegistry::rebuild(const Config& config) {
  StickyTables next;
  std::map<std::string, PersistenceOptions, std::less<>> next_options;
  std::lock_guard lock(mutex_);
  for (const auto& pool : config.pools) {
    const auto& p = pool.persistence;
    if (!p.uses_stick_table()) continue;
    auto old = tables_.find(pool.name);
    auto old_options = options_.find(pool.name);
    if (old != tables_.end() && old_options != options_.end() &&
        same_stick_table(old_options->second, p)) {
      next[pool.name] = old->second;
    } else {
      StickyTableOptions o;
      o.max_entries = p.max_entries;
      o.ttl = std::chrono::duration_cast<lb::Duration>(p.ttl);
      if (config.replication) {
        // The pair's last-writer-wins tie-break and the replication journal bounds.
        o.node_id = config.replication->version_tag();
        o.journal_capacity = config.replication->journal_capacity;
        o.refresh_journal_interval = config.replication->refresh_journal_interval;
      }
      next[pool.name] = std::make_shared<StickyTable>(pool.name, o, clock_);
    }
    next_options[pool.name] = p;
  }
  tables_ = next;
  options_ = std::move(next_options);
  return next;
}

StickyTables StickyRegistry::tables() const {
  std::lock_guard lock(mutex_);
  return tables_;
}

std::shared_ptr<StickyTable> StickyRegistry::find(std::string_view pool) const {
  std::lock_guard lock(mutex_);
  auto it = tables_.find(pool);
  return it == tables_.end() ? nullptr : it->second;
}

std::size_t StickyRegistry::expire() {
  std::size_t n = 0;
  for (auto& [name, table] : tables()) n += table->expire();
  return n;
}

}  // namespace lbd
