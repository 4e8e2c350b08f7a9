// The audit trail: one JSON line per query guard decision, written to
// stderr in batches by its own thread so the data path does not wait.
#pragma once

#include <cstdint>
#include <string_view>

namespace pgwarden::daemon::audit {

enum class Mode { All, Denied, Off };

//! Sets up the "audit" logger; call once before serving.
void configure(std::string_view mode);
Mode mode();
//! Writes out every line recorded so far (at shutdown).
void flush();

struct Event {
  std::string_view user;
  std::string_view connection;
  std::string_view client;  //!< client address
  bool allowed = false;
  std::string_view reason;    //!< refusal message (denied only)
  std::string_view sqlstate;  //!< denied only
  std::uint64_t fingerprint = 0;
  std::string_view text;    //!< only when the connection has log_query_text
  double duration_ms = -1;  //!< allowed, once finished
  std::int64_t rows = -1;   //!< allowed, once finished
};

//! Writes the event as one JSON line (never parameters, never secrets).
void record(const Event& event);

}  // namespace pgwarden::daemon::audit
