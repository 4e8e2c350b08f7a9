// The catalog store: users and connection records behind one blocking
// interface, kept in embedded SQLite (default) or a shared PostgreSQL.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace pgwarden::catalog {

class Fernet;

//! Milliseconds since the Unix epoch (UTC); the unit every timestamp here uses.
using UnixMillis = std::int64_t;

//! Now, as UnixMillis.
UnixMillis now_millis();
//! "2024-05-01T12:00:00.123Z".
std::string format_timestamp(UnixMillis millis);

//! One row of database_connections.
struct ConnectionRecord {
  std::string id;       //!< UUID, lower-case text
  std::string user_id;  //!< owning user's name
  std::string name;     //!< what clients pass as the database name
  //! Fernet token of the libpq connection string; never the plaintext.
  std::string connection_string_encrypted;
  //! The introspected schema as JSON text (catalog/introspect.h), if any.
  //! list_connections leaves it empty and fills table_count instead.
  std::optional<std::string> schema_cache;
  //! schema_cache's "table_count", read by the store without parsing the rest.
  std::optional<std::int64_t> table_count;
  bool is_active = true;
  std::optional<UnixMillis> last_used;
  UnixMillis created_at = 0;
  UnixMillis updated_at = 0;
};

//! What create_connection needs; id and timestamps come from the store.
struct NewConnection {
  std::string user_id;
  std::string name;
  std::string connection_string_encrypted;
  std::optional<std::string> schema_cache;
  bool is_active = true;
};

struct UserRecord {
  std::string name;
  std::string verifier;  //!< SCRAM-SHA-256$... (never a password)
  UnixMillis created_at = 0;
};

//! Outcome of a write that can collide with an existing row.
enum class WriteStatus { Ok, Conflict, NotFound };

//! The store itself failed (disk, lock, lost server). The message names the
//! operation and the cause, never a connection string or password. Thrown
//! rather than returned: every caller hands it to the same boundary (an HTTP
//! 503, a refusal to start), and expected outcomes are WriteStatus values.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

//! Blocking and thread-safe: call it from worker threads, never from an event
//! loop. Implementations serialise calls on one connection.
class CatalogStore {
 public:
  virtual ~CatalogStore() = default;

  //! "sqlite" or "postgresql".
  virtual std::string_view kind() const = 0;
  //! The schema version the migrations brought the store to.
  virtual int schema_version() = 0;
  //! Cheap round trip, for /healthz.
  virtual void ping() = 0;

  //! Inserts a record; Conflict if (user_id, name) exists. Fills *created
  //! (when not null) with the stored row, id and timestamps included.
  virtual WriteStatus create_connection(const NewConnection& connection,
                                        ConnectionRecord* created) = 0;
  virtual std::optional<ConnectionRecord> get_connection(std::string_view id) = 0;
  virtual std::optional<ConnectionRecord> find_connection(std::string_view user_id,
                                                          std::string_view name) = 0;
  //! Every record (of one user when user_id is set), ordered by user, name;
  //! without schema_cache (see ConnectionRecord::table_count).
  virtual std::vector<ConnectionRecord> list_connections(
      std::optional<std::string_view> user_id) = 0;
  virtual WriteStatus delete_connection(std::string_view id) = 0;
  virtual WriteStatus set_active(std::string_view id, bool active) = 0;
  virtual WriteStatus set_schema_cache(std::string_view id, std::string_view schema_json) = 0;
  virtual WriteStatus touch_last_used(std::string_view id, UnixMillis when) = 0;
  //! Replaces the token (key rotation).
  virtual WriteStatus set_connection_string(std::string_view id, std::string_view token) = 0;

  //! Conflict if the name exists.
  virtual WriteStatus create_user(std::string_view name, std::string_view verifier) = 0;
  virtual std::optional<UserRecord> get_user(std::string_view name) = 0;
  virtual std::vector<UserRecord> list_users() = 0;
  virtual WriteStatus delete_user(std::string_view name) = 0;

  //! Blocks up to `timeout` for a change made through *another* handle to the
  //! same catalog (another process, another pgwarden instance). True if one
  //! happened (or may have: after a lost connection). Callers use it to reload.
  virtual bool wait_for_change(std::chrono::milliseconds timeout) = 0;
};

//! Opens (creating if needed) the SQLite catalog at `path`: parent folder
//! made 0700, file 0600, WAL mode, migrations applied.
std::shared_ptr<CatalogStore> open_sqlite_store(const std::string& path);
//! Connects to the PostgreSQL catalog at `url` (libpq URI or key=value),
//! applies migrations under an advisory lock, LISTENs for changes.
std::shared_ptr<CatalogStore> open_postgres_store(const std::string& url);

//! Where the SQLite catalog lives when [catalog] path is not set:
//! $STATE_DIRECTORY/catalog.db (systemd StateDirectory=), else
//! /var/lib/pgwarden/catalog.db.
std::string default_catalog_path();

//! url set: PostgreSQL; else SQLite at path (or the default). The error
//! string is for the operator and holds no secret.
std::variant<std::shared_ptr<CatalogStore>, std::string> open_catalog_store(const std::string& path,
                                                                            const std::string& url);

//! A random (version 4) UUID, lower-case text.
std::string random_uuid();
//! A name-based (version 5, SHA-1) UUID: stable ids for records that are not
//! in the store (connections declared in the configuration file).
std::string name_uuid(std::string_view name);
//! True for 8-4-4-4-12 hex digits.
bool is_uuid(std::string_view text);

//! Re-encrypts every record's connection string under the first key of
//! `keys` (`pgwarden rotate-key`). Records no key can decrypt are left as
//! they are and counted.
struct RotationResult {
  std::size_t rotated = 0;
  std::size_t undecryptable = 0;
};
RotationResult rotate_connection_keys(CatalogStore& store, const Fernet& keys);

}  // namespace pgwarden::catalog
