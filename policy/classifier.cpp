// The classifier: size and encoding checks, the decision cache, parsing and
// the walk over every statement of the text.
#include "policy/classifier.h"

#include <pg_query.h>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <cstddef>
#include <functional>
#include <string>
#include <utility>

#include "policy/constants.h"
#include "policy/decision_cache.h"
#include "policy/judge.h"
#include "policy/normalize.h"
#include "policy/parse.h"
#include "policy/text_check.h"

namespace pgwarden::policy {

namespace {

//! Longer texts are judged every time: bounds the cache's memory to about
//! cache_capacity x 16 KiB.
constexpr std::size_t kMaxCachedTextBytes = 16 * 1024;

//! The JSON tree's first block, on the stack of judge_uncached.
constexpr std::size_t kJsonStackBlock = 32 * 1024;

Decision denied(std::string_view state, std::string message, std::string hint = {}) {
  Decision d;
  d.verdict = Verdict::Deny;
  d.sqlstate = std::string(state);
  d.message = std::move(message);
  d.hint = std::move(hint);
  return d;
}

FunctionRules normalised(FunctionRules rules) {
  FunctionRules out;
  for (const auto& name : rules.allowed) out.allowed.insert(detail::lower(name));
  for (const auto& name : rules.shadowing) out.shadowing.insert(detail::lower(name));
  return out;
}

bool clears_prepared(const boost::json::value& stmt) {
  const detail::Node n = detail::as_node(stmt);
  if (!n) return false;
  if (n.type == "DeallocateStmt") return detail::field(*n.fields, "name") == nullptr;
  if (n.type == "DiscardStmt") return detail::string_field(*n.fields, "target") == "DISCARD_ALL";
  return false;
}

}  // namespace

struct Classifier::RuleSet {
  FunctionRules rules;
  std::uint64_t generation = 0;
};

Classifier::Classifier(ClassifierOptions options, FunctionRules rules)
    : options_(options),
      rules_(std::make_shared<const RuleSet>(RuleSet{normalised(std::move(rules)), 0})) {
  if (options_.cache_capacity > 0) {
    cache_ = std::make_unique<detail::DecisionCache>(options_.cache_capacity);
  }
}

Classifier::~Classifier() = default;

std::shared_ptr<const Classifier::RuleSet> Classifier::current_rules() const {
  std::lock_guard lock(rules_mutex_);
  return rules_;
}

void Classifier::set_function_rules(FunctionRules rules) {
  {
    std::lock_guard lock(rules_mutex_);
    rules_ = std::make_shared<const RuleSet>(
        RuleSet{normalised(std::move(rules)), rules_->generation + 1});
  }
  // A classify() still running under the old rules inserts with the old
  // generation, which find() then ignores.
  if (cache_) cache_->clear();
}

Classifier::CacheStats Classifier::cache_stats() const {
  if (!cache_) return {};
  return {cache_->hits(), cache_->misses(), cache_->size(), cache_->normalized_hits()};
}

Decision Classifier::classify(std::string_view sql) const {
  if (sql.size() > options_.max_query_bytes) {
    return denied(sqlstate::kProgramLimitExceeded,
                  "statement text is too large (" + std::to_string(sql.size()) +
                      " bytes; the limit is " + std::to_string(options_.max_query_bytes) + ")");
  }
  const auto rules = current_rules();
  if (!cache_) return judge_uncached(sql, rules->rules);
  using Kind = detail::DecisionCache::KeyKind;
  const bool normalize = options_.normalize_literals && sql.size() <= kMaxCachedTextBytes;
  // Keyed by the exact text, literals included, so every decision is safe to
  // reuse for the same text under the same function rules.
  const std::size_t hash = std::hash<std::string_view>{}(sql);
  if (auto hit = cache_->find(sql, hash, rules->generation, Kind::Text, !normalize)) {
    return std::move(*hit);
  }
  if (normalize) {
    // Reused per thread: a lookup by normalised text allocates nothing once
    // these have grown to the statements' size.
    thread_local std::string key;
    thread_local std::vector<detail::LiteralSpan> literals;
    if (detail::normalize_literals(sql, key, &literals)) {
      const std::size_t key_hash = std::hash<std::string_view>{}(key);
      if (auto hit = cache_->find(key, key_hash, rules->generation, Kind::Normalized)) {
        return std::move(*hit);
      }
      bool shareable = false;
      Decision d = judge_uncached(sql, rules->rules, &literals, &shareable);
      // Under the exact text too: a repeated text then skips the normaliser
      // (a hash lookup rather than a pass over its bytes and a second lookup).
      if (shareable) cache_->insert(key, key_hash, rules->generation, d, Kind::Normalized);
      cache_->insert(sql, hash, rules->generation, d);
      return d;
    }
    cache_->note_miss();
  }
  Decision d = judge_uncached(sql, rules->rules);
  if (sql.size() <= kMaxCachedTextBytes) cache_->insert(sql, hash, rules->generation, d);
  return d;
}

Decision Classifier::judge_uncached(std::string_view sql, const FunctionRules& rules,
                                    const std::vector<detail::LiteralSpan>* literals,
                                    bool* shareable) const {
  if (const auto bad = detail::find_invalid_text(sql)) {
    return denied(sqlstate::kCharacterNotInRepertoire, detail::invalid_text_message(sql, *bad),
                  sql[bad->offset] == '\0' ? "the query text contains a NUL byte"
                                           : "query text must be valid UTF-8");
  }

  // Only texts that parsed, and not huge ones (their parse needs the big stack
  // of a helper thread): the fingerprint of the same parse tree, which
  // ignores constants, so it holds for a decision shared by normalised text.
  const detail::ParseOutput parsed =
      detail::parse_sql(sql, options_.fingerprints && sql.size() <= kMaxCachedTextBytes);
  if (parsed.failed_to_run()) {
    return denied(sqlstate::kProgramLimitExceeded,
                  "statement could not be analysed (out of resources)");
  }
  if (const PgQueryError* error = parsed.error()) {
    Decision d =
        denied(sqlstate::kSyntaxError, error->message != nullptr ? error->message : "syntax error");
    d.position = error->cursorpos > 0 ? error->cursorpos : 0;
    return d;
  }

  // A monotonic resource frees the whole tree at once: no recursive
  // destruction of a deep tree, and faster parsing. Its first block is on
  // the stack, so an ordinary statement's tree costs no heap allocation (the
  // 328-character join's takes ~17 kB; from the heap, 1 kB doubling, that
  // was five blocks). The JSON depth limit (three JSON levels per tree level
  // at most) stops absurd trees early.
  alignas(std::max_align_t) unsigned char first_block[kJsonStackBlock];
  boost::json::monotonic_resource memory(first_block, sizeof first_block);
  boost::json::parse_options json_options;
  json_options.max_depth = 3 * options_.max_depth + 16;
  boost::system::error_code ec;
  const boost::json::value root = boost::json::parse(parsed.json(), ec, &memory, json_options);
  if (ec) {
    if (ec == boost::json::error::too_deep) {
      return denied(sqlstate::kProgramLimitExceeded, "statement is nested too deeply (more than " +
                                                         std::to_string(options_.max_depth) +
                                                         " levels)");
    }
    return denied(sqlstate::kInsufficientPrivilege, "statement could not be analysed");
  }
  const auto* top = root.if_object();
  if (top == nullptr)
    return denied(sqlstate::kInsufficientPrivilege, "statement could not be analysed");

  const auto& stmts = detail::list_field(*top, "stmts");
  detail::WalkNotes notes;
  const detail::JudgeContext ctx{rules, options_.max_depth, &notes};
  // Every decision below is the same for each text with the same normalised
  // key when the judge read no constant and each literal of this text is a
  // constant of the tree (no literal steered the grammar).
  auto finish = [&](Decision d) {
    d.statement_count = stmts.size();
    if (stmts.size() > 0) d.fingerprint = parsed.fingerprint();
    if (literals != nullptr && shareable != nullptr) {
      *shareable = !notes.read_constant && detail::constants_match_literals(root, *literals);
    }
    return d;
  };
  bool clears = false;
  for (const auto& raw : stmts) {
    const auto* raw_obj = raw.if_object();
    const auto* stmt = raw_obj != nullptr ? detail::field(*raw_obj, "stmt") : nullptr;
    if (stmt == nullptr) {
      return finish(denied(sqlstate::kInsufficientPrivilege, "statement could not be analysed"));
    }
    if (auto denial = detail::judge_statement(*stmt, ctx)) {
      return finish(denied(denial->sqlstate, std::move(denial->message), std::move(denial->hint)));
    }
    clears = clears || clears_prepared(*stmt);
  }
  Decision d;
  d.verdict = Verdict::Allow;
  d.clears_prepared_statements = clears;
  return finish(std::move(d));
}

}  // namespace pgwarden::policy
