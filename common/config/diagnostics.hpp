// Collected configuration errors: every problem in a file is reported, not just the first.
#pragma once

#include <string>
#include <vector>

namespace lb::config {

/// Where a value came from in a TOML file. line/column are 1-based; 0 means unknown.
struct SourcePosition {
  std::string file;
  unsigned line = 0;
  unsigned column = 0;
};

/// One error, printed as `file:line:col: key.path: message`.
struct Diagnostic {
  SourcePosition where;
  std::string key_path;
  std::string message;

  std::string to_string() const;
};

/// An append-only list of diagnostics. Not thread-safe (configs are loaded on one thread).
class Diagnostics {
 public:
  void add(SourcePosition where, std::string key_path, std::string message);
  bool empty() const { return items_.empty(); }
  std::size_t size() const { return items_.size(); }
  const std::vector<Diagnostic>& items() const { return items_; }
  /// All diagnostics, one per line.
  std::string to_string() const;

 private:
  std::vector<Diagnostic> items_;
};

}  // namespace lb::config
