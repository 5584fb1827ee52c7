// The part of the L7 client session that does not depend on the client stream (plain TCP or
// TLS): the connection's state and the request in flight, and the steps of one exchange as plain
// functions (check the request header, route it, pick or open a backend connection, write the
// header for the next hop, plan the response) plus the body relays. HttpSession<ClientStream>
// (http_session_impl.hpp) is the coroutine that strings these steps together around its reads
// and writes; every step here is a plain function, so a request costs no coroutine frame more
// than the session's own (Asio recycles only frames of up to ~1 KiB). Private to lbd/http.
#pragma once

#include <array>
#include <charconv>
#include <cstdint>
#include <expected>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/optional/optional.hpp>

#include "lbd/http/header_arena.hpp"
#include "lbd/http/http_persistence.hpp"
#include "lbd/http/http_watchdog.hpp"
#include "lbd/http/http_worker_state.hpp"
#include "lbd/session/conn_tracking.hpp"
#include "lbd/session/request_log.hpp"
#include "lbd/tls/tls_context.hpp"
#include "lbd/upstream_conn/upstream_pool.hpp"

namespace lbd::proxy {

class UpstreamStream;
class H2UpstreamStream;
class WakeSignal;
class H2RequestSink;
struct H2Field;

// Not an anonymous namespace: HttpWorkerState must be one type in every translation unit (it
// lives in the worker's extension slot, shared by plain and TLS sessions).
namespace http_detail {
// beast, asio, error_code, tcp, Clock and nanoseconds: declared for this namespace in
// http_worker_state.hpp.

// Header reads start small: most headers fit, and a burst of requests then holds little memory.
constexpr std::size_t kReadChunk = 4 * 1024;
// Body relays read bigger pieces: fewer syscalls per MiB (the buffer comes from the free list).
constexpr std::size_t kBodyChunk = 64 * 1024;
constexpr std::uint32_t kMaxResponseHeader = 64 * 1024;
// Fields in one request header (HAProxy's default is 101 with the start line, Apache's 100):
// Beast allocates a node per field, so 16 KiB of "a:b" lines would cost ~300 KiB.
constexpr std::size_t kMaxHeaderFields = 100;
// Not boost::none: Boost 1.74 compares `len_ > body_limit_` with an empty optional, which is true.
constexpr std::uint64_t kNoBodyLimit = std::numeric_limits<std::uint64_t>::max();
constexpr Clock::time_point kNoDeadline = Clock::time_point::max();
// The proxy's answer to "Expect: 100-continue".
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// Their fields come from the exchange's HeaderArena (header_arena.hpp).
template <bool isRequest, typename Body = http::empty_body>
using ArenaParser = http::parser<isRequest, Body, ArenaAllocator<char>>;
using RequestHeaderParser = ArenaParser<true>;
using ResponseHeaderParser = ArenaParser<false>;
using RequestHeader = http::request<http::empty_body, HeaderFields>;
using ResponseHeader = http::response<http::empty_body, HeaderFields>;

inline void append_number(std::string& out, std::uint64_t v, int base = 10) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, base);
  out.append(buf, end);
}

enum class BodyResult {
  ok,
  from_failed,
  to_failed,
  too_large,
  malformed,
  chunk_line_too_long,  // a chunk-size line (with extensions) over kMaxChunkLine
  trailers_too_large,   // a trailer section over the header bound
};

/// How a request exchange ended. `retry`: a reused backend connection was closed before it
/// answered, and the request may be sent again on another one.
enum class Next { keep_alive, close, retry };

/// An error response the session owes the client: its status and the reason it logs.
struct Refusal {
  unsigned status = 0;
  std::string why;
};

/// What the checked request header says, for the rest of the exchange.
struct RequestFacts {
  const PoolConfig* pool = nullptr;        // the pool the request is routed to
  const std::string* pool_name = nullptr;  // its name (from the router)
  boost::optional<std::uint64_t> content_length;
  unsigned version = 11;  // the client's HTTP version, 10 or 11
  bool chunked = false;
  bool expect_continue = false;  // "Expect: 100-continue": the proxy answers 100 itself
  bool upgrade = false;
  bool keep_alive = false;  // the client wants the connection kept
  bool has_body = false;
  bool is_head = false;
};

/// Where the header parser stands in the client's bytes (cbuf_).
struct HeaderScan {
  std::size_t parsed = 0;  // bytes Beast consumed: complete lines it must not see again
  std::size_t lines = 0;   // complete lines Beast consumed: the start line and the fields
  bool done = false;       // the header is complete and consumed from cbuf_
};

/// A backend connection for the request in flight.
struct Upstream {
  UpstreamConnection conn;
  bool reused = false;  // taken from the keep-alive pool
};
/// A backend connection, or the error response.
using Acquired = std::expected<Upstream, Refusal>;

