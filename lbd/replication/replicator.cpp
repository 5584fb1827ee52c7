// Replicator: the table registry, start and stop, the role report, the status snapshot and the
// public facade over Impl (replicator_impl.hpp lists the other files).
#include "lbd/replication/replicator.hpp"

#include "lbd/replication/replicator_impl.hpp"

namespace lbd::repl {

namespace {

std::uint64_t random_incarnation() {
  for (;;) {
    const Nonce n = random_nonce();
    std::uint64_t v = 0;
    std::memcpy(&v, n.data(), sizeof v);
    if (v != 0) return v;
  }
}

}  // namespace

std::string_view role_name(Role role) {
  switch (role) {
    case Role::unknown:
      return "unknown";
    case Role::backup:
      return "backup";
    case Role::master:
      return "master";
  }
  return "?";
}

Replicator::Impl::Impl(asio::io_context& io, ReplicationConfig config, const lb::Clock& clock)
    : io_(io),
      config_(std::move(config)),
      clock_(clock),
      log_(lb::log::get("lbd.repl")),
      incarnation_(random_incarnation()),
      dial_timer_(io),
      backoff_(config_.reconnect_interval) {
  stats_.node_id = config_.node_id;
}

// ---- registry -------------------------------------------------------------------------------

void Replicator::Impl::add_table(StickyTable& t) {
  std::lock_guard lock(mutex_);
  tables_[t.name()] = &t;
}

void Replicator::Impl::remove_table(std::string_view name) {
  std::lock_guard lock(mutex_);
  if (auto it = tables_.find(name); it != tables_.end()) tables_.erase(it);
}

void Replicator::Impl::set_conn_table(ConnTable* t) {
  std::lock_guard lock(mutex_);
  conn_table_ = t;
}

void Replicator::Impl::set_ct_table(CtTable* t) {
  std::lock_guard lock(mutex_);
  ct_table_ = t;
}

void Replicator::Impl::clear_tables() {
  std::lock_guard lock(mutex_);
  tables_.clear();
  conn_table_ = nullptr;
  ct_table_ = nullptr;
}

// ---- lifecycle ------------------------------------------------------------------------------

lb::Result<void> Replicator::Impl::start() {
  if (running_) return {};
  const lb::Endpoint where = bound_.value_or(config_.listen);
  acceptor_.emplace(io_);
  error_code ec;
  const auto ep = to_asio(where);
  acceptor_->open(ep.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(ep, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    acceptor_.reset();
    return lb::fail(fmt::format("replication: cannot listen on {}: {}", where, ec.message()));
  }
  bound_ = from_asio(acceptor_->local_endpoint(ec));
  const std::uint64_t gen = ++generation_;
  running_ = true;
  next_dial_ = std::chrono::steady_clock::now() + dial_grace();
  backoff_ = config_.reconnect_interval;
  {
    std::lock_guard lock(mutex_);
    stats_.running = true;
  }
  auto self = shared_from_this();
  asio::co_spawn(io_, accept_loop(self, gen), lb::log_exceptions(log_, "repl accept loop"));
  asio::co_spawn(io_, dial_loop(self, gen), lb::log_exceptions(log_, "repl dial loop"));
  log_->info("listening: address={} node_id={} peer={}", *bound_, config_.node_id, config_.peer);
  return {};
}

void Replicator::Impl::stop() {
  if (!running_) return;
  ++generation_;
  running_ = false;
  error_code ignored;
  if (acceptor_) acceptor_->close(ignored);
  dial_timer_.cancel();
  const auto conns = conns_;
  for (const auto& c : conns) close(c, "", "replication stopped");
  {
    std::lock_guard lock(mutex_);
    stats_.running = false;
  }
  log_->info("stopped: node_id={}", config_.node_id);
}

void Replicator::Impl::on_role(Role role) {
  if (role == role_) return;
  const Role previous = role_;
  role_ = role;
  std::uint64_t peer_conns = 0;
  if (role == Role::master && conn_table_ != nullptr) peer_conns = conn_table_->remote_size();
  {
    std::lock_guard lock(mutex_);
    stats_.role = role;
    if (role == Role::master) stats_.takeover_peer_connections = peer_conns;
  }
  if (role == Role::master) {
    // A terminating proxy cannot adopt the peer's TCP connections: if the peer failed they
    // are gone, and their clients come back through us to the backend the table names.
    log_->info(
        "role: {} -> master, peer_connections={} (lost if the peer failed; reconnecting "
        "clients go back to their backend)",
        role_name(previous), peer_conns);
  } else {
    log_->info("role: {} -> {}", role_name(previous), role_name(role));
  }
}

// ---- logging and status ---------------------------------------------------------------------

void Replicator::Impl::warn_limited(const std::string& key, const std::string& message) {
  const auto now = std::chrono::steady_clock::now();
  auto& [last, suppressed] = limiter_[key];
  if (last != std::chrono::steady_clock::time_point{} && now - last < kLogEvery) {
    ++suppressed;
    return;
  }
  if (suppressed > 0) {
    log_->warn("{} (and {} more like it)", message, suppressed);
  } else {
    log_->warn("{}", message);
  }
  last = now;
  suppressed = 0;
}

ReplicationStatus Replicator::Impl::status() const {
  std::lock_guard lock(mutex_);
  ReplicationStatus s = stats_;
  auto fill = [&](TableStatus& t) {
    if (auto it = acked_mirror_.find(t.name); it != acked_mirror_.end()) t.acked_seq = it->second;
    if (auto it = sent_mirror_.find(t.name); it != sent_mirror_.end()) t.sent_seq = it->second;
    // Connected: what is not written yet; apart: what the peer has not acknowledged.
    const std::uint64_t done = s.connected ? t.sent_seq : t.acked_seq;
    t.backlog = t.journal_head > done ? t.journal_head - done : 0;
  };
  for (const auto& [name, table] : tables_) {
    TableStatus t;
    t.name = name;
    t.journal_head = table->journal_head();
    t.entries = table->size();
    fill(t);
    s.tables.push_back(std::move(t));
  }
  if (conn_table_ != nullptr) {
    TableStatus t;
    t.name = std::string(kConnTableName);
    t.journal_head = conn_table_->journal_head();
    t.entries = conn_table_->local_size();
    t.remote_entries = conn_table_->remote_size();
    fill(t);
    s.tables.push_back(std::move(t));
  }
  if (ct_table_ != nullptr) {
    TableStatus t;
    t.name = std::string(kCtTableName);
    t.journal_head = ct_table_->journal_head();
    t.entries = ct_table_->size();
    t.remote_entries = ct_table_->remote_size();
    fill(t);
    s.tables.push_back(std::move(t));
  }
  return s;
}

// ---- Replicator -----------------------------------------------------------------------------

Replicator::Replicator(boost::asio::io_context& io, ReplicationConfig config,
                       const lb::Clock& clock)
    : impl_(std::make_shared<Impl>(io, std::move(config), clock)) {}

Replicator::~Replicator() {
  impl_->stop();
  // Coroutines still queued hold the Impl; they see their sessions closed and touch no table.
  impl_->clear_tables();
}

void Replicator::add_table(StickyTable& table) { impl_->add_table(table); }
void Replicator::remove_table(std::string_view name) { impl_->remove_table(name); }
void Replicator::set_conn_table(ConnTable* table) { impl_->set_conn_table(table); }
void Replicator::set_ct_table(CtTable* table) { impl_->set_ct_table(table); }
lb::Result<void> Replicator::start() { return impl_->start(); }
void Replicator::stop() { impl_->stop(); }
void Replicator::disconnect() { impl_->disconnect(); }
void Replicator::on_role(Role role) { impl_->on_role(role); }
lb::Endpoint Replicator::listen_endpoint() const {
  return impl_->bound_.value_or(impl_->config_.listen);
}
void Replicator::set_peer_endpoint(const lb::Endpoint& peer) { impl_->config_.peer = peer; }
ReplicationStatus Replicator::status() const { return impl_->status(); }

}  // namespace lbd::repl
