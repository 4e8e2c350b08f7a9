// The psql admin console: splits a simple Query into statements, parses each
// console command, and renders the hooks' figures as text result sets.
#include "daemon/admin_console.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>
#include <span>
#include <utility>
#include <variant>
#include <vector>

#include "protocol/builder.h"
#include "protocol/sqlstate.h"

namespace pgwarden::daemon {

namespace proto = protocol;

namespace {

// SQLSTATEs only the console reports (PostgreSQL Appendix A).
constexpr std::string_view kUndefinedObject = "42704";
constexpr std::string_view kObjectNotInPrerequisiteState = "55000";
constexpr std::string_view kConfigFileError = "F0000";

constexpr std::string_view kCommandList =
    "Commands: SHOW POOLS, SHOW CLIENTS, SHOW SERVERS, SHOW STATS, SHOW CONNECTIONS, "
    "SHOW CONFIG, SHOW VERSION, SHOW HELP, RELOAD, PAUSE <connection>, RESUME <connection>.";
constexpr std::string_view kConnectionHint =
    "Name a connection as user/name, or as name when only one user has it; quote it "
    "(\"...\") if it holds spaces or semicolons.";

enum class ColumnType { Text, Int8 };

//! One result column: its header, the JSON field it shows, or a fixed value.
struct Column {
  std::string_view name;
  std::string_view field;
  ColumnType type = ColumnType::Text;
  std::string_view fixed{};  //!< shown in every row when field is empty
};

//! A SHOW command: the hook's list key and the columns, in PgBouncer's
//! order where PgBouncer has the figure.
struct ShowTable {
  std::string_view command;  //!< lower case, after SHOW
  std::string_view key;
  std::vector<Column> columns;
};

constexpr auto kInt = ColumnType::Int8;

const std::vector<ShowTable>& show_tables() {
  static const std::vector<ShowTable> tables = {
      {"pools",
       "pools",
       {{"database", "name"},
        {"user", "user"},
        {"cl_active", "clients_active", kInt},
        {"cl_waiting", "clients_waiting", kInt},
        {"sv_active", "servers_active", kInt},
        {"sv_idle", "servers_idle", kInt},
        {"sv_tested", "servers_testing", kInt},
        {"queries", "queries", kInt},
        {"denials", "denials", kInt},
        {"rate_limited", "rate_limited", kInt},
        {"connect_failures", "connect_failures", kInt},
        {"wait_timeouts", "wait_timeouts", kInt},
        {"pool_mode", "", ColumnType::Text, "transaction"},
        {"paused", "paused", kInt}}},
      {"clients",
       "clients",
       {{"user", "user"},
        {"database", "database"},
        {"state", "state"},
        {"addr", "address"},
        {"port", "port", kInt},
        {"tls", "tls"},
        {"application_name", "application_name"},
        {"pid", "pid", kInt}}},
      {"servers",
       "servers",
       {{"user", "user"},
        {"database", "name"},
        {"state", "state"},
        {"addr", "address"},
        {"port", "port", kInt},
        {"tls", "tls"},
        {"remote_pid", "backend_pid", kInt},
        {"age", "age_seconds", kInt},
        {"state_age", "state_seconds", kInt}}},
      {"stats",
       "stats",
       {{"database", "name"},
        {"user", "user"},
        {"total_xact_count", "leases", kInt},
        {"total_query_count", "queries", kInt},
        {"total_denials", "denials", kInt},
        {"total_rate_limited", "rate_limited", kInt},
        {"total_connect_failures", "connect_failures", kInt},
        {"total_wait_timeouts", "wait_timeouts", kInt},
        {"total_health_checks", "health_checks", kInt},
        {"total_health_check_failures", "health_check_failures", kInt}}},
      {"connections",
       "connections",
       {{"user", "user"},
        {"name", "name"},
        {"host", "host"},
        {"port", "port", kInt},
        {"database", "database"},
        {"ssl_mode", "ssl_mode"},
        {"min_pool_size", "min_size", kInt},
        {"max_pool_size", "max_size", kInt},
        {"paused", "paused", kInt}}},
      {"config", "config", {{"key", "key"}, {"value", "value"}, {"default", "default"}}},
  };
  return tables;
}

const std::pair<std::string_view, std::string_view> kHelp[] = {
    {"SHOW POOLS", "clients and servers per connection, and their statement counts"},
    {"SHOW CLIENTS", "one row per logged-in client"},
    {"SHOW SERVERS", "one row per open upstream server connection"},
    {"SHOW STATS", "totals per connection since its pool started"},
    {"SHOW CONNECTIONS", "connection records: address, database, pool sizes (no credentials)"},
    {"SHOW CONFIG", "effective settings (no secrets)"},
    {"SHOW VERSION", "the pgwarden version"},
    {"SHOW HELP", "this list"},
    {"RELOAD", "re-read the configuration file and the catalog"},
    {"PAUSE <connection>", "let running transactions finish, hold new ones"},
    {"RESUME <connection>", "release the transactions PAUSE held"},
};

// ---------------------------------------------------------------- lexing

struct Token {
  enum class Kind { Word, Quoted, String, Symbol };
  Kind kind = Kind::Word;
  std::string text;  //!< quoted forms without their quotes, doubled quotes undone
  std::size_t offset = 0;
};

//! A syntax error, PostgreSQL style: the message and a byte offset (npos:
//! none) that becomes the 1-based character position.
struct SyntaxError {
  std::string message;
  std::size_t offset = std::string_view::npos;
};

bool is_word_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) != 0 || u >= 0x80 || c == '_' || c == '$' || c == '.' || c == '/' ||
         c == '-';
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

//! Characters (UTF-8 code points) before byte `offset`, plus one.
std::string position_of(std::string_view sql, std::size_t offset) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < offset && i < sql.size(); ++i) {
    if ((static_cast<unsigned char>(sql[i]) & 0xC0) != 0x80) ++chars;
  }
  return std::to_string(chars + 1);
}

