// Prometheus text exposition (format 0.0.4), written by hand: Debian ships no
// C++ Prometheus client library (prometheus-cpp is not packaged), and the
// format is small. A histogram type for durations comes with it.
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgwarden::daemon::admin {

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

//! A fixed-bucket histogram; observe() is thread-safe and lock-free.
class Histogram {
 public:
  //! Upper bounds in ascending order; +Inf is implied.
  explicit Histogram(std::vector<double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void observe(double value);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<std::uint64_t> cumulative;  //!< per bound, then +Inf (= count)
    double sum = 0;
  };
  Snapshot snapshot() const;

  //! 5 ms .. 60 s: query durations and pool waits, in seconds.
  static std::vector<double> default_seconds_buckets();

 private:
  std::vector<double> bounds_;
  std::vector<std::atomic<std::uint64_t>> counts_;  // per bound, then +Inf
  std::atomic<std::uint64_t> sum_micros_{0};        // atomic<double> add is C++20 but slow
};

//! Builds one exposition. Each family gets its # HELP and # TYPE lines once,
//! before its first sample; label values and help text are escaped.
class TextWriter {
 public:
  void counter(std::string_view name, std::string_view help, Labels labels, double value);
  void gauge(std::string_view name, std::string_view help, Labels labels, double value);
  void histogram(std::string_view name, std::string_view help, Labels labels,
                 const Histogram::Snapshot& snapshot);
  //! Appends text another writer produced (e.g. the data path's metrics).
  void append(std::string_view exposition);
  const std::string& text() const { return out_; }

 private:
  void family(std::string_view name, std::string_view help, std::string_view type);
  void sample(std::string_view name, Labels labels, std::string_view extra_label,
              std::string_view extra_value, double value);

  std::string out_;
  std::set<std::string, std::less<>> families_;
};

//! A sample value as Prometheus prints it: integers plainly, +Inf, -Inf, NaN.
std::string format_value(double value);
//! Escapes \, " and newline in a label value.
std::string escape_label_value(std::string_view value);

}  // namespace pgwarden::daemon::admin
