// The SIGBUS guard: a page of a mapped file that was truncated away raises SIGBUS on access;
// inside RunGuarded that is turned into a `false` return instead of the death of the process.
// Used by codec.cc (an entry inflated from a mapped archive, on the worker threads of work.cc)
// and addon.cc (column sums over a mapping, on the JS thread). No V8 here.
#pragma once

namespace shmarray {
namespace guard {

// Runs fn(arg) with SIGBUS caught on this thread: returns false if a mapped page vanished
// (the file was truncated) while fn ran. fn must hold no locks and own no C++ objects with
// destructors: a fault leaves it by siglongjmp.
bool RunGuarded(void (*fn)(void*), void* arg);

}  // namespace guard
}  // namespace shmarray
