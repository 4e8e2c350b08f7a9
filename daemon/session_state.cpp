#include "daemon/session_state.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "daemon/params.h"

namespace pgwarden::daemon {
namespace {

//! ASCII only, as PostgreSQL's keyword folding (downcase_identifier folds
//! bytes beyond ASCII only in single-byte encodings; upstream is UTF8); no
//! locale lookup, since every statement's text is scanned with it.
char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool contains_ci(std::string_view haystack, std::string_view needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                     [](char a, char b) { return lower(a) == lower(b); }) != haystack.end();
}

// Just enough of PostgreSQL's lexer to read the leading words of a SET,
// RESET, DISCARD or DECLARE: whitespace and comments are skipped, words are
// lower-cased unless double-quoted. Hand-written because libpg_query's
// scanner returns protobuf tokens without their text, and the guard has
// already parsed the statement; this only has to be right about the first
// few words, and says "unknown" about anything else.
class Words {
 public:
  explicit Words(std::string_view text) : text_(text) {}

  //! The next word ("" at the end or at anything that is not a word).
  std::string next() {
    skip_space();
    std::string word;
    if (pos_ < text_.size() && text_[pos_] == '"') {
      for (++pos_; pos_ < text_.size(); ++pos_) {
        if (text_[pos_] == '"') {
          if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') {
            word.push_back('"');
            ++pos_;
            continue;
          }
          ++pos_;
          return word.empty() ? std::string("\"\"") : word;
        }
        word.push_back(text_[pos_]);
      }
      return {};  // unterminated
    }
    while (pos_ < text_.size()) {
      const unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (!(std::isalnum(c) || c == '_' || c == '$' || c == '.' || c >= 0x80)) break;
      word.push_back(lower(text_[pos_]));
      ++pos_;
    }
    return word;
  }

  //! True if only whitespace, comments and semicolons are left.
  bool at_end() {
    for (;;) {
      skip_space();
      if (pos_ < text_.size() && text_[pos_] == ';') {
        ++pos_;
        continue;
      }
      return pos_ >= text_.size();
    }
  }

 private:
  void skip_space() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++pos_;
      } else if (text_.substr(pos_, 2) == "--") {
        const auto end = text_.find('\n', pos_);
        pos_ = end == std::string_view::npos ? text_.size() : end + 1;
      } else if (text_.substr(pos_, 2) == "/*") {
        // Block comments nest in PostgreSQL.
        int depth = 0;
        while (pos_ < text_.size()) {
          if (text_.substr(pos_, 2) == "/*") {
            ++depth;
            pos_ += 2;
          } else if (text_.substr(pos_, 2) == "*/") {
            pos_ += 2;
            if (--depth == 0) break;
          } else {
            ++pos_;
          }
        }
      } else {
        return;
      }
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

// Reported parameters that ParameterStatus already carries to pgwarden,
// which keeps each client's values (params.h).
bool followed_by_parameter_status(std::string_view name) {
  return !tracked_parameter(name).empty();
}

std::string_view trimmed_statement(std::string_view sql) {
  while (!sql.empty() &&
         (std::isspace(static_cast<unsigned char>(sql.back())) || sql.back() == ';')) {
    sql.remove_suffix(1);
  }
  while (!sql.empty() && std::isspace(static_cast<unsigned char>(sql.front()))) {
    sql.remove_prefix(1);
  }
  return sql;
}

SessionEffect judge_set(Words& words, std::string_view sql) {
  std::string word = words.next();
  if (word == "local" || word == "transaction" || word == "constraints") return {};
  if (word == "session") {
    word = words.next();
    // SESSION CHARACTERISTICS / AUTHORIZATION: rare, not worth replaying.
    if (word == "characteristics" || word == "authorization") {
      return {SessionEffect::Kind::Dirty, {}, {}};
    }
  }
  if (word.empty()) return {SessionEffect::Kind::Dirty, {}, {}};
  if (word == "time") return {};  // SET TIME ZONE: TimeZone is reported
  std::string name = word;
  if (word == "schema") name = "search_path";
  if (word == "names") name = "client_encoding";
  if (word == "role") return {SessionEffect::Kind::Dirty, {}, {}};
  if (followed_by_parameter_status(name)) return {};
  return {SessionEffect::Kind::Track, std::move(name), std::string(trimmed_statement(sql))};
}

}  // namespace

SessionEffect session_effect(std::string_view sql, std::size_t statement_count) {
  using Kind = SessionEffect::Kind;
  if (statement_count > 1) {
    // Which statement did what is not worth working out here: any word that
    // may change session state makes the server dirty.
    for (std::string_view word : {"set", "discard", "declare"}) {
      if (contains_ci(sql, word)) return {Kind::Dirty, {}, {}};
    }
    return {};
  }
  Words words(sql);
  const std::string first = words.next();
  if (first == "set") return judge_set(words, sql);
  if (first == "reset") {
    std::string name = words.next();
    if (name == "all") return {Kind::ResetAll, {}, {}};
    if (name.empty() || name == "session" || name == "role") return {Kind::Dirty, {}, {}};
    if (name == "time") return {};
    if (followed_by_parameter_status(name)) return {};
    return {Kind::Reset, std::move(name), {}};
  }
  if (first == "discard") {
    return words.next() == "all" ? SessionEffect{Kind::ResetAll, {}, {}} : SessionEffect{};
  }
  // A cursor WITH HOLD outlives the transaction that declared it.
  if (first == "declare") return {Kind::Dirty, {}, {}};
  // set_config(name, value, false) changes the session from inside a query.
  if (contains_ci(sql, "set_config")) return {Kind::Dirty, {}, {}};
  return {};
}

bool build_settings_sync(const SessionSettings& client, const SessionSettings& server,
                         std::string& sql) {
  bool any = false;
  for (const auto& [name, statement] : server) {
    if (client.contains(name)) continue;
    sql.append("RESET \"");
    for (char c : name) {
      if (c == '"') sql.push_back('"');
      sql.push_back(c);
    }
    sql.append("\";");
    any = true;
  }
  for (const auto& [name, statement] : client) {
    auto have = server.find(name);
    if (have != server.end() && have->second == statement) continue;
    sql.append(statement).append(";");
    any = true;
  }
  return any;
}

}  // namespace pgwarden::daemon
