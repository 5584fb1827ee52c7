// Counts epoll_ctl, ioctl(FIONBIO) and recv calls made by the calling thread, to prove a path makes
// none. The integration test program defines both functions (they forward to libc), so every
// call in the process passes through the counters; each thread counts only its own.
#pragma once

#include <cstdint>

namespace lbtest {

struct SyscallCounts {
  std::uint64_t epoll_add = 0;
  std::uint64_t epoll_mod = 0;
  std::uint64_t epoll_del = 0;
  std::uint64_t fionbio = 0;
  std::uint64_t recv = 0;
  std::uint64_t epoll_ctl() const { return epoll_add + epoll_mod + epoll_del; }
};

/// This thread's counts since it started.
SyscallCounts thread_syscalls();

/// The calls this thread makes between construction and counts().
class SyscallCounter {
 public:
  SyscallCounter() : start_(thread_syscalls()) {}
  SyscallCounts counts() const {
    const auto now = thread_syscalls();
    return {now.epoll_add - start_.epoll_add, now.epoll_mod - start_.epoll_mod,
            now.epoll_del - start_.epoll_del, now.fionbio - start_.fionbio, now.recv - start_.recv};
  }

 private:
  SyscallCounts start_;
};

}  // namespace lbtest
