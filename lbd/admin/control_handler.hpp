// lbd's control-socket commands: parses a request (common/control protocol) and runs it against
// the server on the control thread. Command names and reply shapes are what lbctl sends and
// reads; the JSON bodies come from status_json.* (pure).
//
//   {"cmd":"show pools"}                       {"cmd":"show servers","pool"?:P}
//   {"cmd":"server enable|disable|drain|maint","server":"P/S"}
//   {"cmd":"server weight","server":"P/S","weight":N}
//   {"cmd":"show table","pool"?:P,"limit"?:N}  {"cmd":"clear table","pool":P,"key"?:K}
//   {"cmd":"show conns","limit"?:N}            {"cmd":"show replication"}
//   {"cmd":"show roles"}  {"cmd":"show status"}  {"cmd":"reload"}  {"cmd":"health"}
//   {"cmd":"vrrp_state","instance","vrid","interface","state","from","reason"} (from vrrpd)
//   {"cmd":"watch"} is answered by the control server itself (common/control/server.hpp): one
//   reply with lbd's pid, then the stream stays open until lbd ends; vrrpd holds one.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "lbd/admin/control_target.hpp"

namespace lbd::admin {

/// Rows a listing returns when the request gives no "limit", and the most it may ask for.
inline constexpr std::size_t kDefaultLimit = 100;
inline constexpr std::size_t kMaxLimit = 10'000;

/// "pool/server" split at the first '/'; nullopt unless both parts are non-empty.
struct ServerRef {
  std::string pool;
  std::string server;
};
std::optional<ServerRef> parse_server_ref(std::string_view text);

/// Runs one request on the control thread and returns the reply ({"ok":true,...} or
/// {"ok":false,"error":...}). Never throws for bad input: wrong or missing arguments are errors.
nlohmann::json handle(ControlTarget& target, const nlohmann::json& request);

}  // namespace lbd::admin
