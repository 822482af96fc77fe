// LD_PRELOAD diagnostic for the GPU machine, which has no gdb: on SIGSEGV/SIGABRT/SIGBUS, prints
// the faulting thread's frames ("module(+offset)") on stderr, for addr2line, then dies as it would
// have. Build: cc -shared -fPIC -O1 -o segv_trace.so segv_trace.c
#include <execinfo.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static void on_fault(int sig) {
  void* frames[64];
  const int n = backtrace(frames, 64);
  static const char head[] = "\n== segv_trace: fatal signal, frames:\n";
  (void)!write(2, head, sizeof head - 1);
  backtrace_symbols_fd(frames, n, 2);
  signal(sig, SIG_DFL);
  raise(sig);
}

__attribute__((constructor)) static void install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_fault;
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGSEGV, &sa, 0);
  sigaction(SIGBUS, &sa, 0);
  sigaction(SIGABRT, &sa, 0);
}
