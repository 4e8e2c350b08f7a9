// systemd service notification (sd_notify), a no-op outside systemd.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace pgwarden::daemon::notify {

//! READY=1, RELOADING=1, STOPPING=1, STATUS=..., WATCHDOG=1.
void send(std::string_view state);
//! The watchdog interval systemd asked for, if any.
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace pgwarden::daemon::notify
