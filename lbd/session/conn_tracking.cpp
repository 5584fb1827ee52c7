#include "lbd/session/conn_tracking.hpp"

#include <chrono>

#include "lbd/session/persistence.hpp"

namespace lbd::proxy {

const Backend* peer_connection_target(WorkerContext& worker, std::string_view pool,
                                      const lb::IpAddress& client, std::string_view listener) {
  auto& table = worker.conn_table();
  if (table.remote_size() == 0) return nullptr;
  auto match = table.find_remote(client.unmapped(), listener);
  if (!match || match->pool != pool) return nullptr;
  auto snapshot = worker.pool_snapshot(pool);
  return sticky_target(snapshot.get(), match->backend);
}

TrackedConnection::TrackedConnection(repl::ConnTable& table, const lb::Endpoint& client,
                                     std::string_view listener, std::string_view pool,
                                     std::string_view backend, repl::ConnMode mode)
    : table_(&table),
      id_(table.add_local(client, listener, pool, backend, std::chrono::system_clock::now(),
                          mode)) {}

TrackedConnection::TrackedConnection(TrackedConnection&& other) noexcept
    : table_(other.table_), id_(other.id_) {
  other.id_ = 0;
}

TrackedConnection& TrackedConnection::operator=(TrackedConnection&& other) noexcept {
  if (this != &other) {
    if (table_ && id_) table_->remove_local(id_);
    table_ = other.table_;
    id_ = other.id_;
    other.id_ = 0;
  }
  return *this;
}

TrackedConnection::~TrackedConnection() {
  if (table_ && id_) table_->remove_local(id_);
}

}  // namespace lbd::proxy
