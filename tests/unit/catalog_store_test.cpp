// The SQLite catalog store in a temp folder: file creation and modes, WAL,
// migrations, every read and write, conflicts, change detection between two
// handles, key rotation, and that the file holds tokens, not passwords.
#define BOOST_TEST_MODULE catalog_store
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "catalog/fernet.h"
#include "catalog/store.h"

namespace fs = std::filesystem;
using namespace pgwarden::catalog;

namespace {

// A fresh folder per test case, removed afterwards.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "pgwarden-store-XXXXXX").string();
    path = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::string db() const { return (path / "state" / "catalog.db").string(); }
};

std::string key() {
  static const std::string k = Fernet::generate_key();
  return k;
}

Fernet fernet(const std::string& keys) {
  return std::get<Fernet>(Fernet::from_keys(keys));
}

NewConnection connection(std::string user, std::string name, std::string token = "gAAAAAtoken") {
  NewConnection c;
  c.user_id = std::move(user);
  c.name = std::move(name);
  c.connection_string_encrypted = std::move(token);
  return c;
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string sqlite_pragma(const std::string& path, const char* pragma) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, pragma, -1, &stmt, nullptr);
  std::string out;
  if (sqlite3_step(stmt) == SQLITE_ROW) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(first_start_creates_private_wal_file) {
  TempDir dir;
  auto store = open_sqlite_store(dir.db());
  BOOST_TEST(store->kind() == "sqlite");
  BOOST_TEST(store->schema_version() == 1);
  struct stat st {};
  BOOST_REQUIRE(::stat(dir.db().c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600U);
  BOOST_REQUIRE(::stat((dir.path / "state").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0700U);
  BOOST_TEST(sqlite_pragma(dir.db(), "PRAGMA journal_mode") == "wal");
  BOOST_TEST(sqlite_pragma(dir.db(), "SELECT version FROM pgwarden_schema_version") == "1");
  store->ping();
}

BOOST_AUTO_TEST_CASE(reopening_keeps_records_and_migrates_once) {
  TempDir dir;
  std::string id;
  {
    auto store = open_sqlite_store(dir.db());
    ConnectionRecord created;
    BOOST_REQUIRE(store->create_connection(connection("acme", "sales"), &created) ==
                  WriteStatus::Ok);
    id = created.id;
  }
  auto again = open_sqlite_store(dir.db());
  BOOST_TEST(again->schema_version() == 1);
  BOOST_TEST(again->get_connection(id).has_value());
  BOOST_TEST(sqlite_pragma(dir.db(), "SELECT count(*) FROM pgwarden_schema_version") == "1");
}

BOOST_AUTO_TEST_CASE(newer_schema_is_refused_with_a_message) {
  TempDir dir;
  open_sqlite_store(dir.db());
  sqlite3* db = nullptr;
  sqlite3_open(dir.db().c_str(), &db);
  sqlite3_exec(db, "UPDATE pgwarden_schema_version SET version = 99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  BOOST_CHECK_EXCEPTION(open_sqlite_store(dir.db()), StoreError, [](const StoreError& e) {
    return std::string(e.what()).find("schema version 99 is newer") != std::string::npos;
  });
  auto opened = open_catalog_store(dir.db(), "");
  BOOST_REQUIRE(std::holds_alternative<std::string>(opened));
  BOOST_TEST(std::get<std::string>(opened).starts_with("catalog: sqlite: "));
}

BOOST_AUTO_TEST_CASE(unwritable_location_is_an_error_not_a_crash) {
  auto opened = open_catalog_store("/proc/pgwarden/catalog.db", "");
  BOOST_REQUIRE(std::holds_alternative<std::string>(opened));
  BOOST_TEST(std::get<std::string>(opened).find("/proc/pgwarden") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(connection_crud) {
  TempDir dir;
  auto store = open_sqlite_store(dir.db());
  const UnixMillis before = now_millis();
  ConnectionRecord sales;
  NewConnection request = connection("acme", "sales", "gAAAAAsales");
  request.schema_cache = R"({"table_count": 7, "tables": []})";
  BOOST_REQUIRE(store->create_connection(request, &sales) == WriteStatus::Ok);
  BOOST_TEST(is_uuid(sales.id));
  BOOST_TEST(sales.user_id == "acme");
  BOOST_TEST(sales.name == "sales");
  BOOST_TEST(sales.connection_string_encrypted == "gAAAAAsales");
  BOOST_TEST(sales.is_active);
  BOOST_TEST(!sales.last_used.has_value());
  BOOST_TEST(sales.created_at >= before);
  BOOST_TEST(sales.created_at == sales.updated_at);
  BOOST_TEST(sales.table_count.value_or(-1) == 7);
  BOOST_REQUIRE(sales.schema_cache.has_value());

  // Same (user, name) conflicts; same name for another user does not.
  BOOST_TEST(
      (store->create_connection(connection("acme", "sales"), nullptr) == WriteStatus::Conflict));
  BOOST_TEST((store->create_connection(connection("other", "sales"), nullptr) == WriteStatus::Ok));
  BOOST_TEST((store->create_connection(connection("acme", "hr"), nullptr) == WriteStatus::Ok));

  auto found = store->find_connection("acme", "sales");
  BOOST_REQUIRE(found.has_value());
  BOOST_TEST(found->id == sales.id);
  BOOST_TEST(!store->find_connection("acme", "nope").has_value());
  BOOST_TEST(!store->get_connection(random_uuid()).has_value());
  BOOST_TEST(!store->get_connection("not-a-uuid").has_value());

  // Lists are ordered by user then name and leave the schema out.
  auto all = store->list_connections(std::nullopt);
  BOOST_REQUIRE_EQUAL(all.size(), 3U);
  BOOST_TEST(all[0].name == "hr");
  BOOST_TEST(all[1].name == "sales");
  BOOST_TEST(all[2].user_id == "other");
  BOOST_TEST(!all[1].schema_cache.has_value());
  BOOST_TEST(all[1].table_count.value_or(-1) == 7);
  BOOST_TEST(store->list_connections(std::string_view("acme")).size() == 2U);
  BOOST_TEST(store->list_connections(std::string_view("nobody")).empty());

  BOOST_TEST((store->set_active(sales.id, false) == WriteStatus::Ok));
  BOOST_TEST(!store->get_connection(sales.id)->is_active);
  BOOST_TEST((store->set_schema_cache(sales.id, R"({"table_count": 2})") == WriteStatus::Ok));
  BOOST_TEST(store->get_connection(sales.id)->table_count.value_or(-1) == 2);

  // last_used is bookkeeping, not an edit: updated_at stays.
  const UnixMillis updated = store->get_connection(sales.id)->updated_at;
  BOOST_TEST((store->touch_last_used(sales.id, 1234567) == WriteStatus::Ok));
  BOOST_TEST(store->get_connection(sales.id)->last_used.value_or(0) == 1234567);
  BOOST_TEST(store->get_connection(sales.id)->updated_at == updated);

  BOOST_TEST((store->set_connection_string(sales.id, "gAAAAAnew") == WriteStatus::Ok));
  BOOST_TEST(store->get_connection(sales.id)->connection_string_encrypted == "gAAAAAnew");

  BOOST_TEST((store->delete_connection(sales.id) == WriteStatus::Ok));
  BOOST_TEST((store->delete_connection(sales.id) == WriteStatus::NotFound));
  BOOST_TEST((store->set_active(sales.id, true) == WriteStatus::NotFound));
  BOOST_TEST((store->touch_last_used(sales.id, 1) == WriteStatus::NotFound));
  BOOST_TEST(!store->get_connection(sales.id).has_value());
}

BOOST_AUTO_TEST_CASE(schema_cache_must_be_json) {
  TempDir dir;
  auto store = open_sqlite_store(dir.db());
  ConnectionRecord c;
  store->create_connection(connection("acme", "sales"), &c);
  // The CHECK (json_valid) constraint reports as a failed write, not a crash.
  BOOST_TEST((store->set_schema_cache(c.id, "{not json") == WriteStatus::NotFound));
  BOOST_TEST(!store->get_connection(c.id)->schema_cache.has_value());
}

BOOST_AUTO_TEST_CASE(user_crud) {
  TempDir dir;
  auto store = open_sqlite_store(dir.db());
  const std::string verifier = "SCRAM-SHA-256$4096:c2FsdA==$a2V5:a2V5";
  BOOST_TEST((store->create_user("bob", verifier) == WriteStatus::Ok));
  BOOST_TEST((store->create_user("alice", verifier) == WriteStatus::Ok));
  BOOST_TEST((store->create_user("bob", "other") == WriteStatus::Conflict));
  auto bob = store->get_user("bob");
  BOOST_REQUIRE(bob.has_value());
  BOOST_TEST(bob->verifier == verifier);
  BOOST_TEST(bob->created_at > 0);
  auto users = store->list_users();
  BOOST_REQUIRE_EQUAL(users.size(), 2U);
  BOOST_TEST(users[0].name == "alice");
  BOOST_TEST((store->delete_user("bob") == WriteStatus::Ok));
  BOOST_TEST((store->delete_user("bob") == WriteStatus::NotFound));
  BOOST_TEST(!store->get_user("bob").has_value());
}

// Another handle (another process) writing is noticed; our own writes are not.
BOOST_AUTO_TEST_CASE(changes_from_another_handle_are_noticed) {
  TempDir dir;
  auto mine = open_sqlite_store(dir.db());
  auto theirs = open_sqlite_store(dir.db());
  using std::chrono::milliseconds;
  BOOST_TEST(!mine->wait_for_change(milliseconds(50)));
  mine->create_connection(connection("acme", "a"), nullptr);
  BOOST_TEST(!mine->wait_for_change(milliseconds(300)));

  const auto start = std::chrono::steady_clock::now();
  theirs->create_user("carol", "v");
  BOOST_TEST(mine->wait_for_change(milliseconds(2000)));
  BOOST_TEST((std::chrono::steady_clock::now() - start) < milliseconds(1000));
  BOOST_TEST(!mine->wait_for_change(milliseconds(50)));  // reported once
}

BOOST_AUTO_TEST_CASE(file_holds_tokens_not_passwords) {
  TempDir dir;
  const std::string password = "pw-" + random_uuid();
  const std::string uri = "postgresql://analyst:" + password + "@db.example:5432/analytics";
  const Fernet keys = fernet(key());
  const std::string token = keys.encrypt(uri);
  {
    auto store = open_sqlite_store(dir.db());
    store->create_connection(connection("acme", "sales", token), nullptr);
  }
  std::string bytes;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    const fs::path file = dir.db() + suffix;
    if (fs::exists(file)) bytes += read_all(file);
  }
  BOOST_TEST(bytes.find(password) == std::string::npos);
  BOOST_TEST(bytes.find("analyst") == std::string::npos);
  BOOST_TEST(bytes.find(token) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(rotation_reencrypts_under_the_first_key) {
  TempDir dir;
  auto store = open_sqlite_store(dir.db());
  const std::string old_key = key();
  const std::string new_key = Fernet::generate_key();
  const Fernet old_keys = fernet(old_key);
  ConnectionRecord a;
  store->create_connection(connection("acme", "a", old_keys.encrypt("postgresql://u:p@h/a")), &a);
  store->create_connection(connection("acme", "b", "gAAAAAgarbage"), nullptr);

  const RotationResult result = rotate_connection_keys(*store, fernet(new_key + "," + old_key));
  BOOST_TEST(result.rotated == 1U);
  BOOST_TEST(result.undecryptable == 1U);
  const std::string token = store->get_connection(a.id)->connection_string_encrypted;
  BOOST_TEST(fernet(new_key).decrypt(token).value_or("") == "postgresql://u:p@h/a");
  BOOST_TEST(!old_keys.decrypt(token).has_value());
}

BOOST_AUTO_TEST_CASE(uuids) {
  const std::string a = random_uuid();
  BOOST_TEST(is_uuid(a));
  BOOST_TEST(a[14] == '4');
  BOOST_TEST(std::string("89ab").find(a[19]) != std::string::npos);
  BOOST_TEST(random_uuid() != a);

  const std::string n = name_uuid("config\nacme\nsales");
  BOOST_TEST(is_uuid(n));
  BOOST_TEST(n[14] == '5');
  BOOST_TEST(name_uuid("config\nacme\nsales") == n);
  BOOST_TEST(name_uuid("config\nacme\nsales2") != n);

  BOOST_TEST(is_uuid("6E1C3C10-258D-4A19-BA54-B22F62F649F8"));
  BOOST_TEST(!is_uuid("6e1c3c10-258d-4a19-ba54-b22f62f649f"));
  BOOST_TEST(!is_uuid("6e1c3c10x258d-4a19-ba54-b22f62f649f8"));
  BOOST_TEST(!is_uuid("6e1c3c10-258d-4a19-ba54-b22f62f649fg"));
  BOOST_TEST(!is_uuid("../../etc/passwd"));
}

BOOST_AUTO_TEST_CASE(timestamps_and_default_path) {
  BOOST_TEST(format_timestamp(0) == "1970-01-01T00:00:00.000Z");
  BOOST_TEST(format_timestamp(1714564800123) == "2024-05-01T12:00:00.123Z");
  ::setenv("STATE_DIRECTORY", "/var/lib/pgw:/var/lib/other", 1);
  BOOST_TEST(default_catalog_path() == "/var/lib/pgw/catalog.db");
  ::unsetenv("STATE_DIRECTORY");
  BOOST_TEST(default_catalog_path() == "/var/lib/pgwarden/catalog.db");
}
