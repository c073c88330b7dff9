// See guard.h. SIGBUS from a memory access is delivered to the thread that made it, so a
// thread-local jump buffer says whether the fault is ours (inside RunGuarded) and where to go back
// to; any other SIGBUS goes to whoever handled it before (by default: the process dies, as it would
// have without shmarray). Tested by test/native.test.ts and test/gzip.test.ts (files truncated
// under a mapping: ERR_SHM_IO, never SIGBUS), under both runtimes and every Node version supported.
#include "guard.h"

#include <setjmp.h>
#include <signal.h>
#include <string.h>

#include <mutex>

namespace shmarray {
namespace guard {

namespace {

thread_local sigjmp_buf* jump_to = nullptr;
struct sigaction previous;

void OnSigbus(int sig, siginfo_t* info, void* context) {
  sigjmp_buf* jump = jump_to;
  if (jump != nullptr) siglongjmp(*jump, 1);
  if (previous.sa_flags & SA_SIGINFO) {
    if (previous.sa_sigaction != nullptr) previous.sa_sigaction(sig, info, context);
    return;
  }
  if (previous.sa_handler == SIG_DFL || previous.sa_handler == SIG_IGN) {
    // Put the default back and return: the access faults again and the process dies of SIGBUS.
    signal(SIGBUS, SIG_DFL);
    return;
  }
  previous.sa_handler(sig);
}

void InstallGuard() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = OnSigbus;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    sigaction(SIGBUS, &action, &previous);
  });
}

}  // namespace

bool RunGuarded(void (*fn)(void*), void* arg) {
  InstallGuard();
  sigjmp_buf jump;
  // savemask = 1: the jump back also restores the signal mask, so SIGBUS is not left blocked.
  if (sigsetjmp(jump, 1) != 0) {
    jump_to = nullptr;
    return false;
  }
  jump_to = &jump;
  fn(arg);
  jump_to = nullptr;
  return true;
}

}  // namespace guard
}  // namespace shmarray
