// Client sessions by the backend key pgwarden issued them, for CancelRequest
// routing and client counts.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "protocol/types.h"

namespace pgwarden::daemon {

class ClientSession;

//! The (pid, secret) pair a client is given in BackendKeyData.
struct ClientKey {
  std::uint32_t pid = 0;
  std::array<std::byte, 4> secret{};
};

class SessionRegistry {
 public:
  //! Issues a fresh key, unrelated to any upstream backend, and records it.
  ClientKey add(std::weak_ptr<ClientSession> session);
  void remove(std::uint32_t pid);
  //! The session whose key matches (secret compared in constant time).
  std::shared_ptr<ClientSession> find(std::uint32_t pid, protocol::ByteView secret) const;
  std::size_t size() const;
  //! Calls `f` with every live session (outside the registry's lock).
  template <typename F>
  void for_each(F&& f) const {
    std::vector<std::shared_ptr<ClientSession>> live;
    {
      std::lock_guard lock(mutex_);
      live.reserve(sessions_.size());
      for (const auto& [pid, entry] : sessions_) {
        if (auto session = entry.session.lock()) live.push_back(std::move(session));
      }
    }
    for (auto& session : live) f(session);
  }

 private:
  struct Entry {
    std::array<std::byte, 4> secret;
    std::weak_ptr<ClientSession> session;
  };
  mutable std::mutex mutex_;
  std::unordered_map<std::uint32_t, Entry> sessions_;
};

}  // namespace pgwarden::daemon
