// Unit tests for the pool's PAUSE/RESUME, SHOW SERVERS listing and health
// checks, against an in-process fake PostgreSQL that logs anyone in and
// answers (or ignores) empty queries.
#define BOOST_TEST_MODULE pool
#include "daemon/pool.h"

#include <boost/test/unit_test.hpp>
#include <optional>
#include <string>

#include "protocol/builder.h"

using namespace pgwarden;
using namespace pgwarden::daemon;
using namespace std::chrono_literals;

namespace {

//! Trust-auth server: AuthenticationOk, BackendKeyData (pid 4242 + n),
//! ReadyForQuery; then answers each Query with EmptyQueryResponse and
//! ReadyForQuery unless `silent` (a path that went dead without closing).
struct FakeServer {
  asio::io_context& io;
  tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  bool silent = false;
  int accepted = 0;

  explicit FakeServer(asio::io_context& context) : io(context) {
    asio::co_spawn(io, accept_loop(), asio::detached);
  }

  awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
      if (ec) co_return;
      ++accepted;
      asio::co_spawn(io, serve(std::move(socket), 4242 + static_cast<std::uint32_t>(accepted)),
                     asio::detached);
    }
  }

  static awaitable<bool> read_exactly(tcp::socket& socket, std::string& into, std::size_t n) {
    into.resize(n);
    auto [ec, got] = co_await asio::async_read(socket, asio::buffer(into), use_nothrow);
    co_return !ec && got == n;
  }

  static std::uint32_t be32(const std::string& s, std::size_t at) {
    return (static_cast<std::uint32_t>(static_cast<unsigned char>(s[at])) << 24) |
           (static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 1])) << 16) |
           (static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 2])) << 8) |
           static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + 3]));
  }

  awaitable<void> serve(tcp::socket socket, std::uint32_t pid) {
    std::string head, body;
    if (!co_await read_exactly(socket, head, 4)) co_return;
    if (!co_await read_exactly(socket, body, be32(head, 0) - 4)) co_return;
    std::string out;
    protocol::put_auth_ok(out);
    protocol::put_parameter_status(out, "server_version", "15.0");
    const std::byte key[4] = {};
    protocol::put_backend_key_data(out, pid, key);
    protocol::put_ready_for_query(out, protocol::TxStatus::Idle);
    co_await asio::async_write(socket, asio::buffer(out), use_nothrow);
    for (;;) {
      if (!co_await read_exactly(socket, head, 5)) co_return;
      if (!co_await read_exactly(socket, body, be32(head, 1) - 4)) co_return;
      if (head[0] == 'X') co_return;
      if (head[0] != 'Q' || silent) continue;
      out.clear();
      protocol::put_empty_query_response(out);
      protocol::put_ready_for_query(out, protocol::TxStatus::Idle);
      co_await asio::async_write(socket, asio::buffer(out), use_nothrow);
    }
  }
};

struct Fixture {
  asio::io_context io;
  FakeServer server{io};
  conf::PoolSettings settings;

  Fixture() {
    settings.min_size = 0;
    settings.max_size = 2;
    settings.acquire_timeout = conf::Seconds(0.1);
    settings.connect_timeout = conf::Seconds(0.3);
    settings.health_check_period = conf::Seconds(0.05);
  }

  std::shared_ptr<Pool> make_pool() {
    catalog::ConnInfo info;
    info.host = "127.0.0.1";
    info.port = server.acceptor.local_endpoint().port();
    info.user = "u";
    info.ssl_mode = catalog::SslMode::Disable;
    return std::make_shared<Pool>("fake", info, settings, nullptr, io.get_executor());
  }

  //! Runs the loop until `done` or a generous deadline.
  template <typename Done>
  bool run_until(Done done, std::chrono::milliseconds limit = 5000ms) {
    const auto deadline = Clock::now() + limit;
    while (!done() && Clock::now() < deadline) io.run_one_for(10ms);
    return done();
  }

  //! Leases from a coroutine on its own strand; the result lands in `into`.
  void acquire(const std::shared_ptr<Pool>& pool, std::optional<AcquireResult>& into) {
    asio::co_spawn(
        asio::make_strand(io),
        [pool, &into]() -> awaitable<void> { into = co_await pool->acquire(); }, asio::detached);
  }

