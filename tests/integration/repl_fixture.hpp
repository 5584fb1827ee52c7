// Test fixture for the replication integration tests: one lbd "node" = a stick table, a
// connection table and a Replicator on its own io_context thread, listening on 127.0.0.1:0.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>

#include "common/asio.hpp"
#include "common/clock.hpp"
#include "lbd/replication/conn_table.hpp"
#include "lbd/replication/replicator.hpp"
#include "lbd/sticky/stick_table.hpp"

namespace repltest {

using namespace std::chrono_literals;

inline const std::string kSecret = "0123456789abcdef0123456789abcdef";

/// Polls `pred` every 2 ms until it holds or `timeout` passes (a bounded wait, not a sleep).
inline bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

inline lbd::ReplicationConfig config(std::string id, std::string peer_id,
                                     std::string secret = kSecret) {
  lbd::ReplicationConfig c;
  c.node_id = std::move(id);
  c.peer_id = std::move(peer_id);
  c.listen = *lb::Endpoint::parse("127.0.0.1:0");
  c.peer = *lb::Endpoint::parse("127.0.0.1:1");  // nothing listens there: set_peer later
  c.secret = std::move(secret);
  c.heartbeat_interval = 100ms;
  c.dead_peer_timeout = 1s;
  c.handshake_timeout = 2s;
  c.reconnect_interval = 20ms;
  c.reconnect_max_interval = 200ms;
  c.flush_interval = 1ms;
  c.batch_max = 256;
  return c;
}

inline lbd::StickyTableOptions table_options(std::uint8_t tag, std::size_t journal = 65536) {
  lbd::StickyTableOptions o;
  o.max_entries = 100'000;
  o.ttl = 30min;
  o.journal_capacity = journal;
  o.shards = 4;
  o.node_id = tag;
  return o;
}

class Node {
 public:
  /// `tweak` edits the replication config before every (re)start.
  Node(std::string id, std::string peer_id, std::uint8_t tag, std::size_t journal = 65536,
       std::string secret = kSecret, std::function<void(lbd::ReplicationConfig&)> tweak = {})
      : id_(std::move(id)),
        peer_id_(std::move(peer_id)),
        tag_(tag),
        journal_(journal),
        secret_(std::move(secret)),
        tweak_(std::move(tweak)),
        guard_(io.get_executor()),
        thread_([this] { io.run(); }) {
    create();
  }
  ~Node() {
    run([this] { repl.reset(); });
    guard_.reset();
    io.stop();
    thread_.join();
  }

  /// Runs `fn` on the node's io thread and waits for it (bounded).
  template <typename F>
  std::invoke_result_t<F> run(F fn) {
    std::packaged_task<decltype(fn())()> task(std::move(fn));
    auto result = task.get_future();
    lb::asio::post(io, [&task] { task(); });
    REQUIRE(result.wait_for(10s) == std::future_status::ready);
    return result.get();
  }

  /// (Re)creates the tables and the replicator (a process restart: a new incarnation).
  void create() {
    run([this] {
      repl.reset();
      table = std::make_unique<lbd::StickyTable>("app", table_options(tag_, journal_), clock);
      conns = std::make_unique<lbd::repl::ConnTable>();
      auto c = config(id_, peer_id_, secret_);
      if (tweak_) tweak_(c);
      repl = std::make_unique<lbd::repl::Replicator>(io, std::move(c), clock);
      repl->add_table(*table);
      repl->set_conn_table(conns.get());
      auto started = repl->start();
      REQUIRE(started.has_value());
    });
  }
  lb::Endpoint endpoint() {
    return run([this] { return repl->listen_endpoint(); });
  }
  void set_peer(const lb::Endpoint& peer) {
    run([this, peer] { repl->set_peer_endpoint(peer); });
  }
  lbd::repl::ReplicationStatus status() { return repl->status(); }
  bool connected() { return status().connected; }
  std::uint64_t errors(const std::string& reason) {
    auto s = status();
    auto it = s.errors.find(reason);
    return it == s.errors.end() ? 0 : it->second;
  }

  lb::ManualClock clock;
  lb::asio::io_context io;
  std::unique_ptr<lbd::StickyTable> table;
  std::unique_ptr<lbd::repl::ConnTable> conns;
  std::unique_ptr<lbd::repl::Replicator> repl;

 private:
  std::string id_, peer_id_;
  std::uint8_t tag_;
  std::size_t journal_;
  std::string secret_;
  std::function<void(lbd::ReplicationConfig&)> tweak_;
  std::optional<lb::asio::executor_work_guard<lb::asio::io_context::executor_type>> guard_;
  std::thread thread_;
};

/// Two nodes dialling each other (or only A dialling B, when a test counts full resyncs exactly:
/// two simultaneous dials may build a second session, and a second resync, that then loses).
struct Pair {
  explicit Pair(std::size_t journal_a = 65536, bool b_dials = true)
      : a("a", "b", 1, journal_a), b("b", "a", 2) {
    a.set_peer(b.endpoint());
    if (b_dials) b.set_peer(a.endpoint());
  }
  bool in_sync() {
    auto sa = a.status();
    auto sb = b.status();
    return sa.connected && sb.connected && sa.peer_has_our_data && sa.we_have_peer_data &&
           sb.peer_has_our_data && sb.we_have_peer_data;
  }
  Node a;
  Node b;
};

}  // namespace repltest