/// Where the response header stands after parse_response_header().
enum class ResponseStep {
  more,       // more bytes needed
  complete,   // a final (or 101) response header
  interim,    // a 1xx response to pass on before the final one
  malformed,  // `ec` says why
};

/// take_pooled(): the server picked for a pooled connection, and the connection if one was idle.
struct PooledPick {
  std::optional<Upstream> pooled;
  Clock::time_point start;          // when the search for a connection began
  const Backend* picked = nullptr;  // null: no healthy server (or no pick: `reuse` false)
  bool reuse = false;               // the pool keeps idle connections and this is attempt 1
};

/// What a response header decides about the body relay and both connections.
struct ResponsePlan {
  boost::optional<std::uint64_t> length;  // Content-Length
  std::size_t head_size = 0;              // the header written to the client (head_)
  unsigned status = 0;
  bool no_body = false;
  bool chunked = false;
  bool until_eof = false;  // delimited by the backend closing
  bool rechunk = true;     // re-chunk a chunked body (not for an HTTP/1.0 client)
  bool keep_client = false;
  bool keep_upstream = false;
};

/// The stream-independent state and steps of an L7 client session.
class HttpExchange {
 public:
  HttpExchange(const HttpExchange&) = delete;
  HttpExchange& operator=(const HttpExchange&) = delete;

 protected:
  /// `tls`: the client connection is TLS (the stream is set up by the derived session, which
  /// then calls set_raw_socket()).
  HttpExchange(WorkerContext& worker, ClientConnection client, bool tls);
  ~HttpExchange() = default;

  void set_raw_socket(tcp::socket& socket) {
    raw_ = &socket;
    watchdog_.watch(raw_, nullptr);
  }
  /// The client's TCP socket under the stream (what the watchdog cancels and the end closes).
  tcp::socket& raw_socket() { return *raw_; }

  // ---- connection, request end, errors (http_exchange.cpp) ------------------------------
  void init_routing();
  /// Whether the client connected to a VIP this node handed over (vrrpd's handover drain).
  bool vip_released();
  /// Plain TCP: the worker holds kIdleSessionsKept idle sessions already, park the client now.
  bool too_many_idle() const;
  /// Copies the first read of a request (first_bytes_) into cbuf_.
  void keep_first_bytes(std::size_t got);
  /// The request buffers from the worker's free lists, and back (they hold no data then).
  void take_buffers();
  void give_buffers();
  /// Clears the buffers and returns them to the free lists: the end of the session.
  void release_buffers();
  /// Closes the client socket (close() alone sends the FIN).
  void close_client();
  /// The end of one request (also a refused or abandoned one): listener counters, access log.
  void end_request();
  /// The error response for a failed body relay (nullopt: nobody to answer).
  std::optional<Refusal> body_refusal(BodyResult r, bool request);

  // ---- request (request_admission.cpp) --------------------------------------------------
  /// The request parser of an exchange, its fields and the response's in `memory` (which must
  /// outlive both parsers: it lives in exchange()'s frame, declared before them).
  RequestHeaderParser request_parser(HeaderMemory& memory) {
    header_alloc_ = ArenaAllocator<char>(&memory.arena);
    return RequestHeaderParser(std::piecewise_construct, std::make_tuple(),
                               std::make_tuple(header_alloc_));
  }
  /// Starts a request: sets up its header parser, resets what the last request left and arms
  /// the header deadline.
  void begin_request(RequestHeaderParser& hp);
  /// Feeds cbuf_ to the header parser: a refusal, or nullopt (scan.done when complete).
  std::optional<Refusal> scan_request_header(RequestHeaderParser& hp, HeaderScan& scan);
  /// Checks the complete header, routes it and writes the header for the backend into head_:
  /// nullopt with `facts` filled, or the refusal.
  std::optional<Refusal> admit_request(RequestHeaderParser& hp, RequestFacts& facts);

  // ---- backend (backend_acquire.cpp) ----------------------------------------------------
  /// On the first attempt to a pool that keeps idle connections: picks a server and takes one
  /// of its idle connections, if any (without a coroutine: acquire() would be a frame more).
  PooledPick take_pooled(const RequestFacts& facts, int attempt, const Backend* avoid);
  /// A new connection to a backend of the pool; see backend_acquire.cpp.
  lb::awaitable<Acquired> acquire(const std::string& pool_name, const PoolConfig& pool,
                                  const Backend* avoid, bool reuse, const Backend* picked);
  /// Notes the backend `up` leads to (observation, connection table) and watches its socket.
  void start_forwarding(Upstream& up, const RequestFacts& facts, Clock::time_point acquire_start);
  /// Notes the backend a request goes to: observation (`connect`: the time to a new connection),
  /// the replicated connection table.
  void note_backend(const Backend* backend, const RequestFacts& facts,
                    std::optional<nanoseconds> connect);
  /// Writing the request header failed: the error response, or nullopt when the request may be
  /// sent again (`written`: some of its bytes went out), to another server than `avoid` then.
  std::optional<Refusal> request_replay(const Upstream& up, bool can_retry, bool written,
                                        const Backend*& avoid);

