// Unit tests for the psql admin console: every command's result set decoded
// from the wire bytes, errors, several statements per Query, and that no
// secret reaches the reply.
#define BOOST_TEST_MODULE admin_console
#include "daemon/admin_console.h"

#include <boost/test/unit_test.hpp>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "catalog/fernet.h"
#include "conf/config.h"
#include "daemon/admin_console_sources.h"
#include "daemon/tenants.h"
#include "protocol/backend.h"
#include "protocol/frame.h"
#include "protocol/scram.h"

using namespace pgwarden;
using daemon::AdminConsole;
using daemon::ConsoleHooks;
namespace json = boost::json;

namespace {

struct Table {
  std::vector<std::string> columns;
  std::vector<std::uint32_t> types;
  std::vector<std::vector<std::optional<std::string>>> rows;
  std::string tag;
};

struct Error {
  std::string sqlstate, message, hint, position;
};

//! What a client sees of one reply, in order.
struct Reply {
  std::vector<Table> tables;
  std::vector<std::string> tags;  //!< every CommandComplete, in order
  std::optional<Error> error;
  int empty_queries = 0;
  std::vector<char> types;  //!< message types in order
  char ready = 0;           //!< status of the final ReadyForQuery
};

std::uint32_t be32(const std::byte* p) {
  return (std::to_integer<std::uint32_t>(p[0]) << 24) |
         (std::to_integer<std::uint32_t>(p[1]) << 16) |
         (std::to_integer<std::uint32_t>(p[2]) << 8) | std::to_integer<std::uint32_t>(p[3]);
}
std::uint16_t be16(const std::byte* p) {
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(p[0]) << 8) |
                                    std::to_integer<unsigned>(p[1]));
}

//! Decodes a RowDescription body, checking every field is text format.
void read_row_description(protocol::ByteView body, Table& table) {
  const auto* p = body.data();
  const auto* end = p + body.size();
  const unsigned n = be16(p);
  p += 2;
  for (unsigned i = 0; i < n; ++i) {
    const auto* nul = std::find(p, end, std::byte{0});
    BOOST_TEST_REQUIRE((nul != end));
    table.columns.emplace_back(reinterpret_cast<const char*>(p), nul - p);
    p = nul + 1;
    BOOST_TEST_REQUIRE(end - p >= 18);
    table.types.push_back(be32(p + 6));
    const auto size = static_cast<std::int16_t>(be16(p + 10));
    BOOST_TEST(size == (table.types.back() == 20 ? 8 : -1));
    BOOST_TEST(be16(p + 16) == 0);  // text format
    p += 18;
  }
  BOOST_TEST((p == end));
}

void read_data_row(protocol::ByteView body, Table& table) {
  const auto* p = body.data();
  const auto* end = p + body.size();
  const unsigned n = be16(p);
  p += 2;
  BOOST_TEST_REQUIRE(n == table.columns.size());
  auto& row = table.rows.emplace_back();
  for (unsigned i = 0; i < n; ++i) {
    const std::uint32_t length = be32(p);
    p += 4;
    if (length == 0xFFFFFFFF) {
      row.emplace_back(std::nullopt);
      continue;
    }
    BOOST_TEST_REQUIRE(static_cast<std::size_t>(end - p) >= length);
    row.emplace_back(std::string(reinterpret_cast<const char*>(p), length));
    p += length;
  }
  BOOST_TEST((p == end));
}

