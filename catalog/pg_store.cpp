// The shared catalog: tables in a PostgreSQL database that several pgwarden
// instances (and the application) use, with LISTEN/NOTIFY for changes.
#include <poll.h>

#include <array>
#include <atomic>
#include <mutex>

#include "catalog/pq.h"
#include "catalog/store.h"

namespace pgwarden::catalog {
namespace {

constexpr const char* kChannel = "pgwarden_catalog";
// Any fixed number; two instances starting at once migrate one after another.
constexpr std::int64_t kMigrationLockKey = 0x7067776172646e31;  // "pgwardn1"

// The catalog may live in the application's own database, next to its own
// "users" table: every table pgwarden adds is prefixed, except
// database_connections, which is the application's data model and is meant
// to be shared (CREATE TABLE IF NOT EXISTS adopts an existing one).
// The trigger notifies for changes that matter to routing only (not
// last_used or schema_cache), with the writer's backend pid as payload so an
// instance can ignore its own writes.
constexpr std::array<const char*, 1> kMigrations = {
    R"(
CREATE TABLE IF NOT EXISTS pgwarden_users (
  name TEXT PRIMARY KEY,
  scram_verifier TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS database_connections (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id TEXT NOT NULL,
  name TEXT NOT NULL,
  connection_string_encrypted BYTEA NOT NULL,
  schema_cache JSONB,
  is_active BOOLEAN NOT NULL DEFAULT true,
  last_used TIMESTAMPTZ,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  UNIQUE (user_id, name)
);
CREATE OR REPLACE FUNCTION pgwarden_catalog_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('pgwarden_catalog', pg_backend_pid()::text);
  RETURN NULL;
END
$$;
CREATE TRIGGER pgwarden_connections_changed
  AFTER INSERT OR DELETE OR UPDATE OF user_id, name, connection_string_encrypted, is_active
  ON database_connections FOR EACH STATEMENT EXECUTE FUNCTION pgwarden_catalog_notify();
CREATE TRIGGER pgwarden_users_changed
  AFTER INSERT OR DELETE OR UPDATE ON pgwarden_users
  FOR EACH STATEMENT EXECUTE FUNCTION pgwarden_catalog_notify();
)",
};

constexpr const char* kConnectionColumns =
    "id::text, user_id::text, name, connection_string_encrypted, schema_cache::text, "
    "(schema_cache->>'table_count')::int8, is_active, "
    "(extract(epoch FROM last_used) * 1000)::int8, (extract(epoch FROM created_at) * 1000)::int8, "
    "(extract(epoch FROM updated_at) * 1000)::int8";
constexpr const char* kSummaryColumns =
    "id::text, user_id::text, name, connection_string_encrypted, NULL, "
    "(schema_cache->>'table_count')::int8, is_active, "
    "(extract(epoch FROM last_used) * 1000)::int8, (extract(epoch FROM created_at) * 1000)::int8, "
    "(extract(epoch FROM updated_at) * 1000)::int8";

using Params = std::vector<std::optional<std::string>>;

std::string unescape_bytea(const std::string& text) {
  std::size_t length = 0;
  unsigned char* bytes =
      PQunescapeBytea(reinterpret_cast<const unsigned char*>(text.c_str()), &length);
  if (bytes == nullptr) throw StoreError("postgresql: out of memory reading a token");
  std::string out(reinterpret_cast<const char*>(bytes), length);
  PQfreemem(bytes);
  return out;
}

ConnectionRecord read_connection(const PGresult* r, int row) {
  ConnectionRecord c;
  c.id = pq::text(r, row, 0);
  c.user_id = pq::text(r, row, 1);
  c.name = pq::text(r, row, 2);
  c.connection_string_encrypted = unescape_bytea(pq::text(r, row, 3));
  if (!pq::is_null(r, row, 4)) c.schema_cache = pq::text(r, row, 4);
  if (!pq::is_null(r, row, 5)) c.table_count = std::stoll(pq::text(r, row, 5));
  c.is_active = pq::text(r, row, 6) == "t";
  if (!pq::is_null(r, row, 7)) c.last_used = std::stoll(pq::text(r, row, 7));
  c.created_at = std::stoll(pq::text(r, row, 8));
  c.updated_at = std::stoll(pq::text(r, row, 9));
  return c;
}

class PostgresStore final : public CatalogStore {
 public:
  explicit PostgresStore(std::string url) : url_(std::move(url)) {
    conn_ = open("connect");
    migrate();
    listener_ = open("connect the listener");
    listen();
  }

