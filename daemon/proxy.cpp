// Process-wide wiring: threads, listeners, accept loops, signals, reload,
// graceful shutdown and periodic upkeep.
#include "daemon/proxy.h"

#include <fmt/format.h>
#include <linux/filter.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <csignal>
#include <thread>

#include "catalog/introspect.h"
#include "daemon/admin/prometheus.h"
#include "daemon/admin_console_sources.h"
#include "daemon/client_session.h"
#include "daemon/client_tls.h"
#include "daemon/notify.h"
#include "protocol/scram.h"

namespace pgwarden::daemon {

namespace {

constexpr auto kJanitorPeriod = std::chrono::milliseconds(250);
constexpr auto kStatusPeriod = std::chrono::seconds(5);

std::string format_endpoint(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  return address.is_v6() ? fmt::format("[{}]:{}", address.to_string(), endpoint.port())
                         : fmt::format("{}:{}", address.to_string(), endpoint.port());
}

bool same_listen(const conf::ServerSettings& a, const conf::ServerSettings& b) {
  if (a.listen.size() != b.listen.size() || a.workers != b.workers) return false;
  for (std::size_t i = 0; i < a.listen.size(); ++i) {
    if (a.listen[i].host != b.listen[i].host || a.listen[i].port != b.listen[i].port) return false;
  }
  return true;
}

// Rolling restart: with SO_REUSEPORT the kernel spreads new connections over
// every listener bound to the address, so a draining instance would keep
// receiving some, and reset those still queued when it closes its listener.
// A reuseport cBPF program picks the listener instead: "socket 1" is the
// second one bound, i.e. the instance that started last while another still
// runs. With a single listener, the index is out of range and the kernel
// falls back to its hash, so steady state is unchanged; when the old
// instance closes, the new one takes index 0. (No library wraps this; it is
// one instruction.)
void steer_new_connections_to_newest(tcp::acceptor& acceptor, error_code& ec) {
  sock_filter code[] = {{BPF_RET | BPF_K, 0, 0, 1}};
  sock_fprog program{1, code};
  if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &program,
                   sizeof program) != 0) {
    ec = error_code(errno, asio::error::get_system_category());
  }
}

}  // namespace

Proxy::Proxy(std::shared_ptr<const conf::Config> config, catalog::Fernet keys,
             std::shared_ptr<catalog::CatalogStore> store, std::optional<std::string> admin_token)
    : keys_(std::move(keys)),
      store_(std::move(store)),
      admin_token_(std::move(admin_token)),
      workers_(config->server.workers != 0 ? config->server.workers
                                           : std::max(1U, std::thread::hardware_concurrency())),
      io_(static_cast<int>(workers_)),
      stop_signals_(io_, SIGINT, SIGTERM),
      reload_signals_(io_, SIGHUP) {
  context_.install(std::move(config), nullptr, nullptr);
  std::array<std::byte, 32> secret;
  protocol::random_bytes(secret);
  context_.mock_secret.assign(reinterpret_cast<const char*>(secret.data()), secret.size());
}

Proxy::~Proxy() {
  // Found by ASan: left to ~ProxyContext, the last pools closed their idle
  // servers' sockets after io_ (and its socket service) was destroyed. Pools
  // still held by sessions' coroutine frames go while io_ shuts down, when
  // its services still exist.
  context_.release_tenants();
}

std::string Proxy::install(std::shared_ptr<const conf::Config> file_config) {
  std::lock_guard lock(install_mutex_);
  admin::MergedConfig merged;
  try {
    merged = admin::with_catalog(*file_config, *store_);
  } catch (const catalog::StoreError& e) {
    return fmt::format("catalog: {}", e.what());
  }
  for (const auto& line : merged.skipped) spdlog::warn("catalog: {}", line);
  const auto previous = context_.tenants();
  // Built on every install, so a reload picks up renewed certificate files.
  auto client_tls = make_client_tls_context(merged.config->server.tls);
  if (auto* error = std::get_if<std::string>(&client_tls)) return *error;
  auto tenants = TenantDirectory::build(*merged.config, keys_, io_.get_executor(), previous.get());
  if (auto* error = std::get_if<std::string>(&tenants)) return *error;
  file_config_ = std::move(file_config);
  auto next = std::get<std::shared_ptr<TenantDirectory>>(tenants);
  context_.install(merged.config, next,
                   std::get<std::shared_ptr<asio::ssl::context>>(std::move(client_tls)));
  if (previous) previous->retire_pools_not_in(*next);
  if (admin_api_) admin_api_->set_config(file_config_);
  return {};
}

