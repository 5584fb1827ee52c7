#include "lbd/upstream_conn/upstream_pool.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "lbd/upstream_conn/upstream_tls.hpp"

namespace lbd::proxy {

bool upstream_is_reusable(lb::tcp::socket& socket) {
  if (!socket.is_open()) return false;
  // A peeked 0 means the backend closed the idle connection; pending bytes would be an
  // unsolicited response: either way the connection cannot carry the next request.
  char byte;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

std::optional<UpstreamConnection> UpstreamPool::take(const Backend* backend, Clock::time_point now,
                                                     std::chrono::nanoseconds max_idle, bool probe,
                                                     const UpstreamTlsContext* tls) {
  if (now >= next_sweep_) sweep(now, max_idle);
  auto it = idle_.find(backend);
  if (it == idle_.end()) return std::nullopt;
  auto& list = it->second;
  while (!list.empty()) {
    Idle entry = std::move(list.back());
    list.pop_back();
    if (now - entry.since < max_idle && tls_context_of(entry.conn) == tls &&
        (!probe || upstream_connection_reusable(entry.conn))) {
      // Ends the readability wait (its handler sees operation_aborted); the session reads now.
      lb::error_code ignored;
      entry.conn.socket.cancel(ignored);
      entry.conn.lease.unpark();
      return std::move(entry.conn);
    }
    // Expired or closed: dropping `entry` closes the socket and releases the lease.
  }
  return std::nullopt;
}

void UpstreamPool::put(UpstreamConnection conn, Clock::time_point now, std::size_t limit) {
  if (limit == 0 || !conn.lease.backend()) return;
  auto& list = idle_[conn.lease.backend()];
  if (list.size() >= limit) list.erase(list.begin());  // the oldest
  conn.lease.park();                                   // idle: not in-flight load (Backend::active)
  const auto backend = conn.lease.backend();
  const auto id = next_id_++;
  list.push_back(Idle{std::move(conn), now, id});
  watch(backend, id, list.back().conn.socket);
}

void UpstreamPool::watch(const Backend* backend, std::uint64_t id, lb::tcp::socket& socket) {
  // The wait follows the socket when the entry moves inside the vector; take() cancels it, and
  // closing the socket (expiry, the idle limit, the pool's end) aborts it.
  socket.async_wait(lb::tcp::socket::wait_read,
                    [this, alive = std::weak_ptr<int>(alive_), backend, id](lb::error_code ec) {
                      if (ec || alive.expired()) return;
                      on_readable(backend, id);
                    });
}

void UpstreamPool::on_readable(const Backend* backend, std::uint64_t id) {
  auto it = idle_.find(backend);
  if (it == idle_.end()) return;
  auto& list = it->second;
  auto entry = std::find_if(list.begin(), list.end(), [id](const Idle& e) { return e.id == id; });
  if (entry == list.end()) return;  // taken meanwhile: the session owns it now
  if (upstream_connection_reusable(entry->conn)) {
    // TLS records without data were consumed (a late session ticket): still reusable. The
    // socket's queue is empty again, so the next wait completes only on new bytes.
    watch(backend, id, entry->conn.socket);
    return;
  }
  ++closed_by_backend_;
  list.erase(entry);  // closes the socket and releases the lease
}

void UpstreamPool::sweep(Clock::time_point now, std::chrono::nanoseconds max_idle) {
  next_sweep_ = now + std::chrono::seconds(1);
  for (auto it = idle_.begin(); it != idle_.end();) {
    std::erase_if(it->second, [&](const Idle& e) { return now - e.since >= max_idle; });
    // An empty list may belong to a Backend a reload replaced: drop the key as well.
    it = it->second.empty() ? idle_.erase(it) : std::next(it);
  }
}

std::size_t UpstreamPool::drop(const Backend* backend) {
  auto it = idle_.find(backend);
  if (it == idle_.end()) return 0;
  const std::size_t n = it->second.size();
  closed_server_down_ += n;
  idle_.erase(it);  // closes the sockets (aborting their waits) and releases the leases
  return n;
}

std::size_t UpstreamPool::idle(const Backend* backend) const {
  auto it = idle_.find(backend);
  return it == idle_.end() ? 0 : it->second.size();
}

std::size_t UpstreamPool::idle_total() const {
  std::size_t n = 0;
  for (const auto& [b, list] : idle_) n += list.size();
  return n;
}

}  // namespace lbd::proxy
