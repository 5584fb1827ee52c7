// lbctl's command words ("show servers web", "server drain web/be1", "vrrp switchover 51") turned
// into one control-protocol request and the daemon it goes to. Pure, so every command and every
// usage error is unit-tested.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.hpp"

namespace lbctl {

enum class Daemon { lbd, vrrpd };

struct Request {
  Daemon daemon = Daemon::lbd;
  /// What the reply is rendered as: "servers", "pools", "table", "conns", "replication", "roles",
  /// "status", "health", "server", "cleared", "done", "vrrp".
  std::string view;
  nlohmann::json message;  // the control-protocol request ({"cmd":...})
};

/// The usage text of every command (printed with --help and after a usage error).
std::string commands_help();

/// Builds the request for `words` (the command line after the options). `limit` goes into
/// listing commands. Errors are usage errors ("unknown command ...", "server weight needs
/// POOL/SERVER and a weight in 0..256").
lb::Result<Request> build_request(const std::vector<std::string>& words, std::size_t limit);

}  // namespace lbctl
