// Loads pgwarden.toml into a validated, immutable Config. Every rejection names
// the file, line, column and dotted key; no message quotes a password or
// encrypted connection string.
#include "conf/config.h"

#include <arpa/inet.h>
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <set>
#include <span>
#include <utility>

#include "protocol/scram.h"

namespace pgwarden::conf {
namespace {

constexpr std::size_t kMaxNameBytes = 63;  // PostgreSQL's NAMEDATALEN - 1
constexpr double kMaxSeconds = 365.0 * 24 * 3600;
constexpr std::string_view kAdminDatabase = "pgwarden";
constexpr std::string_view kVerifierHint = " (run `pgwarden verifier`)";
// [pool] keys, also accepted as per-connection overrides.
constexpr std::array<std::string_view, 10> kPoolKeys = {"min_size",
                                                        "max_size",
                                                        "acquire_timeout",
                                                        "connect_timeout",
                                                        "query_timeout",
                                                        "server_idle_timeout",
                                                        "server_lifetime",
                                                        "idle_transaction_timeout",
                                                        "health_check_period",
                                                        "max_prepared_statements"};

// [limits] keys, also accepted as per-connection overrides. query_timeout
// lives in PoolSettings but may be given here too, where users look for it.
constexpr std::array<std::string_view, 8> kLimitKeys = {
    "queries_per_minute", "burst",          "max_result_rows", "max_result_bytes",
    "allow_functions",    "log_query_text", "query_timeout",   "max_query_size"};

// Thrown only inside this file and turned into a value by parse_config.
struct Failure {
  ConfigError error;
};

std::string type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      return "a date/time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

// toml++ 3.3.0 (Debian 12) has undefined behaviour on some text: its
// is_non_ascii_horizontal_whitespace() reaches __builtin_unreachable() for
// the code points below (upstream marzer/tomlplusplus#295, fixed by #305 in
// a release Debian 12 does not ship). The parser asks that question of the
// character after a value or key, after a backslash in a multi-line string,
// and of every character of a malformed value it scans for its end, so a
// config file could make the loader do anything. pgwarden screens the text
// before toml++ sees it, with a lexer that follows only where comments and
// strings begin and end:
// - beyond ASCII outside strings and comments is a TOML 1.0 syntax error
//   anyway, refused here with its position;
// - the affected code points are refused in strings too (toml++ can be
//   scanning what looks like a string as a malformed value); the message
//   says how to write them as \u escapes, which toml++ handles correctly;
// - comments are free: toml++ reads them asking only about line breaks,
//   control characters and surrogates.
bool tomlplusplus_295(char32_t c) {
  return (c >= 0xA1 && c <= 0x499) || (c >= 0x2EFE && c <= 0x32F7 && c != 0x3000) ||
         (c >= 0xFB26 && c <= 0xFEFE);
}

// The code point starting at text[i] and its length in bytes; a byte that
// does not start valid UTF-8 is returned alone (toml++ reports it).
std::pair<char32_t, std::size_t> code_point_at(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
  const unsigned char lead = byte(0);
  std::size_t length = 0;
  char32_t c = 0;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
    c = lead & 0x1Fu;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    c = lead & 0x0Fu;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    c = lead & 0x07u;
  } else {
    return {lead, 1};
  }
  if (i + length > text.size()) return {lead, 1};
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(k) & 0xC0) != 0x80) return {lead, 1};
    c = (c << 6) | (byte(k) & 0x3Fu);
  }
  return {c, length};
}

std::string code_point_name(char32_t c) {
  char name[16];
  std::snprintf(name, sizeof name, "U+%04X", static_cast<unsigned>(c));
  return name;
}

