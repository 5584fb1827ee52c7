// Building pool snapshots from the health view (see snapshot_builder.hpp).
#include "lbd/upstream/snapshot_builder.hpp"

namespace lbd {

namespace {

bool may_take_new_picks(const BackendState& s) {
  return s.healthy && !s.ejected && s.admin == AdminState::ready && s.weight > 0;
}

}  // namespace

PoolSnapshotPtr build_pool_snapshot(std::string pool_name, std::uint64_t generation,
                                    const std::vector<ServerView>& servers) {
  auto snap = std::make_shared<PoolSnapshot>();
  snap->pool_name = std::move(pool_name);
  snap->generation = generation;
  snap->backends.reserve(servers.size());
  snap->states.reserve(servers.size());
  for (const auto& s : servers) {
    snap->backends.push_back(s.backend);
    snap->states.push_back(s.state);
  }
  for (const bool backup : {false, true}) {
    for (const auto& s : servers) {
      if (s.backend->backup == backup && may_take_new_picks(s.state)) {
        snap->candidates.push_back(Candidate{s.backend.get(), s.state.weight});
      }
    }
    if (!snap->candidates.empty()) {
      snap->using_backups = backup;
      break;
    }
  }
  return snap;
}

bool same_routing(const PoolSnapshot& a, const PoolSnapshot& b) {
  if (a.backends.size() != b.backends.size() || a.candidates.size() != b.candidates.size() ||
      a.states.size() != b.states.size() || a.using_backups != b.using_backups) {
    return false;
  }
  for (std::size_t i = 0; i < a.backends.size(); ++i) {
    if (a.backends[i] != b.backends[i]) return false;
  }
  for (std::size_t i = 0; i < a.candidates.size(); ++i) {
    if (a.candidates[i].backend != b.candidates[i].backend ||
        a.candidates[i].weight != b.candidates[i].weight) {
      return false;
    }
  }
  for (std::size_t i = 0; i < a.states.size(); ++i) {
    const auto& x = a.states[i];
    const auto& y = b.states[i];
    if (x.healthy != y.healthy || x.ejected != y.ejected || x.admin != y.admin ||
        x.weight != y.weight) {
      return false;
    }
  }
  return true;
}

}  // namespace lbd