//! Splits the bytes into messages with the protocol's decoder; everything
//! must be whole, and ReadyForQuery (when expected) must come last.
Reply decode(const std::string& bytes, bool expect_ready = true) {
  Reply reply;
  auto rest = protocol::as_bytes(bytes);
  std::optional<Table> open;
  while (!rest.empty()) {
    const auto result = protocol::decode_backend_frame(rest, protocol::BackendLimits{});
    BOOST_TEST_REQUIRE((result.status == protocol::DecodeStatus::Ok));
    BOOST_TEST_REQUIRE(reply.ready == 0);  // nothing after ReadyForQuery
    const auto& frame = result.frame;
    reply.types.push_back(frame.type);
    switch (frame.type) {
      case 'T':
        BOOST_TEST_REQUIRE(!open);
        open.emplace();
        read_row_description(frame.body, *open);
        break;
      case 'D':
        BOOST_TEST_REQUIRE(open.has_value());
        read_data_row(frame.body, *open);
        break;
      case 'C': {
        const auto tag = protocol::decode_command_complete(frame.body);
        BOOST_TEST_REQUIRE(tag.has_value());
        reply.tags.emplace_back(*tag);
        if (open) {
          open->tag = *tag;
          reply.tables.push_back(std::move(*open));
          open.reset();
        }
        break;
      }
      case 'E': {
        const auto fields = protocol::decode_error_fields(frame.body);
        BOOST_TEST_REQUIRE(fields.has_value());
        BOOST_TEST(fields->severity == "ERROR");
        BOOST_TEST_REQUIRE(!reply.error);  // an error ends the string
        reply.error = Error{std::string(fields->sqlstate), std::string(fields->message),
                            std::string(fields->hint), std::string(fields->position)};
        break;
      }
      case 'I':
        ++reply.empty_queries;
        break;
      case 'Z': {
        const auto status = protocol::decode_ready_for_query(frame.body);
        BOOST_TEST_REQUIRE(status.has_value());
        reply.ready = static_cast<char>(*status);
        break;
      }
      default:
        BOOST_FAIL("unexpected message type " << frame.type);
    }
    rest = rest.subspan(frame.total_size);
  }
  BOOST_TEST(!open.has_value());  // every result set completed
  BOOST_TEST(reply.ready == (expect_ready ? 'I' : 0));
  return reply;
}

//! Hooks with fixed figures, recording the actions they are asked for.
struct Fixture {
  std::vector<std::string> actions;
  std::string reload_error;
  std::string pause_error;
  ConsoleHooks hooks;

  Fixture() {
    hooks.pools = [] {
      return json::value{{"pools", json::array{json::object{{"user", "alice"},
                                                            {"name", "sales"},
                                                            {"clients_active", 3},
                                                            {"clients_waiting", 1},
                                                            {"servers_active", 2},
                                                            {"servers_idle", 4},
                                                            {"servers_testing", 0},
                                                            {"queries", 120},
                                                            {"denials", 5},
                                                            {"rate_limited", 2},
                                                            {"connect_failures", 0},
                                                            {"wait_timeouts", 1},
                                                            {"paused", true}}}}};
    };
    hooks.clients = [] {
      return json::value{
          {"clients",
           json::array{json::object{{"pid", 4242}, {"user", "alice"}, {"database", "sales"}},
                       json::object{{"pid", 4343}, {"user", "bob"}, {"database", "shared"}}}}};
    };
    hooks.servers = [] {
      return json::value{{"servers", json::array{json::object{{"user", "alice"},
                                                              {"name", "sales"},
                                                              {"state", "idle"},
                                                              {"address", "10.0.0.5"},
                                                              {"port", 5432},
                                                              {"tls", false},
                                                              {"backend_pid", 777},
                                                              {"age_seconds", 61},
                                                              {"state_seconds", 12.7}}}}};
    };
    hooks.stats = [] {
      return json::value{
          {"stats", json::array{json::object{
                        {"user", "alice"}, {"name", "sales"}, {"leases", 99}, {"queries", 120}}}}};
    };
    hooks.connections = [] {
      json::array list;
      for (const auto& [user, name] : std::vector<std::pair<std::string, std::string>>{
               {"alice", "sales"}, {"alice", "shared"}, {"bob", "shared"}, {"bob", "odd; name"}}) {
        list.push_back(json::object{{"user", user},
                                    {"name", name},
                                    {"host", "db.internal"},
                                    {"port", 5432},
                                    {"database", "app"},
                                    {"ssl_mode", "require"},
                                    {"min_size", 2},
                                    {"max_size", 10},
                                    {"paused", false}});
      }
      return json::value{{"connections", std::move(list)}};
    };
    hooks.config = [] {
      return json::value{
          {"config",
           json::array{json::object{{"key", "pool.max_size"}, {"value", "4"}, {"default", "10"}}}}};
    };
    hooks.version = [] { return std::string("pgwarden 9.9.9"); };
    hooks.reload = [this] {
      actions.push_back("reload");
      return reload_error;
    };
    hooks.pause = [this](const std::string& user, const std::string& name) {
      actions.push_back("pause " + user + "/" + name);
      return pause_error;
    };
    hooks.resume = [this](const std::string& user, const std::string& name) {
      actions.push_back("resume " + user + "/" + name);
      return std::string();
    };
  }

