// lb::Error and lb::Result: the error type of every fallible call outside the Asio data plane.
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace lb {

/// A failure with a human-readable message meant for logs and operators.
struct Error {
  std::string message;
};

template <typename T>
using Result = std::expected<T, Error>;

/// Shorthand for `std::unexpected(Error{...})` in return statements.
inline std::unexpected<Error> fail(std::string message) {
  return std::unexpected(Error{std::move(message)});
}

}  // namespace lb
