// The stick tables of the running config, one per pool whose persistence mode needs one
// (source_ip, learned_cookie, header). Owned by the server; a table survives a reload while its
// pool keeps the same persistence settings, so sticky clients keep their servers. The replicator
// finds tables here by pool name.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/clock.hpp"
#include "lbd/config.hpp"
#include "lbd/sticky/stick_table.hpp"

namespace lbd {

/// Pool name → stick table. The map handed to workers is an immutable copy.
using StickyTables = std::map<std::string, std::shared_ptr<StickyTable>, std::less<>>;

class StickyRegistry {
 public:
  /// `clock` must outlive the registry and its tables.
  explicit StickyRegistry(const lb::Clock& clock) : clock_(clock) {}

  /// Control thread: the tables `config` needs. A pool whose persistence settings are unchanged
  /// keeps its table (entries included); others get a new empty one; tables of pools that are
  /// gone or no longer need one are dropped here (workers still holding them finish with them).
  StickyTables rebuild(const Config& config);

  /// Thread-safe: the current tables, or the one of `pool` (nullptr when it has none).
  StickyTables tables() const;
  std::shared_ptr<StickyTable> find(std::string_view pool) const;

  /// Removes expired entries from every table (control-thread timer). Returns the count.
  std::size_t expire();

 private:
  const lb::Clock& clock_;
  mutable std::mutex mutex_;
  StickyTables tables_;
  std::map<std::string, PersistenceOptions, std::less<>> options_;
};

/// True when a table built for `a` can keep serving `b` (same mode, key derivation, ttl, size).
bool same_stick_table(const PersistenceOptions& a, const PersistenceOptions& b);

}  // namespace lbd
