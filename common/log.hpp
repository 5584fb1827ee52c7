// Logging: named spdlog loggers per subsystem ("lbd.proxy", "vrrpd.fsm", ...) writing to stderr.
// Under systemd (JOURNAL_STREAM set) lines carry a "<N>" syslog priority prefix and no timestamp,
// which journald understands; on a terminal they carry a timestamp.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace lb::log {

/// Parses "trace", "debug", "info", "warn", "error", "critical", "off".
std::optional<spdlog::level::level_enum> parse_level(std::string_view name);

/// Sets up the shared stderr sink, the pattern and the default level. Call once from main();
/// safe to call again (e.g. on reload) to change the level.
void init(spdlog::level::level_enum level);

/// The logger for `subsystem`, created on first use with the shared sink. Thread-safe.
std::shared_ptr<spdlog::logger> get(const std::string& subsystem);

}  // namespace lb::log
