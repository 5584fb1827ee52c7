// The connection table on the request path, shared by the L4 and L7 sessions: register each live
// proxied connection (replicated to the peer node), and after a failover send a client that
// reconnects to the backend the peer node was giving it — also for pools without persistence.
#pragma once

#include <cstdint>
#include <string_view>

#include "lbd/replication/conn_table.hpp"
#include "lbd/session/worker_context.hpp"

namespace lbd::proxy {

/// The backend the peer node last gave `client` on `listener` for `pool`, when that backend may
/// still serve here (candidate or draining), else nullptr. Cheap when the peer reported nothing.
/// Worker thread.
const Backend* peer_connection_target(WorkerContext& worker, std::string_view pool,
                                      const lb::IpAddress& client, std::string_view listener);

/// One live proxied connection in the connection table; removed (and the removal journaled for
/// the peer) on destruction or when re-pointed at another backend. Movable, thread-compatible.
class TrackedConnection {
 public:
  TrackedConnection() = default;
  TrackedConnection(repl::ConnTable& table, const lb::Endpoint& client, std::string_view listener,
                    std::string_view pool, std::string_view backend, repl::ConnMode mode);
  TrackedConnection(TrackedConnection&& other) noexcept;
  TrackedConnection& operator=(TrackedConnection&& other) noexcept;
  ~TrackedConnection();

  std::uint64_t id() const { return id_; }

 private:
  repl::ConnTable* table_ = nullptr;
  std::uint64_t id_ = 0;
};

}  // namespace lbd::proxy
