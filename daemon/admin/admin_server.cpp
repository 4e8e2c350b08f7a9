// Accepting, reading, authenticating and answering admin API requests.
#include "daemon/admin/admin_server.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstring>

namespace pgwarden::daemon::admin {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;

HttpResponse to_http(const Response& r, unsigned version, bool keep_alive) {
  HttpResponse out{static_cast<http::status>(r.status), version};
  out.set(http::field::server, "pgwarden");
  out.set(http::field::content_type, r.content_type);
  out.set(http::field::cache_control, "no-store");
  if (!r.allow.empty()) out.set(http::field::allow, r.allow);
  if (r.status == 401) out.set(http::field::www_authenticate, "Bearer realm=\"pgwarden\"");
  out.body() = r.body;
  out.keep_alive(keep_alive);
  out.prepare_payload();
  return out;
}

// Why a request could not be read, as a response (nullopt: just close).
std::optional<Response> read_failure(const error_code& ec) {
  if (ec == http::error::body_limit) return Response::error(413, "request body too large");
  if (ec == http::error::header_limit) return Response::error(431, "request headers too large");
  if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
      ec != http::error::end_of_stream && ec != http::error::partial_message) {
    return Response::error(400, "malformed HTTP request");
  }
  return std::nullopt;
}

// Parameters by value: they live in this coroutine's frame. (A capturing
// coroutine lambda would not: GCC 12 destroys its captures twice.)
awaitable<Response> handle_on_worker(std::shared_ptr<AdminApi> api, Request request) {
  co_return api->handle(request);
}

}  // namespace

AdminServer::AdminServer(asio::any_io_executor executor, std::shared_ptr<AdminApi> api,
                         std::string token, ServerLimits limits)
    : executor_(std::move(executor)),
      api_(std::move(api)),
      token_(std::move(token)),
      limits_(limits),
      workers_(limits.worker_threads) {}

AdminServer::~AdminServer() {
  error_code ignored;
  if (tcp_acceptor_) tcp_acceptor_->close(ignored);
  for (auto* listener : {&unix_listener_, &socket_listener_}) {
    if (*listener) close_and_remove(**listener);
  }
  workers_.join();
}

std::string AdminServer::listen_unix(std::optional<UnixListener>& slot, const std::string& path,
                                     mode_t mode) {
  using local = asio::local::stream_protocol;
  // A socket left by a previous run would make bind fail; anything else at
  // that path is not ours to remove.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
  slot.emplace(UnixListener{local::acceptor(executor_), path});
  error_code ec;
  slot->acceptor.open(local(), ec);
  if (!ec) slot->acceptor.bind(local::endpoint(path), ec);
  if (!ec) slot->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  // bind created the file with the process umask; the mode is set before
  // anyone can be accepted, and the file is remembered by inode so shutdown
  // removes this socket and not one a newer instance bound at the same path.
  if (!ec && ::chmod(path.c_str(), mode) != 0)
    ec = error_code(errno, boost::system::system_category());
  if (!ec && ::lstat(path.c_str(), &st) != 0)
    ec = error_code(errno, boost::system::system_category());
  if (ec) {
    slot.reset();
    return "admin: cannot listen on unix:" + path + ": " + ec.message();
  }
  slot->device = st.st_dev;
  slot->inode = st.st_ino;
  return {};
}

std::string AdminServer::listen(const conf::AdminSettings& settings, bool reuse_port) {
  // Second listener first: the operator's socket on the host, mode 0660 so
  // the service's group can use it (the bearer token is still required).
  if (!settings.socket.empty()) {
    if (auto error = listen_unix(socket_listener_, settings.socket, 0660); !error.empty()) {
      return error;
    }
  }
  if (!settings.unix_socket.empty()) {
    // The token guards the API; the mode keeps other local users from even
    // reaching it.
    return listen_unix(unix_listener_, settings.unix_socket, 0600);
  }
  error_code ec;
  tcp::resolver resolver(executor_);
  auto results = resolver.resolve(settings.listen.host, std::to_string(settings.listen.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    return "admin: cannot resolve listen address " + settings.listen.host + ": " + ec.message();
  }
  const tcp::endpoint endpoint = results.begin()->endpoint();
  tcp_acceptor_.emplace(executor_);
  tcp_acceptor_->open(endpoint.protocol(), ec);
  if (!ec) tcp_acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && reuse_port) {
    const int on = 1;
    if (::setsockopt(tcp_acceptor_->native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) !=
        0) {
      ec = error_code(errno, boost::system::system_category());
    }
  }
  if (!ec) tcp_acceptor_->bind(endpoint, ec);
  if (!ec) tcp_acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return "admin: cannot listen on " + settings.listen.host + ":" +
           std::to_string(settings.listen.port) + ": " + ec.message();
  }
  return {};
}

std::string AdminServer::local_address() const {
  std::string address = "(not listening)";
  if (unix_listener_) {
    address = "unix:" + unix_listener_->path;
  } else if (tcp_acceptor_) {
    error_code ec;
    const auto endpoint = tcp_acceptor_->local_endpoint(ec);
    if (ec) {
      address = "(closed)";
    } else {
      const auto ip = endpoint.address();
      address = (ip.is_v6() ? "[" + ip.to_string() + "]" : ip.to_string()) + ":" +
                std::to_string(endpoint.port());
    }
  }
  if (socket_listener_) address += " and unix:" + socket_listener_->path;
  return address;
}

