// Audit lines: built with Boost.JSON, written by spdlog's async logger.
#include "daemon/audit.h"

#include <spdlog/async.h>
#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <string>

namespace pgwarden::daemon::audit {

namespace {

// Writes audit lines to stderr in batches of whole lines. spdlog's own
// stderr sink fflush()es after every line: one write(2) per statement, a
// measurable share of the proxy's CPU under load. This sink runs on the
// async logger's one thread and writes when the logger's queue is empty (so
// a line is not held back while the proxy is quiet) or the batch reaches
// kBatchBytes (so under load one system call carries many lines). A batch
// holds whole lines only, so the daemon's other log lines never land inside
// one.
class BatchingStderrSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  explicit BatchingStderrSink(std::weak_ptr<spdlog::details::thread_pool> pool)
      : pool_(std::move(pool)) {}
  ~BatchingStderrSink() override { write_out(); }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    batch_.append(line.data(), line.size());
    const auto pool = pool_.lock();
    if (batch_.size() >= kBatchBytes || !pool || pool->queue_size() == 0) write_out();
  }
  void flush_() override { write_out(); }

 private:
  static constexpr std::size_t kBatchBytes = 64 * 1024;

  void write_out() {
    std::size_t done = 0;
    while (done < batch_.size()) {
      const ssize_t n = ::write(STDERR_FILENO, batch_.data() + done, batch_.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // stderr is gone: nothing else to write to
      done += static_cast<std::size_t>(n);
    }
    batch_.clear();
    if (batch_.capacity() > 2 * kBatchBytes) batch_.shrink_to_fit();
  }

  std::weak_ptr<spdlog::details::thread_pool> pool_;
  std::string batch_;
};

std::atomic<Mode> g_mode{Mode::Off};
std::shared_ptr<spdlog::logger> g_logger;

std::string hex(std::uint64_t value) {
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(value));
  return buffer;
}

}  // namespace

void configure(std::string_view mode_name) {
  const Mode m = mode_name == "all" ? Mode::All : mode_name == "denied" ? Mode::Denied : Mode::Off;
  if (m != Mode::Off && !g_logger) {
    // Blocks when the queue is full rather than dropping lines: an audit
    // trail with holes is worth little.
    spdlog::init_thread_pool(8192, 1);
    g_logger = std::make_shared<spdlog::async_logger>(
        "audit", std::make_shared<BatchingStderrSink>(spdlog::thread_pool()), spdlog::thread_pool(),
        spdlog::async_overflow_policy::block);
    g_logger->set_pattern("%v");
  }
  g_mode = m;
}

void flush() {
  if (g_logger) g_logger->flush();
}

Mode mode() {
  return g_mode.load(std::memory_order_relaxed);
}

void record(const Event& event) {
  const Mode m = mode();
  if (m == Mode::Off || (m == Mode::Denied && event.allowed) || !g_logger) return;
  const auto now = std::chrono::system_clock::now();
  boost::json::object line;
  line["ts"] = std::chrono::duration<double>(now.time_since_epoch()).count();
  line["event"] = "guard";
  line["user"] = event.user;
  line["connection"] = event.connection;
  line["client"] = event.client;
  line["decision"] = event.allowed ? "allow" : "deny";
  if (!event.allowed) {
    line["reason"] = event.reason;
    line["sqlstate"] = event.sqlstate;
  }
  if (event.fingerprint != 0) line["fingerprint"] = hex(event.fingerprint);
  if (!event.text.empty()) line["query"] = event.text;
  if (event.duration_ms >= 0) line["duration_ms"] = event.duration_ms;
  if (event.rows >= 0) line["rows"] = event.rows;
  g_logger->info(boost::json::serialize(line));
}

}  // namespace pgwarden::daemon::audit
