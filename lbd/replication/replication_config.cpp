// [replication] reader.
#include "lbd/replication/replication_config.hpp"

#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "common/config/reader.hpp"
#include "lbd/replication/wire.hpp"

namespace lbd {

namespace {

using namespace std::chrono_literals;

bool printable_id(const std::string& id) {
  if (id.empty() || id.size() > repl::kMaxNodeIdSize) return false;
  for (unsigned char c : id) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

void read_node_id(lb::config::TableReader& t, std::string_view key, std::string& out,
                  bool required) {
  std::optional<std::string> id;
  if (required) {
    id = t.required_string(key);
  } else if (t.has(key)) {
    id = t.string(key, "");
    if (id->empty()) return;  // "" = any peer id
  }
  if (!id) return;
  if (!printable_id(*id)) {
    t.error(key, fmt::format("must be 1..{} printable ASCII characters without spaces",
                             repl::kMaxNodeIdSize));
    return;
  }
  out = *id;
}

void read_secret(lb::config::TableReader& t, std::string& out) {
  const bool has_secret = t.has("secret");
  const bool has_file = t.has("secret_file");
  if (has_secret && has_file) t.error("secret_file", "set secret or secret_file, not both");
  std::string secret;
  if (has_secret) secret = t.string("secret", "");
  if (has_file) {
    const std::string path = t.string("secret_file", "");
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      t.error("secret_file", fmt::format("cannot read \"{}\"", path));
      return;
    }
    std::ostringstream s;
    s << in.rdbuf();
    secret = s.str();
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  }
  if (!has_secret && !has_file) {
    t.error_here("needs secret or secret_file (the pair's shared HMAC secret)");
    return;
  }
  if (secret.size() < kMinReplicationSecretSize) {
    // Never echo the secret, not even its length.
    t.error(has_file ? "secret_file" : "secret",
            fmt::format("the secret must be at least {} bytes", kMinReplicationSecretSize));
    return;
  }
  out = std::move(secret);
}

}  // namespace

std::uint8_t ReplicationConfig::version_tag() const {
  if (!peer_id.empty() && peer_id != node_id) return node_id < peer_id ? 1 : 2;
  // FNV-1a: stable across builds and platforms (std::hash is not).
  std::uint32_t h = 2166136261u;
  for (unsigned char c : node_id) h = (h ^ c) * 16777619u;
  return static_cast<std::uint8_t>(h ^ (h >> 8) ^ (h >> 16) ^ (h >> 24));
}

std::optional<ReplicationConfig> read_replication(lb::config::TableReader& root) {
  auto table = root.table("replication");
  if (!table) return std::nullopt;
  auto& t = *table;
  ReplicationConfig c;
  read_node_id(t, "node_id", c.node_id, true);
  read_node_id(t, "peer_id", c.peer_id, false);
  if (!c.peer_id.empty() && c.peer_id == c.node_id) {
    t.error("peer_id", "must differ from node_id");
  }
  if (auto e = t.required_endpoint("listen")) c.listen = *e;
  if (auto e = t.required_endpoint("peer")) {
    c.peer = *e;
    if (c.peer == c.listen) t.error("peer", "must differ from listen (that would be ourselves)");
  }
  read_secret(t, c.secret);

  c.heartbeat_interval = t.duration("heartbeat_interval", c.heartbeat_interval, 10ms, 60s);
  c.dead_peer_timeout = t.duration("dead_peer_timeout", c.dead_peer_timeout, 20ms, 10min);
  if (c.dead_peer_timeout < 2 * c.heartbeat_interval) {
    t.error("dead_peer_timeout", "must be at least twice heartbeat_interval");
  }
  c.handshake_timeout = t.duration("handshake_timeout", c.handshake_timeout, 10ms, 5min);
  c.reconnect_interval = t.duration("reconnect_interval", c.reconnect_interval, 10ms, 1h);
  c.reconnect_max_interval =
      t.duration("reconnect_max_interval", c.reconnect_max_interval, 10ms, 1h);
  if (c.reconnect_max_interval < c.reconnect_interval) {
    t.error("reconnect_max_interval", "must be at least reconnect_interval");
  }
  c.flush_interval = t.duration("flush_interval", c.flush_interval, 100us, 1s);
  c.batch_max = static_cast<std::size_t>(
      t.integer("batch_max", static_cast<std::int64_t>(c.batch_max), 1, 65536));
  c.journal_capacity = static_cast<std::size_t>(t.integer(
      "journal_capacity", static_cast<std::int64_t>(c.journal_capacity), 256, 16'777'216));
  c.refresh_journal_interval =
      t.duration("refresh_journal_interval", c.refresh_journal_interval, 1s, 24h);
  t.reject_unknown_keys();
  return c;
}

}  // namespace lbd