std::optional<ConfigError> screen_for_tomlplusplus(std::string_view text,
                                                   const std::string& source) {
  enum class State { kBare, kComment, kBasic, kLiteral, kMultiBasic, kMultiLiteral };
  constexpr std::string_view kBasicTriple = R"(""")";
  constexpr std::string_view kLiteralTriple = "'''";
  State state = State::kBare;
  std::uint32_t line = 1;
  std::uint32_t column = 0;  // in code points, as toml++ counts
  bool escaped = false;      // the previous character was a backslash in a basic string
  const auto at = [&](std::size_t i, std::string_view s) { return text.substr(i, s.size()) == s; };
  constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";  // toml++ skips it
  std::size_t i = at(0, kByteOrderMark) ? kByteOrderMark.size() : 0;
  while (i < text.size()) {
    const auto [c, length] = code_point_at(text, i);
    ++column;
    std::size_t next = i + length;
    if (c == '\n') {
      ++line;
      column = 0;
      escaped = false;
      // A newline ends a comment, and a single-line string (unterminated:
      // toml++ reports that).
      if (state != State::kMultiBasic && state != State::kMultiLiteral) state = State::kBare;
      i = next;
      continue;
    }
    if (c >= 0x80 && state == State::kBare) {
      return ConfigError{source, line, column, "",
                         code_point_name(c) + " outside a string or comment"};
    }
    if (tomlplusplus_295(c) && state != State::kComment) {
      // Inside a string: the character is not named, since the string may
      // be a secret (a catalog URL's password); its position is enough.
      return ConfigError{source, line, column, "",
                         "characters in U+00A1..U+0499, U+2EFE..U+32F7 and U+FB26..U+FEFE may "
                         "be written only as \\u escapes or in comments: the TOML library "
                         "pgwarden is built with mishandles them (toml++ 3.3.0, upstream bug 295)"};
    }
    // A string opens with one quote or three; three quotes close a
    // multi-line string, and up to two more just before them belong to it
    // ("""a""""" is `a""`).
    const auto open = [&](State single, State multi, std::string_view triple) {
      const bool is_multi = at(i, triple);
      state = is_multi ? multi : single;
      if (is_multi) {
        next = i + 3;
        column += 2;
      }
    };
    const auto close_multi = [&](std::string_view triple) {
      std::size_t run = 3;
      while (run < 5 && i + run < text.size() && text[i + run] == triple[0]) ++run;
      next = i + run;
      column += static_cast<std::uint32_t>(run - 1);
      state = State::kBare;
    };
    switch (state) {
      case State::kBare:
        if (c == '#') {
          state = State::kComment;
        } else if (c == '"') {
          open(State::kBasic, State::kMultiBasic, kBasicTriple);
        } else if (c == '\'') {
          open(State::kLiteral, State::kMultiLiteral, kLiteralTriple);
        }
        break;
      case State::kComment:
        break;
      case State::kBasic:
      case State::kMultiBasic:
        if (escaped) {
          escaped = false;
        } else if (c == '\\') {
          escaped = true;
        } else if (state == State::kBasic && c == '"') {
          state = State::kBare;
        } else if (state == State::kMultiBasic && at(i, kBasicTriple)) {
          close_multi(kBasicTriple);
        }
        break;
      case State::kLiteral:
        if (c == '\'') state = State::kBare;
        break;
      case State::kMultiLiteral:
        if (at(i, kLiteralTriple)) close_multi(kLiteralTriple);
        break;
    }
    i = next;
  }
  return std::nullopt;
}

class Loader {
 public:
  explicit Loader(std::string source) : source_(std::move(source)) {}

  std::shared_ptr<const Config> load(const toml::table& root) {
    auto config = std::make_shared<Config>();
    config->source = source_;
    allow_only(root, "",
               {"server", "pool", "limits", "log", "admin", "catalog", "users", "connections"});
    if (const toml::table* t = table_at(root, "server", "server")) {
      load_server(*t, config->server);
    }
    if (const toml::table* t = table_at(root, "pool", "pool")) {
      allow_only(*t, "pool", {}, kPoolKeys);
      load_pool(*t, "pool", config->pool);
    }
    if (const toml::table* t = table_at(root, "limits", "limits")) {
      allow_only(*t, "limits", {}, kLimitKeys);
      load_limits(*t, "limits", config->limits, config->pool);
    }
    if (const toml::table* t = table_at(root, "log", "log")) load_log(*t, config->log);
    if (const toml::table* t = table_at(root, "admin", "admin")) load_admin(*t, config->admin);
    if (const toml::table* t = table_at(root, "catalog", "catalog")) {
      load_catalog(*t, config->catalog);
    }
    for_each_entry(root, "users", [&](const toml::table& t, const std::string& path) {
      load_user(t, path, *config);
    });
    for_each_entry(root, "connections", [&](const toml::table& t, const std::string& path) {
      load_connection(t, path, *config);
    });
    return config;
  }