  Reply ask(std::string_view sql) { return decode(AdminConsole(hooks).handle_query(sql)); }
};

const std::vector<std::string> kPoolColumns = {
    "database",         "user",          "cl_active", "cl_waiting", "sv_active",
    "sv_idle",          "sv_tested",     "queries",   "denials",    "rate_limited",
    "connect_failures", "wait_timeouts", "pool_mode", "paused"};

}  // namespace

// ---------------------------------------------------------------- commands

BOOST_FIXTURE_TEST_CASE(show_pools_is_one_result_set_with_the_api_figures, Fixture) {
  const auto reply = ask("SHOW POOLS;");
  BOOST_TEST((reply.types == std::vector<char>{'T', 'D', 'C', 'Z'}));
  BOOST_TEST_REQUIRE(reply.tables.size() == 1U);
  const auto& t = reply.tables[0];
  BOOST_TEST(t.columns == kPoolColumns);
  // Names are text, counts int8, so psql right-aligns them.
  BOOST_TEST(t.types[0] == 25U);
  BOOST_TEST(t.types[2] == 20U);
  BOOST_TEST(t.types[12] == 25U);
  BOOST_TEST(t.tag == "SHOW");
  BOOST_TEST_REQUIRE(t.rows.size() == 1U);
  const std::vector<std::optional<std::string>> expected = {
      "sales", "alice", "3", "1", "2", "4", "0", "120", "5", "2", "0", "1", "transaction", "1"};
  BOOST_TEST((t.rows[0] == expected));
}

BOOST_FIXTURE_TEST_CASE(show_clients_lists_each_client_and_unknown_fields_are_null, Fixture) {
  const auto reply = ask("SHOW CLIENTS");
  BOOST_TEST_REQUIRE(reply.tables.size() == 1U);
  const auto& t = reply.tables[0];
  BOOST_TEST((t.columns == std::vector<std::string>{"user", "database", "state", "addr", "port",
                                                    "tls", "application_name", "pid"}));
  BOOST_TEST_REQUIRE(t.rows.size() == 2U);
  BOOST_TEST(*t.rows[1][0] == "bob");
  BOOST_TEST(*t.rows[1][1] == "shared");
  BOOST_TEST(!t.rows[1][2].has_value());  // the hook gave no state
  BOOST_TEST(*t.rows[1][7] == "4343");
}

