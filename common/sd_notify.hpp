// systemd readiness notification (sd_notify(3) protocol) without linking libsystemd: one datagram
// to $NOTIFY_SOCKET. A no-op when not started by systemd with Type=notify.
#pragma once

#include <string_view>

namespace lb {

/// Sends `state` (e.g. "READY=1", "RELOADING=1", "STOPPING=1", "STATUS=...") to systemd.
/// Returns false when NOTIFY_SOCKET is unset or the send failed. Thread-safe.
bool sd_notify(std::string_view state);

}  // namespace lb
