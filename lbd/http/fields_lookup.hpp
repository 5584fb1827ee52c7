// Routing's view of a request's header fields held in Beast's container: the HTTP/1.1 session
// and the HTTP/2 streams both route with it (router.hpp stays free of Beast).
#pragma once

#include <optional>
#include <string_view>

#include <boost/beast/http/fields.hpp>

#include "lbd/http/http_rewrite.hpp"
#include "lbd/http/router.hpp"

namespace lbd::proxy {

/// `Fields`: a Beast field container (http::fields, or the L7 session's HeaderFields).
template <typename Fields>
class FieldsLookup final : public HeaderLookup {
 public:
  explicit FieldsLookup(const Fields& f) : f_(f) {}
  std::optional<std::string_view> header(std::string_view name) const override {
    auto it = f_.find(bsv(name));
    if (it == f_.end()) return std::nullopt;
    return sv(it->value());
  }

 private:
  const Fields& f_;
};

}  // namespace lbd::proxy
