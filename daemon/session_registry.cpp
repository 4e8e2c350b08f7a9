// Issuing client backend keys and finding sessions by them.
#include "daemon/session_registry.h"

#include <openssl/crypto.h>

#include "protocol/scram.h"

namespace pgwarden::daemon {

ClientKey SessionRegistry::add(std::weak_ptr<ClientSession> session) {
  ClientKey key;
  std::lock_guard lock(mutex_);
  for (;;) {
    std::array<std::byte, 4> pid_bytes;
    protocol::random_bytes(pid_bytes);
    std::uint32_t pid = 0;
    for (std::byte b : pid_bytes) pid = (pid << 8) | std::to_integer<std::uint32_t>(b);
    // Clear the sign bit: some clients treat the PID as signed and break on
    // negative values (pg_basebackup did, as PgBouncer notes). 0 is not a PID.
    pid &= 0x7fffffffU;
    if (pid == 0 || sessions_.contains(pid)) continue;
    key.pid = pid;
    break;
  }
  protocol::random_bytes(key.secret);
  sessions_.emplace(key.pid, Entry{key.secret, std::move(session)});
  return key;
}

void SessionRegistry::remove(std::uint32_t pid) {
  std::lock_guard lock(mutex_);
  sessions_.erase(pid);
}

std::shared_ptr<ClientSession> SessionRegistry::find(std::uint32_t pid,
                                                     protocol::ByteView secret) const {
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(pid);
  if (it == sessions_.end() || secret.size() != it->second.secret.size()) return nullptr;
  if (CRYPTO_memcmp(secret.data(), it->second.secret.data(), secret.size()) != 0) return nullptr;
  return it->second.session.lock();
}

std::size_t SessionRegistry::size() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

}  // namespace pgwarden::daemon
