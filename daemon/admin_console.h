// The psql admin console (virtual database "pgwarden"): SHOW POOLS, RELOAD,
// PAUSE and the rest, answered as PgBouncer's console answers them. Pure
// logic: the text of one simple Query goes in, the complete reply comes out.
#pragma once

#include <boost/json.hpp>
#include <functional>
#include <string>
#include <string_view>

namespace pgwarden::daemon {

//! Where the console's figures come from and what its commands do. A data
//! hook returns {"<key>": [objects]} (or the bare array); the console takes
//! the fields it shows by name (absent ones are NULL), so a hook may carry
//! more. A hook left empty makes its command answer 0A000. Hooks run on the
//! session's event loop: they must not block.
struct ConsoleHooks {
  //! SHOW POOLS: the GET /api/pools body (AdminHooks::pools), key "pools":
  //! user, name, clients_active, clients_waiting, servers_active,
  //! servers_idle, servers_testing, queries, denials, rate_limited,
  //! connect_failures, wait_timeouts, paused.
  std::function<boost::json::value()> pools;
  //! SHOW CLIENTS: the GET /api/clients body (AdminHooks::clients), key
  //! "clients": user, database, state, address, port, tls,
  //! application_name, pid.
  std::function<boost::json::value()> clients;
  //! SHOW SERVERS: key "servers" (console_servers()).
  std::function<boost::json::value()> servers;
  //! SHOW STATS: key "stats" (console_stats()).
  std::function<boost::json::value()> stats;
  //! SHOW CONNECTIONS, and the names PAUSE/RESUME accept: key "connections"
  //! (console_connections()); needs at least user and name.
  std::function<boost::json::value()> connections;
  //! SHOW CONFIG: key "config", objects {key, value, default}
  //! (console_config()).
  std::function<boost::json::value()> config;
  //! SHOW VERSION: e.g. "pgwarden 0.4.0".
  std::function<std::string()> version;
  //! RELOAD: the error text, or empty on success (as Proxy::reload()).
  std::function<std::string()> reload;
  //! PAUSE / RESUME of the connection `name` owned by `user` (already
  //! resolved by the console): the error text, or empty on success.
  std::function<std::string(const std::string& user, const std::string& name)> pause;
  std::function<std::string(const std::string& user, const std::string& name)> resume;
};

//! Answers the admin console's simple queries. Commands are case-insensitive;
//! several may share one Query, separated by ';'. A connection is named
//! "user/name", or just "name" when one user alone has a connection of that
//! name; quote it ("...") if it holds spaces or semicolons. Names are matched
//! exactly as written (no case folding).
class AdminConsole {
 public:
  explicit AdminConsole(ConsoleHooks hooks);

  //! The whole reply to one simple Query: per statement a result set
  //! (RowDescription, DataRow*, CommandComplete "SHOW") or a CommandComplete
  //! ("RELOAD", "PAUSE", "RESUME"); an error ends the string (a syntax error
  //! anywhere runs nothing); an empty string gets EmptyQueryResponse. Always
  //! ends with ReadyForQuery 'I'.
  std::string handle_query(std::string_view sql) const;

  //! ErrorResponse 0A000 for any extended-query message; no ReadyForQuery
  //! (the caller answers the Sync that ends the batch).
  static std::string refuse_extended();

 private:
  ConsoleHooks hooks_;
};

}  // namespace pgwarden::daemon
