// The doctest entry point shared by every test program. It also makes sure that namespaces left
// by an earlier, killed test run are removed and that an interrupted run cleans up its own.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <csignal>

#include "tests/support/netns_lab.hpp"

int main(int argc, char** argv) {
  lbtest::install_interrupt_cleanup();
  // As lbd's and vrrpd's main() do: tests run their servers in-process, and a splice or write to
  // a reset peer must fail with EPIPE, not end the test program.
  std::signal(SIGPIPE, SIG_IGN);
  doctest::Context context(argc, argv);
  return context.run();
}
