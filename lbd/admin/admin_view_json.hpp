// /status.json: the control socket's `show status` document (status_json.hpp) with what only the
// admin listener gathers added: listeners and their counters, per-server traffic, stick tables,
// the access log, node name, uptime and workers.
#pragma once

#include <nlohmann/json.hpp>

#include "lbd/admin/metrics.hpp"

namespace lbd::admin {

/// node_status_json(view.status) — every key keeps its meaning and shape — plus "node",
/// "uptime_seconds", "workers", "listeners" [{name, mode, binds, active, connections,
/// responses{1xx..5xx}, bytes_in, bytes_out}], "stick_tables" {pool: {entries, inserts,
/// evictions, expirations}}, "access_log" {on, written, dropped}; each pool gains
/// "health_flips" and "ejections", each server "requests", "errors" {connect, timeout, 5xx},
/// "latency_count" and "latency_sum_seconds". Pure.
nlohmann::json admin_view_json(const AdminView& view);

}  // namespace lbd::admin
