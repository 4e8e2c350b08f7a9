// pg_query_parse behind an owning wrapper; long text parsed on a big-stack
// thread so that deep trees cannot overflow the caller's stack.
#include "policy/parse.h"

#include <pthread.h>

#include <new>
#include <string>
#include <utility>

namespace pgwarden::policy::detail {

ParseOutput::~ParseOutput() {
  if (owns_) pg_query_free_parse_result(result_);
}

ParseOutput::ParseOutput(ParseOutput&& other) noexcept
    : result_(other.result_), owns_(std::exchange(other.owns_, false)) {}

ParseOutput& ParseOutput::operator=(ParseOutput&& other) noexcept {
  if (this != &other) {
    if (owns_) pg_query_free_parse_result(result_);
    result_ = other.result_;
    owns_ = std::exchange(other.owns_, false);
  }
  return *this;
}

namespace {

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

ParseOutput parse_sql(std::string_view sql) {
  std::string text;
  try {
    text.assign(sql);
  } catch (const std::bad_alloc&) {
    return {};
  }
  if (sql.size() <= kInlineParseBytes) return ParseOutput(pg_query_parse(text.c_str()));

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
