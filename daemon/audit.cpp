// Audit lines: formatted on the thread that decides, written to stderr in
// batches by one writer thread.
//
// Written by hand rather than with spdlog's async logger, which this file
// used before: its queue wakes the logger thread for every line (a futex
// wake and a context switch per statement, a quarter of the proxy's CPU
// under pgbench), and its stderr sink fflush()es every line (a write(2) per
// statement). Here the worker threads append whole lines to one buffer
// under a mutex; the writer sleeps while there is nothing to write, and
// otherwise writes the buffer with one system call every kFlushInterval, or
// as soon as it reaches kWakeBytes.
#include "daemon/audit.h"

#include <unistd.h>

#include <atomic>
#include <boost/json/serializer.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace pgwarden::daemon::audit {

namespace {

class LineWriter {
 public:
  LineWriter() : thread_([this] { run(); }) {}
  ~LineWriter() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

  //! Queues whole lines. Blocks while kMaxPendingBytes are waiting rather
  //! than dropping any: an audit trail with holes is worth little.
  void append(std::string_view lines) {
    std::unique_lock lock(mutex_);
    room_.wait(lock, [&] { return pending_.size() < kMaxPendingBytes || stopping_; });
    const bool was_empty = pending_.empty();
    pending_.append(lines);
    // The first line of a batch starts the writer's kFlushInterval; after
    // that only a full batch wakes it early.
    if (was_empty || pending_.size() >= kWakeBytes) wake_.notify_one();
  }

  //! Returns once everything appended before the call is written.
  void flush() {
    std::unique_lock lock(mutex_);
    const std::uint64_t target = taken_generation_ + 1;
    flush_requested_ = true;
    wake_.notify_one();
    room_.wait(lock, [&] { return written_generation_ >= target || stopping_; });
  }

 private:
  static constexpr auto kFlushInterval = std::chrono::milliseconds(20);
  static constexpr std::size_t kWakeBytes = 64 * 1024;
  static constexpr std::size_t kMaxPendingBytes = 16 * 1024 * 1024;

  void run() {
    std::string batch;
    std::unique_lock lock(mutex_);
    for (;;) {
      // Asleep while there is nothing to write; then up to kFlushInterval
      // for the batch to grow.
      wake_.wait(lock, [&] { return stopping_ || flush_requested_ || !pending_.empty(); });
      wake_.wait_for(lock, kFlushInterval, [&] {
        return stopping_ || flush_requested_ || pending_.size() >= kWakeBytes;
      });
      batch.swap(pending_);
      const bool stop = stopping_;
      flush_requested_ = false;
      const std::uint64_t generation = ++taken_generation_;
      lock.unlock();
      write_all(batch);
      batch.clear();
      if (batch.capacity() > 2 * kWakeBytes) std::string().swap(batch);
      lock.lock();
      written_generation_ = generation;
      room_.notify_all();
      if (stop && pending_.empty()) return;
    }
  }

  static void write_all(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::write(STDERR_FILENO, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // stderr is gone: there is nowhere else to write
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;  //!< the writer: work to do
  std::condition_variable room_;  //!< appenders and flushers: a batch went out
  std::string pending_;
  bool stopping_ = false;
  bool flush_requested_ = false;
  std::uint64_t taken_generation_ = 0;    //!< batches taken by the writer
  std::uint64_t written_generation_ = 0;  //!< batches it has written
  std::thread thread_;                    //!< last: starts once the rest exists
};

std::atomic<Mode> g_mode{Mode::Off};
std::unique_ptr<LineWriter> g_writer;

//! True if `text` may stand between JSON quotes as it is: no quote, no
//! backslash, no control character (what Boost.JSON's serializer escapes).
bool json_plain(std::string_view text) {
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || c == '"' || c == '\\') return false;
  }
  return true;
}

//! Appends `text` as a JSON string: as it is when nothing needs escaping
//! (user, connection and client names almost never do), else quoted and
//! escaped by Boost.JSON.
void append_json_string(std::string& out, std::string_view text) {
  if (json_plain(text)) {
    out += '"';
    out += text;
    out += '"';
    return;
  }
  thread_local boost::json::serializer serializer;  // reused: this runs per statement
  serializer.reset(text);
  char chunk[512];
  while (!serializer.done()) out.append(serializer.read(chunk, sizeof chunk));
}

void append_field(std::string& out, std::string_view key, std::string_view text) {
  out += ",\"";
  out += key;
  out += "\":";
  append_json_string(out, text);
}

//! Appends `value` in decimal, at least `width` digits (zero-padded).
//! std::to_chars rather than fmt: a format string is parsed on every call,
//! and this runs several times per statement.
void append_decimal(std::string& out, std::uint64_t value, int width = 0) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  const auto length = static_cast<int>(end - digits);
  if (length < width) out.append(static_cast<std::size_t>(width - length), '0');
  out.append(digits, end);
}

//! Appends `value` as 16 lower-case hex digits.
void append_hex64(std::string& out, std::uint64_t value) {
  constexpr char kHex[] = "0123456789abcdef";
  char text[16];
  for (int i = 15; i >= 0; --i, value >>= 4) text[i] = kHex[value & 0xF];
  out.append(text, sizeof text);
}

}  // namespace

void configure(std::string_view mode_name) {
  const Mode m = mode_name == "all" ? Mode::All : mode_name == "denied" ? Mode::Denied : Mode::Off;
  if (m != Mode::Off && !g_writer) g_writer = std::make_unique<LineWriter>();
  g_mode = m;
}

void flush() {
  if (g_writer) g_writer->flush();
}

Mode mode() {
  return g_mode.load(std::memory_order_relaxed);
}

void record(const Event& event) {
  const Mode m = mode();
  if (m == Mode::Off || (m == Mode::Denied && event.allowed) || !g_writer) return;
  thread_local std::string line;
  line.clear();
  // Integer arithmetic, not float formatting: this runs once per statement.
  const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  line += "{\"ts\":";
  append_decimal(line, static_cast<std::uint64_t>(now / 1000000));
  line += '.';
  append_decimal(line, static_cast<std::uint64_t>(now % 1000000), 6);
  line += ",\"event\":\"guard\"";
  append_field(line, "user", event.user);
  append_field(line, "connection", event.connection);
  append_field(line, "client", event.client);
  line += event.allowed ? ",\"decision\":\"allow\"" : ",\"decision\":\"deny\"";
  if (!event.allowed) {
    append_field(line, "reason", event.reason);
    append_field(line, "sqlstate", event.sqlstate);
  }
  if (event.fingerprint != 0) {
    line += ",\"fingerprint\":\"";
    append_hex64(line, event.fingerprint);
    line += '"';
  }
  if (!event.text.empty()) append_field(line, "query", event.text);
  if (event.duration_ms >= 0) {
    const auto micros = static_cast<std::uint64_t>(event.duration_ms * 1000.0 + 0.5);
    line += ",\"duration_ms\":";
    append_decimal(line, micros / 1000);
    line += '.';
    append_decimal(line, micros % 1000, 3);
  }
  if (event.rows >= 0) {
    line += ",\"rows\":";
    append_decimal(line, static_cast<std::uint64_t>(event.rows));
  }
  line += "}\n";
  g_writer->append(line);
}

}  // namespace pgwarden::daemon::audit