void Proxy::catalog_changed() {
  std::shared_ptr<const conf::Config> file_config;
  {
    std::lock_guard lock(install_mutex_);
    file_config = file_config_;
  }
  if (auto error = install(file_config); !error.empty()) {
    spdlog::error("catalog change not applied: {}", error);
  } else {
    spdlog::info("catalog changed: connections and users updated");
  }
}

std::string Proxy::prepare() {
  const auto config = context_.config();
  if (auto error = install(config); !error.empty()) return error;

  auto hooks = make_admin_hooks();
  context_.console = std::make_shared<const AdminConsole>(make_console_hooks(hooks));
  if (admin_token_) {
    admin::ApiSettings settings;
    settings.schema_cache_ttl =
        std::chrono::duration_cast<std::chrono::milliseconds>(config->catalog.schema_cache_ttl);
    admin_api_ = std::make_shared<admin::AdminApi>(
        store_, std::make_shared<const catalog::Fernet>(keys_), config, std::move(hooks), settings);
    admin_server_ =
        std::make_unique<admin::AdminServer>(io_.get_executor(), admin_api_, *admin_token_);
    // With reuse_port, a new instance binds the admin port too (rolling restart).
    if (auto error = admin_server_->listen(config->admin, config->server.reuse_port);
        !error.empty()) {
      return error;
    }
  } else {
    spdlog::info(
        "no admin token configured ([admin] token_file or PGWARDEN_ADMIN_TOKEN): "
        "the admin HTTP API is off");
  }

  tcp::resolver resolver(io_);
  for (const auto& listen : config->server.listen) {
    error_code ec;
    auto results = resolver.resolve(listen.host, std::to_string(listen.port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec) return fmt::format("cannot resolve listen address {}: {}", listen.host, ec.message());
    for (const auto& entry : results) {
      tcp::acceptor acceptor(io_);
      const auto endpoint = entry.endpoint();
      acceptor.open(endpoint.protocol(), ec);
      if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
      if (!ec && config->server.reuse_port) {
        acceptor.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true),
                            ec);
      }
      if (!ec && endpoint.address().is_v6()) acceptor.set_option(asio::ip::v6_only(true), ec);
      if (!ec) acceptor.bind(endpoint, ec);
      if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
      if (!ec && config->server.reuse_port) steer_new_connections_to_newest(acceptor, ec);
      if (ec) {
        return fmt::format("cannot listen on {}: {}", format_endpoint(endpoint), ec.message());
      }
      acceptors_.push_back(std::move(acceptor));
    }
  }
  return {};
}

int Proxy::run() {
  for (auto& acceptor : acceptors_) {
    asio::co_spawn(io_, accept_loop(acceptor), asio::detached);
    spdlog::info("listening on {}", format_endpoint(acceptor.local_endpoint()));
  }
  asio::co_spawn(io_, janitor(), asio::detached);
  wait_for_signals();
  if (admin_server_) {
    admin_server_->start();
    spdlog::info("admin API on {}", admin_server_->local_address());
  }
  catalog_watcher_ = std::make_unique<admin::CatalogWatcher>(
      store_, [this] { catalog_changed(); },
      [api = admin_api_](bool ok) {
        if (api) api->set_catalog_ok(ok);
      });
  context_.on_login = [watcher = catalog_watcher_.get()](const std::string& user,
                                                         const std::string& database) {
    watcher->note_used(user, database);
  };

  const auto config = context_.config();
  spdlog::info("pgwarden serving {} connection(s) for {} user(s) on {} worker thread(s)",
               config->connections.size(), config->users.size(), workers_);
  // Listeners accept from here on (the kernel queues until the loop runs).
  notify::send("READY=1\nSTATUS=accepting clients");
  std::vector<std::jthread> threads;
  for (unsigned i = 1; i < workers_; ++i) threads.emplace_back([this] { io_.run(); });
  io_.run();
  threads.clear();
  blocking_.stop();
  blocking_.join();
  spdlog::info("pgwarden stopped");
  return 0;
}