  std::string_view kind() const override { return "postgresql"; }

  int schema_version() override {
    std::lock_guard lock(mutex_);
    auto r = query("SELECT version FROM pgwarden_schema_version", {}, "read schema version");
    return PQntuples(r.get()) > 0 ? std::stoi(pq::text(r.get(), 0, 0)) : 0;
  }

  void ping() override {
    std::lock_guard lock(mutex_);
    query("SELECT 1", {}, "ping");
  }

  WriteStatus create_connection(const NewConnection& c, ConnectionRecord* created) override {
    std::lock_guard lock(mutex_);
    const std::string sql = std::string(
                                "INSERT INTO database_connections (user_id, name, "
                                "connection_string_encrypted, schema_cache, is_active) "
                                "VALUES ($1, $2, $3, $4::jsonb, $5) "
                                "ON CONFLICT (user_id, name) DO NOTHING RETURNING ") +
                            kConnectionColumns;
    auto r = query(sql.c_str(),
                   {c.user_id, c.name, c.connection_string_encrypted, c.schema_cache,
                    std::string(c.is_active ? "true" : "false")},
                   "create connection", {2});
    if (PQntuples(r.get()) == 0) return WriteStatus::Conflict;
    if (created != nullptr) *created = read_connection(r.get(), 0);
    return WriteStatus::Ok;
  }

  std::optional<ConnectionRecord> get_connection(std::string_view id) override {
    if (!is_uuid(id)) return std::nullopt;  // the uuid column would reject it with an error
    std::lock_guard lock(mutex_);
    const std::string sql =
        std::string("SELECT ") + kConnectionColumns + " FROM database_connections WHERE id = $1";
    auto r = query(sql.c_str(), {std::string(id)}, "get connection");
    if (PQntuples(r.get()) == 0) return std::nullopt;
    return read_connection(r.get(), 0);
  }

  std::optional<ConnectionRecord> find_connection(std::string_view user_id,
                                                  std::string_view name) override {
    std::lock_guard lock(mutex_);
    const std::string sql = std::string("SELECT ") + kConnectionColumns +
                            " FROM database_connections WHERE user_id = $1 AND name = $2";
    auto r = query(sql.c_str(), {std::string(user_id), std::string(name)}, "find connection");
    if (PQntuples(r.get()) == 0) return std::nullopt;
    return read_connection(r.get(), 0);
  }

  std::vector<ConnectionRecord> list_connections(std::optional<std::string_view> user) override {
    std::lock_guard lock(mutex_);
    const std::string sql = std::string("SELECT ") + kSummaryColumns +
                            " FROM database_connections WHERE $1::text IS NULL OR user_id = $1"
                            " ORDER BY user_id, name";
    auto r = query(sql.c_str(), {user ? std::optional<std::string>(*user) : std::nullopt},
                   "list connections");
    std::vector<ConnectionRecord> out;
    for (int row = 0; row < PQntuples(r.get()); ++row) out.push_back(read_connection(r.get(), row));
    return out;
  }

  WriteStatus delete_connection(std::string_view id) override {
    return change("DELETE FROM database_connections WHERE id = $1", id, std::nullopt,
                  "delete connection");
  }

  WriteStatus set_active(std::string_view id, bool active) override {
    return change(
        "UPDATE database_connections SET is_active = $2, updated_at = now() WHERE id = $1", id,
        std::string(active ? "true" : "false"), "set is_active");
  }

  WriteStatus set_schema_cache(std::string_view id, std::string_view schema_json) override {
    return change(
        "UPDATE database_connections SET schema_cache = $2::jsonb, updated_at = now() "
        "WHERE id = $1",
        id, std::string(schema_json), "store schema cache");
  }

