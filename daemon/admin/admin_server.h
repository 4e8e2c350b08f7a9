// The admin HTTP server (Boost.Beast, one coroutine per connection on the
// daemon's io_context): bearer-token check, limits, routing to AdminApi, with
// blocking requests handed to a worker pool and answered back on the loop.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.h"
#include "daemon/admin/admin_api.h"
#include "daemon/asio.h"

namespace pgwarden::daemon::admin {

struct ServerLimits {
  std::size_t max_body_bytes = 1 << 20;
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_header_fields = 64;
  //! Per request read and per response write (a slow client is dropped).
  std::chrono::seconds io_timeout{30};
  //! Open API connections at once; more are closed on accept.
  std::size_t max_connections = 64;
  //! Threads for store, validation and introspection work.
  std::size_t worker_threads = 4;
};

class AdminServer {
 public:
  AdminServer(asio::any_io_executor executor, std::shared_ptr<AdminApi> api, std::string token,
              ServerLimits limits = {});
  //! Destroy after the io_context has stopped running (as the daemon's other
  //! listeners); waits for worker threads to finish their current request.
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  //! Binds settings.listen (or settings.unix_socket), and settings.socket
  //! when set. reuse_port sets SO_REUSEPORT on the TCP listener, so a second
  //! instance can bind it during a rolling restart. Returns a line for the
  //! operator, or empty on success.
  std::string listen(const conf::AdminSettings& settings, bool reuse_port = false);
  //! Starts accepting (call after listen, before or while the loop runs).
  void start();
  //! Stops accepting and removes the socket files this server created;
  //! requests in flight finish on their own.
  void stop();

  //! "127.0.0.1:6480" or "unix:/path" (then " and unix:/path" for the second
  //! listener), for the log.
  std::string local_address() const;

 private:
  //! One Unix-domain listener and the file it created, so that shutdown
  //! removes that file and not one a newer instance has bound since.
  struct UnixListener {
    asio::local::stream_protocol::acceptor acceptor;
    std::string path;
    dev_t device = 0;
    ino_t inode = 0;
  };

  //! Binds a Unix-domain socket at path with the given file mode.
  std::string listen_unix(std::optional<UnixListener>& slot, const std::string& path, mode_t mode);
  //! Closes the listener and removes its file if it is still the one bound.
  static void close_and_remove(UnixListener& listener);
  template <typename Acceptor>
  awaitable<void> accept_loop(Acceptor& acceptor);
  template <typename Stream>
  awaitable<void> session(Stream stream);

  asio::any_io_executor executor_;
  std::shared_ptr<AdminApi> api_;
  const std::string token_;
  const ServerLimits limits_;
  asio::thread_pool workers_;
  std::optional<tcp::acceptor> tcp_acceptor_;
  //! listen = "unix:/path" (mode 0600).
  std::optional<UnixListener> unix_listener_;
  //! [admin] socket, next to either of the above (mode 0660).
  std::optional<UnixListener> socket_listener_;
  std::shared_ptr<std::atomic<std::size_t>> open_connections_ =
      std::make_shared<std::atomic<std::size_t>>(0);
};

}  // namespace pgwarden::daemon::admin