void Proxy::wait_for_signals() {
  stop_signals_.async_wait([this](const error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("received {}, shutting down", signal == SIGINT ? "SIGINT" : "SIGTERM");
    begin_shutdown();
  });
  wait_for_reload();
}

void Proxy::wait_for_reload() {
  reload_signals_.async_wait([this](const error_code& ec, int) {
    if (ec) return;
    spdlog::info("received SIGHUP, reloading the configuration");
    reload();
    wait_for_reload();
  });
}

std::string Proxy::reload() {
  notify::send("RELOADING=1");
  const auto current = context_.config();
  std::string error;
  auto loaded = conf::load_config(current->source);
  if (auto* config_error = std::get_if<conf::ConfigError>(&loaded)) {
    error = config_error->to_string();
  } else {
    auto config = std::get<std::shared_ptr<const conf::Config>>(loaded);
    if (!same_listen(current->server, config->server)) {
      spdlog::warn("reload: [server] listen and workers take effect only after a restart");
    }
    error = install(std::move(config));
    if (error.empty()) spdlog::info("reload: configuration applied; new transactions use it");
  }
  if (!error.empty()) spdlog::error("reload failed, keeping the running configuration: {}", error);
  notify::send(error.empty() ? "READY=1\nSTATUS=configuration reloaded"
                             : "READY=1\nSTATUS=reload failed; running the previous configuration");
  return error;
}

void Proxy::refresh_function_rules() {
  const auto ttl =
      std::chrono::duration_cast<Clock::duration>(context_.config()->catalog.schema_cache_ttl);
  const auto now = Clock::now();
  context_.tenants()->for_each([&](const Tenant& tenant) {
    const auto last = Clock::time_point(Clock::duration(tenant.functions_read_at.load()));
    if (last.time_since_epoch().count() != 0 && now - last < ttl) return;
    // Claimed now, so the next tick does not start a second read; a failed
    // read is retried after the same interval.
    tenant.functions_read_at = now.time_since_epoch().count();
    auto shared = context_.tenants()->find(tenant.user, tenant.name);
    asio::post(blocking_, [shared] {
      const auto result = catalog::introspect_schema(shared->pool->info());
      if (!result.ok) {
        spdlog::warn(
            "connection \"{}\": cannot read its functions' volatility; customer "
            "functions stay refused unless listed in allow_functions",
            shared->name);
        return;
      }
      const auto facts = catalog::function_facts(result.schema);
      policy::FunctionRules rules;
      rules.allowed.insert(shared->limits.allow_functions.begin(),
                           shared->limits.allow_functions.end());
      rules.allowed.insert(facts.read_only.begin(), facts.read_only.end());
      for (const auto& name : facts.volatile_names) {
        if (policy::is_builtin_function(name)) rules.shadowing.insert(name);
      }
      shared->classifier->set_function_rules(std::move(rules));
      spdlog::info("connection \"{}\": {} read-only customer function name(s) allowed",
                   shared->name, facts.read_only.size());
    });
  });
}

ConsoleHooks Proxy::make_console_hooks(const admin::AdminHooks& api) {
  ConsoleHooks hooks;
  // The same figures as GET /api/pools and /api/clients.
  hooks.pools = api.pools;
  hooks.clients = api.clients;
  hooks.servers = [this] { return console_servers(*context_.tenants()); };
  hooks.stats = [this] { return console_stats(*context_.tenants()); };
  hooks.connections = [this] { return console_connections(*context_.tenants()); };
  hooks.config = [this] { return console_config(*context_.config()); };
  hooks.version = [] { return std::string("pgwarden " PGWARDEN_VERSION); };
  hooks.reload = [this] {
    spdlog::info("admin console: reloading the configuration");
    return reload();
  };
  const auto pool_action = [this](bool pause) {
    return [this, pause](const std::string& user, const std::string& name) -> std::string {
      auto tenant = context_.tenants()->find(user, name);
      if (!tenant) return "no such connection";
      if (pause) {
        tenant->pool->pause();
      } else {
        tenant->pool->resume();
      }
      spdlog::info("admin console: connection {}/{} {}", user, name,
                   pause ? "paused: new transactions wait" : "resumed");
      return {};
    };
  };
  hooks.pause = pool_action(true);
  hooks.resume = pool_action(false);
  return hooks;
}

