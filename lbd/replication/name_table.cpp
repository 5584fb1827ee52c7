// See name_table.hpp.
#include "lbd/replication/name_table.hpp"

#include <mutex>

namespace lbd::repl {

NameTable::Id NameTable::intern(std::string_view name) {
  {
    std::shared_lock lock(mutex_);
    if (auto it = ids_.find(name); it != ids_.end()) return it->second;
  }
  std::unique_lock lock(mutex_);
  if (auto it = ids_.find(name); it != ids_.end()) return it->second;  // added meanwhile
  const auto id = static_cast<Id>(names_.size());
  names_.emplace_back(name);
  ids_.emplace(names_.back(), id);
  return id;
}

std::string_view NameTable::name(Id id) const {
  std::shared_lock lock(mutex_);
  return names_.at(id);
}

std::size_t NameTable::size() const {
  std::shared_lock lock(mutex_);
  return names_.size();
}

}  // namespace lbd::repl
