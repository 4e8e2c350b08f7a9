// The SELECT-only statement classifier: SQL text in, allow or deny (with a
// reason and SQLSTATE) out, as specified by POLICY.md. Pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace pgwarden::policy {

namespace detail {
class DecisionCache;
struct LiteralSpan;
}  // namespace detail

//! Customer (non-built-in) functions a connection may call. Names are the last
//! part of the function name, lower-case.
struct FunctionRules {
  //! From the connection's allow_functions, or found IMMUTABLE/STABLE upstream.
  std::unordered_set<std::string> allowed;
  //! Customer functions not known read-only whose name is also a built-in's:
  //! PostgreSQL may resolve an unqualified call to them (a better-matching
  //! overload), so such calls are denied unless the name is also in `allowed`.
  std::unordered_set<std::string> shadowing;
};

enum class Verdict { Allow, Deny };

//! SQLSTATEs a Decision carries.
namespace sqlstate {
inline constexpr std::string_view kInsufficientPrivilege = "42501";  //!< policy denial
inline constexpr std::string_view kSyntaxError = "42601";
inline constexpr std::string_view kProgramLimitExceeded = "54000";      //!< too large / too deep
inline constexpr std::string_view kCharacterNotInRepertoire = "22021";  //!< NUL, bad UTF-8
}  // namespace sqlstate

struct Decision {
  Verdict verdict = Verdict::Deny;
  std::string sqlstate;  //!< "" when allowed, else one of policy::sqlstate
  //! What was refused and why, without a "pgwarden:" prefix or connection name,
  //! e.g. "DELETE is not allowed". Empty when allowed.
  std::string message;
  std::string hint;  //!< how to get it allowed, when there is a way; may be empty
  int position = 0;  //!< 1-based character position of a syntax error, else 0
  //! Statements in the text: 0 for empty or comment-only text (allowed; the
  //! caller answers EmptyQueryResponse) and for text that did not parse.
  std::size_t statement_count = 0;
  //! Allowed text contains DEALLOCATE ALL or DISCARD ALL: the caller forgets the
  //! client's prepared statements. Always false when denied (nothing runs).
  bool clears_prepared_statements = false;
  //! pg_query_fingerprint of the text when it parsed (0 otherwise, and for
  //! texts over 16 KiB), for audit logs: same for the same query shape.
  std::uint64_t fingerprint = 0;

  bool allowed() const { return verdict == Verdict::Allow; }
  friend bool operator==(const Decision&, const Decision&) = default;
};

struct ClassifierOptions {
  std::size_t cache_capacity = 4096;      //!< cached decisions; 0 disables the cache
  std::size_t max_query_bytes = 1 << 20;  //!< longer text is denied with 54000
  //! Deepest parse-tree nesting walked; deeper is denied with 54000. A sum of
  //! 1,000 terms is about 1,005 levels; PostgreSQL 15 itself (max_stack_depth
  //! 2MB) stops somewhere below 5,000 terms, so nothing useful is refused.
  std::size_t max_depth = 5000;
  //! Compute Decision::fingerprint (from the same parse, on a cache miss).
  bool fingerprints = true;
  //! Also cache decisions under the text with its literals normalised (see
  //! policy/normalize.h), so texts that differ only in literal values share
  //! one entry (pgbench -M simple). Only decisions that provably do not
  //! depend on any literal's value are shared; the others are cached by
  //! exact text as before.
  bool normalize_literals = false;
};

//! True if `name` (lower-case, unqualified) is a PostgreSQL 15 pg_catalog
//! function. Lets the daemon find customer functions that shadow built-ins.
bool is_builtin_function(std::string_view name);

class Classifier {
 public:
  explicit Classifier(ClassifierOptions options = {}, FunctionRules rules = {});
  ~Classifier();
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

  //! Judges every statement of `sql` (without the protocol's trailing NUL).
  //! Needs about 1.5 MB of the caller's stack; text over 16 KiB is parsed on a
  //! helper thread with a stack sized for it.
  Decision classify(std::string_view sql) const;

  //! Replaces the function rules and clears the cache.
  void set_function_rules(FunctionRules rules);

  struct CacheStats {
    std::uint64_t hits = 0;  //!< including normalized_hits
    std::uint64_t misses = 0;
    std::size_t size = 0;
    std::uint64_t normalized_hits = 0;  //!< hits by normalised text
  };
  CacheStats cache_stats() const;

 private:
  struct RuleSet;

  std::shared_ptr<const RuleSet> current_rules() const;
  Decision judge_uncached(std::string_view sql, const FunctionRules& rules,
                          const std::vector<detail::LiteralSpan>* literals = nullptr,
                          bool* shareable = nullptr) const;

  ClassifierOptions options_;
  mutable std::mutex rules_mutex_;
  std::shared_ptr<const RuleSet> rules_;          // guarded by rules_mutex_
  std::unique_ptr<detail::DecisionCache> cache_;  // null when disabled
};

}  // namespace pgwarden::policy