admin::AdminHooks Proxy::make_admin_hooks() {
  admin::AdminHooks hooks;
  hooks.pools = [this] {
    boost::json::array pools;
    context_.tenants()->for_each([&](const Tenant& tenant) {
      const auto stats = tenant.pool->stats();
      const auto& activity = tenant.pool->activity;
      pools.push_back(boost::json::object{
          {"user", tenant.user},
          {"name", tenant.name},
          {"clients_active", activity.clients.load()},
          {"clients_waiting", stats.waiting},
          {"servers_active", stats.total - stats.idle - stats.testing},
          {"servers_idle", stats.idle},
          {"servers_testing", stats.testing},
          {"paused", stats.paused},
          {"queries", activity.queries.load()},
          {"denials", activity.denials.load()},
          {"rate_limited", activity.rate_limited.load()},
          {"connect_failures", stats.connect_failures},
          {"wait_timeouts", stats.wait_timeouts},
      });
    });
    return boost::json::value(boost::json::object{{"pools", std::move(pools)}});
  };
  hooks.clients = [this] {
    boost::json::array clients;
    context_.sessions.for_each([&](const auto& session) {
      clients.push_back(boost::json::object{{"pid", session->client_pid()},
                                            {"user", session->user()},
                                            {"database", session->database()},
                                            {"address", session->address()},
                                            {"port", session->port()},
                                            {"tls", session->uses_tls()},
                                            {"state", session->dormant() ? "dormant" : "active"}});
    });
    return boost::json::value(boost::json::object{{"clients", std::move(clients)}});
  };
  hooks.metrics_text = [this] {
    admin::TextWriter out;
    context_.tenants()->for_each([&](const Tenant& tenant) {
      const auto stats = tenant.pool->stats();
      const auto& activity = tenant.pool->activity;
      const std::string label = tenant.user + "/" + tenant.name;
      const admin::Labels labels{{"connection", label}};
      out.gauge("pgwarden_clients", "Clients logged in to the connection.", labels,
                static_cast<double>(activity.clients.load()));
      out.gauge("pgwarden_servers_idle", "Idle upstream server connections.", labels, stats.idle);
      out.gauge("pgwarden_servers_active", "Upstream server connections leased or opening.", labels,
                stats.total - stats.idle);
      out.gauge("pgwarden_clients_waiting", "Clients queued for a server connection.", labels,
                stats.waiting);
      out.counter("pgwarden_queries_total", "Statements sent upstream.", labels,
                  static_cast<double>(activity.queries.load()));
      out.counter("pgwarden_denials_total", "Statements refused by the query guard.", labels,
                  static_cast<double>(activity.denials.load()));
      out.counter("pgwarden_rate_limited_total", "Statements refused by the rate limit.", labels,
                  static_cast<double>(activity.rate_limited.load()));
      out.counter("pgwarden_server_connect_failures_total",
                  "Failed attempts to open an upstream connection.", labels,
                  static_cast<double>(stats.connect_failures));
      out.counter("pgwarden_pool_wait_timeouts_total",
                  "Clients that gave up waiting for a server connection.", labels,
                  static_cast<double>(stats.wait_timeouts));
    });
    out.gauge("pgwarden_clients_dormant",
              "Clients idle long enough that their sessions hold no coroutine.", {},
              static_cast<double>(context_.dormant_clients.load(std::memory_order_relaxed)));
    return out.text();
  };
  hooks.connections_changed = [this] { catalog_changed(); };
  hooks.reload = [this] {
    spdlog::info("admin API: reloading the configuration");
    return reload();
  };
  hooks.users_changed = [this] { catalog_changed(); };
  hooks.check_query = [](const std::string& sql, std::string& why) {
    static const policy::Classifier guard;  // thread-safe; caches decisions
    const auto decision = guard.classify(sql);
    if (!decision.allowed()) why = decision.message;
    return decision.allowed();
  };
  return hooks;
}

