// What a backend's agent says about itself (HAProxy agent-check replies: "75%", "drain", "down",
// "up", combinations such as "up 50%"), its parser, and its packing into Backend::agent_status.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/error.hpp"
#include "lbd/balance/backend.hpp"

namespace lbd {

enum class AgentState : std::uint8_t {
  up,     // takes new picks at its reported weight
  drain,  // keeps its connections, takes no new picks
  down,   // takes no picks
};

/// One parsed reply; a field the reply did not mention is nullopt and keeps its previous value.
struct AgentReport {
  std::optional<std::uint32_t> weight_percent;  // 0..kMaxAgentPercent, relative to config weight
  std::optional<AgentState> state;
};

/// The merged status as stored on the backend.
struct AgentStatus {
  std::uint32_t weight_percent = 100;
  AgentState state = AgentState::up;

  friend bool operator==(const AgentStatus&, const AgentStatus&) = default;
};

/// HAProxy lets an agent raise a server above its configured weight; 1000 % is our cap.
inline constexpr std::uint32_t kMaxAgentPercent = 1000;

/// Parses one reply line. Tokens are separated by spaces, tabs or commas, case-insensitive, and
/// anything after '#' is a comment (HAProxy's "down # out of memory"). Accepted tokens: "N%" or
/// "N" (0..1000, percent of the configured weight); "up", "ready" → up; "drain" → drain;
/// "down", "fail", "failed", "stopped", "maint" → down; "maxconn:N" is accepted and ignored.
/// Fails on an empty reply, an unknown token or a percent out of range. Pure, thread-safe.
lb::Result<AgentReport> parse_agent_reply(std::string_view line);

/// Packing of AgentStatus into one 32-bit word (low 16 bits percent, next 8 bits state) so that
/// readers always see a consistent pair.
constexpr std::uint32_t pack_agent_status(AgentStatus s) {
  return (static_cast<std::uint32_t>(s.state) << 16) | (s.weight_percent & 0xffffu);
}
constexpr AgentStatus unpack_agent_status(std::uint32_t word) {
  return AgentStatus{word & 0xffffu, static_cast<AgentState>((word >> 16) & 0xffu)};
}

/// The backend's current agent status (relaxed load). Thread-safe.
inline AgentStatus agent_status(const Backend& b) {
  return unpack_agent_status(b.agent_status.load(std::memory_order_relaxed));
}

/// Merges `report` into the backend's status (fields the report leaves out stay) and returns the
/// new status; when the status changed, bumps `agent_epoch()` (after the store, release) so that
/// agent balancers know to re-read. Thread-safe (compare-and-swap).
AgentStatus apply_agent_report(const Backend& b, const AgentReport& report);

/// A process-wide counter of agent status changes, on any backend. Balancers read it (acquire) on
/// every pick and re-read the statuses only when it moved: one load instead of n.
std::uint64_t agent_epoch();

/// Effective weight of a candidate with configured weight `weight` under `status`, in units of
/// 1/100 of a weight (so 50 % of weight 1 stays > 0): 0 when drained or down.
constexpr std::uint64_t agent_weight(std::uint32_t weight, AgentStatus status) {
  return status.state == AgentState::up ? static_cast<std::uint64_t>(weight) * status.weight_percent
                                        : 0;
}

}  // namespace lbd
