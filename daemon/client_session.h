// One client connection, from its first packet to its last: startup,
// authentication, then the ready loop that leases a server per transaction.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/asio.h"
#include "daemon/byte_buffer.h"
#include "daemon/deallocate.h"
#include "daemon/params.h"
#include "daemon/pg_stream.h"
#include "daemon/pool.h"
#include "daemon/prepared_statements.h"
#include "daemon/proxy_context.h"
#include "daemon/response_queue.h"
#include "protocol/builder.h"
#include "protocol/frame.h"
#include "protocol/startup.h"
#include "protocol/types.h"

namespace pgwarden::daemon {

class ClientSession : public std::enable_shared_from_this<ClientSession> {
 public:
  ClientSession(tcp::socket socket, ProxyContext& context);
  std::uint32_t client_pid() const { return client_pid_; }
  //! Set before the session is listed in the registry, fixed afterwards.
  const std::string& user() const { return user_; }
  const std::string& database() const { return database_; }
  const std::string& address() const { return client_address_; }
  std::uint16_t port() const { return client_port_; }
  bool uses_tls() const { return uses_tls_; }

  ~ClientSession();

  //! The whole life of the connection; runs on this session's strand.
  awaitable<void> run();

  //! A CancelRequest for this session arrived (any thread): cancel the
  //! statement running on its server, if one is.
  void cancel_running_statement();

  //! pgwarden is shutting down (any thread): leave with 57P01 once no
  //! transaction is open, or at once when `force`.
  void shut_down(bool force);

  //! Called now and then for every session (any thread): a session idle
  //! for kDormantAfter with nothing in flight becomes dormant. Its coroutines
  //! end and it waits for its client with a plain readiness wait, so a
  //! long-idle client holds its session object and socket and no coroutine
  //! frame or read operation. Its next message wakes it with its state intact.
  void make_dormant_if_idle();
  //! Dormant now (any thread; for listings).
  bool dormant() const { return dormant_.load(std::memory_order_relaxed); }
  //! Logs a session coroutine that ended by an exception.
  static void report_end(std::exception_ptr error);
  //! How long a session must be idle before it may become dormant.
  static constexpr auto kDormantAfter = std::chrono::seconds(1);

 private:
  //! A refusal pgwarden answers itself, as PostgreSQL would phrase it.
  struct Refusal {
    Refusal(std::string_view state, std::string text, std::string advice = {},
            std::string where = {})
        : sqlstate(state),
          message(std::move(text)),
          hint(std::move(advice)),
          position(std::move(where)) {}
    std::string sqlstate;
    std::string message;
    std::string hint;
    std::string position;  //!< 1-based, for syntax errors
  };

  // ---- startup and authentication (client_session.cpp) ----
  awaitable<bool> handshake();
  awaitable<bool> read_startup_packet(protocol::StartupPacket& packet);
  awaitable<bool> accept_startup_parameters(const protocol::StartupPacket& packet);
  awaitable<bool> authenticate();
  awaitable<bool> attach_tenant();
  //! Lists the session (cancel key) and sends `out` (its ParameterStatus
  //! messages) with BackendKeyData and ReadyForQuery.
  awaitable<bool> finish_login(std::string& out);
  //! Database "pgwarden": the admin console, for [admin] users only.
  awaitable<bool> attach_console();
  awaitable<void> serve_console();
  awaitable<void> send_fatal(std::string_view sqlstate, std::string_view message,
                             std::string_view hint = {});
  awaitable<bool> read_client_message(protocol::Frame& frame);

