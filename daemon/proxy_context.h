// What every client session shares: configuration, tenants, registry, limits.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "conf/config.h"
#include "daemon/session_registry.h"
#include "daemon/tenants.h"

namespace pgwarden::daemon {

struct ProxyContext {
  std::shared_ptr<const conf::Config> config;
  std::shared_ptr<TenantDirectory> tenants;
  SessionRegistry sessions;
  std::atomic<std::uint32_t> clients{0};
  //! Seeds the mock SCRAM exchange for unknown users; random per process.
  std::string mock_secret;
};

}  // namespace pgwarden::daemon
