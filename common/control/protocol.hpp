// The local control-socket protocol shared by lbd, vrrpd and lbctl: JSON lines over a unix
// stream socket. A request is one object with a "cmd" string; the answer is one object with
// "ok" (true, plus the command's fields) or "ok": false and "error". Pure: no sockets.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace lb::control {

/// Longest line a peer may send; longer input is an error, never an unbounded buffer.
inline constexpr std::size_t kMaxLineBytes = 64 * 1024;

/// Parses one request line (without its newline). nullopt when it is not a JSON object with a
/// string "cmd"; `error` then says why.
std::optional<nlohmann::json> parse_request(std::string_view line, std::string& error);

/// Serialises `message` as one line, newline included (compact, UTF-8; invalid UTF-8 replaced).
std::string to_line(const nlohmann::json& message);

/// {"ok": false, "error": message}
nlohmann::json error_reply(std::string_view message);

}  // namespace lb::control
