// Connection validation and test queries against a customer database, over
// libpq on the calling (worker) thread: 5 s to connect, 30 s per statement,
// read-only sessions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "catalog/conninfo.h"
#include "catalog/pq.h"

namespace pgwarden::catalog {

//! The outcome of talking to a customer database. Never holds libpq's
//! connection error text (it can quote parameters): only the kind.
struct ProbeResult {
  bool ok = false;
  //! Set when connecting failed.
  std::optional<ConnectFailure> failure;
  //! Set when a statement failed: the server's own message (PostgreSQL never
  //! quotes passwords in statement errors) and its SQLSTATE.
  std::string query_error;
  std::string sqlstate;
  //! Wall time of the whole probe (validate) or of the statement (test query).
  double elapsed_ms = 0;
};

//! Connects and runs SELECT 1.
ProbeResult validate_connection(const ConnInfo& info, const pq::ConnectOptions& options = {});

struct TestQueryResult : ProbeResult {
  std::int64_t rows = 0;  //!< rows the statement returned (read and discarded)
};

//! Runs one statement (the extended protocol refuses several) inside
//! BEGIN READ ONLY ... ROLLBACK; rows are counted in single-row mode, never
//! held in memory. Policy checks are the caller's job.
TestQueryResult run_test_query(const ConnInfo& info, std::string_view sql,
                               const pq::ConnectOptions& options = {});

}  // namespace pgwarden::catalog
