// Balancing options of a pool, as configured: the algorithm, the key the hashing algorithms hash,
// and each algorithm's parameters. Plain data; lbd/config.cpp reads and validates it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace lbd {

enum class Algorithm {
  round_robin,
  least_conn,
  p2c,
  random,
  least_time,
  source_hash,
  ring_hash,
  maglev,
  agent,
};

/// Textual name of an algorithm as written in the config.
const char* algorithm_name(Algorithm a);

/// What source_hash, ring_hash and maglev hash: config `hash_key = "source_ip" | "header:NAME" |
/// "cookie:NAME" | "path"`. The proxy extracts the key and hashes it with `stable_hash`.
struct HashKey {
  enum class Kind : std::uint8_t { source_ip, header, cookie, path };
  Kind kind = Kind::source_ip;
  std::string name;  // header or cookie name; empty for source_ip and path

  friend bool operator==(const HashKey&, const HashKey&) = default;
};

/// How the agent is asked: HAProxy's agent-check (connect, read one line) or an HTTP GET whose
/// response body holds the same line.
enum class AgentType : std::uint8_t { tcp, http };

/// Parameters of the `agent` algorithm (HAProxy agent-check style, TCP or HTTP).
struct AgentOptions {
  std::uint16_t port = 0;  // TCP port of the agent on each server's address; 0 = not configured
  std::chrono::nanoseconds interval = std::chrono::seconds(2);
  std::chrono::nanoseconds timeout = std::chrono::seconds(1);
  AgentType type = AgentType::tcp;
  std::string path = "/";  // http: request target of the GET
};

struct BalanceOptions {
  Algorithm algorithm = Algorithm::round_robin;
  HashKey hash_key;
  /// ring_hash: virtual nodes of an average-weight server (each gets a share ∝ its weight).
  std::uint32_t ring_virtual_nodes = 160;
  /// maglev: lookup table size; prime and ≥ 100 × servers (config validates).
  std::uint32_t maglev_table_size = 65537;
  /// ring_hash and maglev: bounded loads; 0 = off, else ≥ 1.0 (a server takes at most
  /// ceil(factor × average load × its weight share)).
  double hash_balance_factor = 0.0;
  /// least_time: time constant of the peak-EWMA latency decay.
  std::chrono::nanoseconds least_time_decay = std::chrono::seconds(10);
  AgentOptions agent;
};

}  // namespace lbd