//! One statement: its tokens and where it ends (the ';' or the end of text).
struct Statement {
  std::vector<Token> tokens;
  std::size_t end = 0;
};

//! Reads a quoted run starting at sql[i] == quote; a doubled quote stands for
//! one. Returns the offset after the closing quote, or npos if unterminated.
std::size_t read_quoted(std::string_view sql, std::size_t i, char quote, std::string& text) {
  for (++i; i < sql.size(); ++i) {
    if (sql[i] != quote) {
      text.push_back(sql[i]);
    } else if (i + 1 < sql.size() && sql[i + 1] == quote) {
      text.push_back(quote);
      ++i;
    } else {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

//! Splits the text into statements at ';' outside quotes and comments.
std::variant<std::vector<Statement>, SyntaxError> lex(std::string_view sql) {
  std::vector<Statement> statements(1);
  std::size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    const char next = i + 1 < sql.size() ? sql[i + 1] : '\0';
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      ++i;
    } else if (c == '-' && next == '-') {
      i = sql.find('\n', i);
      if (i == std::string_view::npos) i = sql.size();
    } else if (c == '/' && next == '*') {
      // Block comments nest in PostgreSQL.
      const std::size_t start = i;
      int depth = 0;
      do {
        if (sql.substr(i, 2) == "/*") {
          ++depth;
          i += 2;
        } else if (sql.substr(i, 2) == "*/") {
          --depth;
          i += 2;
        } else {
          ++i;
        }
      } while (depth > 0 && i < sql.size());
      if (depth > 0) return SyntaxError{"unterminated /* comment", start};
    } else if (c == ';') {
      statements.back().end = i;
      statements.emplace_back();
      ++i;
    } else if (c == '"' || c == '\'') {
      Token token{c == '"' ? Token::Kind::Quoted : Token::Kind::String, {}, i};
      i = read_quoted(sql, i, c, token.text);
      if (i == std::string_view::npos) {
        return SyntaxError{
            c == '"' ? "unterminated quoted identifier" : "unterminated quoted string",
            token.offset};
      }
      if (c == '"' && token.text.empty()) {
        return SyntaxError{"zero-length delimited identifier", token.offset};
      }
      statements.back().tokens.push_back(std::move(token));
    } else if (is_word_char(c)) {
      Token token{Token::Kind::Word, {}, i};
      while (i < sql.size() && is_word_char(sql[i]) && sql.substr(i, 2) != "--" &&
             sql.substr(i, 2) != "/*") {
        token.text.push_back(sql[i++]);
      }
      statements.back().tokens.push_back(std::move(token));
    } else {
      statements.back().tokens.push_back({Token::Kind::Symbol, std::string(1, c), i});
      ++i;
    }
  }
  statements.back().end = sql.size();
  return statements;
}

std::string near(const Token& token) {
  std::string shown = token.text;
  if (token.kind == Token::Kind::Quoted) shown = "\"" + shown + "\"";
  if (token.kind == Token::Kind::String) shown = "'" + shown + "'";
  return fmt::format("syntax error at or near \"{}\"", shown);
}

//! Checks a statement's shape (the words a command takes); nullopt if fine.
//! Unknown commands are not syntax errors: they fail when their turn comes.
std::optional<SyntaxError> check_shape(const Statement& statement) {
  const auto& tokens = statement.tokens;
  if (tokens.empty()) return std::nullopt;
  if (tokens[0].kind != Token::Kind::Word) return SyntaxError{near(tokens[0]), tokens[0].offset};
  const auto command = lower(tokens[0].text);
  std::size_t arguments = 0;
  if (command == "show") {
    arguments = 1;
    if (tokens.size() > 1 && tokens[1].kind != Token::Kind::Word) {
      return SyntaxError{near(tokens[1]), tokens[1].offset};
    }
  } else if (command == "pause" || command == "resume") {
    arguments = 1;
    if (tokens.size() > 1 && tokens[1].kind == Token::Kind::Symbol) {
      return SyntaxError{near(tokens[1]), tokens[1].offset};
    }
  } else if (command != "reload") {
    return std::nullopt;
  }
  if (tokens.size() < 1 + arguments) {
    return SyntaxError{"syntax error at end of input", statement.end};
  }
  if (tokens.size() > 1 + arguments) {
    return SyntaxError{near(tokens[1 + arguments]), tokens[1 + arguments].offset};
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- replies

void put_failure(std::string& out, std::string_view sqlstate, std::string_view message,
                 std::string_view hint = {}, std::string_view position = {}) {
  proto::put_error(out, {.severity = "ERROR",
                         .sqlstate = sqlstate,
                         .message = message,
                         .hint = hint,
                         .position = position});
}

//! A JSON value as the text of a column of the given type; nullopt = NULL.
std::optional<std::string> cell(const boost::json::value* value, ColumnType type) {
  if (value == nullptr || value->is_null()) return std::nullopt;
  if (const auto* s = value->if_string()) return std::string(s->data(), s->size());
  if (const auto* i = value->if_int64()) return std::to_string(*i);
  if (const auto* u = value->if_uint64()) return std::to_string(*u);
  if (const auto* d = value->if_double()) {
    if (type == ColumnType::Int8) return std::to_string(std::llround(*d));
    return fmt::format("{:g}", *d);
  }
  if (const auto* b = value->if_bool()) {
    if (type == ColumnType::Int8) return *b ? "1" : "0";
    return *b ? "true" : "false";
  }
  return boost::json::serialize(*value);
}

//! The list a data hook returned: {"<key>": [...]} or a bare array.
const boost::json::array* rows_of(const boost::json::value& value, std::string_view key) {
  if (const auto* array = value.if_array()) return array;
  if (const auto* object = value.if_object()) {
    if (const auto* found = object->if_contains(key)) return found->if_array();
  }
  return nullptr;
}

void put_table(std::string& out, std::span<const Column> columns,
               const std::vector<std::vector<std::optional<std::string>>>& rows) {
  std::vector<proto::FieldDescription> fields;
  fields.reserve(columns.size());
  for (const auto& column : columns) {
    if (column.type == ColumnType::Int8) {
      fields.push_back({column.name, 20, 8});
    } else {
      fields.push_back({column.name, 25, -1});
    }
  }
  proto::put_row_description(out, fields);
  std::vector<std::optional<std::string_view>> values;
  for (const auto& row : rows) {
    values.assign(row.begin(), row.end());
    proto::put_data_row(out, values);
  }
  proto::put_command_complete(out, "SHOW");
}

std::string show_list() {
  std::string names;
  for (const auto& table : show_tables()) names += fmt::format("{}, ", table.command);
  return fmt::format("SHOW takes one of: {}version, help.", names);
}

void run(const ConsoleHooks& hooks, const Statement& statement, std::string& out, bool& failed);

}  // namespace

AdminConsole::AdminConsole(ConsoleHooks hooks) : hooks_(std::move(hooks)) {}

std::string AdminConsole::refuse_extended() {
  std::string out;
  put_failure(out, proto::sqlstate::kFeatureNotSupported,
              "the admin console accepts simple queries only",
              "Use psql, or a driver's simple-query mode.");
  return out;
}

std::string AdminConsole::handle_query(std::string_view sql) const {
  std::string out;
  auto lexed = lex(sql);
  std::optional<SyntaxError> error;
  std::vector<Statement> statements;
  if (auto* failure = std::get_if<SyntaxError>(&lexed)) {
    error = std::move(*failure);
  } else {
    statements = std::get<std::vector<Statement>>(std::move(lexed));
    // PostgreSQL parses the whole string first: a syntax error runs nothing.
    for (const auto& statement : statements) {
      if ((error = check_shape(statement))) break;
    }
  }
  if (error) {
    put_failure(
        out, proto::sqlstate::kSyntaxError, error->message, kCommandList,
        error->offset == std::string_view::npos ? std::string() : position_of(sql, error->offset));
  } else {
    bool any = false;
    bool failed = false;
    for (const auto& statement : statements) {
      if (statement.tokens.empty()) continue;
      any = true;
      run(hooks_, statement, out, failed);
      if (failed) break;  // an error abandons the rest of the string
    }
    if (!any) proto::put_empty_query_response(out);
  }
  proto::put_ready_for_query(out, proto::TxStatus::Idle);
  return out;
}

namespace {

void show(const ConsoleHooks& hooks, std::string_view what, std::string& out, bool& failed);
void pause_or_resume(const ConsoleHooks& hooks, const Statement& statement, std::string& out,
                     bool& failed);

void run(const ConsoleHooks& hooks, const Statement& statement, std::string& out, bool& failed) {
  const auto command = lower(statement.tokens[0].text);
  try {
    if (command == "show") {
      show(hooks, lower(statement.tokens[1].text), out, failed);
    } else if (command == "reload") {
      if (!hooks.reload) {
        failed = true;
        put_failure(out, proto::sqlstate::kFeatureNotSupported, "RELOAD is not available here");
        return;
      }
      if (auto problem = hooks.reload(); !problem.empty()) {
        failed = true;
        put_failure(out, kConfigFileError,
                    fmt::format("reload failed, the running configuration stays: {}", problem));
        return;
      }
      proto::put_command_complete(out, "RELOAD");
    } else if (command == "pause" || command == "resume") {
      pause_or_resume(hooks, statement, out, failed);
    } else {
      failed = true;
      put_failure(
          out, proto::sqlstate::kFeatureNotSupported,
          fmt::format("the pgwarden admin console does not run \"{}\"", statement.tokens[0].text),
          fmt::format("It answers console commands only, not SQL. {}", kCommandList));
    }
  } catch (const std::exception& e) {
    // A hook's bug: logged here, not echoed (it might name a secret).
    spdlog::error("admin console: {} failed: {}", command, e.what());
    failed = true;
    put_failure(out, proto::sqlstate::kInternalError,
                fmt::format("pgwarden could not answer {}", statement.tokens[0].text));
  }
}

void show(const ConsoleHooks& hooks, std::string_view what, std::string& out, bool& failed) {
  const auto unavailable = [&] {
    failed = true;
    put_failure(out, proto::sqlstate::kFeatureNotSupported,
                fmt::format("SHOW {} is not available here", what));
  };
  if (what == "help") {
    static constexpr Column kColumns[] = {{"command", ""}, {"description", ""}};
    std::vector<std::vector<std::optional<std::string>>> rows;
    for (const auto& [command, description] : kHelp) {
      rows.push_back({std::string(command), std::string(description)});
    }
    put_table(out, kColumns, rows);
    return;
  }
  if (what == "version") {
    if (!hooks.version) return unavailable();
    static constexpr Column kColumns[] = {{"version", ""}};
    put_table(out, kColumns, {{hooks.version()}});
    return;
  }
  const auto& tables = show_tables();
  const auto table = std::find_if(tables.begin(), tables.end(),
                                  [&](const ShowTable& t) { return t.command == what; });
  if (table == tables.end()) {
    failed = true;
    put_failure(out, proto::sqlstate::kFeatureNotSupported,
                fmt::format("unrecognized SHOW command \"{}\"", what), show_list());
    return;
  }
  const std::function<boost::json::value()>* hook = nullptr;
  if (what == "pools") hook = &hooks.pools;
  if (what == "clients") hook = &hooks.clients;
  if (what == "servers") hook = &hooks.servers;
  if (what == "stats") hook = &hooks.stats;
  if (what == "connections") hook = &hooks.connections;
  if (what == "config") hook = &hooks.config;
  if (hook == nullptr || !*hook) return unavailable();
  const auto value = (*hook)();
  std::vector<std::vector<std::optional<std::string>>> rows;
  if (const auto* list = rows_of(value, table->key)) {
    for (const auto& item : *list) {
      const auto* object = item.if_object();
      if (object == nullptr) continue;
      auto& row = rows.emplace_back();
      for (const auto& column : table->columns) {
        if (column.field.empty()) {
          row.emplace_back(std::string(column.fixed));
        } else {
          row.push_back(cell(object->if_contains(column.field), column.type));
        }
      }
    }
  }
  put_table(out, table->columns, rows);
}

void pause_or_resume(const ConsoleHooks& hooks, const Statement& statement, std::string& out,
                     bool& failed) {
  const bool pause = lower(statement.tokens[0].text) == "pause";
  const std::string_view verb = pause ? "PAUSE" : "RESUME";
  const auto& action = pause ? hooks.pause : hooks.resume;
  const std::string& wanted = statement.tokens[1].text;
  if (!action) {
    failed = true;
    put_failure(out, proto::sqlstate::kFeatureNotSupported,
                fmt::format("{} is not available here", verb));
    return;
  }
  // "user/name" exactly, else a name only one user has.
  std::vector<std::pair<std::string, std::string>> exact;
  std::vector<std::pair<std::string, std::string>> by_name;
  if (hooks.connections) {
    const auto known = hooks.connections();
    if (const auto* list = rows_of(known, "connections")) {
      for (const auto& item : *list) {
        const auto* object = item.if_object();
        const auto* user = object ? object->if_contains("user") : nullptr;
        const auto* name = object ? object->if_contains("name") : nullptr;
        if (!user || !name || !user->is_string() || !name->is_string()) continue;
        std::pair<std::string, std::string> entry{std::string(user->get_string()),
                                                  std::string(name->get_string())};
        if (entry.first + "/" + entry.second == wanted) exact.push_back(entry);
        if (entry.second == wanted) by_name.push_back(std::move(entry));
      }
    }
  }
  const auto& matches = exact.empty() ? by_name : exact;
  if (matches.empty()) {
    failed = true;
    put_failure(out, kUndefinedObject, fmt::format("connection \"{}\" does not exist", wanted),
                kConnectionHint);
    return;
  }
  if (matches.size() > 1) {
    std::string owners;
    for (const auto& [user, name] : matches) {
      owners += fmt::format("{}{}/{}", owners.empty() ? "" : ", ", user, name);
    }
    failed = true;
    put_failure(out, proto::sqlstate::kInvalidParameterValue,
                fmt::format("connection name \"{}\" is ambiguous", wanted),
                fmt::format("Write user/name: {}.", owners));
    return;
  }
  const auto& [user, name] = matches.front();
  if (auto problem = action(user, name); !problem.empty()) {
    failed = true;
    put_failure(out, kObjectNotInPrerequisiteState,
                fmt::format("{} {}/{} failed: {}", verb, user, name, problem));
    return;
  }
  proto::put_command_complete(out, verb);
}

}  // namespace

}  // namespace pgwarden::daemon
