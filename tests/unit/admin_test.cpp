// The admin API's pure parts: tokens, targets, pagination, request bodies,
// connection URIs, Prometheus text, schema pages, failure mapping, and the
// endpoints that need no customer database (users, errors) over a SQLite
// catalog in a temp folder.
#define BOOST_TEST_MODULE admin
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>

#include "catalog/conninfo.h"
#include "catalog/introspect.h"
#include "catalog/pq.h"
#include "daemon/admin/admin_api.h"
#include "daemon/admin/connection_request.h"
#include "daemon/admin/http_util.h"
#include "daemon/admin/prometheus.h"
#include "protocol/scram.h"

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace pgwarden::daemon::admin;
using pgwarden::catalog::ConnectFailure;

namespace {

json::object object(std::string_view text) {
  return json::parse(text).as_object();
}

std::string error_of(const std::variant<ConnectionRequest, std::string>& r) {
  return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tokens)

BOOST_AUTO_TEST_CASE(constant_time_compare) {
  BOOST_TEST(token_matches("0123456789abcdef", "0123456789abcdef"));
  BOOST_TEST(!token_matches("0123456789abcdeF", "0123456789abcdef"));
  BOOST_TEST(!token_matches("0123456789abcde", "0123456789abcdef"));
  BOOST_TEST(!token_matches("", "0123456789abcdef"));
  BOOST_TEST(!token_matches("", ""));  // no token configured never matches
}

BOOST_AUTO_TEST_CASE(bearer_header) {
  BOOST_TEST(bearer_token("Bearer abc").value_or("") == "abc");
  BOOST_TEST(bearer_token("bearer  abc ").value_or("") == "abc");
  BOOST_TEST(!bearer_token("Basic YWxhZGRpbjpvcGVuc2VzYW1l").has_value());
  BOOST_TEST(!bearer_token("Bearer").has_value());
  BOOST_TEST(!bearer_token("Bearer ").has_value());
  BOOST_TEST(!bearer_token("").has_value());
}

BOOST_AUTO_TEST_CASE(token_sources) {
  pgwarden::conf::AdminSettings settings;
  BOOST_TEST(!load_admin_token(settings, nullptr).token.has_value());
  BOOST_TEST(load_admin_token(settings, nullptr).error.empty());
  BOOST_TEST(load_admin_token(settings, "0123456789abcdef").token.value_or("") ==
             "0123456789abcdef");
  auto short_env = load_admin_token(settings, "short");
  BOOST_TEST(!short_env.token.has_value());
  BOOST_TEST(short_env.error.find("PGWARDEN_ADMIN_TOKEN") != std::string::npos);
  BOOST_TEST(short_env.error.find("short") == std::string::npos);  // content never quoted

  const fs::path file = fs::temp_directory_path() / ("pgwarden-token-" + std::to_string(getpid()));
  std::ofstream(file) << "  s3cret-token-0123456789\n";
  settings.token_file = file.string();
  // The file wins over the environment.
  BOOST_TEST(load_admin_token(settings, "0123456789abcdef-env").token.value_or("") ==
             "s3cret-token-0123456789");
  std::ofstream(file) << "two words here and more";
  BOOST_TEST(load_admin_token(settings, nullptr).error.find("spaces") != std::string::npos);
  fs::remove(file);
  auto missing = load_admin_token(settings, nullptr);
  BOOST_TEST(!missing.token.has_value());
  BOOST_TEST(missing.error.find(file.string()) != std::string::npos);

  // The systemd credential admin_token, when neither file nor variable is set.
  settings.token_file.clear();
  const fs::path dir = fs::temp_directory_path() / ("pgwarden-creds-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "admin_token") << "credential-token-0123456789\n";
  BOOST_TEST(load_admin_token(settings, nullptr, dir.c_str()).token.value_or("") ==
             "credential-token-0123456789");
  BOOST_TEST(load_admin_token(settings, "0123456789abcdef-env", dir.c_str()).token.value_or("") ==
             "0123456789abcdef-env");
  fs::remove_all(dir);
  BOOST_TEST(!load_admin_token(settings, nullptr, dir.c_str()).token.has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(targets)

BOOST_AUTO_TEST_CASE(paths_and_queries) {
  auto t = parse_target("/api/users/a%20b%2Fc?user=acme+corp&x=%41&flag");
  BOOST_REQUIRE(t.has_value());
  BOOST_TEST(t->segments == (std::vector<std::string>{"api", "users", "a b/c"}));
  BOOST_TEST(t->query.at("user") == "acme corp");
  BOOST_TEST(t->query.at("x") == "A");
  BOOST_TEST(t->query.at("flag").empty());
  BOOST_TEST(parse_target("/")->segments.empty());
  BOOST_TEST(parse_target("/api/pools/")->segments.size() == 2U);
  BOOST_TEST(!parse_target("api/pools").has_value());
  BOOST_TEST(!parse_target("http://host/api").has_value());
  BOOST_TEST(!parse_target("/api//pools").has_value());
  BOOST_TEST(!parse_target("/api/%zz").has_value());
  BOOST_TEST(!parse_target("/api/%4").has_value());
  BOOST_TEST(!parse_target("/api?x=%").has_value());
}

BOOST_AUTO_TEST_CASE(percent_coding) {
  BOOST_TEST(percent_encode("a b/c@d:e%f?g#h'i~-._") == "a%20b%2Fc%40d%3Ae%25f%3Fg%23h%27i~-._");
  BOOST_TEST(percent_decode("a%20b+c", false).value_or("") == "a b+c");
  BOOST_TEST(percent_decode("a%20b+c", true).value_or("") == "a b c");
}

BOOST_AUTO_TEST_CASE(pages) {
  using Query = std::map<std::string, std::string, std::less<>>;
  auto page = [](Query q) { return parse_page(q, 100, 1000); };
  BOOST_TEST(std::get<Page>(page({})).offset == 0U);
  BOOST_TEST(std::get<Page>(page({})).limit == 100U);
  BOOST_TEST(std::get<Page>(page({{"offset", "200"}, {"limit", "1000"}})).offset == 200U);
  BOOST_TEST(std::get<Page>(page({{"limit", "1"}})).limit == 1U);
  for (const char* bad : {"0", "1001", "-1", "ten", "", "5x"}) {
    BOOST_TEST_CONTEXT(bad) {
      BOOST_TEST(std::get<std::string>(page({{"limit", bad}})) ==
                 "limit must be an integer from 1 to 1000");
    }
  }
  BOOST_TEST(std::get<std::string>(page({{"offset", "-5"}})) ==
             "offset must be a non-negative integer");
}

BOOST_AUTO_TEST_CASE(json_bodies) {
  BOOST_TEST(std::get<json::object>(parse_json_object(R"({"a": 1})", false)).size() == 1U);
  BOOST_TEST(std::get<json::object>(parse_json_object("  ", true)).empty());
  BOOST_TEST(std::get<std::string>(parse_json_object("", false)) ==
             "request body must be a JSON object");
  BOOST_TEST(std::get<std::string>(parse_json_object("[1, 2]", false)) ==
             "request body must be a JSON object");
  BOOST_TEST(
      std::get<std::string>(parse_json_object("{\"a\": ", false)).starts_with("malformed JSON: "));
  BOOST_TEST(
      std::get<std::string>(parse_json_object("{'a': 1}", false)).starts_with("malformed JSON: "));
  const std::string deep = std::string(1000, '[') + std::string(1000, ']');
  BOOST_TEST(std::get<std::string>(parse_json_object(deep, false)).starts_with("malformed JSON: "));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(requests)

BOOST_AUTO_TEST_CASE(connection_defaults_and_uri_round_trip) {
  const std::string password = "p@ss:w/rd%?#' \"x";
  json::object body{{"user", "acme"},         {"name", "sales"},        {"host", "db.example"},
                    {"database", "sales db"}, {"username", "ana lyst"}, {"password", password}};
  auto parsed = parse_connection_request(body);
  BOOST_REQUIRE_MESSAGE(std::holds_alternative<ConnectionRequest>(parsed), error_of(parsed));
  const auto& r = std::get<ConnectionRequest>(parsed);
  BOOST_TEST(r.port == 5432);
  BOOST_TEST((r.ssl_mode == pgwarden::catalog::SslMode::Prefer));

  // libpq's own parser reads back exactly what was asked for.
  auto info = pgwarden::catalog::parse_conninfo(connection_uri(r));
  BOOST_REQUIRE(std::holds_alternative<pgwarden::catalog::ConnInfo>(info));
  const auto& c = std::get<pgwarden::catalog::ConnInfo>(info);
  BOOST_TEST(c.host == "db.example");
  BOOST_TEST(c.port == 5432);
  BOOST_TEST(c.dbname == "sales db");
  BOOST_TEST(c.user == "ana lyst");
  BOOST_TEST(c.password == password);
  BOOST_TEST((c.ssl_mode == pgwarden::catalog::SslMode::Prefer));

  body["host"] = "::1";
  body["port"] = 6543;
  body["ssl_mode"] = "require";
  auto v6 = std::get<ConnectionRequest>(parse_connection_request(body));
  auto info6 =
      std::get<pgwarden::catalog::ConnInfo>(pgwarden::catalog::parse_conninfo(connection_uri(v6)));
  BOOST_TEST(info6.host == "::1");
  BOOST_TEST(info6.port == 6543);
  BOOST_TEST((info6.ssl_mode == pgwarden::catalog::SslMode::Require));
}

BOOST_AUTO_TEST_CASE(connection_field_errors) {
  const json::object base{{"user", "acme"},   {"name", "sales"},       {"host", "h"},
                          {"database", "db"}, {"username", "analyst"}, {"password", "hunter2x"}};
  auto with = [&](std::string_view key, json::value value) {
    json::object body = base;
    body[key] = std::move(value);
    return error_of(parse_connection_request(body));
  };
  auto without = [&](std::string_view key) {
    json::object body = base;
    body.erase(key);
    return error_of(parse_connection_request(body));
  };
  BOOST_TEST(error_of(parse_connection_request(base)).empty());
  BOOST_TEST(without("host") == "host is required");
  BOOST_TEST(without("user") == "user is required");
  BOOST_TEST(without("password").empty());  // trust/peer servers need none
  BOOST_TEST(with("sslmode", "require") == "unknown field \"sslmode\"");
  BOOST_TEST(with("port", 0) == "port must be an integer from 1 to 65535");
  BOOST_TEST(with("port", 65536) == "port must be an integer from 1 to 65535");
  BOOST_TEST(with("port", "5432") == "port must be an integer from 1 to 65535");
  BOOST_TEST(with("port", 5432.5) == "port must be an integer from 1 to 65535");
  BOOST_TEST(with("ssl_mode", "on") ==
             "ssl_mode must be one of disable, allow, prefer, require, verify-ca, verify-full");
  BOOST_TEST(with("name", "") == "name must not be empty");
  BOOST_TEST(with("name", json::string(std::string(64, 'n'))) ==
             "name must be at most 63 bytes (PostgreSQL's identifier limit)");
  BOOST_TEST(with("name", "a\nb") == "name must not contain control characters");
  BOOST_TEST(with("name", "pgwarden") == "name \"pgwarden\" is reserved for the admin console");
  BOOST_TEST(with("host", "/var/run/postgresql") == "host must be a host name or IP address");
  BOOST_TEST(with("host", "a,b") == "host must be a host name or IP address");
  // What the admin fuzzer found: a ':' host went between brackets as it
  // was, so one could close them or percent-decode into another host.
  for (const char* host : {"::1]?sslmode=disable&a=", "fe80::1%eth0", "::MMM%Bas#BaM0", "[::1]",
                           "::1::2", "db:5432"}) {
    BOOST_TEST(with("host", host) == "host with ':' must be an IPv6 address (no brackets, no zone)",
               host);
  }
  BOOST_TEST(with("user", 7) == "user must be a string");
  // A bad password is described, never quoted.
  const std::string message = with("password", json::string(std::string(2000, 'Q')));
  BOOST_TEST(message == "password is too long");
}

BOOST_AUTO_TEST_CASE(user_fields) {
  auto ok = parse_user_request(object(R"({"name": "bob", "password": "pw"})"));
  BOOST_TEST(std::get<UserRequest>(ok).name == "bob");
  BOOST_TEST(std::get<std::string>(parse_user_request(object(R"({"name": "bob"})"))) ==
             "password is required");
  BOOST_TEST(std::get<std::string>(parse_user_request(
                 object(R"({"name": "bob", "password": ""})"))) == "password must not be empty");
  BOOST_TEST(std::get<std::string>(parse_user_request(
                 object(R"({"name": "bob", "password": "x", "admin": true})"))) ==
             "unknown field \"admin\"");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(prometheus)

BOOST_AUTO_TEST_CASE(families_samples_and_escaping) {
  TextWriter w;
  w.counter("q_total", "Queries.\nAll of them \\ really.", {{"connection", "a\"b\\c\nd"}}, 3);
  w.counter("q_total", "ignored second help", {{"connection", "x"}}, 1.5);
  w.gauge("up", "Up.", {}, 1);
  w.append("# HELP ext External.\n# TYPE ext gauge\next 2");
  BOOST_TEST(w.text() ==
             "# HELP q_total Queries.\\nAll of them \\\\ really.\n"
             "# TYPE q_total counter\n"
             "q_total{connection=\"a\\\"b\\\\c\\nd\"} 3\n"
             "q_total{connection=\"x\"} 1.5\n"
             "# HELP up Up.\n# TYPE up gauge\nup 1\n"
             "# HELP ext External.\n# TYPE ext gauge\next 2\n");
}

BOOST_AUTO_TEST_CASE(histogram_buckets_are_cumulative) {
  Histogram h({0.1, 1});
  for (double v : {0.05, 0.1, 0.5, 2.0, 3.0}) h.observe(v);
  TextWriter w;
  w.histogram("d_seconds", "Durations.", {{"op", "x"}}, h.snapshot());
  BOOST_TEST(w.text() ==
             "# HELP d_seconds Durations.\n# TYPE d_seconds histogram\n"
             "d_seconds_bucket{op=\"x\",le=\"0.1\"} 2\n"
             "d_seconds_bucket{op=\"x\",le=\"1\"} 3\n"
             "d_seconds_bucket{op=\"x\",le=\"+Inf\"} 5\n"
             "d_seconds_sum{op=\"x\"} 5.65\n"
             "d_seconds_count{op=\"x\"} 5\n");
  BOOST_TEST(format_value(0.005) == "0.005");
  BOOST_TEST(format_value(1.0 / 0.0) == "+Inf");
  BOOST_TEST(format_value(12345678) == "12345678");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(schema)

json::object sample_schema(std::size_t tables) {
  json::array list;
  for (std::size_t i = 0; i < tables; ++i) {
    list.push_back(json::object{{"schema", "public"}, {"name", "t" + std::to_string(i)}});
  }
  return json::object{
      {"tables", list},
      {"table_count", tables},
      {"functions",
       json::array{
           json::object{{"schema", "public"}, {"name", "f_imm"}, {"volatility", "immutable"}},
           json::object{{"schema", "util"}, {"name", "f_stable"}, {"volatility", "stable"}},
           json::object{{"schema", "public"}, {"name", "f_vol"}, {"volatility", "volatile"}}}},
      {"introspected_at", "2024-05-01T12:00:00.123Z"}};
}

BOOST_AUTO_TEST_CASE(pages_of_tables) {
  const json::object schema = sample_schema(250);
  json::object first = pgwarden::catalog::schema_page(schema, 0);
  BOOST_TEST(first.at("tables").as_array().size() == 100U);
  BOOST_TEST(first.at("total").as_uint64() == 250U);
  BOOST_TEST(first.at("next_offset").as_uint64() == 100U);
  BOOST_TEST(first.contains("functions"));
  BOOST_TEST(first.at("introspected_at").as_string() == "2024-05-01T12:00:00.123Z");
  json::object last = pgwarden::catalog::schema_page(schema, 200, 100);
  BOOST_TEST(last.at("tables").as_array().size() == 50U);
  BOOST_TEST(last.at("tables").as_array()[0].at("name").as_string() == "t200");
  BOOST_TEST(last.at("next_offset").is_null());
  BOOST_TEST(!last.contains("functions"));
  BOOST_TEST(pgwarden::catalog::schema_page(schema, 900).at("tables").as_array().empty());
  BOOST_TEST(pgwarden::catalog::schema_page(json::object{}, 0).at("total").as_uint64() == 0U);
}

BOOST_AUTO_TEST_CASE(guard_facts) {
  json::object schema = sample_schema(0);
  // An overload of f_stable that is volatile makes the name volatile.
  schema["functions"].as_array().push_back(
      json::object{{"schema", "public"}, {"name", "f_stable"}, {"volatility", "volatile"}});
  const auto facts = pgwarden::catalog::function_facts(schema);
  BOOST_TEST(facts.read_only == (std::vector<std::string>{"f_imm"}));
  BOOST_TEST(facts.volatile_names == (std::vector<std::string>{"f_stable", "f_vol"}));
  BOOST_TEST(pgwarden::catalog::introspected_at(sample_schema(0)) == 1714564800123);
  BOOST_TEST(pgwarden::catalog::introspected_at(json::object{{"introspected_at", "x"}}) == 0);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(failures)

// libpq's texts as PostgreSQL 15 prints them, and the user-facing row each
// becomes.
BOOST_AUTO_TEST_CASE(libpq_messages_map_to_the_issue_table) {
  using pgwarden::catalog::pq::classify_message;
  const std::pair<const char*, ConnectFailure> cases[] = {
      {"connection to server at \"127.0.0.1\", port 1 failed: Connection refused\n\tIs the server "
       "running on that host and accepting TCP/IP connections?",
       ConnectFailure::Refused},
      {"could not translate host name \"nowhere.invalid\" to address: Name or service not known",
       ConnectFailure::Refused},
      {"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  password authentication "
       "failed for user \"analyst\"",
       ConnectFailure::AuthFailed},
      {"connection to server at \"127.0.0.1\", port 5432 failed: fe_sendauth: no password supplied",
       ConnectFailure::AuthFailed},
      {"connection to server at \"127.0.0.1\", port 5432 failed: timeout expired",
       ConnectFailure::Timeout},
      {"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  no pg_hba.conf entry for "
       "host \"127.0.0.1\", user \"analyst\", database \"analytics\", no encryption",
       ConnectFailure::SslRequired},
      {"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  no pg_hba.conf entry for "
       "host \"127.0.0.1\", user \"analyst\", database \"analytics\", SSL encryption",
       ConnectFailure::AuthFailed},
      {"connection to server at \"127.0.0.1\", port 5432 failed: server does not support SSL, but "
       "SSL was required",
       ConnectFailure::SslUnsupported},
      {"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  database \"nope\" does "
       "not exist",
       ConnectFailure::DatabaseNotFound},
      {"connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  sorry, too many clients "
       "already",
       ConnectFailure::Other},
  };
  for (const auto& [message, expected] : cases) {
    BOOST_TEST_CONTEXT(message) {
      BOOST_TEST((classify_message(message) == expected));
    }
  }
  using pgwarden::catalog::describe;
  BOOST_TEST(describe(ConnectFailure::Refused).http_status == 400);
  BOOST_TEST(describe(ConnectFailure::Refused).message == "Unable to connect. Check host/port.");
  BOOST_TEST(describe(ConnectFailure::AuthFailed).http_status == 401);
  BOOST_TEST(describe(ConnectFailure::AuthFailed).message ==
             "Authentication failed. Check credentials.");
  BOOST_TEST(describe(ConnectFailure::Timeout).http_status == 504);
  BOOST_TEST(describe(ConnectFailure::Timeout).message ==
             "Connection timed out. Server may be unreachable.");
  BOOST_TEST(describe(ConnectFailure::SslRequired).http_status == 400);
  BOOST_TEST(describe(ConnectFailure::SslRequired).message == "SSL connection required by server.");
  BOOST_TEST(describe(ConnectFailure::SslRequired).hint.find("ssl_mode=require") !=
             std::string_view::npos);
}

BOOST_AUTO_TEST_CASE(probe_failures_become_responses) {
  pgwarden::catalog::ProbeResult timeout;
  timeout.failure = ConnectFailure::Timeout;
  Response r = probe_failure(timeout, json::object{{"status", "failed"}});
  BOOST_TEST(r.status == 504U);
  BOOST_TEST(object(r.body).at("error_kind").as_string() == "timeout");
  BOOST_TEST(object(r.body).at("status").as_string() == "failed");

  pgwarden::catalog::ProbeResult query;
  query.query_error = "relation \"nope\" does not exist";
  query.sqlstate = "42P01";
  r = probe_failure(query);
  BOOST_TEST(r.status == 400U);
  BOOST_TEST(object(r.body).at("error").as_string() == "relation \"nope\" does not exist");
  query.sqlstate = "57014";
  BOOST_TEST(probe_failure(query).status == 504U);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(endpoints)

// An AdminApi over a SQLite catalog in a temp folder, with one user and one
// connection declared in the configuration file.
struct Api {
  fs::path dir;
  std::shared_ptr<AdminApi> api;
  int connections_changed = 0;
  int users_changed = 0;

  Api() {
    std::string pattern = (fs::temp_directory_path() / "pgwarden-api-XXXXXX").string();
    dir = ::mkdtemp(pattern.data());
    const std::string key = pgwarden::catalog::Fernet::generate_key();
    auto keys = std::get<pgwarden::catalog::Fernet>(pgwarden::catalog::Fernet::from_keys(key));
    const std::string toml =
        "[[users]]\nname = \"cfguser\"\npassword = \"" +
        pgwarden::protocol::format_scram_verifier(pgwarden::protocol::make_scram_verifier("x")) +
        "\"\n[[connections]]\nuser = \"cfguser\"\nname = \"cfgdb\"\n"
        "connection_string_encrypted = \"" +
        keys.encrypt("postgresql://u:p@127.0.0.1:1/db") + "\"\n";
    auto config = std::get<std::shared_ptr<const pgwarden::conf::Config>>(
        pgwarden::conf::parse_config(toml, "test.toml"));
    AdminHooks hooks;
    hooks.connections_changed = [this] { ++connections_changed; };
    hooks.users_changed = [this] { ++users_changed; };
    api = std::make_shared<AdminApi>(
        pgwarden::catalog::open_sqlite_store((dir / "catalog.db").string()),
        std::make_shared<const pgwarden::catalog::Fernet>(keys), config, hooks, ApiSettings{});
  }
  ~Api() {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
  Response call(std::string method, std::string_view target, std::string body = {}) {
    return api->handle(Request{std::move(method), *parse_target(target), std::move(body)});
  }
};

BOOST_FIXTURE_TEST_CASE(users_lifecycle, Api) {
  Response created = call("POST", "/api/users", R"({"name": "bob", "password": "hunter2hunter2"})");
  BOOST_TEST(created.status == 201U);
  BOOST_TEST(created.body.find("hunter2") == std::string::npos);
  BOOST_TEST(users_changed == 1);
  BOOST_TEST(call("POST", "/api/users", R"({"name": "bob", "password": "x"})").status == 409U);
  BOOST_TEST(call("POST", "/api/users", R"({"name": "cfguser", "password": "x"})").status == 409U);
  const Response listed = call("GET", "/api/users");
  BOOST_TEST(listed.body.find("\"cfguser\"") != std::string::npos);
  BOOST_TEST(listed.body.find("\"bob\"") != std::string::npos);
  BOOST_TEST(listed.body.find("SCRAM") == std::string::npos);  // verifiers stay inside
  BOOST_TEST(call("DELETE", "/api/users/cfguser").status == 403U);
  BOOST_TEST(call("DELETE", "/api/users/bob").status == 200U);
  BOOST_TEST(call("DELETE", "/api/users/bob").status == 404U);
  BOOST_TEST(users_changed == 2);
}

BOOST_FIXTURE_TEST_CASE(config_connections_are_listed_read_only, Api) {
  const std::string id = config_connection_id("cfguser", "cfgdb");
  const auto list = object(call("GET", "/api/connections?user=cfguser").body);
  const auto& items = list.at("connections").as_array();
  BOOST_REQUIRE_EQUAL(items.size(), 1U);
  BOOST_TEST(items[0].at("id").as_string() == id);
  BOOST_TEST(items[0].at("source").as_string() == "config");
  BOOST_TEST(items[0].at("read_only").as_bool());
  BOOST_TEST(call("DELETE", "/api/connections/" + id).status == 403U);
  BOOST_TEST(call("PATCH", "/api/connections/" + id, R"({"is_active": false})").status == 403U);
  BOOST_TEST(object(call("GET", "/api/connections?user=nobody").body)
                 .at("connections")
                 .as_array()
                 .empty());
  BOOST_TEST(connections_changed == 0);
}

BOOST_FIXTURE_TEST_CASE(errors_have_statuses_and_messages, Api) {
  const std::string unknown = "/api/connections/" + pgwarden::catalog::random_uuid();
  BOOST_TEST(call("GET", unknown).status == 404U);
  BOOST_TEST(call("DELETE", unknown).status == 404U);
  BOOST_TEST(call("POST", unknown + "/test").status == 404U);
  BOOST_TEST(call("GET", "/api/connections/not-a-uuid/schema").status == 404U);
  BOOST_TEST(call("GET", "/api/nothing").status == 404U);
  BOOST_TEST(call("GET", "/").status == 404U);
  const Response wrong_method = call("PUT", "/api/connections");
  BOOST_TEST(wrong_method.status == 405U);
  BOOST_TEST(wrong_method.allow == "GET, POST");
  const Response malformed = call("POST", "/api/connections", "{\"user\": ");
  BOOST_TEST(malformed.status == 400U);
  BOOST_TEST(
      std::string(object(malformed.body).at("error").as_string()).starts_with("malformed JSON"));
  BOOST_TEST(call("POST", "/api/connections", R"({"user": "acme"})").status == 400U);
  BOOST_TEST(call("GET", unknown + "/schema?limit=0").status == 400U);
  BOOST_TEST(call("POST", "/api/connections/" + config_connection_id("cfguser", "cfgdb") + "/test",
                  R"({"query": "DROP TABLE t"})")
                 .status == 403U);
  BOOST_TEST(object(call("GET", "/healthz").body).at("status").as_string() == "ok");
  BOOST_TEST(object(call("GET", "/api/pools").body).at("pools").as_array().empty());
  BOOST_TEST(AdminApi::is_inline(Request{"GET", *parse_target("/metrics"), {}}));
  BOOST_TEST(!AdminApi::is_inline(Request{"GET", *parse_target("/api/connections"), {}}));
}

BOOST_FIXTURE_TEST_CASE(metrics_count_responses, Api) {
  api->count_response(200);
  api->count_response(200);
  api->count_response(401);
  const Response metrics = call("GET", "/metrics");
  BOOST_TEST(metrics.content_type.starts_with("text/plain; version=0.0.4"));
  BOOST_TEST(metrics.body.find("# TYPE pgwarden_admin_requests_total counter\n") !=
             std::string::npos);
  BOOST_TEST(metrics.body.find("pgwarden_admin_requests_total{code=\"200\"} 2\n") !=
             std::string::npos);
  BOOST_TEST(metrics.body.find("pgwarden_admin_requests_total{code=\"401\"} 1\n") !=
             std::string::npos);
  BOOST_TEST(metrics.body.find("# TYPE pgwarden_admin_probe_duration_seconds histogram\n") !=
             std::string::npos);
  BOOST_TEST(metrics.body.find("pgwarden_catalog_up{store=\"sqlite\"} 1\n") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
