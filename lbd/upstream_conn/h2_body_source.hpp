// The body bytes of one HTTP/2 stream that wait for the peer's flow-control window, and the work
// of nghttp2's data-source read callback over them: both HTTP/2 sessions of lbd send bodies
// this way (request bodies to a backend, response bodies to a client). Without I/O;
// single-threaded (the owning session's).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

struct nghttp2_session;

namespace lbd::proxy {

/// One HTTP/2 field; the name is lower case (HTTP/2 requires it).
struct H2Field {
  std::string name;
  std::string value;
};

class H2BodySource {
 public:
  /// Bytes queued and not yet taken by nghttp2.
  std::size_t pending() const { return out_.size() - off_; }
  /// No bytes follow those queued (end() or abandon() was called).
  bool ended() const { return end_; }

  /// Queues `bytes` (the session bounds how many).
  void append(std::span<const std::uint8_t> bytes);
  /// No bytes follow those queued; `trailers` (when not empty) go out after them.
  void end(std::vector<H2Field> trailers);
  /// Drops what is queued and ends: the stream is about to be reset.
  void abandon();
  /// After append() or end(): when the read callback had deferred the stream, tells nghttp2 to
  /// call it again.
  void resume(nghttp2_session* session, std::int32_t stream);

  /// The read callback's work for `stream`: copies up to `buf.size()` queued bytes into `buf`
  /// and returns how many. When nothing is left and end() was called it sets
  /// NGHTTP2_DATA_FLAG_EOF in `flags` and submits the trailers (then NO_END_STREAM too: the
  /// trailers' HEADERS frame ends the stream); when nothing is queued yet it returns
  /// NGHTTP2_ERR_DEFERRED (resume() undoes that).
  ssize_t read(nghttp2_session* session, std::int32_t stream, std::span<std::uint8_t> buf,
               std::uint32_t& flags);

 private:
  std::string out_;  // out_[off_, size) waits for the window
  std::size_t off_ = 0;
  bool end_ = false;
  bool deferred_ = false;
  std::vector<H2Field> trailers_;
};

}  // namespace lbd::proxy