  // ---- response (response_plan.cpp) ----------------------------------------------------
  /// Starts waiting for the response header (no parser yet in `rp`); returns the time the
  /// wait began (least_time measures to the header).
  Clock::time_point begin_response(std::optional<ResponseHeaderParser>& rp);
  /// Feeds the buffered backend bytes (ubuf_) to `rp`, starting a parser when it has none or
  /// holds a complete interim response (`got_bytes`: the backend sent something).
  ResponseStep parse_response_header(std::optional<ResponseHeaderParser>& rp, bool is_head,
                                     bool& got_bytes, error_code& ec);
  /// A response that ends the header phase: a final status, or 101 (Switching Protocols).
  static bool is_final(const ResponseHeader& res) {
    return res.result_int() >= 200 || res.result_int() == 101;
  }
  /// Writes the interim (1xx) response to pass on to the client into `out`.
  static void interim_head(std::string& out, const ResponseHeader& res);
  /// No response header: the error response, or nullopt when the request may be sent again,
  /// to another server than `avoid` then.
  std::optional<Refusal> response_header_failure(const error_code& ec, const Upstream& up,
                                                 const RequestFacts& facts, bool got_bytes,
                                                 bool can_retry, const Backend*& avoid);
  /// The response header arrived: latency samples (least_time, /metrics).
  void note_response_header(const Backend* backend, const RequestFacts& facts,
                            Clock::time_point waiting_since);
  /// The header a 101 (Upgrade) response is passed on with.
  std::string upgrade_head(const ResponseHeader& res, const Upstream& up);
  /// Decides the body relay and both connections' fate, and writes the header into head_.
  ResponsePlan plan_response(ResponseHeaderParser& rp, const Backend* backend,
                             const RequestFacts& facts);
  /// After the response body: counters, log, the backend connection back to its pool.
  Next finish_response(BodyResult r, const ResponsePlan& plan, Upstream& up,
                       const RequestFacts& facts);

  /// Before another attempt: avoid the server of `up`, stop watching its socket.
  void retry_elsewhere(const Upstream& up, const Backend*& avoid);

  // ---- body relays (body_relay.cpp, instantiated there for the session's streams) ---------
  /// Moves exactly `n` body bytes from `from` (bytes already in `fbuf` first) to `to`, writing
  /// `head` in front of the first bytes when given.
  template <typename From, typename To>
  lb::awaitable<BodyResult> relay_length(From& from, beast::flat_buffer& fbuf, To& to,
                                         std::uint64_t n, nanoseconds from_idle,
                                         nanoseconds to_idle, std::string* head = nullptr,
                                         Clock::time_point from_deadline = kNoDeadline);
  /// Writes `head`, then everything `from` sends until it closes.
  template <typename From, typename To>
  lb::awaitable<BodyResult> relay_until_eof(From& from, beast::flat_buffer& fbuf, To& to,
                                            nanoseconds from_idle, nanoseconds to_idle,
                                            std::string& head);
  /// Decodes a chunked body with Beast's parser and writes it to `to`, re-chunked when `rechunk`
  /// (so the next hop sees canonical framing, never the sender's), else raw. Trailers are dropped.
  /// `header` is the parser that read the message header; the relay parses the body with it.
  template <bool isRequest, typename From, typename To>
  lb::awaitable<BodyResult> relay_chunked(ArenaParser<isRequest>& header, From& from,
                                          beast::flat_buffer& fbuf, To& to, bool rechunk,
                                          std::uint64_t max_body, nanoseconds from_idle,
                                          nanoseconds to_idle,
                                          Clock::time_point from_deadline = kNoDeadline);

  // ---- HTTP/2 servers (h2_bridge.cpp, instantiated there for the session's streams) -------
  /// An HTTP/1.1 request routed to a pool with protocol = "h2" (admitted: head_ holds its
  /// rewritten header), sent as one stream on the worker's HTTP/2 connections and answered as
  /// HTTP/1.1: how the exchange ended, or in `refusal` the error response the session owes
  /// (nothing was written to the client then but a 100 Continue).
  template <typename ClientStream>
  lb::awaitable<Next> bridge_h2(ClientStream& client, RequestHeaderParser& hp,
                                const RequestFacts& facts, std::optional<Refusal>& refusal);

  /// Ends the request in flight (counters, access log) when the exchange leaves its scope:
  /// declared after the request parser, so that it runs before the parser, which method_ and
  /// target_ point into, goes away.
  struct EndOfRequest {
    HttpExchange* exchange;
    ~EndOfRequest() { exchange->end_request(); }
  };

