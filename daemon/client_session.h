// One client connection, from its first packet to its last: startup,
// authentication, then the ready loop that leases a server per transaction.
#pragma once

#include <deque>
#include <memory>
#include <string>

#include "daemon/asio.h"
#include "daemon/byte_buffer.h"
#include "daemon/params.h"
#include "daemon/pool.h"
#include "daemon/proxy_context.h"
#include "protocol/builder.h"
#include "protocol/frame.h"
#include "protocol/startup.h"
#include "protocol/types.h"

namespace pgwarden::daemon {

class ClientSession : public std::enable_shared_from_this<ClientSession> {
 public:
  ClientSession(tcp::socket socket, ProxyContext& context);
  ~ClientSession();

  //! The whole life of the connection; runs on this session's strand.
  awaitable<void> run();

  //! A CancelRequest for this session arrived (any thread): cancel the
  //! statement running on its server, if one is.
  void cancel_running_statement();

 private:
  // What a response the client is owed will be made of, in request order.
  enum class ReplyKind : std::uint8_t {
    Forward,  //!< the server's answer to a client Query/Sync, up to its 'Z'
    Swallow,  //!< the server's answer to a Query pgwarden injected
    Local,    //!< an ErrorResponse pgwarden produced, then 'Z'
  };
  struct Reply {
    ReplyKind kind;
    std::string error;  //!< Local only: an encoded ErrorResponse
  };

  // ---- startup and authentication (client_session.cpp) ----
  awaitable<bool> handshake();
  awaitable<bool> read_startup_packet(protocol::StartupPacket& packet);
  awaitable<bool> accept_startup_parameters(const protocol::StartupPacket& packet);
  awaitable<bool> authenticate();
  awaitable<bool> attach_tenant();
  awaitable<void> send_fatal(std::string_view sqlstate, std::string_view message,
                             std::string_view hint = {});
  awaitable<bool> read_client_message(protocol::Frame& frame);

  // ---- the ready loop (client_relay.cpp) ----
  awaitable<void> relay();
  //! Handles every whole message in the input buffer; false ends the session.
  bool take_client_messages();
  void reply_locally(std::string_view sqlstate, std::string message);
  awaitable<void> flush_to_server();
  awaitable<bool> link_server();
  awaitable<void> pump_server();
  //! Walks the buffered server bytes: tracks ReadyForQuery and
  //! ParameterStatus, fills segments_ with what goes to the client, and
  //! returns how many bytes were scanned (kMalformed on a framing error).
  std::size_t scan_server_bytes();
  //! Appends every Local reply now at the front of replies_ to `out`.
  void deliver_local_replies(std::string& out);
  //! Turns every reply still owed by the server into a local error.
  void fail_pending(std::string_view sqlstate, std::string_view message, std::string& out);
  awaitable<void> abandon_server(std::string_view message);
  void unlink_server(bool reusable);
  bool server_is_clean() const;
  awaitable<error_code> write_client(std::span<const asio::const_buffer> buffers);
  awaitable<error_code> write_client(std::string_view bytes);

  ProxyContext& context_;
  std::shared_ptr<const conf::Config> config_;
  tcp::socket client_;
  ByteBuffer client_in_{8192};
  protocol::FrontendLimits client_limits_;
  std::string user_;
  std::string database_;
  std::string application_name_;
  ParameterMap client_parameters_;
  std::uint32_t client_pid_ = 0;
  bool counted_ = false;

  std::shared_ptr<Tenant> tenant_;
  std::unique_ptr<ServerConnection> server_;  //!< linked server, if any
  ByteBuffer server_in_{32768};
  std::string to_server_;       //!< client bytes waiting to go upstream
  std::string sync_query_;      //!< injected SET for session parameters
  std::string loop_out_;        //!< local replies made by the client loop
  std::string pump_out_;        //!< local replies made by the server pump
  std::deque<Reply> replies_;   //!< responses owed, oldest first
  struct Segment {
    bool local;  //!< from pump_out_, else from server_in_
    std::size_t offset;
    std::size_t size;
  };
  static constexpr std::size_t kMalformed = static_cast<std::size_t>(-1);
  std::vector<Segment> segments_;
  std::vector<asio::const_buffer> gather_;
  protocol::BackendLimits server_limits_;
  std::size_t passthrough_ = 0;       //!< rest of a large message being streamed
  bool passthrough_forward_ = true;   //!< ...to the client (or swallowed)
  bool batch_open_ = false;       //!< extended-protocol messages since last Sync
  bool skip_until_sync_ = false;  //!< after a failed batch, as the server would
  bool writing_server_ = false;
  bool closing_ = false;
  protocol::TxStatus tx_status_ = protocol::TxStatus::Idle;

  bool writing_client_ = false;
  asio::steady_timer client_write_gate_;
  asio::any_io_executor strand_;  //!< this session's strand, set by run()
};

}  // namespace pgwarden::daemon
