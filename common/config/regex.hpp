// Regular expressions of the config (route host/path/header/cookie regexes, health-check body
// regexes) are RE2 patterns: RE2 matches in time linear in the input and without recursion, so a
// client-controlled value (a 64 KiB path or header) cannot exhaust a worker's stack or CPU the
// way a backtracking engine (std::regex) can. RE2 syntax has no backreferences or lookaround.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace re2 {
class RE2;
}

namespace lb::config {

/// A compiled RE2 pattern, shared between the routers of a config (matching is thread-safe).
class Regex {
 public:
  /// Compiles `pattern` (RE2 syntax); `case_insensitive` for host patterns matched against a
  /// lowercased host. Check valid() (or use regex_error() first).
  explicit Regex(std::string_view pattern, bool case_insensitive = false);
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;

  bool valid() const;
  /// True when the pattern matches anywhere in `text` (std::regex_search semantics).
  bool search(std::string_view text) const;

 private:
  std::unique_ptr<re2::RE2> re_;
};

/// Why `pattern` is not a valid RE2 pattern, or nullopt when it is.
std::optional<std::string> regex_error(std::string_view pattern);

}  // namespace lb::config
