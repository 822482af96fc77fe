// LD_PRELOAD diagnostic for the GPU machine, which has no gdb.
// - Logs every handler installed by sigaction()/signal() with the module of the handler and of
//   the caller (who installs what, e.g. a SIGCHLD handler of a library later unloaded).
// - On SIGSEGV/SIGABRT/SIGBUS: prints the faulting address, the instruction pointer and its
//   module, the SIGCHLD disposition, the frames backtrace() can unwind, and the code addresses
//   found on the stack (a poor man's unwind for a jump to an address without unwind information),
//   then dies as it would have.
// Build: cc -shared -fPIC -O1 -o segv_trace.so segv_trace.c -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <execinfo.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static void say(const char* text, int n) {
  if (n > 0) (void)!write(2, text, (size_t)(n < 1024 ? n : 1023));
}

static const char* module_of(const void* p, unsigned long* offset, const char** symbol) {
  Dl_info where;
  memset(&where, 0, sizeof where);
  *offset = 0;
  if (symbol) *symbol = 0;
  if (!dladdr(p, &where) || !where.dli_fname) return 0;
  *offset = (unsigned long)((const char*)p - (const char*)where.dli_fbase);
  if (symbol) *symbol = where.dli_sname;
  return where.dli_fname;
}

static void on_fault(int sig, siginfo_t* info, void* context) {
  char line[1024];
  const ucontext_t* uc = (const ucontext_t*)context;
  const void* ip = (const void*)uc->uc_mcontext.gregs[REG_RIP];
  const uintptr_t* sp = (const uintptr_t*)uc->uc_mcontext.gregs[REG_RSP];
  unsigned long off = 0;
  const char* mod = module_of(ip, &off, 0);
  struct sigaction chld;
  syscall(SYS_rt_sigaction, SIGCHLD, 0, &chld, 8);
  unsigned long hoff = 0;
  const char* hmod = module_of((const void*)chld.sa_handler, &hoff, 0);
  say(line,
      snprintf(line, sizeof line,
               "\n== segv_trace: pid %d tid %ld signal %d code %d, fault address %p, rip %p in %s (+%#lx), "
               "rsp %p, SIGCHLD handler %p in %s (+%#lx)\n",
               (int)getpid(), (long)syscall(SYS_gettid), sig, info->si_code, info->si_addr, ip,
               mod ? mod : "no module", off, (const void*)sp, (void*)chld.sa_handler,
               hmod ? hmod : "no module", hoff));
  void* frames[64];
  backtrace_symbols_fd(frames, backtrace(frames, 64), 2);
  say(line, snprintf(line, sizeof line, "== segv_trace: code addresses on the stack:\n"));
  int shown = 0;
  for (int i = 0; i < 1024 && shown < 40; ++i) {
    const void* v = (const void*)sp[i];
    const char* sym = 0;
    const char* m = module_of(v, &off, &sym);
    if (!m || strstr(m, "segv_trace")) continue;
    ++shown;
    say(line, snprintf(line, sizeof line, "  [rsp+%#x] %s(+%#lx) %s\n", i * 8, m, off, sym ? sym : ""));
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

typedef int (*sigaction_fn)(int, const struct sigaction*, struct sigaction*);
typedef sighandler_t (*signal_fn)(int, sighandler_t);

static void log_install(const char* how, int sig, const void* handler, const void* caller) {
  if (handler == (const void*)SIG_DFL || handler == (const void*)SIG_IGN || handler == 0) return;
  char line[1024];
  unsigned long hoff = 0, coff = 0;
  const char* hmod = module_of(handler, &hoff, 0);
  const char* cmod = module_of(caller, &coff, 0);
  say(line, snprintf(line, sizeof line, "== segv_trace: pid %d %s(%d) handler %p %s(+%#lx) from %s(+%#lx)\n",
                     (int)getpid(), how, sig, handler, hmod ? hmod : "?", hoff, cmod ? cmod : "?", coff));
}

// SEGV_TRACE_NO_CHLD=1: a SIGCHLD handler is not installed (the call succeeds and does nothing),
// to test whether a library's SIGCHLD handler is what faults.
static int refused(int sig, sighandler_t handler) {
  const char* no_chld = getenv("SEGV_TRACE_NO_CHLD");
  return sig == SIGCHLD && no_chld && no_chld[0] == '1' && handler != SIG_DFL && handler != SIG_IGN;
}

int sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  static sigaction_fn next;
  if (!next) next = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
  if (act && act->sa_handler != (sighandler_t)on_fault)
    log_install("sigaction", sig, (const void*)act->sa_handler, __builtin_return_address(0));
  if (act && refused(sig, act->sa_handler)) return next(sig, 0, old);
  return next(sig, act, old);
}

sighandler_t signal(int sig, sighandler_t handler) {
  static signal_fn next;
  if (!next) next = (signal_fn)dlsym(RTLD_NEXT, "signal");
  if (handler != (sighandler_t)on_fault)
    log_install("signal", sig, (const void*)handler, __builtin_return_address(0));
  if (refused(sig, handler)) return SIG_DFL;
  return next(sig, handler);
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
