// The embedded catalog: one SQLite file in WAL mode, created on first start,
// brought to the current schema by numbered migrations.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

#include "catalog/store.h"

namespace pgwarden::catalog {
namespace {

// Table names match the PostgreSQL store (pg_store.cpp says why the users
// table is prefixed). Timestamps are UnixMillis integers; the token is a BLOB
// like PostgreSQL's BYTEA; schema_cache is JSON text, checked by json_valid.
constexpr std::array<std::string_view, 1> kMigrations = {
    R"(
CREATE TABLE pgwarden_users (
  name TEXT PRIMARY KEY,
  scram_verifier TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE database_connections (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  name TEXT NOT NULL,
  connection_string_encrypted BLOB NOT NULL,
  schema_cache TEXT CHECK (schema_cache IS NULL OR json_valid(schema_cache)),
  is_active INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
  last_used INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  UNIQUE (user_id, name)
);
)",
};

constexpr std::string_view kConnectionColumns =
    "id, user_id, name, connection_string_encrypted, schema_cache, "
    "json_extract(schema_cache, '$.table_count'), is_active, last_used, created_at, updated_at";
// list_connections skips the (possibly large) schema JSON.
constexpr std::string_view kSummaryColumns =
    "id, user_id, name, connection_string_encrypted, NULL, "
    "json_extract(schema_cache, '$.table_count'), is_active, last_used, created_at, updated_at";

constexpr auto kPollInterval = std::chrono::milliseconds(200);

class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql, std::string_view what) : db_(db), what_(what) {
    if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt_, nullptr) !=
        SQLITE_OK) {
      fail();
    }
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }

  Statement& bind(int index, std::string_view text) {
    check(sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                            SQLITE_TRANSIENT));
    return *this;
  }
  Statement& bind_blob(int index, std::string_view bytes) {
    check(sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()),
                            SQLITE_TRANSIENT));
    return *this;
  }
  Statement& bind(int index, std::int64_t value) {
    check(sqlite3_bind_int64(stmt_, index, value));
    return *this;
  }

  //! True while there is a row; throws on errors. SQLITE_CONSTRAINT is
  //! reported through constraint_failed() instead.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
      constraint_failed_ = true;
      return false;
    }
    fail();
  }
  bool constraint_failed() const { return constraint_failed_; }

  std::string text(int column) const {
    const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, column));
    return data == nullptr ? std::string() : std::string(data, sqlite3_column_bytes(stmt_, column));
  }
  bool is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  std::int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) fail();
  }
  [[noreturn]] void fail() const {
    throw StoreError("sqlite: " + std::string(what_) + ": " + sqlite3_errmsg(db_));
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string_view what_;
  bool constraint_failed_ = false;
};

ConnectionRecord read_connection(const Statement& s) {
  ConnectionRecord r;
  r.id = s.text(0);
  r.user_id = s.text(1);
  r.name = s.text(2);
  r.connection_string_encrypted = s.text(3);
  if (!s.is_null(4)) r.schema_cache = s.text(4);
  if (!s.is_null(5)) r.table_count = s.integer(5);
  r.is_active = s.integer(6) != 0;
  if (!s.is_null(7)) r.last_used = s.integer(7);
  r.created_at = s.integer(8);
  r.updated_at = s.integer(9);
  return r;
}

