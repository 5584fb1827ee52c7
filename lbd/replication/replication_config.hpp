// [replication] in lbd.toml: who this node is, where its peer is, the shared secret and the
// protocol's timers and bounds. Read here, not in lbd/config.cpp, so the keys, their
// checks and their tests live with replication/.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "common/clock.hpp"
#include "common/net/ip_address.hpp"

namespace lb::config {
class TableReader;
}

namespace lbd {

/// Minimum length of the shared secret (HMAC-SHA256 key), in bytes.
inline constexpr std::size_t kMinReplicationSecretSize = 32;

struct ReplicationConfig {
  std::string node_id;  // this node's id on the wire, 1..64 printable ASCII bytes
  std::string peer_id;  // expected peer id; empty = any id other than ours
  lb::Endpoint listen;  // where the peer connects to us
  lb::Endpoint peer;    // where we connect to the peer
  std::string secret;   // shared HMAC secret (from `secret` or `secret_file`); never logged
  lb::Duration heartbeat_interval = std::chrono::seconds(1);
  lb::Duration dead_peer_timeout = std::chrono::seconds(5);
  lb::Duration handshake_timeout = std::chrono::seconds(5);
  lb::Duration reconnect_interval = std::chrono::milliseconds(500);
  lb::Duration reconnect_max_interval = std::chrono::seconds(10);
  lb::Duration flush_interval = std::chrono::milliseconds(1);
  std::size_t batch_max = 1024;
  std::size_t journal_capacity = 65536;
  lb::Duration refresh_journal_interval = std::chrono::seconds(10);

  /// The low 8 bits of every local stick-table version (StickyTableOptions::node_id): breaks
  /// last-writer-wins ties. With `peer_id` set the two nodes get 1 and 2 by id order (never
  /// equal); without it, a hash of `node_id` (1 in 256 pairs collide: ties then keep each
  /// side's own entry until the next write).
  std::uint8_t version_tag() const;

  friend bool operator==(const ReplicationConfig&, const ReplicationConfig&) = default;
};

/// Reads the optional `[replication]` table of `root` (the document root). nullopt when the
/// table is absent (a single node does not replicate). Bad values, a missing or short secret,
/// both `secret` and `secret_file`, and unknown keys become diagnostics (file:line:col); the
/// secret itself never appears in a message. `secret_file` is read here. Not thread-safe.
std::optional<ReplicationConfig> read_replication(lb::config::TableReader& root);

}  // namespace lbd
