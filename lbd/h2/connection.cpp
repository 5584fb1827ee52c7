// The connection's stream bookkeeping: the session's events, the ticker, and the coroutine of
// one stream from its request to its access-log line.
#include "lbd/h2/connection.hpp"

#include <cctype>

#include "lbd/balance/least_time.hpp"

namespace lbd::h2 {

using namespace lbd::proxy;
using namespace lbd::proxy::http_detail;

namespace {

// How often a connection looks at its deadlines, stalled streams and the worker's drain.
constexpr auto kTick = std::chrono::milliseconds(500);

Limits limits_of(const Config& cfg) {
  Limits l;
  l.max_concurrent_streams = cfg.limits.max_concurrent_streams;
  l.max_header_list = static_cast<std::size_t>(cfg.limits.max_header_size);
  l.stall_timeout = cfg.timeouts.client_idle;
  return l;
}

}  // namespace

std::string lower_case(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Connection::Connection(WorkerContext& worker, ClientConnection& client, tcp::socket& raw,
                       const TlsConnectionInfo* tls)
    : worker_(worker),
      client_(client),
      raw_(raw),
      cfg_(*client.config),
      listener_(*client.info.listener),
      state_(worker_state(worker)),
      log_(worker.logger()),
      lstats_(worker.stats().listener(listener_.name)),
      tls_(tls),
      writer_wake_(raw.get_executor()),
      tasks_done_(raw.get_executor()),
      tick_(raw.get_executor()),
      write_watch_(raw.get_executor()),
      session_(*this, limits_of(cfg_)) {
  write_watch_.watch(&raw_, nullptr);
  routing_ = state_.routing_for(client_.config, listener_);
  peer_text_ = client_.info.peer.to_string();
  client_text_ = client_.info.peer.address.unmapped().to_string();
}

void Connection::on_request(std::int32_t id, Request&& req) {
  auto x = std::make_shared<Exchange>(raw_.get_executor());
  x->id = id;
  x->req = std::move(req);
  x->body_done = x->req.end_stream;
  exchanges_[id] = x;
  had_stream_ = true;
  spawn(exchange(std::move(x)), "h2 stream");
}

void Connection::on_data(std::int32_t id, std::span<const std::uint8_t> data) {
  auto it = exchanges_.find(id);
  if (it == exchanges_.end()) return;
  auto& x = *it->second;
  if (x.discard) {
    session_.consume(id, data.size());
    return;
  }
  x.body.append(reinterpret_cast<const char*>(data.data()), data.size());
  x.signal.notify();
}

void Connection::on_trailers(std::int32_t id, std::vector<Header>&& trailers) {
  if (auto it = exchanges_.find(id); it != exchanges_.end()) {
    it->second->trailers = std::move(trailers);
  }
}

void Connection::on_end_stream(std::int32_t id) {
  if (auto it = exchanges_.find(id); it != exchanges_.end()) {
    it->second->body_done = true;
    it->second->signal.notify();
  }
}

void Connection::on_writable(std::int32_t id) {
  if (auto it = exchanges_.find(id); it != exchanges_.end()) it->second->signal.notify();
}

void Connection::on_close(std::int32_t id, std::uint32_t code) {
  auto it = exchanges_.find(id);
  if (it == exchanges_.end()) return;
  auto x = std::move(it->second);
  exchanges_.erase(it);
  x->gone = true;
  if (code != 0 && x->upstream) {
    error_code ignored;
    x->upstream->cancel(ignored);
  }
  x->signal.notify();
}

void Connection::on_defence(Defence d) {
  lstats_.h2_errors[static_cast<std::size_t>(d)].add();
  if (logged_defence_) return;
  logged_defence_ = true;
  log_->warn("h2: defence listener={} client={} reason={}", listener_.name, peer_text_,
             to_string(d));
}

void Connection::abort_all() {
  for (auto& [id, x] : exchanges_) {
    x->gone = true;
    if (x->upstream) {
      error_code ignored;
      x->upstream->cancel(ignored);
    }
    x->signal.notify();
  }
  exchanges_.clear();
}

/// Deadlines: idle connection (no stream for request_header / keep_alive), stalled streams,
/// and the worker's drain (GOAWAY, then the open streams finish).
lb::awaitable<void> Connection::ticker() {
  while (!finished_) {
    tick_.expires_after(kTick);
    error_code ec;
    co_await tick_.async_wait(asio::redirect_error(lb::use_awaitable, ec));
    if (finished_) break;
    const auto now = Clock::now();
    session_.check_stalls(now);
    const auto idle_limit = had_stream_ ? cfg_.timeouts.keep_alive : cfg_.timeouts.request_header;
    // A client of a VIP this node handed over gets a GOAWAY too: its open streams finish here,
    // its next ones go to the new master.
    const auto* released = worker_.released_vips();
    if (worker_.draining() || (released != nullptr && released->holds_local_address_of(raw_)) ||
        (session_.open_streams() == 0 && now - last_activity_ >= idle_limit)) {
      session_.shutdown();
    }
    kick();
  }
}

// The stream's plan lives in this frame while the relay runs: one coroutine frame less per
// stream than a separate routing coroutine.
lb::awaitable<void> Connection::exchange(std::shared_ptr<Exchange> xp) {
  auto& x = *xp;
  RequestObservation obs{.start = Clock::now()};
  obs.method = x.req.method;
  obs.target = x.req.path;
  if (auto p = plan(x, obs)) {
    if (p->pool->protocol == UpstreamProtocol::h2) {
      co_await forward_h2(x, obs, *p);
    } else {
      co_await forward_h1(x, obs, *p);
    }
  }
  if (tls_) {
    obs.tls_version = tls_->version;
    obs.tls_cipher = tls_->cipher;
  }
  if (obs.status != 0) {
    finish_request(worker_, lstats_, listener_.name,
                   worker_.access_log() ? std::string_view(peer_text_) : std::string_view(), obs);
  }
}

void Connection::note_backend(RequestObservation& obs, const ForwardPlan& plan,
                              const Backend* backend, std::optional<nanoseconds> connect) {
  if (!backend) return;
  obs.server = backend->name;
  obs.connect = connect;
  obs.sticky = !plan.persistence.active()             ? ""
               : backend == plan.persistence.prefer() ? "hit"
                                                      : "miss";
  worker_.stats().backend(*plan.pool_name, backend->name).requests.add();
}

void Connection::note_latency(const ForwardPlan& plan, const Backend* backend, nanoseconds waited,
                              Clock::time_point now) {
  if (!backend) return;
  worker_.stats().backend(*plan.pool_name, backend->name).observe_latency(waited);
  if (plan.pool->balance.algorithm == Algorithm::least_time) {
    record_latency(*backend, waited, now, plan.pool->balance.least_time_decay);
  }
}

void Connection::add_set_cookie(std::vector<Header>& fields, ForwardPlan& plan) {
  for (const auto& a : plan.persistence.set_cookie()) {
    fields.push_back(Header{lower_case(a.name), std::string(a.value)});
  }
}

}  // namespace lbd::h2
