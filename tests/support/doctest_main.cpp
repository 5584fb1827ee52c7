// The doctest entry point shared by every test program. It also makes sure that namespaces left
// by an earlier, killed test run are removed and that an interrupted run cleans up its own.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "tests/support/netns_lab.hpp"

int main(int argc, char** argv) {
  lbtest::install_interrupt_cleanup();
  doctest::Context context(argc, argv);
  return context.run();
}