BOOST_FIXTURE_TEST_CASE(show_servers_stats_connections_config_version_help, Fixture) {
  auto servers = ask("show servers").tables.at(0);
  BOOST_TEST(
      (servers.columns == std::vector<std::string>{"user", "database", "state", "addr", "port",
                                                   "tls", "remote_pid", "age", "state_age"}));
  const std::vector<std::optional<std::string>> server = {
      "alice", "sales", "idle", "10.0.0.5", "5432", "false", "777", "61", "13"};
  BOOST_TEST((servers.rows.at(0) == server));

  auto stats = ask("SHOW STATS").tables.at(0);
  BOOST_TEST(stats.columns.at(2) == "total_xact_count");
  BOOST_TEST(*stats.rows.at(0).at(2) == "99");
  BOOST_TEST(*stats.rows.at(0).at(3) == "120");
  BOOST_TEST(!stats.rows.at(0).at(4).has_value());

  auto connections = ask("SHOW CONNECTIONS").tables.at(0);
  BOOST_TEST(connections.rows.size() == 4U);
  BOOST_TEST((connections.columns ==
              std::vector<std::string>{"user", "name", "host", "port", "database", "ssl_mode",
                                       "min_pool_size", "max_pool_size", "paused"}));
  BOOST_TEST(*connections.rows[0][8] == "0");

  auto config = ask("SHOW CONFIG").tables.at(0);
  BOOST_TEST((config.columns == std::vector<std::string>{"key", "value", "default"}));
  BOOST_TEST(
      (config.rows.at(0) == std::vector<std::optional<std::string>>{"pool.max_size", "4", "10"}));

  auto version = ask("SHOW VERSION").tables.at(0);
  BOOST_TEST((version.columns == std::vector<std::string>{"version"}));
  BOOST_TEST(*version.rows.at(0).at(0) == "pgwarden 9.9.9");

  auto help = ask("SHOW HELP").tables.at(0);
  BOOST_TEST((help.columns == std::vector<std::string>{"command", "description"}));
  std::vector<std::string> commands;
  for (const auto& row : help.rows) commands.push_back(*row[0]);
  for (const char* command :
       {"SHOW POOLS", "SHOW CLIENTS", "SHOW SERVERS", "SHOW STATS", "SHOW CONNECTIONS",
        "SHOW CONFIG", "SHOW VERSION", "RELOAD", "PAUSE <connection>", "RESUME <connection>"}) {
    BOOST_TEST((std::find(commands.begin(), commands.end(), command) != commands.end()), command);
  }
}

BOOST_FIXTURE_TEST_CASE(reload_reports_success_or_keeps_the_running_config, Fixture) {
  auto ok = ask("RELOAD");
  BOOST_TEST((ok.types == std::vector<char>{'C', 'Z'}));
  BOOST_TEST(ok.tags.at(0) == "RELOAD");
  reload_error = "pgwarden.toml:3:1: pool.max_size: must be at least 1";
  auto bad = ask("reload;");
  BOOST_TEST_REQUIRE(bad.error.has_value());
  BOOST_TEST(bad.error->sqlstate == "F0000");
  BOOST_TEST(bad.error->message.find("pool.max_size: must be at least 1") != std::string::npos);
  BOOST_TEST((actions == std::vector<std::string>{"reload", "reload"}));
}

BOOST_FIXTURE_TEST_CASE(pause_and_resume_resolve_connection_names, Fixture) {
  // A name only one user has; user/name; a quoted name with a semicolon.
  auto reply = ask("PAUSE sales; RESUME alice/sales; pause bob/shared; PAUSE \"bob/odd; name\"");
  BOOST_TEST((reply.tags == std::vector<std::string>{"PAUSE", "RESUME", "PAUSE", "PAUSE"}));
  BOOST_TEST(!reply.error.has_value());
  BOOST_TEST((actions == std::vector<std::string>{"pause alice/sales", "resume alice/sales",
                                                  "pause bob/shared", "pause bob/odd; name"}));
  actions.clear();

  auto ambiguous = ask("PAUSE shared");
  BOOST_TEST_REQUIRE(ambiguous.error.has_value());
  BOOST_TEST(ambiguous.error->sqlstate == "22023");
  BOOST_TEST(ambiguous.error->hint.find("alice/shared, bob/shared") != std::string::npos);

  auto unknown = ask("RESUME nowhere");
  BOOST_TEST_REQUIRE(unknown.error.has_value());
  BOOST_TEST(unknown.error->sqlstate == "42704");
  BOOST_TEST(unknown.error->message == "connection \"nowhere\" does not exist");

  // Names match as written: no case folding of connection names.
  BOOST_TEST(ask("PAUSE SALES").error->sqlstate == "42704");

  pause_error = "the pool is shutting down";
  auto refused = ask("PAUSE sales");
  BOOST_TEST_REQUIRE(refused.error.has_value());
  BOOST_TEST(refused.error->sqlstate == "55000");
  BOOST_TEST(refused.error->message.find("the pool is shutting down") != std::string::npos);
  BOOST_TEST((actions == std::vector<std::string>{"pause alice/sales"}));

  auto missing = ask("PAUSE");
  BOOST_TEST_REQUIRE(missing.error.has_value());
  BOOST_TEST(missing.error->sqlstate == "42601");
  BOOST_TEST(missing.error->message == "syntax error at end of input");
}

