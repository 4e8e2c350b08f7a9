// Session state under transaction pooling: which statements change a server
// connection's session beyond the transaction, and whether pgwarden can make
// that change follow the client (replay it on the next server) or must reset
// the server before anyone else gets it.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

namespace pgwarden::daemon {

struct SessionEffect {
  enum class Kind : unsigned char {
    None,      //!< transaction-scoped or no session state at all
    Track,     //!< a session SET of `name`: replay `sql` wherever the client goes
    Reset,     //!< RESET `name`: the client is back to the server's default
    ResetAll,  //!< RESET ALL / DISCARD ALL
    Dirty,     //!< state pgwarden cannot follow: reset the server before reuse
  };
  Kind kind = Kind::None;
  std::string name;  //!< Track/Reset: the parameter, lower-cased unless quoted
  std::string sql;   //!< Track: the statement, to replay
  bool changes_session() const { return kind != Kind::None; }
};

//! Judges one Query text or Parse statement the guard already allowed.
//! `statement_count` is the guard's count of statements in it. Reported
//! parameters pgwarden already follows through ParameterStatus
//! (application_name, DateStyle, IntervalStyle, TimeZone) are None.
//! Anything it cannot read with certainty is Dirty: resetting a server costs
//! one RESET ALL pipelined ahead of the next client's first statement, while
//! a missed change would leak into another client's results.
SessionEffect session_effect(std::string_view sql, std::size_t statement_count);

//! Session settings by parameter name: the SET statement that made each.
using SessionSettings = std::map<std::string, std::string, std::less<>>;

//! Appends what makes a server whose settings are `server` match `client`:
//! the client's SET for each setting that differs, RESET for each the server
//! has and the client does not. Returns false if nothing was appended.
bool build_settings_sync(const SessionSettings& client, const SessionSettings& server,
                         std::string& sql);

}  // namespace pgwarden::daemon
