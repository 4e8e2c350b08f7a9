// The literal normaliser: one hand-written pass over statement text that
// replaces every literal with a placeholder, so that texts differing only in
// literal values (pgbench -M simple) share one decision-cache key. It refuses
// (no key) whatever it cannot lex exactly as PostgreSQL 15's scanner does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pgwarden::policy::detail {

//! Literal kinds the key tells apart: the grammar accepts an integer where it
//! refuses a numeric (varchar(5) versus varchar(5000000000)) or a string.
enum class LiteralKind : char {
  Integer = 'i',    //!< ICONST: digits only, fits in int32
  Numeric = 'n',    //!< FCONST: a fraction, an exponent or a too large integer
  String = 's',     //!< SCONST: '...', E'...', $tag$...$tag$
  BitString = 'b',  //!< BCONST: B'...'
  HexString = 'x',  //!< XCONST: X'...'
};

//! One literal in the text, as PostgreSQL's scanner delimits it.
struct LiteralSpan {
  std::size_t offset = 0;  //!< first byte (the E, B or X of a prefixed string)
  std::size_t length = 0;
  //! Offset of a '-' just before the literal (only whitespace or comments
  //! between), or -1: the parser reports a negated constant at the sign.
  std::ptrdiff_t minus = -1;
  LiteralKind kind = LiteralKind::String;
};

//! Marks a literal in a key: a byte that never reaches a key otherwise (the
//! normaliser refuses control characters), followed by the LiteralKind.
inline constexpr char kLiteralMark = '\x01';

//! Writes the normalised key of `sql` into `key` (cleared first; its capacity
//! is reused) and returns true; or returns false when the text has no key
//! (then `key` is unspecified). The key keeps every byte outside literals,
//! comments and whitespace exactly, turns each run of whitespace and comments
//! into one space, drops it at both ends, and puts kLiteralMark and the kind
//! in place of each literal. When `spans` is not null, it receives the
//! literals in text order.
//!
//! No key for: unterminated quotes, identifiers or comments; U&'...' and
//! U&"..."; backslashes in '...' (their meaning depends on
//! standard_conforming_strings); octal, hex and Unicode escapes in E'...'
//! (they can make the text invalid); a string followed by another quoted string
//! (PostgreSQL joins them across a newline); numbers followed by letters, a
//! dot or a dollar; bad parameters and dollar signs; psql variables (:name,
//! :'name'); backslashes, control bytes and invalid UTF-8 outside literals,
//! and invalid UTF-8 or NUL anywhere.
bool normalize_literals(std::string_view sql, std::string& key,
                        std::vector<LiteralSpan>* spans = nullptr);

}  // namespace pgwarden::policy::detail
