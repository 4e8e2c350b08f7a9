// The daemon's view of the catalog: merging catalog users and connections into
// the configuration, the watcher noticing changes made elsewhere, and
// last_used recording.
#define BOOST_TEST_MODULE admin_catalog
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <filesystem>
#include <thread>

#include "daemon/admin/catalog_config.h"
#include "daemon/admin/catalog_watcher.h"
#include "protocol/scram.h"

namespace fs = std::filesystem;
using namespace pgwarden;

namespace {

struct Catalog {
  fs::path dir;
  std::shared_ptr<catalog::CatalogStore> store;
  Catalog() {
    std::string pattern = (fs::temp_directory_path() / "pgwarden-merge-XXXXXX").string();
    dir = ::mkdtemp(pattern.data());
    store = catalog::open_sqlite_store(path());
  }
  ~Catalog() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
  std::string path() const { return (dir / "catalog.db").string(); }
};

const std::string kVerifier =
    protocol::format_scram_verifier(protocol::make_scram_verifier("pw", 16));
// Right shape for the config loader; never decrypted here.
const std::string kToken =
    "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4"
    "IwqDA==";

std::shared_ptr<const conf::Config> file_config() {
  const std::string toml = "[pool]\nmax_size = 7\n[[users]]\nname = \"alice\"\npassword = \"" +
                           kVerifier +
                           "\"\n[[connections]]\nuser = \"alice\"\nname = \"sales\"\n"
                           "connection_string_encrypted = \"" +
                           kToken + "\"\n";
  return std::get<std::shared_ptr<const conf::Config>>(conf::parse_config(toml, "test.toml"));
}

catalog::NewConnection record(std::string user, std::string name) {
  catalog::NewConnection c;
  c.user_id = std::move(user);
  c.name = std::move(name);
  c.connection_string_encrypted = "gAAAAAcatalog-" + c.name;
  return c;
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(catalog_entries_join_the_file_and_the_file_wins, Catalog) {
  store->create_user("bob", kVerifier);
  store->create_user("alice", kVerifier);           // shadowed by the file
  store->create_user("mallory", "not a verifier");  // unusable
  store->create_connection(record("bob", "hr"), nullptr);
  store->create_connection(record("alice", "sales"), nullptr);  // shadowed
  catalog::ConnectionRecord off;
  store->create_connection(record("bob", "off"), &off);
  store->set_active(off.id, false);

  const auto file = file_config();
  const auto merged = daemon::admin::with_catalog(*file, *store);
  const conf::Config& c = *merged.config;
  BOOST_TEST(c.users.size() == 2U);
  BOOST_TEST(c.find_user("bob") != nullptr);
  BOOST_TEST(c.find_user("mallory") == nullptr);
  BOOST_TEST(c.connections.size() == 2U);
  const auto* hr = c.find_connection("bob", "hr");
  BOOST_REQUIRE(hr != nullptr);
  BOOST_TEST(hr->connection_string_encrypted == "gAAAAAcatalog-hr");
  BOOST_TEST(hr->pool.max_size == 7U);  // the file's [pool]
  BOOST_TEST(c.find_connection("alice", "sales")->connection_string_encrypted == kToken);
  BOOST_TEST(c.find_connection("bob", "off") == nullptr);
  BOOST_REQUIRE_EQUAL(merged.skipped.size(), 3U);
  BOOST_TEST(merged.skipped[0] == "catalog user \"alice\" is shadowed by the configuration file");
  BOOST_TEST(merged.skipped[1] == "catalog user \"mallory\" has no valid SCRAM-SHA-256 verifier");
  // The file's own config object is untouched.
  BOOST_TEST(file->users.size() == 1U);
}

BOOST_FIXTURE_TEST_CASE(watcher_reports_changes_made_elsewhere, Catalog) {
  std::atomic<int> changes{0};
  daemon::admin::CatalogWatcher watcher(store, [&] { ++changes; });
  store->create_user("own", kVerifier);  // this handle's own write: not news
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  BOOST_TEST(changes.load() == 0);

  auto other = catalog::open_sqlite_store(path());
  const auto start = std::chrono::steady_clock::now();
  other->create_user("theirs", kVerifier);
  while (changes.load() == 0 &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(3)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  BOOST_TEST(changes.load() == 1);
  BOOST_TEST((std::chrono::steady_clock::now() - start) < std::chrono::seconds(1));
}

BOOST_FIXTURE_TEST_CASE(last_used_is_recorded, Catalog) {
  catalog::ConnectionRecord hr;
  store->create_connection(record("bob", "hr"), &hr);
  const catalog::UnixMillis before = catalog::now_millis();
  {
    daemon::admin::CatalogWatcher watcher(store, [] {});
    watcher.note_used("bob", "hr");
    watcher.note_used("alice", "sales");  // a config-file connection: no row, no error
  }                                       // flushed on destruction
  const auto after = store->get_connection(hr.id);
  BOOST_TEST(after->last_used.value_or(0) >= before);
  BOOST_TEST(after->updated_at == hr.updated_at);
}