  // ---- client side of the ready loop (client_relay.cpp) ----
  //! The ready loop until the session ends or goes dormant.
  awaitable<void> serve();
  awaitable<void> relay();
  //! Nothing in flight that dormancy would have to keep.
  bool may_sleep() const;
  //! On the strand: go dormant if the session is still idle.
  void try_dormant();
  //! Dormant: wait for the client to send something, then serve() again.
  void wait_dormant();
  //! Handles every whole message in the input buffer; false ends the session.
  awaitable<bool> take_client_messages();
  //! What became of a client message.
  enum class Step { Continue, Close, NeedServer };
  //! Judges and forwards (or answers) one message, without suspending:
  //! NeedServer when it reached a point that needs a server and none could
  //! be linked at once; the caller then leases one (ensure_server) and
  //! calls again with the outcome in `leased`. Not a coroutine, so a
  //! message costs no frame, and a client queued for a server holds no
  //! frame of this size.
  Step take_message(const protocol::Frame& frame, std::string_view bytes,
                    const std::optional<Refusal>* leased);
  //! At a point of take_message that needs a server: true when one is
  //! linked; else false with `step` set (NeedServer on the first pass, or
  //! Continue once `refuse` answered the failed lease).
  bool lease_server(const std::optional<Refusal>* leased, Step& step,
                    void (ClientSession::*refuse)(const Refusal&));
  //! Links a server if none is; on failure the refusal to answer with.
  awaitable<std::optional<Refusal>> ensure_server();
  //! True when a server is linked, or one could be at once (a recently
  //! released idle one): ensure_server's fast path, without a coroutine.
  bool has_server();
  //! Makes `server` this session's: syncs its session state to the
  //! client's and starts the pump.
  void link_server(std::unique_ptr<ServerConnection> server);
  //! The query guard's verdict on one statement text (nullopt = allowed).
  std::optional<Refusal> check_statement(std::string_view sql);
  //! Charges the connection's rate limit; the refusal when it is spent.
  std::optional<Refusal> take_rate_tokens(double tokens);
  void answer_deallocate(const Deallocate& deallocate);
  void refuse_query(const Refusal& refusal);
  void refuse_extended(const Refusal& refusal);
  void take_parse(const protocol::Frame& frame, std::string_view bytes);
  //! Injects the statement's Parse if the linked server lacks it.
  void ensure_prepared(const ClientStatement& statement);
  void push(char request, Disposition disposition, std::string registers = {});
  void push_local(std::string bytes);
  //! Audit: a refusal, and an allowed request that finished.
  void audit_refusal(std::string_view sqlstate, std::string_view reason, std::string_view sql);
  void audit_completion(const PendingRequest& done);
  //! Appends the Local entries now at the front of pending_ to `out`.
  void emit_ready_locals(std::string& out);

  // ---- server side of the ready loop (server_pump.cpp) ----
  awaitable<void> pump_server();
  awaitable<void> pump_server_loop();
  //! Gives back the buffers of a session with nothing in flight, so an idle
  //! client costs its socket and coroutine frames and little else.
  void release_idle_buffers();
  //! Walks the buffered server bytes, fills segments_ with what goes to the
  //! client, returns how many bytes were scanned (kMalformed on bad framing).
  std::size_t scan_server_bytes();
  void on_server_message(char type, protocol::ByteView body, bool& forward);
  void complete_request(char type);
  //! Query timeout: armed while a statement runs, cancels it upstream.
  void arm_statement_timer();
  void disarm_statement_timer();
  void arm_cancel_deadline();
  //! Makes sure the statement timer expires by statement_deadline_.
  void wait_statement_timer();
  void on_statement_deadline();
  //! Sends a CancelRequest for the linked server's running statement.
  void cancel_on_server();
  void release_or_park(std::unique_ptr<ServerConnection> server, bool reusable);
  //! Sends FATAL 57P01 and ends the session.
  void leave_for_shutdown();
  //! client_idle_timeout / idle_transaction_timeout: the limit that applies
  //! now (zero: none), and the timer that enforces it.
  conf::Seconds idle_limit() const;
  void arm_idle_timer();
  void on_idle_timer();
  awaitable<void> abandon_server(std::string_view message);
  void unlink_server(bool reusable);
  bool server_is_clean() const;
  void note_effect(const SessionEffect& effect);
  void settle_effect(SessionEffect& effect);
  void apply_effect(const SessionEffect& effect);
  //! Writes to the client, one writer at a time; `sent` bytes of `buffers`
  //! already went (by write_client_now).
  awaitable<error_code> write_client(std::span<const asio::const_buffer> buffers,
                                     std::size_t sent = 0);
  //! The fast path, without a coroutine: true when all of `buffers` went at
  //! once (or the write failed: `ec`), false when write_client must finish
  //! it, `sent` bytes in.
  bool write_client_now(std::span<const asio::const_buffer> buffers, std::size_t& sent,
                        error_code& ec);
  awaitable<error_code> write_client(std::string_view bytes);
  //! The timer in `slot`, made on this session's strand at first use.
  asio::steady_timer& timer(std::unique_ptr<asio::steady_timer>& slot) {
    if (!slot) slot = std::make_unique<asio::steady_timer>(strand_);
    return *slot;
  }

  ProxyContext& context_;
  std::shared_ptr<const conf::Config> config_;
  PgStream client_;
  //! Where a short client message is read while no buffer is held.
  std::array<std::byte, 256> client_small_;
  ByteBuffer client_in_{client_small_};
  protocol::FrontendLimits client_limits_;
  std::string user_;
  std::string database_;
  SharedParameters client_parameters_;  //!< tracked ones only, from login on
  std::uint32_t client_pid_ = 0;
  bool counted_ = false;
  bool console_ = false;  //!< an admin console session: no tenant, no server

