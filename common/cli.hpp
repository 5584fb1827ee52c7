// Command-line parsing shared by lbd, vrrpd and lbctl: one exit-code convention for all three.
// --help and --version exit 0; a usage error (unknown flag, missing value, bad value, stray
// argument) prints the error and the usage to stderr and exits 2. CLI11's own codes (105-114)
// would tell a script nothing, and 2 is what a config error and lbctl's command errors return.
#pragma once

#include <optional>

#include <CLI/CLI.hpp>

namespace lb::cli {

inline constexpr int kUsageError = 2;

// Parses argv into app. Returns the exit code when the program must stop now, nothing when it
// goes on.
inline std::optional<int> parse(CLI::App& app, int argc, char** argv) {
  app.failure_message(CLI::FailureMessage::help);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help/version to stdout, errors with usage to stderr
    return code == static_cast<int>(CLI::ExitCodes::Success) ? 0 : kUsageError;
  }
  return std::nullopt;
}

}  // namespace lb::cli
