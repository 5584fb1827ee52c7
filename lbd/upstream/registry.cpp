#include "lbd/upstream/registry.hpp"

namespace lbd {

std::vector<PoolSnapshotPtr> UpstreamRegistry::rebuild(const Config& config) {
  std::map<std::string, PoolSnapshotPtr> next;
  std::vector<PoolSnapshotPtr> out;
  for (const auto& pool : config.pools) {
    auto snap = std::make_shared<PoolSnapshot>();
    snap->pool_name = pool.name;
    snap->generation = ++generation_;
    const PoolSnapshot* old = nullptr;
    if (auto it = pools_.find(pool.name); it != pools_.end()) old = it->second.get();
    std::vector<Candidate> backups;
    for (const auto& s : pool.servers) {
      std::shared_ptr<const Backend> backend;
      if (old) {
        for (const auto& b : old->backends) {
          if (b->name == s.name && b->address == s.address && b->weight == s.weight &&
              b->max_connections == s.max_connections && b->backup == s.backup) {
            backend = b;
          }
        }
      }
      if (!backend) {
        backend = std::make_shared<const Backend>(s.name, s.address, s.weight, s.max_connections,
                                                  s.backup);
      }
      snap->backends.push_back(backend);
      if (s.weight > 0) {
        (s.backup ? backups : snap->candidates).push_back(Candidate{backend.get(), s.weight});
      }
    }
    // Without health checks every non-backup server counts as up, so backups only serve when
    // a pool consists of backups alone.
    if (snap->candidates.empty()) snap->candidates = std::move(backups);
    next[pool.name] = snap;
    out.push_back(std::move(snap));
  }
  pools_ = std::move(next);
  return out;
}

bool UpstreamRegistry::publish(PoolSnapshot snapshot) {
  auto it = pools_.find(snapshot.pool_name);
  if (it == pools_.end()) return false;
  snapshot.generation = ++generation_;
  auto ptr = std::make_shared<const PoolSnapshot>(std::move(snapshot));
  it->second = ptr;
  if (sink_) sink_(ptr);
  return true;
}

PoolSnapshotPtr UpstreamRegistry::current(const std::string& pool) const {
  auto it = pools_.find(pool);
  return it == pools_.end() ? nullptr : it->second;
}

}  // namespace lbd