  std::shared_ptr<Tenant> tenant_;
  std::shared_ptr<Pool> counted_in_;     //!< the pool whose client count includes us
  std::uint64_t tenant_generation_ = 0;  //!< ProxyContext::generation it was found in
  bool draining_ = false;
  std::unique_ptr<ServerConnection> server_;  //!< linked server, if any
  ClientStatements statements_;               //!< this client's named statements
  RequestQueue pending_;                      //!< answers owed, oldest first
  std::string to_server_;                     //!< messages waiting to go upstream
  std::string loop_out_;                      //!< local replies emitted by the client loop
  std::string pump_out_;                      //!< local replies emitted by the server pump
  std::string farewell_;                      //!< a last FATAL to send when the session ends
  std::size_t last_statement_count_ = 0;      //!< of the text check_statement judged
  std::uint64_t last_fingerprint_ = 0;        //!< ditto
  std::uint64_t unnamed_fingerprint_ = 0;     //!< of the unnamed statement
  std::uint64_t bound_fingerprint_ = 0;       //!< of the statement last bound to a portal
  SessionEffect last_effect_;                 //!< of the text check_statement judged
  SessionEffect unnamed_effect_;              //!< of the unnamed statement
  SessionEffect bound_effect_;                //!< of the statement last bound to a portal
  //! Session settings (non-reported SETs) this client made: replayed on
  //! every server it lands on.
  SessionSettings client_settings_;
  //! SETs that ran inside the open transaction block: the client's only if
  //! it commits.
  std::vector<SessionEffect> in_block_effects_;
  bool in_block_ = false;           //!< the server is inside a transaction block
  std::uint64_t request_rows_ = 0;  //!< rows of the request being answered
  std::string client_address_;
  std::uint16_t client_port_ = 0;
  bool uses_tls_ = false;         //!< fixed at login, readable from any thread
  std::string log_tag_;           //!< "client=PID user=... db=... addr=..." for log lines
  bool batch_open_ = false;       //!< extended messages sent since the last Sync
  bool skip_until_sync_ = false;  //!< a refused message: drop the rest of the batch
  bool abort_at_sync_ = false;    //!< ...and make the server fail it too
  bool writing_server_ = false;
  bool closing_ = false;
  protocol::TxStatus tx_status_ = protocol::TxStatus::Idle;

  ByteBuffer server_in_;
  std::size_t passthrough_ = 0;      //!< rest of a large message being streamed
  bool passthrough_forward_ = true;  //!< ...to the client (or swallowed)
  struct Segment {
    bool local;  //!< from pump_out_, else from server_in_
    std::size_t offset;
    std::size_t size;
  };
  static constexpr std::size_t kMalformed = static_cast<std::size_t>(-1);
  std::vector<Segment> segments_;
  std::vector<asio::const_buffer> gather_;
  protocol::BackendLimits server_limits_;

  // Timers are made on first use (most sessions never need the idle timer or
  // the write gate) and kept: an idle session pays a pointer for each.
  std::unique_ptr<asio::steady_timer> statement_timer_;
  std::unique_ptr<asio::steady_timer> idle_timer_;
  Clock::time_point last_activity_ = Clock::now();
  bool statement_timer_armed_ = false;    //!< a statement (or a cancel's grace) is timed
  bool statement_timer_waiting_ = false;  //!< statement_timer_ has a wait outstanding
  bool cancel_grace_ = false;             //!< the deadline is the cancel's grace
  Clock::time_point statement_deadline_;
  bool timed_out_ = false;         //!< the next 57014 from the server is our timeout
  std::uint64_t result_rows_ = 0;  //!< of the statement being relayed
  std::uint64_t result_bytes_ = 0;
  bool result_capped_ = false;      //!< past max_result_*: rows dropped, cancel sent
  bool cancel_ignored_ = false;     //!< the server was shut down past kCancelGrace
  bool server_said_fatal_ = false;  //!< its FATAL already reached the client (as 08006)
  struct Parked {
    std::unique_ptr<ServerConnection> server;
    bool reusable;
    std::shared_ptr<Pool> pool;  //!< the tenant may have been reloaded since
  };
  std::vector<Parked> parked_;  //!< released servers waiting for their cancels

  bool writing_client_ = false;
  std::uint32_t client_write_waiters_ = 0;  //!< coroutines queued at the gate
  bool reading_client_ = false;             //!< a read into client_in_ is in flight
  bool dormancy_asked_ = false;             //!< try_dormant cancelled that read to go dormant
  std::atomic<bool> dormant_{false};
  std::unique_ptr<asio::steady_timer> client_write_gate_;
  asio::any_io_executor strand_;  //!< this session's strand, set by run()
};

}  // namespace pgwarden::daemon
