// Data sources for the admin console's hooks, read from the daemon's state:
// per-server and per-pool figures, connection records without credentials,
// and the effective configuration without secrets.
#pragma once

#include <boost/json.hpp>

#include "conf/config.h"

namespace pgwarden::daemon {

class TenantDirectory;

//! {"servers": [{user, name, state, address, port, tls, backend_pid,
//! age_seconds, state_seconds}]}, one per open server of every pool.
boost::json::value console_servers(const TenantDirectory& tenants);

//! {"stats": [{user, name, leases, queries, denials, rate_limited,
//! connect_failures, wait_timeouts, health_checks, health_check_failures}]}.
boost::json::value console_stats(const TenantDirectory& tenants);

//! {"connections": [{user, name, host, port, database, ssl_mode, min_size,
//! max_size, paused}]}: where each connection points, never its password,
//! user name upstream or connection string.
boost::json::value console_connections(const TenantDirectory& tenants);

//! {"config": [{key, value, default}]}: the effective settings by their TOML
//! keys. Never catalog.url (shown as "(set, hidden)"), the admin token,
//! verifiers or connection strings; users and connections are counted.
boost::json::value console_config(const conf::Config& config);

}  // namespace pgwarden::daemon