// ---------------------------------------------------------------- the Query text

BOOST_FIXTURE_TEST_CASE(commands_ignore_case_whitespace_comments_and_semicolons, Fixture) {
  const auto plain = ask("SHOW POOLS").tables.at(0);
  for (const char* sql :
       {"show pools", "  Show\tPools ;", "SHOW POOLS;;;", "\n sHoW pOoLs ;\n",
        "-- psql sends comments too\nSHOW POOLS", "/* a /* nested */ one */ SHOW POOLS"}) {
    const auto reply = ask(sql);
    BOOST_TEST_REQUIRE(reply.tables.size() == 1U, sql);
    BOOST_TEST((reply.tables[0].rows == plain.rows), sql);
    BOOST_TEST(!reply.error.has_value(), sql);
  }
}

BOOST_FIXTURE_TEST_CASE(several_statements_are_answered_in_order_with_one_ready, Fixture) {
  const auto reply = ask("SHOW VERSION; show help ;RELOAD;SHOW POOLS");
  BOOST_TEST((reply.tags == std::vector<std::string>{"SHOW", "SHOW", "RELOAD", "SHOW"}));
  BOOST_TEST_REQUIRE(reply.tables.size() == 3U);
  BOOST_TEST(reply.tables[0].columns.at(0) == "version");
  BOOST_TEST(reply.tables[1].columns.at(0) == "command");
  BOOST_TEST(reply.tables[2].columns.at(0) == "database");
  BOOST_TEST(std::count(reply.types.begin(), reply.types.end(), 'Z') == 1);
}

BOOST_FIXTURE_TEST_CASE(an_empty_query_gets_empty_query_response, Fixture) {
  for (const char* sql : {"", "   ", ";", " ; ;", "-- nothing"}) {
    const auto reply = ask(sql);
    BOOST_TEST((reply.types == std::vector<char>{'I', 'Z'}), sql);
  }
}

BOOST_FIXTURE_TEST_CASE(sql_and_unknown_commands_get_0A000_with_the_command_list, Fixture) {
  for (const char* sql : {"SELECT 1", "select version()", "INSERT INTO t VALUES (1)",
                          "DROP TABLE pools", "SET x = 1", "BEGIN"}) {
    const auto reply = ask(sql);
    BOOST_TEST_REQUIRE(reply.error.has_value(), sql);
    BOOST_TEST(reply.error->sqlstate == "0A000", sql);
    BOOST_TEST(reply.error->hint.find("SHOW POOLS") != std::string::npos, sql);
    BOOST_TEST(reply.error->hint.find("PAUSE <connection>") != std::string::npos, sql);
    BOOST_TEST((reply.types == std::vector<char>{'E', 'Z'}), sql);
  }
  const auto unknown = ask("SHOW DATABASES");
  BOOST_TEST_REQUIRE(unknown.error.has_value());
  BOOST_TEST(unknown.error->sqlstate == "0A000");
  BOOST_TEST(unknown.error->message == "unrecognized SHOW command \"databases\"");
  BOOST_TEST(unknown.error->hint.find("pools") != std::string::npos);
  BOOST_TEST(actions.empty());
}