 private:
  [[noreturn]] void fail(const toml::source_region& where, std::string key,
                         std::string message) const {
    throw Failure{ConfigError{source_, std::uint32_t(where.begin.line),
                              std::uint32_t(where.begin.column), std::move(key),
                              std::move(message)}};
  }

  static std::string join(std::string_view prefix, std::string_view key) {
    return prefix.empty() ? std::string(key) : std::string(prefix) + "." + std::string(key);
  }

  void allow_only(const toml::table& table, std::string_view path,
                  std::initializer_list<std::string_view> allowed,
                  std::span<const std::string_view> also_allowed = {},
                  std::span<const std::string_view> and_allowed = {}) const {
    for (auto&& entry : table) {
      // Not a structured binding: clang before 16 cannot capture one.
      const auto& key = entry.first;
      const auto is_key = [&](std::string_view a) { return key.str() == a; };
      if (std::none_of(allowed.begin(), allowed.end(), is_key) &&
          std::none_of(also_allowed.begin(), also_allowed.end(), is_key) &&
          std::none_of(and_allowed.begin(), and_allowed.end(), is_key)) {
        fail(key.source(), join(path, key.str()), "unknown key");
      }
    }
  }

  const toml::table* table_at(const toml::table& parent, std::string_view key,
                              const std::string& path) const {
    const toml::node* node = parent.get(key);
    if (node == nullptr) return nullptr;
    if (!node->is_table()) fail(node->source(), path, "must be a table, not " + type_name(*node));
    return node->as_table();
  }

  // [[key]] entries, each handed over with its path "key[i]".
  template <typename Fn>
  void for_each_entry(const toml::table& root, std::string_view key, Fn&& fn) const {
    const toml::node* node = root.get(key);
    if (node == nullptr) return;
    const toml::array* array = node->as_array();
    if (array != nullptr && array->empty()) return;
    if (array == nullptr || !array->is_array_of_tables()) {
      std::string message = "must be an array of tables ([[" + std::string(key) + "]] entries)";
      if (array == nullptr) message += ", not " + type_name(*node);
      fail(node->source(), std::string(key), message);
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
      fn(*(*array)[i].as_table(), std::string(key) + "[" + std::to_string(i) + "]");
    }
  }

