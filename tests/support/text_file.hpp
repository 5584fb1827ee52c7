// Reading files the daemons write (access logs, their own logs) in tests: the whole text, or
// its complete lines.
#pragma once

#include <string>
#include <vector>

namespace lbtest {

/// The whole file; empty when it does not exist or cannot be read.
std::string read_text(const std::string& path);

/// The file's lines without their "\n"; a last line not yet ended by "\n" (a writer mid-way)
/// is left out. Empty when the file does not exist.
std::vector<std::string> read_lines(const std::string& path);

}  // namespace lbtest
