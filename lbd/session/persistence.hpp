// Session persistence on the request path, shared by the L4 and L7 sessions: resolve a stick key
// or a cookie's server name to a backend that may still serve its sticky clients, then stick the
// key after a (re)pick. Worker thread only.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "lbd/session/worker_context.hpp"
#include "lbd/sticky/stick_table.hpp"

namespace lbd::proxy {

/// The backend named `server` in `snapshot` when it may keep serving a client bound to it
/// (candidate or draining; not down, ejected, in maintenance or removed), else nullptr.
const Backend* sticky_target(const PoolSnapshot* snapshot, std::string_view server);

/// One request's (or connection's) view of a stick table.
struct StickyChoice {
  std::shared_ptr<StickyTable> table;
  std::string key;                  // empty: no key, persistence does not apply
  bool had_entry = false;           // the table knew the key
  const Backend* prefer = nullptr;  // the persisted backend when it still serves; PickContext
};

/// Looks `key` up in the pool's table (refreshing it). A hit whose server no longer serves
/// counts a re-pick (`prefer` stays nullptr so the balancer decides).
StickyChoice lookup_sticky(WorkerContext& worker, std::string_view pool, std::string key);

/// After the upstream connection is made to `chosen`: sticks the key to it when it differs from
/// the persisted server (a miss, when `stick_on_miss`, or a re-pick); counts a hit otherwise.
void commit_sticky(WorkerContext& worker, const StickyChoice& choice, const Backend* chosen,
                   bool stick_on_miss);

}  // namespace lbd::proxy
