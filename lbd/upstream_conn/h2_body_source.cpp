#include "lbd/upstream_conn/h2_body_source.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>

namespace lbd::proxy {

void H2BodySource::append(std::span<const std::uint8_t> bytes) {
  out_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

void H2BodySource::end(std::vector<H2Field> trailers) {
  end_ = true;
  trailers_ = std::move(trailers);
}

void H2BodySource::abandon() {
  out_.clear();
  off_ = 0;
  end_ = true;
}

void H2BodySource::resume(nghttp2_session* session, std::int32_t stream) {
  if (!deferred_) return;
  deferred_ = false;
  nghttp2_session_resume_data(session, stream);
}

ssize_t H2BodySource::read(nghttp2_session* session, std::int32_t stream,
                           std::span<std::uint8_t> buf, std::uint32_t& flags) {
  const auto n = std::min(buf.size(), pending());
  if (n > 0) {
    std::memcpy(buf.data(), out_.data() + off_, n);
    off_ += n;
    if (off_ == out_.size()) {  // keeps the string's storage for the next bytes
      out_.clear();
      off_ = 0;
    }
  }
  if (pending() == 0 && end_) {
    flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!trailers_.empty()) {
      std::vector<nghttp2_nv> nv;
      nv.reserve(trailers_.size());
      for (auto& h : trailers_) {
        nv.push_back(nghttp2_nv{reinterpret_cast<std::uint8_t*>(h.name.data()),
                                reinterpret_cast<std::uint8_t*>(h.value.data()), h.name.size(),
                                h.value.size(), NGHTTP2_NV_FLAG_NONE});
      }
      if (nghttp2_submit_trailer(session, stream, nv.data(), nv.size()) == 0) {
        flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      }
    }
    return static_cast<ssize_t>(n);
  }
  if (n == 0) {
    deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

}  // namespace lbd::proxy