awaitable<void> Proxy::accept_loop(tcp::acceptor& acceptor) {
  for (;;) {
    // A session's handlers must not run at once: a strand serialises them
    // when several threads run io_; with one thread they are serial anyway,
    // and the strand's bookkeeping on every handler would be pure cost.
    const asio::any_io_executor strand = workers_ == 1
                                             ? asio::any_io_executor(io_.get_executor())
                                             : asio::any_io_executor(asio::make_strand(io_));
    auto [ec, socket] = co_await acceptor.async_accept(strand, use_nothrow);
    if (ec) {
      if (stopping_ || ec == asio::error::operation_aborted) co_return;
      // Out of descriptors or similar: log, back off briefly, keep serving.
      spdlog::warn("accept failed: {}", ec.message());
      asio::steady_timer pause(co_await asio::this_coro::executor, std::chrono::milliseconds(50));
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    auto session = std::make_shared<ClientSession>(std::move(socket), context_);
    asio::co_spawn(
        strand, [session]() { return session->run(); }, &ClientSession::report_end);
  }
}

awaitable<void> Proxy::janitor() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto watchdog = notify::watchdog_interval();
  auto next_status = Clock::now();
  auto next_dormancy_check = Clock::now();
  for (;;) {
    timer.expires_after(kJanitorPeriod);
    co_await timer.async_wait(use_nothrow);
    const auto now = Clock::now();
    if (drain_deadline_) {
      const auto clients = context_.clients.load();
      if (clients == 0) {
        io_.stop();
        co_return;
      }
      if (now >= *drain_deadline_ && !forced_) {
        forced_ = true;
        spdlog::warn(
            "shutdown_grace passed with {} client(s) still in a transaction; "
            "disconnecting them",
            clients);
        context_.sessions.for_each([](const auto& session) { session->shut_down(true); });
      } else if (now >= *drain_deadline_ + std::chrono::seconds(5)) {
        io_.stop();  // clients that never finished their handshake
        co_return;
      }
      continue;
    }
    context_.tenants()->for_each([](const Tenant& tenant) { tenant.pool->maintain(); });
    refresh_function_rules();
    if (now >= next_dormancy_check) {
      // Sessions idle long enough drop their coroutines (see
      // ClientSession::make_dormant_if_idle); dormant ones cost a load here.
      next_dormancy_check = now + ClientSession::kDormantAfter;
      context_.sessions.for_each([](const auto& session) { session->make_dormant_if_idle(); });
    }
    // The watchdog is fed from this loop, so a wedged event loop is noticed.
    if (watchdog) notify::send("WATCHDOG=1");
    if (now >= next_status) {
      next_status = now + kStatusPeriod;
      std::uint32_t servers = 0;
      std::uint32_t idle = 0;
      context_.tenants()->for_each([&](const Tenant& tenant) {
        const auto stats = tenant.pool->stats();
        servers += stats.total;
        idle += stats.idle;
      });
      notify::send(fmt::format("STATUS={} client(s), {} server connection(s) ({} idle)",
                               context_.clients.load(), servers, idle));
    }
  }
}

void Proxy::begin_shutdown() {
  if (stopping_) return;
  stopping_ = true;
  notify::send("STOPPING=1");
  error_code ignored;
  for (auto& acceptor : acceptors_) acceptor.close(ignored);
  reload_signals_.cancel(ignored);
  if (admin_server_) admin_server_->stop();
  context_.draining = true;
  const auto grace = context_.config()->server.shutdown_grace;
  drain_deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(grace);
  // Idle clients go now; clients in a transaction when it ends.
  context_.sessions.for_each([](const auto& session) { session->shut_down(false); });
  // A second SIGTERM/SIGINT means now.
  stop_signals_.async_wait([this](const error_code& ec, int) {
    if (ec) return;
    spdlog::warn("second stop signal: stopping at once");
    drain_deadline_ = Clock::now();
  });
}

}  // namespace pgwarden::daemon
