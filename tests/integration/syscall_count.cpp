#include "tests/integration/syscall_count.hpp"

#include <dlfcn.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstdarg>

namespace {

thread_local lbtest::SyscallCounts counts;

template <typename F>
F next_symbol(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

}  // namespace

namespace lbtest {

SyscallCounts thread_syscalls() { return counts; }

}  // namespace lbtest

// Definitions in the program take precedence over libc's: these count, then call the next
// definition (libc's, or a sanitizer's interceptor).
extern "C" int epoll_ctl(int epfd, int op, int fd, epoll_event* event) noexcept {
  static const auto real = next_symbol<int (*)(int, int, int, epoll_event*)>("epoll_ctl");
  if (op == EPOLL_CTL_ADD) ++counts.epoll_add;
  if (op == EPOLL_CTL_MOD) ++counts.epoll_mod;
  if (op == EPOLL_CTL_DEL) ++counts.epoll_del;
  return real(epfd, op, fd, event);
}

extern "C" int ioctl(int fd, unsigned long request, ...) noexcept {
  static const auto real = next_symbol<int (*)(int, unsigned long, void*)>("ioctl");
  va_list args;
  va_start(args, request);
  void* arg = va_arg(args, void*);
  va_end(args);
  if (request == FIONBIO) ++counts.fionbio;
  return real(fd, request, arg);
}

extern "C" ssize_t recv(int fd, void* buf, size_t n, int flags) {
  static const auto real = next_symbol<ssize_t (*)(int, void*, size_t, int)>("recv");
  ++counts.recv;
  return real(fd, buf, n, flags);
}
