// The literal normaliser (see normalize.h). Follows PostgreSQL 15's scan.l
// rule by rule for the tokens it must delimit: literals, identifiers,
// parameters and comments. Everything else is copied byte for byte, so two
// texts with one key lex to the same tokens apart from literal values.
#include "policy/normalize.h"

#include <array>

#include "policy/text_check.h"

namespace pgwarden::policy::detail {
namespace {

// Byte classes of scan.l, one table lookup per byte.
enum : unsigned char { kDigit = 1, kIdentStart = 2, kDollar = 4, kSpace = 8 };

constexpr auto kClasses = [] {
  std::array<unsigned char, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = kDigit;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = kIdentStart;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = kIdentStart;
  for (int c = 0x80; c <= 0xff; ++c) t[c] = kIdentStart;  // bytes >= 0x80 are letters to it
  t['_'] = kIdentStart;
  t['$'] = kDollar;
  // PostgreSQL 15's space (\v only from 16 on: refused as a control byte).
  for (const char c : {' ', '\t', '\n', '\r', '\f'}) t[static_cast<unsigned char>(c)] = kSpace;
  return t;
}();

bool is_digit(unsigned char c) {
  return (kClasses[c] & kDigit) != 0;
}
bool is_ident_start(unsigned char c) {
  return (kClasses[c] & kIdentStart) != 0;
}
// ident_cont: letters, digits and the dollar.
bool is_ident_cont(unsigned char c) {
  return (kClasses[c] & (kIdentStart | kDigit | kDollar)) != 0;
}
// dolq_cont: like ident_cont without the dollar.
bool is_dollar_tag_cont(unsigned char c) {
  return (kClasses[c] & (kIdentStart | kDigit)) != 0;
}
bool is_space(unsigned char c) {
  return (kClasses[c] & kSpace) != 0;
}

// strtoint() in process_integer_literal: int32 or the token is an FCONST.
bool fits_int32(std::string_view digits) {
  std::size_t i = 0;
  while (i + 1 < digits.size() && digits[i] == '0') ++i;
  digits.remove_prefix(i);
  if (digits.size() < 10) return true;
  return digits.size() == 10 && digits <= "2147483647";
}

class Lexer {
 public:
  Lexer(std::string_view sql, std::string& key, std::vector<LiteralSpan>* spans)
      : s_(sql), key_(key), spans_(spans) {}

  bool run() {
    // Written through a pointer into a buffer sized for the worst case (a
    // one-byte literal becomes a two-byte mark), then cut to size.
    key_.resize(2 * s_.size() + 1);
    out_ = key_.data();
    if (spans_ != nullptr) spans_->clear();
    const bool keyed = lex();
    key_.resize(keyed ? static_cast<std::size_t>(out_ - key_.data()) : 0);
    return keyed;
  }

 private:
  bool lex() {
    while (i_ < s_.size()) {
      const auto c = byte(i_);
      if (is_space(c)) {
        ++i_;
        gap_ = true;
        continue;
      }
      if (c == '-' && byte(i_ + 1) == '-') {
        // Up to the end of the line; an unterminated one ends the text.
        while (i_ < s_.size() && s_[i_] != '\n' && s_[i_] != '\r') {
          if (!plain_byte(i_)) return false;
          ++i_;
        }
        gap_ = true;
        continue;
      }
      if (c == '/' && byte(i_ + 1) == '*') {
        if (!skip_block_comment()) return false;
        gap_ = true;
        continue;
      }
      if (!token(c)) return false;
    }
    return !high_ || !find_invalid_text(s_).has_value();
  }

  unsigned char byte(std::size_t at) const {
    return at < s_.size() ? static_cast<unsigned char>(s_[at]) : 0;
  }

  // A byte inside a comment or literal: NUL is refused (the parser would stop
  // there), bytes >= 0x80 call for a UTF-8 check at the end.
  bool plain_byte(std::size_t at) {
    const auto c = byte(at);
    if (c == 0) return false;
    if (c >= 0x80) high_ = true;
    return true;
  }

  // Nested /* */ as scan.l's xc state reads it: "/*" opens, "*/" closes.
  bool skip_block_comment() {
    std::size_t depth = 1;
    i_ += 2;
    while (i_ < s_.size()) {
      if (!plain_byte(i_)) return false;
      if (s_[i_] == '/' && byte(i_ + 1) == '*') {
        ++depth;
        i_ += 2;
      } else if (s_[i_] == '*' && byte(i_ + 1) == '/') {
        i_ += 2;
        if (--depth == 0) return true;
      } else {
        ++i_;
      }
    }
    return false;
  }

