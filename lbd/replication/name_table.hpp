// Interned names for tables with an entry per connection: the listener, pool and backend names
// repeat across thousands of entries, so an entry keeps 4-byte ids instead of three strings
// (~100 bytes less per tracked connection). Names are never dropped: there are as many as the
// configs ever named. Thread-safe (read-mostly: a shared lock for names already known).
#pragma once

#include <cstdint>
#include <deque>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace lbd::repl {

class NameTable {
 public:
  using Id = std::uint32_t;

  /// The id of `name`, adding it when new.
  Id intern(std::string_view name);
  /// The name of an id intern() returned. The view stays valid for the table's lifetime.
  std::string_view name(Id id) const;
  /// Distinct names held.
  std::size_t size() const;

 private:
  mutable std::shared_mutex mutex_;
  std::deque<std::string> names_;  // by id; a deque keeps the strings (and views) in place
  std::unordered_map<std::string_view, Id> ids_;
};

}  // namespace lbd::repl