class SqliteStore final : public CatalogStore {
 public:
  explicit SqliteStore(const std::string& path) {
    prepare_file(path);
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) !=
        SQLITE_OK) {
      const std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      throw StoreError("sqlite: cannot open " + path + ": " + message);
    }
    try {
      // Another process (pgwarden rotate-key) may hold the write lock briefly.
      sqlite3_busy_timeout(db_, 5000);
      execute("PRAGMA journal_mode = WAL", "enable WAL");
      // FULL: a committed record survives power loss, not only a crash;
      // writes are rare, so the extra fsync costs nothing that matters.
      execute("PRAGMA synchronous = FULL", "set synchronous");
      migrate();
      data_version_ = read_data_version();
    } catch (...) {
      sqlite3_close(db_);
      throw;
    }
  }
  ~SqliteStore() override { sqlite3_close(db_); }

  std::string_view kind() const override { return "sqlite"; }

  int schema_version() override {
    std::lock_guard lock(mutex_);
    return read_schema_version();
  }

  void ping() override {
    std::lock_guard lock(mutex_);
    Statement s(db_, "SELECT 1", "ping");
    s.step();
  }

  WriteStatus create_connection(const NewConnection& c, ConnectionRecord* created) override {
    std::lock_guard lock(mutex_);
    const std::string id = random_uuid();
    const UnixMillis now = now_millis();
    Statement s(db_,
                "INSERT INTO database_connections (id, user_id, name, "
                "connection_string_encrypted, schema_cache, is_active, created_at, updated_at) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                "create connection");
    s.bind(1, id).bind(2, c.user_id).bind(3, c.name).bind_blob(4, c.connection_string_encrypted);
    if (c.schema_cache) s.bind(5, *c.schema_cache);
    s.bind(6, std::int64_t{c.is_active}).bind(7, now);
    s.step();
    if (s.constraint_failed()) return WriteStatus::Conflict;
    if (created != nullptr) *created = *get_locked(id);
    return WriteStatus::Ok;
  }

  std::optional<ConnectionRecord> get_connection(std::string_view id) override {
    std::lock_guard lock(mutex_);
    return get_locked(id);
  }

  std::optional<ConnectionRecord> find_connection(std::string_view user_id,
                                                  std::string_view name) override {
    std::lock_guard lock(mutex_);
    Statement s(db_,
                "SELECT " + std::string(kConnectionColumns) +
                    " FROM database_connections WHERE user_id = ?1 AND name = ?2",
                "find connection");
    s.bind(1, user_id).bind(2, name);
    if (!s.step()) return std::nullopt;
    return read_connection(s);
  }

  std::vector<ConnectionRecord> list_connections(std::optional<std::string_view> user) override {
    std::lock_guard lock(mutex_);
    Statement s(db_,
                "SELECT " + std::string(kSummaryColumns) +
                    " FROM database_connections WHERE ?1 IS NULL OR user_id = ?1"
                    " ORDER BY user_id, name",
                "list connections");
    if (user) s.bind(1, *user);
    std::vector<ConnectionRecord> out;
    while (s.step()) out.push_back(read_connection(s));
    return out;
  }

  WriteStatus delete_connection(std::string_view id) override {
    return update("DELETE FROM database_connections WHERE id = ?1", id, "delete connection");
  }

  WriteStatus set_active(std::string_view id, bool active) override {
    return update("UPDATE database_connections SET is_active = ?2, updated_at = ?3 WHERE id = ?1",
                  id, "set is_active", std::int64_t{active});
  }

  WriteStatus set_schema_cache(std::string_view id, std::string_view schema_json) override {
    return update(
        "UPDATE database_connections SET schema_cache = ?2, updated_at = ?3 WHERE id = ?1", id,
        "store schema cache", schema_json);
  }

  WriteStatus touch_last_used(std::string_view id, UnixMillis when) override {
    // Not an edit of the record: updated_at stays.
    return update("UPDATE database_connections SET last_used = ?2 WHERE id = ?1", id,
                  "touch last_used", when);
  }

  WriteStatus set_connection_string(std::string_view id, std::string_view token) override {
    std::lock_guard lock(mutex_);
    Statement s(db_,
                "UPDATE database_connections SET connection_string_encrypted = ?2, "
                "updated_at = ?3 WHERE id = ?1",
                "replace connection string");
    s.bind(1, id).bind_blob(2, token).bind(3, now_millis());
    s.step();
    return sqlite3_changes(db_) > 0 ? WriteStatus::Ok : WriteStatus::NotFound;
  }

  WriteStatus create_user(std::string_view name, std::string_view verifier) override {
    std::lock_guard lock(mutex_);
    Statement s(db_,
                "INSERT INTO pgwarden_users (name, scram_verifier, created_at) VALUES (?1, ?2, ?3)",
                "create user");
    s.bind(1, name).bind(2, verifier).bind(3, now_millis());
    s.step();
    return s.constraint_failed() ? WriteStatus::Conflict : WriteStatus::Ok;
  }

  std::optional<UserRecord> get_user(std::string_view name) override {
    std::lock_guard lock(mutex_);
    Statement s(db_, "SELECT name, scram_verifier, created_at FROM pgwarden_users WHERE name = ?1",
                "get user");
    s.bind(1, name);
    if (!s.step()) return std::nullopt;
    return UserRecord{s.text(0), s.text(1), s.integer(2)};
  }

  std::vector<UserRecord> list_users() override {
    std::lock_guard lock(mutex_);
    Statement s(db_, "SELECT name, scram_verifier, created_at FROM pgwarden_users ORDER BY name",
                "list users");
    std::vector<UserRecord> out;
    while (s.step()) out.push_back(UserRecord{s.text(0), s.text(1), s.integer(2)});
    return out;
  }

  WriteStatus delete_user(std::string_view name) override {
    return update("DELETE FROM pgwarden_users WHERE name = ?1", name, "delete user");
  }

  // PRAGMA data_version changes only when another connection commits, which
  // is exactly "a change made elsewhere"; SQLite has no push notification.
  bool wait_for_change(std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        const std::int64_t version = read_data_version();
        if (version != data_version_) {
          data_version_ = version;
          return true;
        }
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return false;
      std::this_thread::sleep_for(
          std::min<std::chrono::steady_clock::duration>(kPollInterval, deadline - now));
    }
  }

 private:
  static void prepare_file(const std::string& path) {
    const std::filesystem::path file(path);
    std::error_code ec;
    if (file.has_parent_path() && !std::filesystem::exists(file.parent_path(), ec)) {
      std::filesystem::create_directories(file.parent_path(), ec);
      if (ec) {
        throw StoreError("sqlite: cannot create folder " + file.parent_path().string() + ": " +
                         ec.message());
      }
      // Holds verifiers and encrypted credentials: the service user's only.
      ::chmod(file.parent_path().c_str(), 0700);
    }
    // Created here rather than by SQLite so the mode is 0600 whatever the
    // umask; SQLite gives its -wal and -shm files the database file's mode.
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) throw StoreError("sqlite: cannot open " + path + ": " + std::strerror(errno));
    ::close(fd);
  }

  void execute(const char* sql, std::string_view what) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
      const std::string message = error != nullptr ? error : sqlite3_errmsg(db_);
      sqlite3_free(error);
      throw StoreError("sqlite: " + std::string(what) + ": " + message);
    }
  }

  int read_schema_version() {
    Statement s(db_, "SELECT version FROM pgwarden_schema_version", "read schema version");
    return s.step() ? static_cast<int>(s.integer(0)) : 0;
  }

  std::int64_t read_data_version() {
    Statement s(db_, "PRAGMA data_version", "read data_version");
    s.step();
    return s.integer(0);
  }

  // One transaction for the check and every step: two processes starting at
  // once cannot both apply migration 1 (BEGIN IMMEDIATE takes the write lock).
  void migrate() {
    execute("BEGIN IMMEDIATE", "begin migration");
    try {
      execute("CREATE TABLE IF NOT EXISTS pgwarden_schema_version (version INTEGER NOT NULL)",
              "create pgwarden_schema_version");
      const int current = read_schema_version();
      const int latest = static_cast<int>(kMigrations.size());
      if (current > latest) {
        throw StoreError("sqlite: catalog schema version " + std::to_string(current) +
                         " is newer than this pgwarden understands (" + std::to_string(latest) +
                         ")");
      }
      for (int version = current + 1; version <= latest; ++version) {
        execute(std::string(kMigrations[version - 1]).c_str(),
                "migration " + std::to_string(version));
      }
      if (current == 0) {
        execute("INSERT INTO pgwarden_schema_version (version) VALUES (0)", "init version");
      }
      Statement s(db_, "UPDATE pgwarden_schema_version SET version = ?1", "set schema version");
      s.bind(1, std::int64_t{latest});
      s.step();
      execute("COMMIT", "commit migration");
    } catch (...) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }

  std::optional<ConnectionRecord> get_locked(std::string_view id) {
    Statement s(
        db_,
        "SELECT " + std::string(kConnectionColumns) + " FROM database_connections WHERE id = ?1",
        "get connection");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    return read_connection(s);
  }

  // UPDATE/DELETE keyed by ?1, with an optional ?2 and updated_at as ?3.
  template <typename... Value>
  WriteStatus update(std::string_view sql, std::string_view key, std::string_view what,
                     const Value&... value) {
    std::lock_guard lock(mutex_);
    Statement s(db_, sql, what);
    s.bind(1, key);
    (s.bind(2, value), ...);
    if (sql.find("?3") != std::string_view::npos) s.bind(3, now_millis());
    s.step();
    return sqlite3_changes(db_) > 0 ? WriteStatus::Ok : WriteStatus::NotFound;
  }

  std::mutex mutex_;
  sqlite3* db_ = nullptr;
  std::int64_t data_version_ = 0;
};

}  // namespace

std::shared_ptr<CatalogStore> open_sqlite_store(const std::string& path) {
  return std::make_shared<SqliteStore>(path);
}

}  // namespace pgwarden::catalog