  // Copies source bytes [from, to) into the key as one token.
  void emit(std::size_t from, std::size_t to) {
    separate();
    // Tokens are short: a plain loop beats a call to memcpy.
    for (std::size_t k = from; k < to; ++k) *out_++ = s_[k];
    last_ = to - 1;
    after_quote_ = false;
  }

  void separate() {
    if (gap_ && out_ != key_.data()) *out_++ = ' ';
    gap_ = false;
  }

  void literal(std::size_t from, std::size_t to, LiteralKind kind, bool quoted) {
    std::ptrdiff_t minus = -1;
    if (last_ != kNone && s_[last_] == '-') minus = static_cast<std::ptrdiff_t>(last_);
    separate();
    *out_++ = kLiteralMark;
    *out_++ = static_cast<char>(kind);
    if (spans_ != nullptr) spans_->push_back({from, to - from, minus, kind});
    last_ = to - 1;
    after_quote_ = quoted;
  }

  bool token(unsigned char c) {
    if (c == '\'') return plain_string(i_);
    if (c == '"') return quoted_identifier();
    if (is_ident_start(c)) return identifier();
    if (is_digit(c) || (c == '.' && is_digit(byte(i_ + 1)))) return number();
    if (c == '$') return dollar();
    if (c == '.' && byte(i_ + 1) == '.') {  // DOT_DOT: never the start of ".5"
      emit(i_, i_ + 2);
      i_ += 2;
      return true;
    }
    if (c == ':') {
      if (byte(i_ + 1) == ':') {
        emit(i_, i_ + 2);
        i_ += 2;
        return true;
      }
      // psql variables (:name, :'name', :"name") are psql's business; an
      // array slice a[1:n] is refused with them.
      const auto next = byte(i_ + 1);
      if (next == '\'' || next == '"' || is_ident_start(next)) return false;
    }
    // Backslashes (psql meta-commands), control bytes and DEL are errors to
    // the scanner anyway.
    if (c == '\\' || c < 0x20 || c == 0x7f) return false;
    emit(i_, i_ + 1);
    ++i_;
    return true;
  }

  // '...' with '' for a quote. A backslash is refused: with
  // standard_conforming_strings off it would escape.
  bool plain_string(std::size_t start) {
    if (after_quote_) return false;  // 'a' <newline> 'b' is one literal
    std::size_t j = start + 1;
    while (true) {
      if (j >= s_.size()) return false;
      const char ch = s_[j];
      if (ch == '\\' || !plain_byte(j)) return false;
      if (ch == '\'') {
        if (byte(j + 1) == '\'') {
          j += 2;
          continue;
        }
        break;
      }
      ++j;
    }
    literal(i_, j + 1, LiteralKind::String, true);
    i_ = j + 1;
    return true;
  }

  // E'...': '' or \' for a quote, \x for x; escapes that produce arbitrary
  // bytes or code points (octal, \x, \u, \U) are refused.
  bool escape_string() {
    std::size_t j = i_ + 2;
    while (true) {
      if (j >= s_.size()) return false;
      const char ch = s_[j];
      if (!plain_byte(j)) return false;
      if (ch == '\\') {
        const auto next = byte(j + 1);
        if ((next >= '0' && next <= '7') || next == 'x' || next == 'u' || next == 'U') return false;
        if (j + 1 >= s_.size() || !plain_byte(j + 1)) return false;
        j += 2;
        continue;
      }
      if (ch == '\'') {
        if (byte(j + 1) == '\'') {
          j += 2;
          continue;
        }
        break;
      }
      ++j;
    }
    literal(i_, j + 1, LiteralKind::String, true);
    i_ = j + 1;
    return true;
  }

  // B'...' and X'...': no escapes at all; the first quote ends them.
  bool bit_string(LiteralKind kind) {
    std::size_t j = i_ + 2;
    while (true) {
      if (j >= s_.size() || !plain_byte(j)) return false;
      if (s_[j] == '\'') break;
      ++j;
    }
    literal(i_, j + 1, kind, true);
    i_ = j + 1;
    return true;
  }

