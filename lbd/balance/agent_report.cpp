// Parsing of agent-check replies and the lock-free merge into Backend::agent_status.
#include "lbd/balance/agent_report.hpp"

#include <atomic>
#include <cctype>
#include <charconv>
#include <string>

#include <fmt/format.h>

namespace lbd {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

bool parse_number(std::string_view s, std::uint32_t& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

lb::Result<AgentReport> parse_agent_reply(std::string_view line) {
  if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
  AgentReport report;
  bool any = false;
  std::size_t pos = 0;
  while (pos < line.size()) {
    const auto start = line.find_first_not_of(" \t,\r\n", pos);
    if (start == std::string_view::npos) break;
    auto end = line.find_first_of(" \t,\r\n", start);
    if (end == std::string_view::npos) end = line.size();
    const auto token = line.substr(start, end - start);
    pos = end;
    any = true;

    auto number = token;
    if (number.ends_with('%')) number.remove_suffix(1);
    if (std::uint32_t percent = 0; parse_number(number, percent)) {
      if (percent > kMaxAgentPercent) {
        return lb::fail(fmt::format("weight {}% out of range 0..{}%", percent, kMaxAgentPercent));
      }
      report.weight_percent = percent;
    } else if (iequals(token, "up") || iequals(token, "ready")) {
      report.state = AgentState::up;
    } else if (iequals(token, "drain")) {
      report.state = AgentState::drain;
    } else if (iequals(token, "down") || iequals(token, "fail") || iequals(token, "failed") ||
               iequals(token, "stopped") || iequals(token, "maint")) {
      report.state = AgentState::down;
    } else if (token.size() > 8 && iequals(token.substr(0, 8), "maxconn:")) {
      // HAProxy's dynamic maxconn: not supported, but not an error either.
    } else {
      return lb::fail(fmt::format("unknown token \"{}\"", std::string(token)));
    }
  }
  if (!any) return lb::fail("empty reply");
  return report;
}

namespace {

std::atomic<std::uint64_t> g_agent_epoch{0};

}  // namespace

std::uint64_t agent_epoch() { return g_agent_epoch.load(std::memory_order_acquire); }

AgentStatus apply_agent_report(const Backend& b, const AgentReport& report) {
  auto word = b.agent_status.load(std::memory_order_relaxed);
  AgentStatus next;
  std::uint32_t packed = 0;
  do {
    next = unpack_agent_status(word);
    if (report.weight_percent) next.weight_percent = *report.weight_percent;
    if (report.state) next.state = *report.state;
    packed = pack_agent_status(next);
  } while (packed != word &&
           !b.agent_status.compare_exchange_weak(word, packed, std::memory_order_relaxed));
  if (packed != word) g_agent_epoch.fetch_add(1, std::memory_order_release);
  return next;
}

}  // namespace lbd
