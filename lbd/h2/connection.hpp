// One HTTP/2 client connection on a worker: a reader and a writer around the ServerSession
// (serve_h2.cpp, which also defines the entry points of lbd/session/h2_entry.hpp), a ticker for
// deadlines and drains, and one coroutine per stream that routes the request (request_plan.cpp)
// and forwards it to an HTTP/1.1 backend (relay_h1.cpp) or an HTTP/2 backend (relay_h2.cpp),
// streaming the response back under flow control. Answers of the proxy itself, with a gRPC
// status for gRPC clients, are in stream_errors.cpp. Single-threaded: the worker's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/parser.hpp>

#include "common/asio.hpp"
#include "lbd/h2/grpc_status.hpp"
#include "lbd/h2/server_session.hpp"
#include "lbd/http/http_persistence.hpp"
#include "lbd/http/http_watchdog.hpp"
#include "lbd/http/http_worker_state.hpp"
#include "lbd/session/request_log.hpp"
#include "lbd/session/worker_context.hpp"
#include "lbd/tls/tls_context.hpp"
#include "lbd/upstream_conn/h2_upstream.hpp"
#include "lbd/upstream_conn/upstream_tls_stream.hpp"
#include "lbd/upstream_conn/wake_signal.hpp"

namespace lbd::h2 {

/// One stream of the connection as the proxy carries it to a backend.
struct Exchange {
  explicit Exchange(const lb::asio::any_io_executor& ex) : signal(ex) {}
  std::int32_t id = 0;
  Request req;
  std::string body;              // request body not yet forwarded (bounded by the stream window)
  std::vector<Header> trailers;  // the request's trailers (with body_done)
  bool body_done = false;
  bool gone = false;     // the stream closed: reset by the client, or the connection ended
  bool discard = false;  // answered early: request body bytes are dropped as they come
  proxy::WakeSignal signal;
  lb::tcp::socket* upstream = nullptr;  // cancelled when the client resets the stream
};

/// Where a stream's request goes and the HTTP/1.1 header the backend gets (request_plan.cpp).
struct ForwardPlan {
  const PoolConfig* pool = nullptr;
  const std::string* pool_name = nullptr;
  std::string_view authority;  // the client's :authority (or Host)
  std::string head;            // the rewritten HTTP/1.1 request header (HTTP/2: fields from it)
  std::optional<std::uint64_t> hash;
  proxy::HttpPersistence persistence;
  bool has_body = false;
  bool chunked = false;  // the body has no length: it goes chunked to an HTTP/1.1 backend
  bool is_head = false;
};

/// State of one attempt of a stream on an HTTP/2 backend (relay_h2.cpp).
struct H2Relay;

/// What the next turn of a loop that moves bytes does.
enum class Step : std::uint8_t {
  progress,  // something moved: look again at once
  idle,      // nothing to do: wait for an event or a deadline
  done,      // the stream is answered, reset or gone
  retry,     // the attempt failed before the server processed it: try another connection
};

/// Lower-cased copy of a field name.
std::string lower_case(std::string_view s);

class Connection final : public StreamHandler {
 public:
  /// `raw` is the client's socket (under TLS, the stream's lowest layer); `tls` describes the
  /// handshake (null on a plain connection).
  Connection(proxy::WorkerContext& worker, proxy::ClientConnection& client, lb::tcp::socket& raw,
             const proxy::TlsConnectionInfo* tls);

  /// Serves the connection over `stream` until it ends; `already` holds bytes read before.
  template <typename Stream>
  lb::awaitable<void> run(Stream& stream, std::string_view already);

  // ---- StreamHandler (called from inside the session) ------------------------------------
  void on_request(std::int32_t id, Request&& req) override;
  void on_data(std::int32_t id, std::span<const std::uint8_t> data) override;
  void on_trailers(std::int32_t id, std::vector<Header>&& trailers) override;
  void on_end_stream(std::int32_t id) override;
  void on_writable(std::int32_t id) override;
  void on_close(std::int32_t id, std::uint32_t code) override;
  void on_defence(Defence d) override;

 public:
  using Clock = std::chrono::steady_clock;
  using Watchdog = proxy::http_detail::Watchdog;

 private:
  using HeaderParser = boost::beast::http::response_parser<boost::beast::http::empty_body>;
  using BodyParser = boost::beast::http::response_parser<boost::beast::http::buffer_body>;

  template <typename Task>
  void spawn(Task task, const char* what) {
    ++tasks_;
    lb::asio::co_spawn(raw_.get_executor(), std::move(task),
                       [this, log = log_, what](std::exception_ptr e) {
                         if (e) {
                           try {
                             std::rethrow_exception(e);
                           } catch (const std::exception& ex) {
                             log->error("{}: exception: {}", what, ex.what());
                           }
                         }
                         if (--tasks_ == 0) tasks_done_.notify();
                       });
  }
  void kick() { writer_wake_.notify(); }
  void abort_all();
  template <typename Stream>
  lb::awaitable<void> writer(Stream& stream);
  lb::awaitable<void> ticker();