BOOST_FIXTURE_TEST_CASE(syntax_errors_get_42601_with_a_position_and_run_nothing, Fixture) {
  struct Case {
    const char* sql;
    const char* message;
    const char* position;
  };
  for (const auto& c : {Case{"SHOW", "syntax error at end of input", "5"},
                        Case{"SHOW POOLS extra", "syntax error at or near \"extra\"", "12"},
                        Case{"RELOAD now", "syntax error at or near \"now\"", "8"},
                        Case{"SHOW 'pools'", "syntax error at or near \"'pools'\"", "6"},
                        Case{"(SHOW POOLS)", "syntax error at or near \"(\"", "1"},
                        Case{"PAUSE sales x", "syntax error at or near \"x\"", "13"},
                        Case{"PAUSE \"unterminated", "unterminated quoted identifier", "7"},
                        Case{"PAUSE \"\"", "zero-length delimited identifier", "7"},
                        Case{"SHOW POOLS /* open", "unterminated /* comment", "12"},
                        // Positions count characters, not bytes.
                        Case{"SHOW é x", "syntax error at or near \"x\"", "8"}}) {
    const auto reply = ask(c.sql);
    BOOST_TEST_REQUIRE(reply.error.has_value(), c.sql);
    BOOST_TEST(reply.error->sqlstate == "42601", c.sql);
    BOOST_TEST(reply.error->message == c.message, c.sql);
    BOOST_TEST(reply.error->position == c.position, c.sql);
  }
  // The whole string is checked first: the RELOAD before the error never runs.
  const auto reply = ask("RELOAD; SHOW POOLS extra");
  BOOST_TEST((reply.types == std::vector<char>{'E', 'Z'}));
  BOOST_TEST(actions.empty());
}

BOOST_FIXTURE_TEST_CASE(an_error_abandons_the_rest_of_the_string, Fixture) {
  const auto reply = ask("SHOW VERSION; SELECT 1; RELOAD");
  BOOST_TEST((reply.types == std::vector<char>{'T', 'D', 'C', 'E', 'Z'}));
  BOOST_TEST(actions.empty());  // RELOAD after the error did not run
}

BOOST_FIXTURE_TEST_CASE(missing_hooks_and_failing_hooks_are_errors_not_crashes, Fixture) {
  hooks.servers = nullptr;
  hooks.pause = nullptr;
  BOOST_TEST(ask("SHOW SERVERS").error->sqlstate == "0A000");
  BOOST_TEST(ask("PAUSE sales").error->sqlstate == "0A000");
  hooks.pools = []() -> json::value { throw std::runtime_error("secret=hunter2"); };
  const auto reply = ask("SHOW POOLS");
  BOOST_TEST_REQUIRE(reply.error.has_value());
  BOOST_TEST(reply.error->sqlstate == "XX000");
  BOOST_TEST(reply.error->message.find("hunter2") == std::string::npos);
  // A hook shaped unlike the API still yields a (possibly empty) table.
  hooks.stats = [] { return json::value("nonsense"); };
  BOOST_TEST(ask("SHOW STATS").tables.at(0).rows.empty());
}

BOOST_AUTO_TEST_CASE(extended_query_messages_are_refused_without_ready_for_query) {
  const auto reply = decode(AdminConsole::refuse_extended(), false);
  BOOST_TEST((reply.types == std::vector<char>{'E'}));
  BOOST_TEST(reply.error->sqlstate == "0A000");
  BOOST_TEST(reply.error->message == "the admin console accepts simple queries only");
}

// ---------------------------------------------------------------- real sources