  WriteStatus touch_last_used(std::string_view id, UnixMillis when) override {
    return change(
        "UPDATE database_connections SET last_used = to_timestamp($2::float8 / 1000) "
        "WHERE id = $1",
        id, std::to_string(when), "touch last_used");
  }

  WriteStatus set_connection_string(std::string_view id, std::string_view token) override {
    if (!is_uuid(id)) return WriteStatus::NotFound;
    std::lock_guard lock(mutex_);
    auto r = query(
        "UPDATE database_connections SET connection_string_encrypted = $2, updated_at = now() "
        "WHERE id = $1",
        {std::string(id), std::string(token)}, "replace connection string", {1});
    return affected(r.get()) ? WriteStatus::Ok : WriteStatus::NotFound;
  }

  WriteStatus create_user(std::string_view name, std::string_view verifier) override {
    std::lock_guard lock(mutex_);
    auto r = query(
        "INSERT INTO pgwarden_users (name, scram_verifier) VALUES ($1, $2) "
        "ON CONFLICT (name) DO NOTHING",
        {std::string(name), std::string(verifier)}, "create user");
    return affected(r.get()) ? WriteStatus::Ok : WriteStatus::Conflict;
  }

  std::optional<UserRecord> get_user(std::string_view name) override {
    std::lock_guard lock(mutex_);
    auto r = query(
        "SELECT name, scram_verifier, (extract(epoch FROM created_at) * 1000)::int8 "
        "FROM pgwarden_users WHERE name = $1",
        {std::string(name)}, "get user");
    if (PQntuples(r.get()) == 0) return std::nullopt;
    return UserRecord{pq::text(r.get(), 0, 0), pq::text(r.get(), 0, 1),
                      std::stoll(pq::text(r.get(), 0, 2))};
  }

  std::vector<UserRecord> list_users() override {
    std::lock_guard lock(mutex_);
    auto r = query(
        "SELECT name, scram_verifier, (extract(epoch FROM created_at) * 1000)::int8 "
        "FROM pgwarden_users ORDER BY name",
        {}, "list users");
    std::vector<UserRecord> out;
    for (int row = 0; row < PQntuples(r.get()); ++row) {
      out.push_back(UserRecord{pq::text(r.get(), row, 0), pq::text(r.get(), row, 1),
                               std::stoll(pq::text(r.get(), row, 2))});
    }
    return out;
  }

  WriteStatus delete_user(std::string_view name) override {
    std::lock_guard lock(mutex_);
    auto r =
        query("DELETE FROM pgwarden_users WHERE name = $1", {std::string(name)}, "delete user");
    return affected(r.get()) ? WriteStatus::Ok : WriteStatus::NotFound;
  }

  bool wait_for_change(std::chrono::milliseconds timeout) override {
    std::lock_guard lock(listener_mutex_);
    if (!listener_ || PQstatus(listener_.get()) != CONNECTION_OK) {
      // Notifications sent while we were away are lost: report a change so the
      // caller reloads everything. A failure propagates: the watcher reports
      // the catalog down and retries.
      listener_.reset();
      pq::Conn conn = open("reconnect the listener");
      listener_ = std::move(conn);
      try {
        listen();
      } catch (...) {
        listener_.reset();
        throw;
      }
      return true;
    }
    if (drain()) return true;
    pollfd fd{PQsocket(listener_.get()), POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(timeout.count())) > 0) {
      if (PQconsumeInput(listener_.get()) == 0) return true;  // lost; next call reconnects
      return drain();
    }
    return false;
  }

 private:
  pq::Conn open(std::string_view what) {
    pq::ConnectOptions options;
    options.read_only = false;
    options.application_name = "pgwarden-catalog";
    pq::Conn conn = pq::connect_url(url_, options);
    if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
      // libpq's text can quote the URL; only the kind is reported.
      const FailureText& failure = describe(pq::classify(conn.get()));
      throw StoreError("postgresql: " + std::string(what) + ": " + std::string(failure.message));
    }
    return conn;
  }

