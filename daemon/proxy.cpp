// Process-wide wiring: threads, listeners, accept loops, signals, upkeep.
#include "daemon/proxy.h"

#include <spdlog/spdlog.h>

#include <csignal>
#include <thread>

#include <fmt/format.h>

#include "daemon/client_session.h"
#include "protocol/scram.h"

namespace pgwarden::daemon {

namespace {

constexpr auto kJanitorPeriod = std::chrono::seconds(1);

std::string format_endpoint(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  return address.is_v6() ? fmt::format("[{}]:{}", address.to_string(), endpoint.port())
                         : fmt::format("{}:{}", address.to_string(), endpoint.port());
}

}  // namespace

Proxy::Proxy(std::shared_ptr<const conf::Config> config)
    : io_(static_cast<int>(config->server.workers)), signals_(io_, SIGINT, SIGTERM) {
  context_.config = std::move(config);
  std::array<std::byte, 32> secret;
  protocol::random_bytes(secret);
  context_.mock_secret.assign(reinterpret_cast<const char*>(secret.data()), secret.size());
}

std::string Proxy::prepare(const catalog::Fernet& keys) {
  auto tenants = TenantDirectory::build(*context_.config, keys, io_.get_executor());
  if (auto* error = std::get_if<std::string>(&tenants)) return *error;
  context_.tenants = std::get<std::shared_ptr<TenantDirectory>>(tenants);

  tcp::resolver resolver(io_);
  for (const auto& listen : context_.config->server.listen) {
    error_code ec;
    auto results = resolver.resolve(listen.host, std::to_string(listen.port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec) return fmt::format("cannot resolve listen address {}: {}", listen.host, ec.message());
    for (const auto& entry : results) {
      tcp::acceptor acceptor(io_);
      const auto endpoint = entry.endpoint();
      acceptor.open(endpoint.protocol(), ec);
      if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
      if (!ec && endpoint.address().is_v6()) acceptor.set_option(asio::ip::v6_only(true), ec);
      if (!ec) acceptor.bind(endpoint, ec);
      if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
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
  signals_.async_wait([this](const error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("received {}, shutting down", signal == SIGINT ? "SIGINT" : "SIGTERM");
    stop();
  });

  unsigned workers = context_.config->server.workers;
  if (workers == 0) workers = std::max(1U, std::thread::hardware_concurrency());
  spdlog::info("pgwarden serving {} connection(s) for {} user(s) on {} worker thread(s)",
               context_.config->connections.size(), context_.config->users.size(), workers);
  std::vector<std::jthread> threads;
  for (unsigned i = 1; i < workers; ++i) threads.emplace_back([this] { io_.run(); });
  io_.run();
  threads.clear();
  return 0;
}

awaitable<void> Proxy::accept_loop(tcp::acceptor& acceptor) {
  for (;;) {
    auto strand = asio::make_strand(io_);
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
    asio::co_spawn(strand, [session]() { return session->run(); },
                   [](std::exception_ptr error) {
                     if (!error) return;
                     try {
                       std::rethrow_exception(error);
                     } catch (const std::exception& e) {
                       spdlog::error("client session ended by an unexpected error: {}", e.what());
                     }
                   });
  }
}

awaitable<void> Proxy::janitor() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!stopping_) {
    timer.expires_after(kJanitorPeriod);
    co_await timer.async_wait(use_nothrow);
    context_.tenants->for_each([](const Tenant& tenant) { tenant.pool->maintain(); });
  }
}

void Proxy::stop() {
  stopping_ = true;
  error_code ignored;
  for (auto& acceptor : acceptors_) acceptor.close(ignored);
  context_.tenants->for_each([](const Tenant& tenant) { tenant.pool->shut_down(); });
  io_.stop();
}

}  // namespace pgwarden::daemon
