// pg_query_parse behind an owning wrapper; long text parsed on a big-stack
// thread so that deep trees cannot overflow the caller's stack.
#include "policy/parse.h"

#include <pthread.h>

#include <cstring>
#include <new>
#include <string>
#include <utility>

namespace pgwarden::policy::detail {

ParseOutput::~ParseOutput() {
  if (owns_) pg_query_free_parse_result(result_);
}

ParseOutput::ParseOutput(ParseOutput&& other) noexcept
    : result_(other.result_),
      fingerprint_(other.fingerprint_),
      owns_(std::exchange(other.owns_, false)) {}

ParseOutput& ParseOutput::operator=(ParseOutput&& other) noexcept {
  if (this != &other) {
    if (owns_) pg_query_free_parse_result(result_);
    result_ = other.result_;
    fingerprint_ = other.fingerprint_;
    owns_ = std::exchange(other.owns_, false);
  }
  return *this;
}

namespace {

// libpg_query 15-4.0's own building blocks (pg_query_internal.h needs
// PostgreSQL's headers, which Debian does not ship, so they are declared
// here). pg_query_parse is enter context, raw parse, nodes to JSON, exit;
// pg_query_fingerprint is the same raw parse and pg_query_fingerprint_node.
// Doing both on one raw parse saves the second parse of every cache miss.
// policy_test's fingerprint_from_the_same_parse checks both results against
// the public functions.
extern "C" {
struct RawParseResult {
  void* tree;  // List *
  char* stderr_buffer;
  PgQueryError* error;
};
RawParseResult pg_query_raw_parse(const char* input);
void* pg_query_enter_memory_context();
void pg_query_exit_memory_context(void* context);
char* pg_query_nodes_to_json(const void* tree);
std::uint64_t pg_query_fingerprint_node(const void* tree);
void pfree(void* pointer);
}

//! pg_query_parse, plus the fingerprint of the tree when it parsed.
ParseOutput parse_with_fingerprint(const char* text) {
  void* context = pg_query_enter_memory_context();
  const RawParseResult raw = pg_query_raw_parse(text);
  PgQueryParseResult result{};
  result.stderr_buffer = raw.stderr_buffer;
  result.error = raw.error;
  std::uint64_t fingerprint = 0;
  if (raw.error == nullptr) {
    char* json = pg_query_nodes_to_json(raw.tree);
    result.parse_tree = strdup(json);
    pfree(json);
    fingerprint = pg_query_fingerprint_node(raw.tree);
  }
  pg_query_exit_memory_context(context);
  if (raw.error == nullptr && result.parse_tree == nullptr) {
    pg_query_free_parse_result(result);
    return {};
  }
  return ParseOutput(result, fingerprint);
}

struct ParseJob {
  const char* text = nullptr;
  PgQueryParseResult result{};
  bool done = false;
};

void* run_parse(void* arg) {
  auto* job = static_cast<ParseJob*>(arg);
  job->result = pg_query_parse(job->text);
  job->done = true;
  return nullptr;
}

//! Measured: ~64 bytes of stack per byte of the worst text ("1+1+..."); twice
//! that, plus room for the parser's own frames.
std::size_t stack_for(std::size_t text_bytes) {
  constexpr std::size_t kBase = 16u << 20;
  constexpr std::size_t kPerByte = 128;
  const std::size_t bytes = kBase + text_bytes * kPerByte;
  constexpr std::size_t kPage = 4096;
  return (bytes + kPage - 1) / kPage * kPage;
}

}  // namespace

ParseOutput parse_sql(std::string_view sql, bool fingerprint) {
  std::string text;
  try {
    text.assign(sql);
  } catch (const std::bad_alloc&) {
    return {};
  }
  if (sql.size() <= kInlineParseBytes) {
    if (fingerprint) return parse_with_fingerprint(text.c_str());
    return ParseOutput(pg_query_parse(text.c_str()));
  }

  ParseJob job;
  job.text = text.c_str();
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return {};
  pthread_t thread;
  const bool started = pthread_attr_setstacksize(&attr, stack_for(sql.size())) == 0 &&
                       pthread_create(&thread, &attr, run_parse, &job) == 0;
  pthread_attr_destroy(&attr);
  if (!started) return {};
  pthread_join(thread, nullptr);
  if (!job.done) return {};
  return ParseOutput(job.result);
}

}  // namespace pgwarden::policy::detail
