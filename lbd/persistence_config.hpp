// Reads a pool's [pool.persistence] table into PersistenceOptions. lbd/config.cpp's
// read_pool calls it; kept apart so the keys, their checks and their tests live with sticky/.
#pragma once

#include "lbd/sticky/persistence_options.hpp"

namespace lb::config {
class TableReader;
}

namespace lbd {

/// Reads every persistence key of `t` (the `persistence` sub-table of one pool), reports bad
/// values, keys that belong to another mode and unknown keys as diagnostics, and returns the
/// options (defaults where a value was bad). `cookie_key_file` is read here: a missing or short
/// file is a diagnostic. Not thread-safe (config loading is single-threaded).
PersistenceOptions read_persistence(lb::config::TableReader& t);

}  // namespace lbd
