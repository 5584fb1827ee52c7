// Balancing options of a pool, as configured.
#pragma once

#include <cstdint>

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

struct BalanceOptions {
  Algorithm algorithm = Algorithm::round_robin;
};

}  // namespace lbd