  std::unique_ptr<ServerConnection> lease(const std::shared_ptr<Pool>& pool) {
    std::optional<AcquireResult> got;
    acquire(pool, got);
    BOOST_TEST_REQUIRE(run_until([&] { return got.has_value(); }));
    auto* leased = std::get_if<std::unique_ptr<ServerConnection>>(&*got);
    BOOST_TEST_REQUIRE(leased != nullptr);
    return std::move(*leased);
  }
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(pause_holds_new_leases_past_acquire_timeout_until_resume, Fixture) {
  auto pool = make_pool();
  pool->release(lease(pool), true);  // one idle server, not handed out while paused
  pool->pause();
  BOOST_TEST(pool->paused());
  std::optional<AcquireResult> got;
  acquire(pool, got);
  BOOST_TEST(run_until([&] { return pool->stats().waiting == 1U; }));
  // Three times acquire_timeout: a paused wait has no deadline.
  io.run_for(300ms);
  BOOST_TEST(!got.has_value());
  BOOST_TEST(pool->stats().paused);
  BOOST_TEST(pool->stats().wait_timeouts == 0U);
  pool->resume();
  BOOST_TEST_REQUIRE(run_until([&] { return got.has_value(); }));
  BOOST_TEST(std::holds_alternative<std::unique_ptr<ServerConnection>>(*got));
  BOOST_TEST(server.accepted == 1);  // it got the idle server
  BOOST_TEST(!pool->paused());
}

BOOST_FIXTURE_TEST_CASE(servers_lists_state_and_backend_pid, Fixture) {
  auto pool = make_pool();
  auto leased = lease(pool);
  auto listed = pool->servers();
  BOOST_TEST_REQUIRE(listed.size() == 1U);
  BOOST_TEST(to_string(listed[0].state) == "active");
  BOOST_TEST(listed[0].backend_pid == 4243U);
  BOOST_TEST(listed[0].endpoint.port() == server.acceptor.local_endpoint().port());
  pool->release(std::move(leased), true);
  BOOST_TEST(to_string(pool->servers().at(0).state) == "idle");
  pool->release(lease(pool), false);  // not reusable: closed and forgotten
  BOOST_TEST(pool->servers().empty());
}

BOOST_FIXTURE_TEST_CASE(a_healthy_idle_server_passes_its_check_in_maintain, Fixture) {
  auto pool = make_pool();
  pool->release(lease(pool), true);
  io.run_for(100ms);  // idle past health_check_period
  pool->maintain();
  BOOST_TEST(run_until([&] { return pool->stats().health_checks == 1U; }));
  const auto stats = pool->stats();
  BOOST_TEST(stats.health_check_failures == 0U);
  BOOST_TEST(stats.idle == 1U);
  BOOST_TEST(stats.testing == 0U);
  pool->maintain();  // checked just now: not due again yet
  BOOST_TEST(pool->stats().testing == 0U);
  BOOST_TEST(server.accepted == 1);
}

BOOST_FIXTURE_TEST_CASE(a_silent_idle_server_fails_its_check_and_is_closed, Fixture) {
  settings.min_size = 1;
  auto pool = make_pool();
  pool->release(lease(pool), true);
  server.silent = true;
  io.run_for(100ms);
  pool->maintain();
  BOOST_TEST(run_until([&] { return pool->stats().health_check_failures == 1U; }));
  // Refilled to min_size with a new connection.
  BOOST_TEST(run_until([&] { return pool->stats().idle == 1U && server.accepted == 2; }));
  BOOST_TEST(pool->stats().total == 1U);
  BOOST_TEST(pool->servers().at(0).backend_pid == 4244U);
}

BOOST_FIXTURE_TEST_CASE(acquire_checks_a_stale_idle_server_before_handing_it_out, Fixture) {
  auto pool = make_pool();
  pool->release(lease(pool), true);
  server.silent = true;
  io.run_for(100ms);
  // No maintain(): acquire() itself finds the server due, checks it, drops it
  // and opens another (which logs in fine: only queries go unanswered).
  auto fresh = lease(pool);
  BOOST_TEST(fresh->backend_pid() == 4244U);
  const auto stats = pool->stats();
  BOOST_TEST(stats.health_check_failures == 1U);
  BOOST_TEST(stats.total == 1U);
}
