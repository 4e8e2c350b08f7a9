// A minimal lexer for the one statement form pgwarden answers locally.
#include "daemon/deallocate.h"

#include <cctype>

namespace pgwarden::daemon {

namespace {

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  //! Skips whitespace, -- comments and (nested) /* */ comments; false if a
  //! block comment is unterminated.
  bool skip_space() {
    for (;;) {
      while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
      if (text_.substr(pos_, 2) == "--") {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else if (text_.substr(pos_, 2) == "/*") {
        int depth = 0;
        do {
          if (text_.substr(pos_, 2) == "/*") {
            ++depth;
            pos_ += 2;
          } else if (text_.substr(pos_, 2) == "*/") {
            --depth;
            pos_ += 2;
          } else if (pos_ < text_.size()) {
            ++pos_;
          } else {
            return false;
          }
        } while (depth > 0);
      } else {
        return true;
      }
    }
  }

  //! An identifier or keyword, folded as PostgreSQL folds it.
  std::optional<std::string> word(bool& quoted) {
    quoted = false;
    std::string out;
    if (pos_ < text_.size() && text_[pos_] == '"') {
      quoted = true;
      ++pos_;
      for (;;) {
        if (pos_ >= text_.size()) return std::nullopt;
        if (text_[pos_] == '"') {
          if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') {
            out.push_back('"');
            pos_ += 2;
            continue;
          }
          ++pos_;
          break;
        }
        out.push_back(text_[pos_++]);
      }
      return out.empty() ? std::nullopt : std::optional(out);
    }
    auto is_start = [](char c) {
      return std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
             static_cast<unsigned char>(c) >= 0x80;
    };
    if (pos_ >= text_.size() || !is_start(text_[pos_])) return std::nullopt;
    while (pos_ < text_.size() &&
           (is_start(text_[pos_]) || std::isdigit(static_cast<unsigned char>(text_[pos_])) ||
            text_[pos_] == '$')) {
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(text_[pos_++]))));
    }
    return out;
  }

  bool consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool at_end() const { return pos_ == text_.size(); }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

std::optional<Deallocate> match_deallocate(std::string_view sql) {
  Lexer lex(sql);
  bool quoted = false;
  if (!lex.skip_space()) return std::nullopt;
  auto keyword = lex.word(quoted);
  if (!keyword || quoted || *keyword != "deallocate") return std::nullopt;
  if (!lex.skip_space()) return std::nullopt;
  auto target = lex.word(quoted);
  if (target && !quoted && *target == "prepare") {
    if (!lex.skip_space()) return std::nullopt;
    target = lex.word(quoted);
  }
  if (!target) return std::nullopt;
  if (!lex.skip_space()) return std::nullopt;
  lex.consume(';');
  if (!lex.skip_space() || !lex.at_end()) return std::nullopt;
  Deallocate result;
  if (!quoted && *target == "all") {
    result.all = true;
  } else {
    result.name = std::move(*target);
  }
  return result;
}

}  // namespace pgwarden::daemon
