// Prometheus text exposition and histograms.
#include "daemon/admin/prometheus.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace pgwarden::daemon::admin {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}

void Histogram::observe(double value) {
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  counts_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  if (value > 0) {
    sum_micros_.fetch_add(static_cast<std::uint64_t>(value * 1e6 + 0.5), std::memory_order_relaxed);
  }
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  std::uint64_t running = 0;
  for (const auto& count : counts_) {
    running += count.load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.sum = static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
  return s;
}

std::vector<double> Histogram::default_seconds_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(buffer, sizeof buffer, "%.0f", value);
    return buffer;
  }
  // Shortest text that reads back as the same double: 0.005, not 0.00500000000000000010.
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void TextWriter::family(std::string_view name, std::string_view help, std::string_view type) {
  if (!families_.emplace(name).second) return;
  std::string escaped;
  for (char c : help) {
    if (c == '\\') {
      escaped += "\\\\";
    } else if (c == '\n') {
      escaped += "\\n";
    } else {
      escaped.push_back(c);
    }
  }
  out_ += "# HELP " + std::string(name) + " " + escaped + "\n";
  out_ += "# TYPE " + std::string(name) + " " + std::string(type) + "\n";
}

void TextWriter::sample(std::string_view name, Labels labels, std::string_view extra_label,
                        std::string_view extra_value, double value) {
  out_ += name;
  if (labels.size() > 0 || !extra_label.empty()) {
    out_ += '{';
    bool first = true;
    for (const auto& [key, label_value] : labels) {
      if (!first) out_ += ',';
      first = false;
      out_ += std::string(key) + "=\"" + escape_label_value(label_value) + "\"";
    }
    if (!extra_label.empty()) {
      if (!first) out_ += ',';
      out_ += std::string(extra_label) + "=\"" + std::string(extra_value) + "\"";
    }
    out_ += '}';
  }
  out_ += ' ' + format_value(value) + '\n';
}

void TextWriter::counter(std::string_view name, std::string_view help, Labels labels,
                         double value) {
  family(name, help, "counter");
  sample(name, labels, {}, {}, value);
}

void TextWriter::gauge(std::string_view name, std::string_view help, Labels labels, double value) {
  family(name, help, "gauge");
  sample(name, labels, {}, {}, value);
}

void TextWriter::histogram(std::string_view name, std::string_view help, Labels labels,
                           const Histogram::Snapshot& snapshot) {
  family(name, help, "histogram");
  const std::string bucket = std::string(name) + "_bucket";
  for (std::size_t i = 0; i < snapshot.bounds.size(); ++i) {
    sample(bucket, labels, "le", format_value(snapshot.bounds[i]),
           static_cast<double>(snapshot.cumulative[i]));
  }
  const double count = snapshot.cumulative.empty() ? 0 : double(snapshot.cumulative.back());
  sample(bucket, labels, "le", "+Inf", count);
  sample(std::string(name) + "_sum", labels, {}, {}, snapshot.sum);
  sample(std::string(name) + "_count", labels, {}, {}, count);
}

void TextWriter::append(std::string_view exposition) {
  if (exposition.empty()) return;
  out_ += exposition;
  if (out_.back() != '\n') out_ += '\n';
}

}  // namespace pgwarden::daemon::admin
