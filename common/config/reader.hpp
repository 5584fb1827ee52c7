// Typed, position-aware reading of TOML configuration files (toml++).
// Every getter knows its key path; every problem becomes a Diagnostic `file:line:col: key: message`
// and reading goes on, so one run reports all errors. Keys that nobody asked for are errors too.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "common/config/diagnostics.hpp"
#include "common/config/parsers.hpp"

namespace lb::config {

/// A view of one TOML table that records which keys were read. Cheap to copy; the document it
/// came from must outlive it. Not thread-safe.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string key_path, std::string file, Diagnostics& diags);

  const std::string& key_path() const { return path_; }
  bool has(std::string_view key) const { return table_->contains(key); }

  /// Typed getters: the fallback when the key is absent; a diagnostic and the fallback when the
  /// value has the wrong type or is out of range.
  std::string string(std::string_view key, std::string fallback);
  std::optional<std::string> required_string(std::string_view key);
  bool boolean(std::string_view key, bool fallback);
  std::int64_t integer(std::string_view key, std::int64_t fallback, std::int64_t min,
                       std::int64_t max);
  std::optional<std::int64_t> required_integer(std::string_view key, std::int64_t min,
                                               std::int64_t max);
  double number(std::string_view key, double fallback, double min, double max);
  std::chrono::nanoseconds duration(std::string_view key, std::chrono::nanoseconds fallback,
                                    std::chrono::nanoseconds min = std::chrono::nanoseconds(0),
                                    std::chrono::nanoseconds max = std::chrono::hours(24 * 365));
  std::uint64_t size(std::string_view key, std::uint64_t fallback, std::uint64_t min = 0,
                     std::uint64_t max = UINT64_MAX);
  std::optional<Endpoint> endpoint(std::string_view key);
  std::optional<Endpoint> required_endpoint(std::string_view key);
  std::optional<Cidr> cidr(std::string_view key);
  std::vector<std::string> string_array(std::string_view key);
  std::vector<std::int64_t> integer_array(std::string_view key, std::int64_t min, std::int64_t max);
  /// A string (or an array of strings) — handy for keys like `bind` that take one or many.
  std::vector<std::string> string_or_array(std::string_view key);

  /// A string chosen from `names`; anything else is a diagnostic listing the valid names.
  template <typename E>
  E enumeration(std::string_view key, E fallback,
                std::initializer_list<std::pair<std::string_view, E>> names);

  /// A sub-table; nullopt when absent (or not a table, which is a diagnostic).
  std::optional<TableReader> table(std::string_view key);
  /// An array of tables (`[[key]]`); empty when absent.
  std::vector<TableReader> tables(std::string_view key);
  /// Marks `key` as read and returns its node for custom parsing (nullptr when absent).
  const toml::node* raw(std::string_view key);

  /// A diagnostic positioned at `key` (or at this table when the key is absent).
  void error(std::string_view key, std::string message);
  /// A diagnostic positioned at this table.
  void error_here(std::string message);
  /// Reports every key of this table that no getter asked for. Call once, after reading.
  void reject_unknown_keys();

  Diagnostics& diagnostics() { return *diags_; }
  SourcePosition position_of(const toml::node& node) const;

 private:
  const toml::node* lookup(std::string_view key);
  std::string child_path(std::string_view key) const;
  void type_error(std::string_view key, const toml::node& node, std::string_view expected);

  const toml::table* table_;
  std::string path_;
  std::string file_;
  Diagnostics* diags_;
  std::shared_ptr<std::set<std::string, std::less<>>> seen_;
};

/// A parsed TOML file. Syntax errors go to the diagnostics and leave an empty root table.
class Document {
 public:
  static Document parse_file(const std::string& path, Diagnostics& diags);
  static Document parse_string(std::string_view text, std::string name, Diagnostics& diags);

  TableReader root() { return TableReader(*table_, "", file_, *diags_); }
  const std::string& file() const { return file_; }

 private:
  Document(std::unique_ptr<toml::table> table, std::string file, Diagnostics& diags)
      : table_(std::move(table)), file_(std::move(file)), diags_(&diags) {}

  std::unique_ptr<toml::table> table_;
  std::string file_;
  Diagnostics* diags_;
};

/// Parses the TOML file at `path` (or `text`, named `name` in diagnostics) and reads it with
/// `read(root, file)`, which reports every problem to `diags`. A file that is not valid TOML gives
/// a default-constructed T: the diagnostics say why, and a caller must not use the result.
template <typename T, typename Read>
T load_file(const std::string& path, Diagnostics& diags, Read&& read) {
  auto doc = Document::parse_file(path, diags);
  if (!diags.empty()) return T{};
  return read(doc.root(), path);
}
template <typename T, typename Read>
T load_string(std::string_view text, const std::string& name, Diagnostics& diags, Read&& read) {
  auto doc = Document::parse_string(text, name, diags);
  if (!diags.empty()) return T{};
  return read(doc.root(), name);
}

template <typename E>
E TableReader::enumeration(std::string_view key, E fallback,
                           std::initializer_list<std::pair<std::string_view, E>> names) {
  const toml::node* node = lookup(key);
  if (node == nullptr) return fallback;
  const auto* value = node->as_string();
  if (value != nullptr) {
    for (const auto& [name, e] : names) {
      if (value->get() == name) return e;
    }
  }
  std::string valid;
  for (const auto& [name, e] : names) {
    valid += valid.empty() ? "" : ", ";
    valid += "\"" + std::string(name) + "\"";
  }
  diags_->add(position_of(*node), child_path(key),
              value ? "unknown value \"" + value->get() + "\"; expected one of " + valid
                    : "expected one of " + valid);
  return fallback;
}

}  // namespace lb::config
