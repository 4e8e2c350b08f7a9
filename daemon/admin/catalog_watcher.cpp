// The catalog watcher loop.
#include "daemon/admin/catalog_watcher.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace pgwarden::daemon::admin {
namespace {

// Bounds how late a change is noticed and how long shutdown waits.
constexpr auto kWaitSlice = std::chrono::milliseconds(500);
constexpr auto kRetryPause = std::chrono::seconds(1);

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
}

void CatalogWatcher::run(std::stop_token stop) {
  bool healthy = true;
  while (!stop.stop_requested()) {
    try {
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
