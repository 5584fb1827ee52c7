// An HTTP/2 (h2c) origin for the tests of pools with protocol = "h2", on lbd's own HTTP/2 server
// session: one blocking thread per connection (TestBackend), behaviour chosen by the path:
//   /hold?ms=N   answers "held" after N ms (keeps streams open at once)
//   /reset       resets the stream (RST_STREAM INTERNAL_ERROR) without answering
//   /cut         answers a header and 1000 body bytes, then resets the stream 200 ms later
//   /goaway      answers "bye", then sends GOAWAY(NO_ERROR): open streams finish, no new ones
//   /big?n=N     answers N bytes, as fast as the flow-control windows let it
//   /chunks?n=N  the same without content-length
//   /headers     answers the request's method, :authority and fields, one a line
//   HEAD         answers content-length 11 and no body, whatever the path
//   /trailers    answers "t" with the trailer "x-origin-trailer: yes"
//   /echo        answers the request body, and its trailers as response trailers
//   anything else: "h2 <path>"
// It counts connections, the most streams open at once on one connection, and /big bytes queued.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "tests/integration/lbd_harness.hpp"

namespace lbtest {

class H2Origin {
 public:
  /// `max_streams`: the SETTINGS_MAX_CONCURRENT_STREAMS it announces.
  explicit H2Origin(std::uint32_t max_streams = 100);
  ~H2Origin();
  std::string address() const { return backend_->address(); }
  int connections() const { return backend_->connections(); }
  std::size_t max_open_streams() const { return max_open_.load(); }
  std::size_t big_bytes_queued() const { return big_bytes_.load(); }
  std::size_t requests() const { return requests_.load(); }

  struct Stats;

 private:
  void serve(int fd);
  std::uint32_t max_streams_;
  std::atomic<std::size_t> max_open_{0};
  std::atomic<std::size_t> big_bytes_{0};
  std::atomic<std::size_t> requests_{0};
  std::unique_ptr<TestBackend> backend_;  // last: its threads use the members above
};

}  // namespace lbtest
