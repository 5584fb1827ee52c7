// See client_parking.hpp.
#include "lbd/http/client_parking.hpp"

namespace lbd::proxy {

namespace {
// While clients are parked the timer also looks for a drain this often: the worker does not
// signal it, and a draining worker must close its idle clients at once, not at their timeout.
constexpr auto kDrainCheck = std::chrono::milliseconds(100);
}  // namespace

void ParkedClient::unlink() {
  auto* q = static_cast<ParkingLot::Queue*>(queue_);
  if (!q) return;
  if (prev_) prev_->next_ = next_;
  if (next_) next_->prev_ = prev_;
  if (q->head == this) q->head = next_;
  if (q->tail == this) q->tail = prev_;
  --q->lot->size_;
  q->lot->publish_size();
  prev_ = next_ = nullptr;
  queue_ = nullptr;
}

/// The parked wait's completion handler: owns the parked client while the wait is pending.
struct ParkingLot::WaitDone {
  std::unique_ptr<ParkedClient> parked;
  WorkerContext* worker;
  ResumeParked resume;

  void operator()(const lb::error_code& ec) {
    parked->unlink();
    resume(*worker, std::move(parked), ec);
  }
};

ParkingLot::ParkingLot(WorkerContext& worker) : worker_(worker), timer_(worker.io()) {}

ParkingLot::~ParkingLot() {
  for (auto& q : queues_) {
    for (auto* p = q->head; p;) {
      auto* next = p->next_;
      p->prev_ = p->next_ = nullptr;
      p->queue_ = nullptr;
      p = next;
    }
    q->head = q->tail = nullptr;
  }
  size_ = 0;
}

ParkingLot::Queue& ParkingLot::queue_for(std::chrono::nanoseconds timeout) {
  for (auto& q : queues_) {
    if (q->timeout == timeout) return *q;
  }
  // A reload may change the timeouts: drop queues nobody waits in any more.
  std::erase_if(queues_, [](const auto& q) { return q->head == nullptr; });
  queues_.push_back(std::make_unique<Queue>(Queue{.lot = this, .timeout = timeout}));
  return *queues_.back();
}

void ParkingLot::link(Queue& q, ParkedClient& p) {
  // Deadlines arrive nearly in order: a client parked at once comes before one parked by the
  // idle sweep that has waited since earlier. Walk back from the tail past the later ones
  // (those parked within the last sweep interval) so that each queue stays in deadline order.
  auto* after = q.tail;
  while (after && after->deadline_ > p.deadline_) after = after->prev_;
  p.queue_ = &q;
  p.prev_ = after;
  p.next_ = after ? after->next_ : q.head;
  if (p.next_) {
    p.next_->prev_ = &p;
  } else {
    q.tail = &p;
  }
  if (after) {
    after->next_ = &p;
  } else {
    q.head = &p;
  }
  ++size_;
  publish_size();
}

void ParkingLot::publish_size() {
  worker_.counters().parked_clients.store(size_, std::memory_order_relaxed);
}

void ParkingLot::park(std::unique_ptr<ParkedClient> parked, Clock::time_point deadline,
                      std::chrono::nanoseconds timeout, ResumeParked resume) {
  auto& p = *parked;
  p.deadline_ = deadline;
  link(queue_for(timeout), p);
  arm();
  // A wait, not a read into a buffer of the struct: ~130 bytes less per idle client, for an
  // EPOLL_CTL_MOD per park (Asio re-arms the descriptor for a wait).
  p.client.socket.async_wait(lb::tcp::socket::wait_read,
                             WaitDone{std::move(parked), &worker_, resume});
}

void ParkingLot::arm() {
  // FIFO queues: each head expires first in its queue. Re-arming costs a timerfd update, so the
  // timer is only moved earlier, never later; an early firing re-arms for the current heads.
  if (size_ == 0) return;
  auto at = Clock::now() + kDrainCheck;
  for (const auto& q : queues_) {
    if (q->head && q->head->deadline_ < at) at = q->head->deadline_;
  }
  if (timer_waiting_ && timer_at_ <= at) return;
  timer_at_ = at;
  timer_.expires_at(at);  // cancels a pending wait: its handler sees operation_aborted
  timer_waiting_ = true;
  timer_.async_wait([this](const lb::error_code& ec) {
    if (ec == lb::asio::error::operation_aborted) return;  // re-armed earlier, or shutting down
    timer_waiting_ = false;
    on_timer();
  });
}

void ParkingLot::on_timer() {
  const bool draining = worker_.draining();
  const auto now = Clock::now();
  for (auto& q : queues_) {
    while (q->head && (draining || q->head->deadline_ <= now)) {
      auto* p = q->head;
      p->unlink();
      lb::error_code ignored;
      p->client.socket.cancel(ignored);  // the wait completes with operation_aborted
    }
  }
  timer_at_ = Clock::time_point::max();
  arm();
}

}  // namespace lbd::proxy
