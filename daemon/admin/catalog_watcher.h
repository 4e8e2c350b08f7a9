// A thread that waits for catalog changes made by other processes (another
// pgwarden sharing the PostgreSQL catalog, `pgwarden rotate-key`, the
// application) and tells the daemon to reload.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "catalog/store.h"

namespace pgwarden::daemon::admin {

class CatalogWatcher {
 public:
  //! `on_change` runs on the watcher thread after each change elsewhere;
  //! `on_health` (may be empty) with false when the store fails, true when it
  //! answers again. Neither may block for long.
  CatalogWatcher(std::shared_ptr<catalog::CatalogStore> store, std::function<void()> on_change,
                 std::function<void(bool)> on_health = {});
  //! Stops the thread (within about a second).
  ~CatalogWatcher();
  CatalogWatcher(const CatalogWatcher&) = delete;
  CatalogWatcher& operator=(const CatalogWatcher&) = delete;

  //! Records that a client used connection (user, name); last_used is
  //! written by the watcher thread at most once a minute per connection
  //! (and on destruction). Cheap and non-blocking: call it from the event loop.
  void note_used(std::string user, std::string name);

 private:
  void run(std::stop_token stop);
  void flush_last_used();

  std::shared_ptr<catalog::CatalogStore> store_;
  std::function<void()> on_change_;
  std::function<void(bool)> on_health_;
  std::mutex used_mutex_;
  std::set<std::pair<std::string, std::string>> used_;
  // Last member: the thread starts once everything above exists.
  std::jthread thread_;
};

}  // namespace pgwarden::daemon::admin
