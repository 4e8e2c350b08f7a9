// sd_notify through libsystemd, which handles NOTIFY_SOCKET (abstract
// sockets, credentials) correctly; it does nothing when the variable is unset.
#include "daemon/notify.h"

#include <systemd/sd-daemon.h>

#include <string>

namespace pgwarden::daemon::notify {

void send(std::string_view state) {
  const std::string text(state);
  sd_notify(0, text.c_str());
}

std::optional<std::chrono::microseconds> watchdog_interval() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    return std::chrono::microseconds(usec);
  }
  return std::nullopt;
}

}  // namespace pgwarden::daemon::notify