  /// Logs an error response and returns its text (the session writes it).
  std::string error_response(unsigned status, std::string_view why);
  /// method_ and target_ point into the request parser. A chunked request body moves that
  /// parser into the relay's, which is gone when the relay ends, while a 502 after the body
  /// still logs them: point them at owned copies first.
  void own_request_line();

  WorkerContext& worker_;
  ClientConnection client_;  // its socket moved into the session's stream
  const Config& cfg_;
  const ListenerConfig& listener_;
  HttpWorkerState& state_;
  std::shared_ptr<spdlog::logger> log_;
  Watchdog watchdog_;
  std::shared_ptr<const Routing> routing_;
  tcp::socket* raw_ = nullptr;  // the client's TCP socket (set_raw_socket)
  const bool tls_session_;      // the client connection is TLS

  beast::flat_buffer cbuf_;  // bytes from the client not yet consumed
  beast::flat_buffer ubuf_;  // bytes from the backend not yet consumed
  std::string host_;
  std::string forwarded_host_;
  std::string head_;         // the serialised header being sent (capacity reused across requests)
  std::string client_text_;  // the client address as forwarding headers write it
  std::array<char, 256> first_bytes_;  // the first read of each request
  std::string_view method_ = "-";
  std::string_view target_ = "-";
  std::string_view backend_name_ = "-";
  std::optional<std::uint64_t> pick_hash_;  // PickContext::hash of the request in flight
  HttpPersistence persistence_;             // session persistence of the request in flight
  TrackedConnection tracked_;        // this client connection in the replicated connection table
  std::size_t tracked_backend_ = 0;  // hash of the backend name it is tracked under
  std::uint32_t tracked_at_s_ = 0;   // steady-clock second of the last re-point
  // Observability: the request in flight as /metrics and the access log see it.
  admin::ListenerCounters& lstats_;
  RequestObservation obs_;
  std::uint64_t relayed_ = 0;  // body bytes the last relay_chunked / relay_until_eof passed on
  Clock::time_point body_deadline_ = kNoDeadline;  // the request body's (timeouts.request_body)
  bool header_armed_ = false;  // run() armed the first request's header deadline already
  std::string log_method_;     // owned copies for the access log (only when it is on)
  std::string log_target_;
  TlsConnectionInfo tls_;  // TLS only: version, cipher, SNI, verified client subject
  bool tls_up_ = false;    // TLS only: the handshake completed
  // The header fields' memory of the exchange in flight: its arena lives in exchange()'s frame.
  ArenaAllocator<char> header_alloc_;

 private:
  template <bool isRequest, typename From, typename To>
  lb::awaitable<BodyResult> relay_chunked_with(ArenaParser<isRequest, http::buffer_body>& p,
                                               From& from, beast::flat_buffer& fbuf, To& to,
                                               bool rechunk, std::uint64_t max_body,
                                               nanoseconds from_idle, nanoseconds to_idle,
                                               Clock::time_point from_deadline,
                                               std::uint8_t* scratch);
  std::optional<Refusal> check_request(RequestHeaderParser& hp, RequestFacts& facts);
  std::optional<Refusal> route_request(const RequestHeader& req, RequestFacts& facts);
  void write_request_head(const RequestHeader& req, const RequestFacts& facts);
  template <typename ClientStream>
  lb::awaitable<std::expected<Next, Refusal>> bridge_stream(ClientStream& client,
                                                            RequestHeaderParser& hp,
                                                            const RequestFacts& facts);
  template <typename ClientStream>
  lb::awaitable<BodyResult> bridge_body(ClientStream& client, RequestHeaderParser& hp,
                                        H2RequestSink& sink, const RequestFacts& facts,
                                        int attempt);
  template <typename ClientStream>
  lb::awaitable<std::expected<Next, Refusal>> bridge_response(ClientStream& client,
                                                              H2UpstreamStream& up,
                                                              WakeSignal& wake,
                                                              const RequestFacts& facts,
                                                              bool trailers);
  bool bridge_plan(H2UpstreamStream& up, const RequestFacts& facts, bool trailers,
                   std::optional<ResponseHeaderParser>& rp, ResponsePlan& plan);
  Next bridge_end(const ResponsePlan& plan, std::uint64_t body_bytes);
};

/// The error response for a pool that gave no backend connection.
Refusal unreachable_refusal(UpstreamError error);

/// How long the next read may wait: the idle timeout, cut short by a whole-body deadline.
nanoseconds read_timeout(nanoseconds idle, Clock::time_point deadline);

/// Why a response body relay failed, for the log line.
std::string_view response_failure(BodyResult r);

}  // namespace http_detail
}  // namespace lbd::proxy
