// The control-socket protocol: see protocol.hpp.
#include "common/control/protocol.hpp"

namespace lb::control {

std::optional<nlohmann::json> parse_request(std::string_view line, std::string& error) {
  if (line.size() > kMaxLineBytes) {
    error = "request too long";
    return std::nullopt;
  }
  auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    error = "not JSON";
    return std::nullopt;
  }
  if (!j.is_object() || !j.contains("cmd") || !j["cmd"].is_string()) {
    error = "expected an object with a string \"cmd\"";
    return std::nullopt;
  }
  return j;
}

std::string to_line(const nlohmann::json& message) {
  return message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

nlohmann::json error_reply(std::string_view message) {
  return {{"ok", false}, {"error", std::string(message)}};
}

}  // namespace lb::control