  bool identifier() {
    // The hot loop: names are most of a query's bytes.
    const auto* text = reinterpret_cast<const unsigned char*>(s_.data());
    std::size_t j = i_;
    unsigned char seen = 0;
    while (j < s_.size() && is_ident_cont(text[j])) seen |= text[j++];
    if (seen >= 0x80) high_ = true;
    if (j == i_ + 1) {
      const auto c = byte(i_);
      const auto next = byte(j);
      if (next == '\'') {
        if (after_quote_) return false;
        if (c == 'e' || c == 'E') return escape_string();
        if (c == 'b' || c == 'B') return bit_string(LiteralKind::BitString);
        if (c == 'x' || c == 'X') return bit_string(LiteralKind::HexString);
        // N'...' is the keyword NCHAR and then '...': the natural reading.
      }
      if ((c == 'u' || c == 'U') && next == '&' && (byte(j + 1) == '\'' || byte(j + 1) == '"')) {
        return false;  // Unicode escapes, and UESCAPE may follow
      }
    }
    emit(i_, j);
    i_ = j;
    return true;
  }

  bool quoted_identifier() {
    std::size_t j = i_ + 1;
    while (true) {
      if (j >= s_.size() || !plain_byte(j)) return false;
      if (s_[j] == '"') {
        if (byte(j + 1) == '"') {
          j += 2;
          continue;
        }
        break;
      }
      ++j;
    }
    emit(i_, j + 1);
    i_ = j + 1;
    return true;
  }

  // integer, decimal and real of scan.l; its *fail and *_junk rules (1..2,
  // 1e+, 1abc) and anything else odd after a number are refused.
  bool number() {
    std::size_t j = i_;
    bool integral = true;
    while (is_digit(byte(j))) ++j;
    if (byte(j) == '.') {
      if (byte(j + 1) == '.') return false;
      integral = false;
      ++j;
      while (is_digit(byte(j))) ++j;
    }
    if (byte(j) == 'e' || byte(j) == 'E') {
      integral = false;
      ++j;
      if (byte(j) == '+' || byte(j) == '-') ++j;
      if (!is_digit(byte(j))) return false;
      while (is_digit(byte(j))) ++j;
    }
    const auto after = byte(j);
    if (is_ident_cont(after) || after == '.') return false;
    const auto kind =
        integral && fits_int32(s_.substr(i_, j - i_)) ? LiteralKind::Integer : LiteralKind::Numeric;
    literal(i_, j, kind, false);
    i_ = j;
    return true;
  }

  // $1 (a parameter: kept) or $tag$...$tag$ (a string literal).
  bool dollar() {
    std::size_t j = i_ + 1;
    if (is_digit(byte(j))) {
      while (is_digit(byte(j))) ++j;
      if (is_ident_cont(byte(j))) return false;  // param_junk, or $1$
      emit(i_, j);
      i_ = j;
      return true;
    }
    if (byte(j) != '$') {
      if (!is_ident_start(byte(j))) return false;
      while (is_dollar_tag_cont(byte(j))) {
        if (byte(j) >= 0x80) high_ = true;
        ++j;
      }
      if (byte(j) != '$') return false;
    }
    const std::string_view delimiter = s_.substr(i_, j + 1 - i_);
    const std::size_t body = j + 1;
    const std::size_t close = s_.find(delimiter, body);
    if (close == std::string_view::npos) return false;
    for (std::size_t k = body; k < close; ++k) {
      if (!plain_byte(k)) return false;
    }
    const std::size_t end = close + delimiter.size();
    literal(i_, end, LiteralKind::String, false);
    i_ = end;
    return true;
  }

  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);

  std::string_view s_;
  std::string& key_;
  std::vector<LiteralSpan>* spans_;
  char* out_ = nullptr;  // next byte of the key
  std::size_t i_ = 0;
  std::size_t last_ = kNone;  // source offset of the last byte put in the key
  bool gap_ = false;          // whitespace or a comment since the last token
  bool after_quote_ = false;  // the last token was a quoted literal
  bool high_ = false;         // a byte >= 0x80 was seen
};

}  // namespace

bool normalize_literals(std::string_view sql, std::string& key, std::vector<LiteralSpan>* spans) {
  return Lexer(sql, key, spans).run();
}

}  // namespace pgwarden::policy::detail
