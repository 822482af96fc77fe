// LD_PRELOAD diagnostic for the GPU machine, which has no gdb: on SIGSEGV/SIGABRT/SIGBUS, prints
// the faulting address, the instruction pointer and the module it lies in, the SIGCHLD disposition,
// and the frames backtrace() can unwind ("module(+offset)", for addr2line), then dies as it would
// have. Build: cc -shared -fPIC -O1 -o segv_trace.so segv_trace.c -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

static void on_fault(int sig, siginfo_t* info, void* context) {
  char line[512];
  const ucontext_t* uc = (const ucontext_t*)context;
  const void* ip = (const void*)uc->uc_mcontext.gregs[REG_RIP];
  Dl_info where;
  memset(&where, 0, sizeof where);
  const int known = dladdr(ip, &where);
  struct sigaction chld;
  sigaction(SIGCHLD, 0, &chld);
  const int n = snprintf(line, sizeof line,
                         "\n== segv_trace: signal %d, fault address %p, rip %p in %s (+%#lx), SIGCHLD handler %p\n",
                         sig, info->si_addr, ip, known && where.dli_fname ? where.dli_fname : "no module",
                         known ? (unsigned long)((const char*)ip - (const char*)where.dli_fbase) : 0UL,
                         (void*)chld.sa_handler);
  if (n > 0) (void)!write(2, line, (size_t)n);
  void* frames[64];
  backtrace_symbols_fd(frames, backtrace(frames, 64), 2);
  signal(sig, SIG_DFL);
  raise(sig);
}

__attribute__((constructor)) static void install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
  sigaction(SIGSEGV, &sa, 0);
  sigaction(SIGBUS, &sa, 0);
  sigaction(SIGABRT, &sa, 0);
}