  const toml::node* required(const toml::table& table, std::string_view key,
                             const std::string& path) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) fail(table.source(), join(path, key), "is required");
    return node;
  }

  std::string string_at(const toml::node& node, const std::string& path) const {
    if (!node.is_string()) fail(node.source(), path, "must be a string, not " + type_name(node));
    return node.as_string()->get();
  }

  std::optional<std::uint32_t> uint_at(const toml::table& table, std::string_view key,
                                       const std::string& prefix, std::int64_t min,
                                       std::int64_t max) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return std::nullopt;
    const std::string path = join(prefix, key);
    if (!node->is_integer()) {
      fail(node->source(), path, "must be an integer, not " + type_name(*node));
    }
    const std::int64_t value = node->as_integer()->get();
    if (value < min || value > max) {
      fail(node->source(), path,
           "must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
    return std::uint32_t(value);
  }

  // An integer or a float, as a double; nullopt for any other type.
  static std::optional<double> as_number(const toml::node& node) {
    if (node.is_integer()) return double(node.as_integer()->get());
    if (node.is_floating_point()) return node.as_floating_point()->get();
    return std::nullopt;
  }

  // Durations are seconds, integer or float; 0 means "never" where allowed.
  std::optional<Seconds> seconds_at(const toml::table& table, std::string_view key,
                                    const std::string& prefix, bool positive) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return std::nullopt;
    const std::string path = join(prefix, key);
    double value = 0;
    if (const auto number = as_number(*node)) {
      value = *number;
    } else if (node->is_string()) {
      auto parsed = parse_duration(node->as_string()->get());
      if (!parsed) {
        fail(
            node->source(), path,
            "must be a number of seconds or a duration such as \"30s\", \"500ms\", \"5m\", \"1h\"");
      }
      value = *parsed;
    } else {
      fail(node->source(), path, "must be a number of seconds, not " + type_name(*node));
    }
    if (!std::isfinite(value) || value < 0 || value > kMaxSeconds) {
      fail(node->source(), path, "must be between 0 and 31536000 seconds (365 days)");
    }
    if (positive && value == 0) fail(node->source(), path, "must be greater than 0");
    return Seconds(value);
  }

  // "30s", "500ms", "5m", "1h", "1d", "1.5s": a number and one unit.
  static std::optional<double> parse_duration(std::string_view text) {
    std::size_t split = 0;
    while (split < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[split])) || text[split] == '.')) {
      ++split;
    }
    if (split == 0 || split == text.size()) return std::nullopt;
    double number = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + split, number);
    if (ec != std::errc() || end != text.data() + split) return std::nullopt;
    const std::string_view unit = text.substr(split);
    if (unit == "ms") return number / 1000;
    if (unit == "s") return number;
    if (unit == "m" || unit == "min") return number * 60;
    if (unit == "h") return number * 3600;
    if (unit == "d") return number * 86400;
    return std::nullopt;
  }

  void check_name(const toml::node& node, const std::string& path, const std::string& name) const {
    if (name.empty()) fail(node.source(), path, "must not be empty");
    if (name.size() > kMaxNameBytes) {
      fail(node.source(), path, "must be at most 63 bytes (PostgreSQL's identifier limit)");
    }
    for (unsigned char c : name) {
      if (c < 0x20 || c == 0x7f) fail(node.source(), path, "must not contain control characters");
    }
  }

  // ---- sections ----

  void load_server(const toml::table& t, ServerSettings& s) const {
    allow_only(t, "server",
               {"listen", "workers", "max_client_connections", "auth_timeout",
                "client_idle_timeout", "max_message_size", "shutdown_grace", "reuse_port", "tls"});
    if (auto v = bool_at(t, "reuse_port", "server")) s.reuse_port = *v;
    if (const toml::table* tls = table_at(t, "tls", "server.tls")) load_tls(*tls, s.tls);
    if (const toml::node* node = t.get("listen")) load_listen(*node, s.listen);
    if (auto v = uint_at(t, "workers", "server", 0, 256)) s.workers = *v;
    if (auto v = uint_at(t, "max_client_connections", "server", 1, 1'000'000)) {
      s.max_client_connections = *v;
    }
    if (auto v = seconds_at(t, "auth_timeout", "server", true)) s.auth_timeout = *v;
    if (auto v = seconds_at(t, "client_idle_timeout", "server", false)) s.client_idle_timeout = *v;
    if (auto v = seconds_at(t, "shutdown_grace", "server", false)) s.shutdown_grace = *v;
    if (auto v = uint_at(t, "max_message_size", "server", 1024, 1'073'741'823)) {
      s.max_message_size = *v;
    }
  }

  void load_tls(const toml::table& t, ClientTlsSettings& tls) const {
    allow_only(t, "server.tls", {"mode", "cert_file", "key_file", "client_ca_file", "min_version"});
    if (const toml::node* node = t.get("mode")) {
      tls.mode = string_at(*node, "server.tls.mode");
      if (tls.mode != "disable" && tls.mode != "allow" && tls.mode != "prefer" &&
          tls.mode != "require") {
        fail(node->source(), "server.tls.mode", "must be one of disable, allow, prefer, require");
      }
    }
    for (auto [key, field] :
         {std::pair{"cert_file", &tls.cert_file}, std::pair{"key_file", &tls.key_file},
          std::pair{"client_ca_file", &tls.client_ca_file}}) {
      if (const toml::node* node = t.get(key)) {
        *field = string_at(*node, join("server.tls", key));
        if (field->empty()) fail(node->source(), join("server.tls", key), "must not be empty");
      }
    }
    if (const toml::node* node = t.get("min_version")) {
      tls.min_version = string_at(*node, "server.tls.min_version");
      if (tls.min_version != "TLSv1.2" && tls.min_version != "TLSv1.3") {
        fail(node->source(), "server.tls.min_version", "must be TLSv1.2 or TLSv1.3");
      }
    }
    if (tls.enabled() && (tls.cert_file.empty() || tls.key_file.empty())) {
      fail(t.source(), "server.tls", "mode " + tls.mode + " needs cert_file and key_file");
    }
  }

  std::optional<bool> bool_at(const toml::table& table, std::string_view key,
                              const std::string& prefix) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return std::nullopt;
    if (!node->is_boolean()) fail(node->source(), join(prefix, key), "must be true or false");
    return node->as_boolean()->get();
  }

  void load_listen(const toml::node& node, std::vector<ListenAddress>& out) const {
    const toml::array* array = node.as_array();
    if (array == nullptr) {
      fail(node.source(), "server.listen", "must be an array of \"host:port\" strings");
    }
    if (array->empty()) fail(node.source(), "server.listen", "must list at least one address");
    out.clear();
    std::set<std::pair<std::string, std::uint16_t>> seen;
    for (std::size_t i = 0; i < array->size(); ++i) {
      const toml::node& item = (*array)[i];
      const std::string path = "server.listen[" + std::to_string(i) + "]";
      ListenAddress address = parse_listen(item, path, string_at(item, path));
      if (!seen.emplace(address.host, address.port).second) {
        fail(item.source(), path, "address is listed twice");
      }
      out.push_back(std::move(address));
    }
  }

  ListenAddress parse_listen(const toml::node& node, const std::string& path,
                             const std::string& text) const {
    constexpr std::string_view kForm =
        "must be \"host:port\" with an IP address or localhost, IPv6 in brackets "
        "(\"127.0.0.1:6432\", \"[::1]:6432\")";
    std::string host;
    std::string_view port_text;
    bool ipv6 = false;
    if (!text.empty() && text.front() == '[') {
      const std::size_t close = text.find(']');
      if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
        fail(node.source(), path, std::string(kForm));
      }
      host = text.substr(1, close - 1);
      port_text = std::string_view(text).substr(close + 2);
      ipv6 = true;
    } else {
      const std::size_t colon = text.rfind(':');
      if (colon == std::string::npos) fail(node.source(), path, std::string(kForm));
      host = text.substr(0, colon);
      if (host.find(':') != std::string::npos) {
        fail(node.source(), path, "IPv6 addresses must be in brackets, e.g. \"[::1]:6432\"");
      }
      port_text = std::string_view(text).substr(colon + 1);
    }
    unsigned char buffer[sizeof(in6_addr)];
    const bool valid_host =
        ipv6 ? inet_pton(AF_INET6, host.c_str(), buffer) == 1
             : host == "localhost" || inet_pton(AF_INET, host.c_str(), buffer) == 1;
    if (!valid_host) fail(node.source(), path, std::string(kForm));
    unsigned port = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      fail(node.source(), path, "port must be between 1 and 65535");
    }
    return ListenAddress{std::move(host), std::uint16_t(port)};
  }

  // Shared by [pool] and the overrides in a [[connections]] entry; starts from
  // `pool` and replaces only what `t` sets.
  void load_pool(const toml::table& t, const std::string& path, PoolSettings& pool) const {
    if (auto v = uint_at(t, "min_size", path, 0, 10'000)) pool.min_size = *v;
    if (auto v = uint_at(t, "max_size", path, 1, 10'000)) pool.max_size = *v;
    if (auto v = seconds_at(t, "acquire_timeout", path, true)) pool.acquire_timeout = *v;
    if (auto v = seconds_at(t, "connect_timeout", path, true)) pool.connect_timeout = *v;
    if (auto v = seconds_at(t, "query_timeout", path, true)) pool.query_timeout = *v;
    if (auto v = seconds_at(t, "server_idle_timeout", path, false)) pool.server_idle_timeout = *v;
    if (auto v = seconds_at(t, "server_lifetime", path, false)) pool.server_lifetime = *v;
    if (auto v = seconds_at(t, "idle_transaction_timeout", path, false)) {
      pool.idle_transaction_timeout = *v;
    }
    if (auto v = seconds_at(t, "health_check_period", path, false)) pool.health_check_period = *v;
    if (auto v = uint_at(t, "max_prepared_statements", path, 1, 100'000)) {
      pool.max_prepared_statements = *v;
    }
    if (pool.min_size > pool.max_size) {
      // Blame the key this table set; with both inherited, [pool] was wrong.
      const bool own_min = t.get("min_size") != nullptr;
      const toml::node* node = own_min ? t.get("min_size") : t.get("max_size");
      fail(node != nullptr ? node->source() : t.source(),
           join(path, own_min ? "min_size" : "max_size"),
           "min_size (" + std::to_string(pool.min_size) + ") is greater than max_size (" +
               std::to_string(pool.max_size) + ")");
    }
  }

  // Shared by [limits] and the overrides in a [[connections]] entry.
  void load_limits(const toml::table& t, const std::string& path, LimitSettings& limits,
                   PoolSettings& pool) const {
    if (auto v = number_at(t, "queries_per_minute", path, 0, 1e9)) limits.queries_per_minute = *v;
    if (auto v = number_at(t, "burst", path, 0, 1e9)) limits.burst = *v;
    if (auto v = number_at(t, "max_result_rows", path, 0, 1e15)) {
      limits.max_result_rows = static_cast<std::uint64_t>(*v);
    }
    if (auto v = number_at(t, "max_result_bytes", path, 0, 1e15)) {
      limits.max_result_bytes = static_cast<std::uint64_t>(*v);
    }
    if (auto v = seconds_at(t, "query_timeout", path, true)) pool.query_timeout = *v;
    if (auto v = uint_at(t, "max_query_size", path, 16, 1'073'741'823)) limits.max_query_size = *v;
    if (auto v = bool_at(t, "log_query_text", path)) limits.log_query_text = *v;
    if (const toml::node* node = t.get("allow_functions")) {
      const std::string key = join(path, "allow_functions");
      const toml::array* list = node->as_array();
      if (list == nullptr) fail(node->source(), key, "must be a list of function names");
      limits.allow_functions.clear();
      for (const toml::node& item : *list) {
        std::string name = string_at(item, key);
        check_name(item, key, name);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        limits.allow_functions.push_back(std::move(name));
      }
    }
  }

  std::optional<double> number_at(const toml::table& table, std::string_view key,
                                  const std::string& prefix, double min, double max) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return std::nullopt;
    const std::string path = join(prefix, key);
    const auto number = as_number(*node);
    if (!number) fail(node->source(), path, "must be a number, not " + type_name(*node));
    const double value = *number;
    if (!std::isfinite(value) || value < min || value > max) {
      fail(node->source(), path,
           "must be between " + format_number(min) + " and " + format_number(max));
    }
    return value;
  }

  static std::string format_number(double v) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.15g", v);
    return buffer;
  }

  void load_log(const toml::table& t, LogSettings& log) const {
    allow_only(t, "log", {"level", "audit"});
    if (const toml::node* audit = t.get("audit")) {
      log.audit = string_at(*audit, "log.audit");
      if (log.audit != "all" && log.audit != "denied" && log.audit != "off") {
        fail(audit->source(), "log.audit", "must be one of all, denied, off");
      }
    }
    const toml::node* node = t.get("level");
    if (node == nullptr) return;
    const std::string level = string_at(*node, "log.level");
    if (level != "trace" && level != "debug" && level != "info" && level != "warn" &&
        level != "error") {
      fail(node->source(), "log.level", "must be one of trace, debug, info, warn, error");
    }
    log.level = level;
  }

  void load_admin(const toml::table& t, AdminSettings& admin) const {
    allow_only(t, "admin", {"listen", "token_file", "socket", "users"});
    if (const toml::node* node = t.get("socket")) {
      admin.socket = string_at(*node, "admin.socket");
      check_socket_path(*node, "admin.socket", admin.socket);
    }
    if (const toml::node* node = t.get("users")) {
      const toml::array* list = node->as_array();
      if (list == nullptr) fail(node->source(), "admin.users", "must be a list of user names");
      for (const toml::node& item : *list) {
        std::string name = string_at(item, "admin.users");
        check_name(item, "admin.users", name);
        admin.users.push_back(std::move(name));
      }
    }
    if (const toml::node* node = t.get("listen")) {
      const std::string text = string_at(*node, "admin.listen");
      if (text.starts_with("unix:")) {
        admin.unix_socket = text.substr(5);
        check_socket_path(*node, "admin.listen", admin.unix_socket);
      } else {
        admin.listen = parse_listen(*node, "admin.listen", text);
      }
    }
    if (const toml::node* node = t.get("token_file")) {
      admin.token_file = string_at(*node, "admin.token_file");
      if (admin.token_file.empty()) fail(node->source(), "admin.token_file", "must not be empty");
    }
  }

  void check_socket_path(const toml::node& node, const std::string& key,
                         const std::string& path) const {
    if (!path.starts_with('/')) {
      fail(node.source(), key,
           std::string("a Unix socket must be an absolute path") +
               (key == "admin.listen" ? " (unix:/...)" : ""));
    }
    // sockaddr_un.sun_path is 108 bytes including the terminating NUL.
    if (path.size() > 107) fail(node.source(), key, "Unix socket path is longer than 107 bytes");
  }

  void load_catalog(const toml::table& t, CatalogSettings& catalog) const {
    allow_only(t, "catalog", {"path", "url", "schema_cache_ttl"});
    if (const toml::node* node = t.get("path")) {
      catalog.path = string_at(*node, "catalog.path");
      if (catalog.path.empty()) fail(node->source(), "catalog.path", "must not be empty");
    }
    if (const toml::node* node = t.get("url")) {
      // The URL usually carries the catalog's password: no message quotes it.
      catalog.url = string_at(*node, "catalog.url");
      const bool uri =
          catalog.url.starts_with("postgresql://") || catalog.url.starts_with("postgres://");
      if (!uri && catalog.url.find('=') == std::string::npos) {
        fail(node->source(), "catalog.url",
             "must be a libpq URI (postgresql://user:password@host:port/dbname) or key=value "
             "connection string; the value is not shown");
      }
      if (t.get("path") != nullptr) {
        fail(node->source(), "catalog.url",
             "set either path (SQLite) or url (PostgreSQL), not both");
      }
    }
    if (auto v = seconds_at(t, "schema_cache_ttl", "catalog", true)) catalog.schema_cache_ttl = *v;
  }

  void load_user(const toml::table& t, const std::string& path, Config& config) const {
    allow_only(t, path, {"name", "password"});
    const toml::node& name_node = *required(t, "name", path);
    UserConfig user;
    user.name = string_at(name_node, path + ".name");
    check_name(name_node, path + ".name", user.name);
    if (config.find_user(user.name) != nullptr) {
      fail(name_node.source(), path + ".name", "duplicate user " + quoted(user.name));
    }

    // The value is a secret either way (a verifier allows offline guessing, a
    // plain password is the password): it is never part of a message.
    const toml::node& password_node = *required(t, "password", path);
    const std::string key = path + ".password";
    if (!password_node.is_string()) {
      fail(password_node.source(), key,
           "must be a SCRAM-SHA-256 verifier string, not " + type_name(password_node));
    }
    user.verifier = password_node.as_string()->get();
    if (!protocol::parse_scram_verifier(user.verifier)) {
      const bool looks_like_one = user.verifier.starts_with("SCRAM-SHA-256$");
      fail(password_node.source(), key,
           std::string(looks_like_one ? "is not a valid SCRAM-SHA-256 verifier"
                                      : "must be a SCRAM-SHA-256 verifier") +
               std::string(kVerifierHint));
    }
    config.users.push_back(std::move(user));
  }

  void load_connection(const toml::table& t, const std::string& path, Config& config) const {
    allow_only(t, path, {"user", "name", "connection_string_encrypted"}, kPoolKeys, kLimitKeys);

    ConnectionConfig connection;
    const toml::node& user_node = *required(t, "user", path);
    connection.user = string_at(user_node, path + ".user");
    if (config.find_user(connection.user) == nullptr) {
      fail(user_node.source(), path + ".user",
           "no [[users]] entry is named " + quoted(connection.user));
    }

    const toml::node& name_node = *required(t, "name", path);
    connection.name = string_at(name_node, path + ".name");
    check_name(name_node, path + ".name", connection.name);
    if (connection.name == kAdminDatabase) {
      fail(name_node.source(), path + ".name", "\"pgwarden\" is reserved for the admin console");
    }
    if (config.find_connection(connection.user, connection.name) != nullptr) {
      fail(name_node.source(), path + ".name",
           "duplicate connection " + quoted(connection.name) + " for user " +
               quoted(connection.user));
    }

    const toml::node& token_node = *required(t, "connection_string_encrypted", path);
    const std::string token_key = path + ".connection_string_encrypted";
    connection.connection_string_encrypted = string_at(token_node, token_key);
    if (connection.connection_string_encrypted.empty()) {
      fail(token_node.source(), token_key, "must not be empty");
    }
    // Only the shape is checked here (decryption needs the key, at startup):
    // catches a plain connection string pasted in by mistake without echoing it.
    if (!looks_like_fernet(connection.connection_string_encrypted)) {
      fail(token_node.source(), token_key,
           "must be a Fernet token (run `pgwarden encrypt`); the value is not shown");
    }

    connection.pool = config.pool;
    connection.limits = config.limits;
    load_pool(t, path, connection.pool);
    load_limits(t, path, connection.limits, connection.pool);
    config.connections.push_back(std::move(connection));
  }

  // Version byte 0x80 encodes to 'g'; the rest is url-safe base64.
  static bool looks_like_fernet(std::string_view token) {
    if (token.size() < 100 || token.front() != 'g' || token.size() % 4 != 0) return false;
    for (char c : token) {
      const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '=';
      if (!ok) return false;
    }
    return true;
  }

  std::string source_;
};

}  // namespace

const UserConfig* Config::find_user(std::string_view name) const {
  for (const UserConfig& user : users) {
    if (user.name == name) return &user;
  }
  return nullptr;
}

const ConnectionConfig* Config::find_connection(std::string_view user,
                                                std::string_view name) const {
  for (const ConnectionConfig& connection : connections) {
    if (connection.user == user && connection.name == name) return &connection;
  }
  return nullptr;
}

std::string ConfigError::to_string() const {
  std::string out = file;
  if (line != 0) {
    out += ":" + std::to_string(line);
    if (column != 0) out += ":" + std::to_string(column);
  }
  if (!key.empty()) out += ": " + key;
  out += ": " + message;
  return out;
}

std::variant<std::shared_ptr<const Config>, ConfigError> parse_config(std::string_view toml,
                                                                      const std::string& source) {
  if (std::optional<ConfigError> refused = screen_for_tomlplusplus(toml, source)) {
    return *std::move(refused);
  }
  toml::table root;
  try {
    root = toml::parse(toml, source);
  } catch (const toml::parse_error& e) {
    const toml::source_region& where = e.source();
    return ConfigError{source, std::uint32_t(where.begin.line), std::uint32_t(where.begin.column),
                       "", std::string(e.description())};
  }
  try {
    return Loader(source).load(root);
  } catch (Failure& failure) {
    return std::move(failure.error);
  }
}

std::variant<std::shared_ptr<const Config>, ConfigError> load_config(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return ConfigError{path, 0, 0, "", std::string("cannot open: ") + std::strerror(errno)};
  }
  std::string text;
  char buffer[65536];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, file)) > 0) text.append(buffer, n);
  const bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) return ConfigError{path, 0, 0, "", "cannot read the file"};
  return parse_config(text, path);
}

}  // namespace pgwarden::conf
