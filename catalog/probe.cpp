// Validation and test queries: connect, run, classify, time.
#include "catalog/probe.h"

#include <chrono>

namespace pgwarden::catalog {
namespace {

using Clock = std::chrono::steady_clock;

double millis_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Connects; on failure fills `result` and returns null.
pq::Conn open(const ConnInfo& info, const pq::ConnectOptions& options, ProbeResult& result) {
  pq::Conn conn = pq::connect(info, options);
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    result.failure = pq::classify(conn.get());
    return nullptr;
  }
  return conn;
}

bool command(PGconn* conn, const char* sql, ProbeResult& result) {
  pq::Result r(PQexec(conn, sql));
  if (PQresultStatus(r.get()) == PGRES_COMMAND_OK || PQresultStatus(r.get()) == PGRES_TUPLES_OK) {
    return true;
  }
  result.query_error = pq::primary_message(r.get());
  result.sqlstate = pq::sqlstate(r.get());
  if (result.query_error.empty()) result.failure = ConnectFailure::Other;  // connection lost
  return false;
}

}  // namespace

ProbeResult validate_connection(const ConnInfo& info, const pq::ConnectOptions& options) {
  const auto start = Clock::now();
  ProbeResult result;
  if (pq::Conn conn = open(info, options, result)) {
    result.ok = command(conn.get(), "SELECT 1", result);
  }
  result.elapsed_ms = millis_since(start);
  return result;
}

TestQueryResult run_test_query(const ConnInfo& info, std::string_view sql,
                               const pq::ConnectOptions& options) {
  TestQueryResult result;
  pq::Conn conn = open(info, options, result);
  if (!conn) return result;
  if (!command(conn.get(), "BEGIN READ ONLY", result)) return result;

  const std::string text(sql);
  const auto start = Clock::now();
  if (PQsendQueryParams(conn.get(), text.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) == 0) {
    result.failure = ConnectFailure::Other;
    return result;
  }
  PQsetSingleRowMode(conn.get());
  bool failed = false;
  while (PGresult* raw = PQgetResult(conn.get())) {
    pq::Result r(raw);
    const auto status = PQresultStatus(raw);
    if (status == PGRES_SINGLE_TUPLE) {
      ++result.rows;
    } else if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK && !failed) {
      failed = true;
      result.query_error = pq::primary_message(raw);
      result.sqlstate = pq::sqlstate(raw);
      if (result.query_error.empty()) result.failure = ConnectFailure::Other;
    }
  }
  result.elapsed_ms = millis_since(start);
  if (failed) return result;
  result.ok = command(conn.get(), "ROLLBACK", result);
  return result;
}

}  // namespace pgwarden::catalog
