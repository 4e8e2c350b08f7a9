// The catalog watcher loop.
#include "daemon/admin/catalog_watcher.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace pgwarden::daemon::admin {
namespace {

// Bounds how late a change is noticed and how long shutdown waits.
constexpr auto kWaitSlice = std::chrono::milliseconds(500);
constexpr auto kRetryPause = std::chrono::seconds(1);
// last_used is informational; one write per connection per minute is plenty.
constexpr auto kLastUsedPeriod = std::chrono::seconds(60);

}  // namespace

CatalogWatcher::CatalogWatcher(std::shared_ptr<catalog::CatalogStore> store,
                               std::function<void()> on_change, std::function<void(bool)> on_health)
    : store_(std::move(store)),
      on_change_(std::move(on_change)),
      on_health_(std::move(on_health)),
      thread_([this](std::stop_token stop) { run(std::move(stop)); }) {}

CatalogWatcher::~CatalogWatcher() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
  try {
    flush_last_used();
  } catch (const std::exception& e) {
    spdlog::warn("catalog: recording last_used failed: {}", e.what());
  }
}

void CatalogWatcher::note_used(std::string user, std::string name) {
  std::lock_guard lock(used_mutex_);
  used_.emplace(std::move(user), std::move(name));
}

void CatalogWatcher::flush_last_used() {
  std::set<std::pair<std::string, std::string>> used;
  {
    std::lock_guard lock(used_mutex_);
    used.swap(used_);
  }
  const catalog::UnixMillis now = catalog::now_millis();
  for (const auto& [user, name] : used) {
    // Connections from the configuration file have no row: nothing to touch.
    if (auto record = store_->find_connection(user, name)) {
      store_->touch_last_used(record->id, now);
    }
  }
}

void CatalogWatcher::run(std::stop_token stop) {
  bool healthy = true;
  auto next_flush = std::chrono::steady_clock::now() + kLastUsedPeriod;
  while (!stop.stop_requested()) {
    try {
      if (std::chrono::steady_clock::now() >= next_flush) {
        next_flush = std::chrono::steady_clock::now() + kLastUsedPeriod;
        flush_last_used();
      }
      const bool changed = store_->wait_for_change(kWaitSlice);
      if (!healthy) {
        healthy = true;
        spdlog::info("catalog: reachable again");
        if (on_health_) on_health_(true);
      }
      if (changed && on_change_) on_change_();
    } catch (const std::exception& e) {
      if (healthy) {
        healthy = false;
        spdlog::warn("catalog: watching for changes failed: {}", e.what());
        if (on_health_) on_health_(false);
      }
      std::this_thread::sleep_for(kRetryPause);
    }
  }
}

}  // namespace pgwarden::daemon::admin
