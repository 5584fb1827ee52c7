// lbd::forward::CtStream against a real kernel, in a namespace: the events of marked entries
// reach the journal, ends are journaled, the events of the stream's own installs are not, and
// events the kernel dropped (a socket buffer too small for a burst: ENOBUFS) are counted and made
// good by a reconcile.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "common/asio.hpp"
#include "lbd/forward/conntrack.hpp"
#include "lbd/forward/ct_stream.hpp"
#include "tests/support/netns_lab.hpp"

namespace {

using namespace std::chrono_literals;

void in_netns_stream(const std::string& ns, const std::function<void()>& fn) {
  std::thread t([&] {
    const int fd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(::setns(fd, CLONE_NEWNET) == 0);
    ::close(fd);
    fn();
  });
  t.join();
}

lbd::repl::CtEntry stream_flow(std::uint32_t i) {
  lbd::repl::CtEntry e;
  const auto port = static_cast<std::uint16_t>(20000 + i);
  e.original = {{10, 2, 0, 1}, {192, 0, 2, 10}, port, 80};
  e.reply = {
      {198, 51, 100, static_cast<std::uint8_t>(11 + i % 2)}, {198, 51, 100, 254}, 8080, port};
  e.tcp_state = 3;
  e.timeout_s = 600;
  return e;
}

// Runs `io` until `done` holds (bounded).
bool run_until(lb::asio::io_context& io, const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(5ms);
  }
  return done();
}

}  // namespace

TEST_CASE(
    "forward conntrack stream: events become journal records, dropped events are made good "
    "by a reconcile, the stream's own installs are not journaled") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  lbtest::NetnsLab lab;
  lab.add_host("a", {"192.0.2.1/24", "198.51.100.1/24"});
  in_netns_stream(lab.ns("a"), [&] {
    lb::asio::io_context io;
    // A buffer far too small for the burst below: the kernel drops events.
    auto stream = lbd::forward::CtStream::open(io, 4096);
    REQUIRE(stream);
    auto& s = **stream;
    s.set_vips({*lb::Endpoint::parse("192.0.2.10:80")});
    s.start();
    auto ct = lbd::forward::Conntrack::open();
    REQUIRE(ct);
    constexpr std::uint32_t kFlows = 3000;
    for (std::uint32_t i = 0; i < kFlows; ++i) REQUIRE((*ct)->install(stream_flow(i)));
    CHECK(run_until(io, [&] { return s.view().flows == kFlows; }));
    auto v = s.view();
    MESSAGE(fmt::format("burst of {}: events read {}, overflows {}, reconciles {}", kFlows,
                        v.events, v.overflows, v.reconciles));
    CHECK(v.overflows >= 1);
    CHECK(v.reconciles >= 2);  // start, then the overflow
    CHECK(v.flows_per_backend.at("198.51.100.11:8080") == kFlows / 2);
    CHECK(s.journal_head() >= kFlows);

    // Ends are journaled (one burst at a time, within the buffer this time).
    const auto head = s.journal_head();
    for (std::uint32_t i = 0; i < 10; ++i) REQUIRE((*ct)->remove(stream_flow(i).original));
    CHECK(run_until(io, [&] { return s.view().flows == kFlows - 10; }));
    const auto batch = s.pull(head, 100);
    std::size_t erases = 0;
    for (const auto& r : batch.records) erases += r.erase ? 1 : 0;
    CHECK(erases == 10);

    // The peer's entry, installed by the stream itself: held, not journaled.
    const auto before = s.journal_head();
    lbd::repl::CtUpdate peer;
    peer.entries.push_back(stream_flow(kFlows + 1));
    s.apply(peer);
    CHECK(s.view().committed == 1);
    CHECK(s.remote_size() == 1);
    io.restart();
    io.run_for(50ms);
    CHECK(s.journal_head() == before);
    CHECK(s.view().flows == kFlows - 10);
  });
}
