// Runs libpg_query's parser safely: owns and frees its result, and parses long
// text on a thread whose stack is big enough for the parser's recursion.
#pragma once

#include <pg_query.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace pgwarden::policy::detail {

//! libpg_query's result, freed on destruction (never pg_query_exit()).
class ParseOutput {
 public:
  ParseOutput() = default;
  explicit ParseOutput(PgQueryParseResult result, std::uint64_t fingerprint = 0)
      : result_(result), fingerprint_(fingerprint), owns_(true) {}
  ~ParseOutput();
  ParseOutput(ParseOutput&& other) noexcept;
  ParseOutput& operator=(ParseOutput&& other) noexcept;
  ParseOutput(const ParseOutput&) = delete;
  ParseOutput& operator=(const ParseOutput&) = delete;

  //! The parser could not run (no thread, no memory): deny, fail closed.
  bool failed_to_run() const { return !owns_; }
  const PgQueryError* error() const { return owns_ ? result_.error : nullptr; }
  //! The JSON parse tree; empty on error.
  std::string_view json() const {
    return owns_ && result_.parse_tree != nullptr ? std::string_view(result_.parse_tree)
                                                  : std::string_view{};
  }
  //! pg_query_fingerprint of the same tree when asked for and the text
  //! parsed, else 0.
  std::uint64_t fingerprint() const { return fingerprint_; }

 private:
  PgQueryParseResult result_{};
  std::uint64_t fingerprint_ = 0;
  bool owns_ = false;
};

//! Parses `sql` (no NUL bytes) with pg_query_parse. Text longer than
//! kInlineParseBytes is parsed on a helper thread with a stack sized for it.
//! With `fingerprint`, text up to kInlineParseBytes also gets its
//! pg_query_fingerprint, computed from the same parse.
ParseOutput parse_sql(std::string_view sql, bool fingerprint = false);

//! The JSON writer in libpg_query recurses once per tree level and needs up
//! to ~64 bytes of stack per byte of text (a left-deep "1+1+...+1"), so text
//! up to this size needs about 1 MB of the caller's stack.
inline constexpr std::size_t kInlineParseBytes = 16 * 1024;

}  // namespace pgwarden::policy::detail
