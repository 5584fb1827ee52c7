// /status.json: the AdminView as JSON for the status page and scripts.
#pragma once

#include <nlohmann/json.hpp>

#include "lbd/admin/metrics.hpp"

namespace lbd::admin {

/// The view as a JSON object: node, role, listeners (with counters), pools with their servers
/// (state, weight, active, requests, errors), stick tables, replication, reloads.
nlohmann::json admin_view_json(const AdminView& view);

}  // namespace lbd::admin