BOOST_AUTO_TEST_CASE(no_secret_reaches_any_reply) {
  const std::string password = "Upstream-Pa55-word";
  const std::string catalog_password = "Catalog-Pa55-word";
  const std::string key = catalog::Fernet::generate_key();
  auto keys = std::get<catalog::Fernet>(catalog::Fernet::from_keys(key));
  const std::string verifier =
      protocol::format_scram_verifier(protocol::make_scram_verifier("client-secret"));
  const std::string token =
      keys.encrypt("postgresql://reader:" + password + "@10.1.2.3:6543/analytics?sslmode=disable");
  const std::string toml =
      "[pool]\nhealth_check_period = 5\n"
      "[admin]\ntoken_file = \"/etc/pgwarden/token\"\nusers = [\"ops\"]\n"
      "[catalog]\nurl = \"postgresql://cat:" +
      catalog_password + "@127.0.0.1/catalog\"\n" + "[[users]]\nname = \"ops\"\npassword = \"" +
      verifier + "\"\n[[users]]\nname = \"alice\"\npassword = \"" + verifier +
      "\"\n[[connections]]\nuser = \"alice\"\nname = \"sales\"\nmax_size = 4\n"
      "connection_string_encrypted = \"" +
      token + "\"\n";
  auto parsed = conf::parse_config(toml, "test.toml");
  BOOST_TEST_REQUIRE(std::holds_alternative<std::shared_ptr<const conf::Config>>(parsed));
  const auto config = std::get<std::shared_ptr<const conf::Config>>(parsed);
  boost::asio::io_context io;
  auto built = daemon::TenantDirectory::build(*config, keys, io.get_executor());
  BOOST_TEST_REQUIRE(std::holds_alternative<std::shared_ptr<daemon::TenantDirectory>>(built));
  const auto tenants = std::get<std::shared_ptr<daemon::TenantDirectory>>(built);

  ConsoleHooks hooks;
  hooks.servers = [&] { return daemon::console_servers(*tenants); };
  hooks.stats = [&] { return daemon::console_stats(*tenants); };
  hooks.connections = [&] { return daemon::console_connections(*tenants); };
  hooks.config = [&] { return daemon::console_config(*config); };
  hooks.pause = [&](const std::string& user, const std::string& name) {
    tenants->find(user, name)->pool->pause();
    return std::string();
  };
  const AdminConsole console(hooks);

  std::string everything;
  for (const char* sql : {"SHOW SERVERS", "SHOW STATS", "SHOW CONNECTIONS", "SHOW CONFIG",
                          "SHOW HELP", "PAUSE sales", "SHOW CONNECTIONS"}) {
    everything += console.handle_query(sql);
  }
  for (const std::string& secret : {password, catalog_password, verifier, token, key,
                                    std::string("reader:"), std::string("client-secret")}) {
    BOOST_TEST(everything.find(secret) == std::string::npos, "leaked: " << secret);
  }

  // What an operator does see: where the connection points, and the settings.
  const auto connections = decode(console.handle_query("SHOW CONNECTIONS")).tables.at(0);
  const std::vector<std::optional<std::string>> expected = {
      "alice", "sales", "10.1.2.3", "6543", "analytics", "disable", "2", "4", "1"};
  BOOST_TEST((connections.rows.at(0) == expected));  // paused by the PAUSE above
  std::map<std::string, std::pair<std::string, std::string>> settings;
  const auto config_rows = decode(console.handle_query("SHOW CONFIG")).tables.at(0).rows;
  for (const auto& row : config_rows) {
    settings[*row[0]] = {*row[1], *row[2]};
  }
  BOOST_TEST(settings["pool.health_check_period"].first == "5");
  BOOST_TEST(settings["pool.health_check_period"].second == "60");
  BOOST_TEST(settings["catalog.url"].first == "(set, hidden)");
  BOOST_TEST(settings["admin.users"].first == "ops");
  BOOST_TEST(settings["admin.token_file"].first == "/etc/pgwarden/token");
  BOOST_TEST(settings["connections"].first == "1 defined");
  BOOST_TEST(settings.count("server.listen") == 1U);
  // An unused pool has no servers; its stats are all zero.
  BOOST_TEST(decode(console.handle_query("SHOW SERVERS")).tables.at(0).rows.empty());
  const auto stats = decode(console.handle_query("SHOW STATS")).tables.at(0);
  BOOST_TEST(*stats.rows.at(0).at(2) == "0");
}