  // ---- one stream ---------------------------------------------------------------------
  lb::awaitable<void> exchange(std::shared_ptr<Exchange> xp);
  /// Translates, routes and balances the request; nullopt when it was answered already.
  std::optional<ForwardPlan> plan(Exchange& x, proxy::RequestObservation& obs);
  /// The HTTP/1.1 request header the backend gets, into plan.head.
  void write_head(ForwardPlan& plan, const Request& r, const boost::beast::http::fields& fields);
  /// The backend that took the stream, in the observation and the backend's counters.
  void note_backend(proxy::RequestObservation& obs, const ForwardPlan& plan, const Backend* backend,
                    std::optional<std::chrono::nanoseconds> connect);
  /// The time the backend took to answer, for its latency metric and least_time.
  void note_latency(const ForwardPlan& plan, const Backend* backend,
                    std::chrono::nanoseconds waited, Clock::time_point now);
  /// The response header fields the client gets besides the backend's: persistence cookies.
  static void add_set_cookie(std::vector<Header>& fields, ForwardPlan& plan);

  // relay_h1.cpp: the stream as one HTTP/1.1 request on the worker's pooled connections.
  lb::awaitable<void> forward_h1(Exchange& x, proxy::RequestObservation& obs, ForwardPlan& plan);
  std::optional<proxy::UpstreamConnection> take_idle(const ForwardPlan& plan, PickContext& pc);
  lb::awaitable<bool> send_body(Exchange& x, proxy::UpstreamStream& upstream, Watchdog& watch,
                                bool chunked, proxy::RequestObservation& obs);
  bool body_failed(Exchange& x, proxy::RequestObservation& obs, unsigned status);
  Step write_failed(Exchange& x, proxy::RequestObservation& obs, const Watchdog& watch, bool retry);
  Step header_failed(Exchange& x, proxy::RequestObservation& obs, const ForwardPlan& plan,
                     const Backend* backend, const Watchdog& watch, lb::error_code ec, bool retry);
  bool answer_h1_header(Exchange& x, proxy::RequestObservation& obs, ForwardPlan& plan,
                        HeaderParser& rp, const Backend* backend, Clock::time_point waited);
  lb::awaitable<bool> relay_response(Exchange& x, proxy::UpstreamStream& upstream,
                                     boost::beast::flat_buffer& ubuf, HeaderParser& header,
                                     Watchdog& watch, proxy::RequestObservation& obs);
  void end_relayed(Exchange& x, bool complete);
  void release_h1(ForwardPlan& plan, proxy::UpstreamConnection& conn,
                  boost::beast::flat_buffer& ubuf, bool reusable);

  // relay_h2.cpp: the stream as one stream to an HTTP/2 server, full duplex.
  lb::awaitable<void> forward_h2(Exchange& x, proxy::RequestObservation& obs, ForwardPlan& plan);
  Step pump_h2(Exchange& x, proxy::RequestObservation& obs, H2Relay& r);
  Step pump_request_body(Exchange& x, proxy::RequestObservation& obs, H2Relay& r);
  Step answer_h2_header(Exchange& x, proxy::RequestObservation& obs, H2Relay& r);
  Step h2_stream_closed(Exchange& x, proxy::RequestObservation& obs, H2Relay& r);
  void h2_timed_out(Exchange& x, proxy::RequestObservation& obs, H2Relay& r, bool client_window);

  // stream_errors.cpp: answers of the proxy itself.
  void respond_error(Exchange& x, proxy::RequestObservation& obs, unsigned status,
                     std::string_view why);
  void respond_h2_error(Exchange& x, proxy::RequestObservation& obs, bool grpc, unsigned status,
                        std::string_view why, std::optional<GrpcCode> code = std::nullopt);
  void respond_unreachable(Exchange& x, proxy::RequestObservation& obs, bool grpc,
                           proxy::UpstreamError error);
  void drop_request_body(Exchange& x);

  proxy::WorkerContext& worker_;
  proxy::ClientConnection& client_;
  lb::tcp::socket& raw_;
  const Config& cfg_;
  const ListenerConfig& listener_;
  proxy::http_detail::HttpWorkerState& state_;
  std::shared_ptr<spdlog::logger> log_;
  admin::ListenerCounters& lstats_;
  const proxy::TlsConnectionInfo* tls_;
  std::shared_ptr<const proxy::http_detail::Routing> routing_;
  std::string peer_text_;
  std::string client_text_;
  proxy::WakeSignal writer_wake_;
  proxy::WakeSignal tasks_done_;
  lb::asio::steady_timer tick_;
  Watchdog write_watch_;
  std::unordered_map<std::int32_t, std::shared_ptr<Exchange>> exchanges_;
  std::size_t tasks_ = 0;
  Clock::time_point started_{};
  Clock::time_point last_activity_{};
  bool had_stream_ = false;
  bool finished_ = false;  // the writer is done: nothing more goes out
  bool dead_ = false;      // the client is gone or failed: stop at once
  bool logged_defence_ = false;
  // Last: its destructor must not call back into the members above.
  ServerSession session_;
};

}  // namespace lbd::h2