  void listen() {
    pq::Result r(PQexec(listener_.get(), (std::string("LISTEN ") + kChannel).c_str()));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      throw StoreError("postgresql: LISTEN: " + pq::primary_message(r.get()));
    }
  }

  // True if a notification came from another backend than our writer's.
  bool drain() {
    PQconsumeInput(listener_.get());
    bool changed = false;
    const std::string own_pid = std::to_string(writer_pid_.load());
    while (PGnotify* notify = PQnotifies(listener_.get())) {
      if (own_pid != notify->extra) changed = true;
      PQfreemem(notify);
    }
    return changed;
  }

  // Runs one statement on the main connection (mutex held), reconnecting
  // first if the last call lost it. A failure after sending is not retried:
  // the statement may have committed.
  pq::Result query(const char* sql, const Params& params, std::string_view what,
                   std::initializer_list<int> binary = {}) {
    if (PQstatus(conn_.get()) != CONNECTION_OK) {
      PQreset(conn_.get());
      if (PQstatus(conn_.get()) != CONNECTION_OK) {
        throw StoreError("postgresql: " + std::string(what) + ": " +
                         std::string(describe(pq::classify(conn_.get())).message));
      }
    }
    writer_pid_ = PQbackendPID(conn_.get());
    pq::Result r = pq::exec(conn_.get(), sql, params, binary);
    const auto status = PQresultStatus(r.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      const std::string message = r ? pq::primary_message(r.get()) : "";
      throw StoreError("postgresql: " + std::string(what) + ": " +
                       (message.empty() ? "connection lost" : message));
    }
    return r;
  }

  WriteStatus change(const char* sql, std::string_view id, std::optional<std::string> value,
                     std::string_view what) {
    if (!is_uuid(id)) return WriteStatus::NotFound;
    std::lock_guard lock(mutex_);
    Params params{std::string(id)};
    if (value) params.push_back(std::move(value));
    auto r = query(sql, params, what);
    return affected(r.get()) ? WriteStatus::Ok : WriteStatus::NotFound;
  }

  static bool affected(const PGresult* r) {
    const char* tuples = PQcmdTuples(const_cast<PGresult*>(r));
    return tuples != nullptr && *tuples != '\0' && std::string_view(tuples) != "0";
  }

  void migrate() {
    std::lock_guard lock(mutex_);
    query("BEGIN", {}, "begin migration");
    try {
      query(("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) + ")").c_str(), {},
            "lock for migration");
      query("CREATE TABLE IF NOT EXISTS pgwarden_schema_version (version integer NOT NULL)", {},
            "create pgwarden_schema_version");
      auto r = query("SELECT version FROM pgwarden_schema_version", {}, "read schema version");
      const int current = PQntuples(r.get()) > 0 ? std::stoi(pq::text(r.get(), 0, 0)) : 0;
      const int latest = static_cast<int>(kMigrations.size());
      if (current > latest) {
        throw StoreError("postgresql: catalog schema version " + std::to_string(current) +
                         " is newer than this pgwarden understands (" + std::to_string(latest) +
                         ")");
      }
      for (int version = current + 1; version <= latest; ++version) {
        // Simple protocol: a migration is several statements.
        pq::Result step(PQexec(conn_.get(), kMigrations[version - 1]));
        if (PQresultStatus(step.get()) != PGRES_COMMAND_OK) {
          throw StoreError("postgresql: migration " + std::to_string(version) + ": " +
                           pq::primary_message(step.get()));
        }
      }
      if (current == 0) query("INSERT INTO pgwarden_schema_version VALUES (0)", {}, "init version");
      query("UPDATE pgwarden_schema_version SET version = $1", {std::to_string(latest)},
            "set schema version");
      query("COMMIT", {}, "commit migration");
    } catch (...) {
      pq::Result ignored(PQexec(conn_.get(), "ROLLBACK"));
      throw;
    }
  }

  const std::string url_;
  std::mutex mutex_;
  pq::Conn conn_;
  std::atomic<int> writer_pid_{0};
  std::mutex listener_mutex_;
  pq::Conn listener_;
};

}  // namespace

std::shared_ptr<CatalogStore> open_postgres_store(const std::string& url) {
  return std::make_shared<PostgresStore>(url);
}

}  // namespace pgwarden::catalog
