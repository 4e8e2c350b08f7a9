// Audit lines: built with Boost.JSON, written by spdlog's async logger.
#include "daemon/audit.h"

#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>

namespace pgwarden::daemon::audit {

namespace {

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
        "audit", std::make_shared<spdlog::sinks::stderr_sink_mt>(), spdlog::thread_pool(),
        spdlog::async_overflow_policy::block);
    g_logger->set_pattern("%v");
  }
  g_mode = m;
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
