// Administrative state of a server, set by config, reload or the control socket (not by checks).
#pragma once

#include <string_view>

namespace lbd {

/// ready: normal. drain: no new clients, but sticky clients and open connections go on.
/// maint: no traffic at all; health checks go on so the state is known when it comes back.
enum class AdminState { ready, drain, maint };

constexpr std::string_view admin_state_name(AdminState s) {
  switch (s) {
    case AdminState::ready:
      return "ready";
    case AdminState::drain:
      return "drain";
    case AdminState::maint:
      return "maint";
  }
  return "?";
}

}  // namespace lbd