void AdminServer::start() {
  if (tcp_acceptor_) asio::co_spawn(executor_, accept_loop(*tcp_acceptor_), asio::detached);
  for (auto* listener : {&unix_listener_, &socket_listener_}) {
    if (*listener) asio::co_spawn(executor_, accept_loop((*listener)->acceptor), asio::detached);
  }
}

void AdminServer::stop() {
  // Closing runs on the loop so it never races an accept in progress.
  asio::dispatch(executor_, [this] {
    error_code ignored;
    if (tcp_acceptor_) tcp_acceptor_->close(ignored);
    for (auto* listener : {&unix_listener_, &socket_listener_}) {
      if (*listener) close_and_remove(**listener);
    }
  });
}

void AdminServer::close_and_remove(UnixListener& listener) {
  error_code ignored;
  listener.acceptor.close(ignored);
  struct stat st {};
  if (!listener.path.empty() && ::lstat(listener.path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
      st.st_dev == listener.device && st.st_ino == listener.inode) {
    ::unlink(listener.path.c_str());
  }
  listener.path.clear();  // once: the path may be someone else's from now on
}

template <typename Acceptor>
awaitable<void> AdminServer::accept_loop(Acceptor& acceptor) {
  using Protocol = typename Acceptor::protocol_type;
  for (;;) {
    // One strand per connection, typed as any_io_executor so the socket fits
    // beast::basic_stream's default executor.
    const asio::any_io_executor strand = asio::make_strand(executor_);
    auto [ec, socket] = co_await acceptor.async_accept(strand, use_nothrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      spdlog::warn("admin: accept failed: {}", ec.message());
      asio::steady_timer pause(executor_, std::chrono::milliseconds(50));
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    if (open_connections_->load() >= limits_.max_connections) {
      spdlog::warn("admin: {} API connections open; refusing another", limits_.max_connections);
      continue;  // the socket closes as it goes out of scope
    }
    auto stream_executor = socket.get_executor();
    asio::co_spawn(stream_executor, session(beast::basic_stream<Protocol>(std::move(socket))),
                   [](std::exception_ptr error) {
                     if (!error) return;
                     try {
                       std::rethrow_exception(error);
                     } catch (const std::exception& e) {
                       spdlog::error("admin: connection ended by an unexpected error: {}",
                                     e.what());
                     }
                   });
  }
}

template <typename Stream>
awaitable<void> AdminServer::session(Stream stream) {
  struct Count {
    std::shared_ptr<std::atomic<std::size_t>> n;
    explicit Count(std::shared_ptr<std::atomic<std::size_t>> counter) : n(std::move(counter)) {
      ++*n;
    }
    ~Count() { --*n; }
  } count(open_connections_);
  auto api = api_;  // the session may outlive a stopped server's members' use

  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
    parser.body_limit(limits_.max_body_bytes);
    stream.expires_after(limits_.io_timeout);
    auto [ec, bytes] = co_await http::async_read(stream, buffer, parser, use_nothrow);
    if (ec) {
      if (auto failure = read_failure(ec)) {
        api->count_response(failure->status);
        stream.expires_after(limits_.io_timeout);
        HttpResponse out = to_http(*failure, 11, false);
        co_await http::async_write(stream, out, use_nothrow);
      }
      break;
    }
    const HttpRequest& req = parser.get();

    Response response;
    const auto field_count = static_cast<std::size_t>(std::distance(req.begin(), req.end()));
    const auto bearer = bearer_token(req[http::field::authorization]);
    std::optional<Target> target = parse_target(req.target());
    if (field_count > limits_.max_header_fields) {
      response = Response::error(431, "too many request headers");
    } else if (!bearer || !token_matches(*bearer, token_)) {
      response = Response::error(401, "a valid \"Authorization: Bearer <token>\" is required");
    } else if (!target) {
      response = Response::error(400, "malformed request target");
    } else {
      Request request{std::string(req.method_string()), std::move(*target), req.body()};
      if (AdminApi::is_inline(request)) {
        response = api->handle(request);
      } else {
        response = co_await asio::co_spawn(workers_, handle_on_worker(api, std::move(request)),
                                           asio::use_awaitable);
      }
    }
    api->count_response(response.status);
    spdlog::debug("admin: {} {} -> {}", std::string(req.method_string()),
                  std::string(req.target().substr(0, req.target().find('?'))), response.status);

    const bool keep_alive = req.keep_alive() && field_count <= limits_.max_header_fields;
    stream.expires_after(limits_.io_timeout);
    HttpResponse out = to_http(response, req.version(), keep_alive);
    auto [write_ec, written] = co_await http::async_write(stream, out, use_nothrow);
    if (write_ec || !keep_alive) break;
  }
  error_code ignored;
  stream.socket().shutdown(asio::socket_base::shutdown_send, ignored);
}

}  // namespace pgwarden::daemon::admin
