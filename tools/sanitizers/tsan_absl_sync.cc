// ThreadSanitizer cannot see Debian's abseil synchronisation: libabsl_synchronization.so is
// not built with -fsanitize=thread, so absl::Mutex, CondVar and Notification give TSan no
// happens-before edges, and every field an absl::Mutex guards would be reported as a race.
// This library, LD_PRELOADed by tools/sanitize.sh into the TSan test binaries only, stands in
// for those functions: each calls the real one (dlsym RTLD_NEXT) and tells TSan what it did
// (__tsan_release before a mutex is given up, __tsan_acquire after it is taken), which is
// what abseil's own annotations do in an instrumented build. It changes no behaviour.
//
// The mangled names are those of Debian 12's abseil 20220623 (inline namespace "debian3");
// a missing one aborts at first use rather than silently losing the edges.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);

namespace {

template <typename Fn>
Fn Real(const char* mangled) {
  void* f = dlsym(RTLD_NEXT, mangled);
  if (f == nullptr) {
    std::fprintf(stderr, "tsan_absl_sync: %s not found in abseil\n", mangled);
    std::abort();
  }
  return reinterpret_cast<Fn>(f);
}

void Acquire(const void* p) { __tsan_acquire(const_cast<void*>(p)); }
void Release(const void* p) { __tsan_release(const_cast<void*>(p)); }

// abseil evaluates a Condition with the mutex held, but in whichever thread happens to hold
// it (the waiter, or the thread unlocking). The evaluation is wrapped so TSan sees it inside
// the mutex as well.
struct AnnotatedCondition {
  const absl::Condition* condition;
  const absl::Mutex* mu;
};

bool EvalAnnotated(AnnotatedCondition* c) {
  Acquire(c->mu);
  const bool result = c->condition->Eval();
  Release(c->mu);
  return result;
}

}  // namespace

// Declares `annotated`, a Condition that evaluates `c` as described above.
#define ANNOTATE(c)                                   \
  AnnotatedCondition annotated_arg{&(c), this};       \
  const absl::Condition annotated(&EvalAnnotated, &annotated_arg)

#define REAL(type, mangled) static const auto real = Real<type>(mangled)

namespace absl {
ABSL_NAMESPACE_BEGIN

using Cond = const Condition&;

void Mutex::Lock() {
  REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex4LockEv");
  real(this);
  Acquire(this);
}
void Mutex::ReaderLock() {
  REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex10ReaderLockEv");
  real(this);
  Acquire(this);
}
bool Mutex::TryLock() {
  REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex7TryLockEv");
  const bool locked = real(this);
  if (locked) Acquire(this);
  return locked;
}
bool Mutex::ReaderTryLock() {
  REAL(bool (*)(Mutex*), "_ZN4absl7debian35Mutex13ReaderTryLockEv");
  const bool locked = real(this);
  if (locked) Acquire(this);
  return locked;
}
void Mutex::Unlock() {
  REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex6UnlockEv");
  Release(this);
  real(this);
}
void Mutex::ReaderUnlock() {
  REAL(void (*)(Mutex*), "_ZN4absl7debian35Mutex12ReaderUnlockEv");
  Release(this);
  real(this);
}
void Mutex::LockWhen(Cond c) {
  REAL(void (*)(Mutex*, Cond), "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE");
  ANNOTATE(c);
  real(this, annotated);
  Acquire(this);
}
void Mutex::ReaderLockWhen(Cond c) {
  REAL(void (*)(Mutex*, Cond), "_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE");
  ANNOTATE(c);
  real(this, annotated);
  Acquire(this);
}
bool Mutex::LockWhenWithTimeout(Cond c, Duration d) {
  REAL(bool (*)(Mutex*, Cond, Duration),
       "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  ANNOTATE(c);
  const bool r = real(this, annotated, d);
  Acquire(this);  // held on return either way
  return r;
}
bool Mutex::LockWhenWithDeadline(Cond c, Time t) {
  REAL(bool (*)(Mutex*, Cond, Time),
       "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  ANNOTATE(c);
  const bool r = real(this, annotated, t);
  Acquire(this);
  return r;
}
bool Mutex::ReaderLockWhenWithTimeout(Cond c, Duration d) {
  REAL(bool (*)(Mutex*, Cond, Duration),
       "_ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  ANNOTATE(c);
  const bool r = real(this, annotated, d);
  Acquire(this);
  return r;
}
bool Mutex::ReaderLockWhenWithDeadline(Cond c, Time t) {
  REAL(bool (*)(Mutex*, Cond, Time),
       "_ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  ANNOTATE(c);
  const bool r = real(this, annotated, t);
  Acquire(this);
  return r;
}
void Mutex::Await(Cond c) {
  REAL(void (*)(Mutex*, Cond), "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE");
  Release(this);  // the mutex is given up while waiting
  ANNOTATE(c);
  real(this, annotated);
  Acquire(this);
}
bool Mutex::AwaitWithTimeout(Cond c, Duration d) {
  REAL(bool (*)(Mutex*, Cond, Duration),
       "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  ANNOTATE(c);
  Release(this);
  const bool r = real(this, annotated, d);
  Acquire(this);
  return r;
}
bool Mutex::AwaitWithDeadline(Cond c, Time t) {
  REAL(bool (*)(Mutex*, Cond, Time),
       "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  ANNOTATE(c);
  Release(this);
  const bool r = real(this, annotated, t);
  Acquire(this);
  return r;
}

void CondVar::Wait(Mutex* mu) {
  REAL(void (*)(CondVar*, Mutex*), "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE");
  Release(mu);
  real(this, mu);
  Acquire(mu);
}
bool CondVar::WaitWithTimeout(Mutex* mu, Duration d) {
  REAL(bool (*)(CondVar*, Mutex*, Duration),
       "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  Release(mu);
  const bool r = real(this, mu, d);
  Acquire(mu);
  return r;
}
bool CondVar::WaitWithDeadline(Mutex* mu, Time t) {
  REAL(bool (*)(CondVar*, Mutex*, Time),
       "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  Release(mu);
  const bool r = real(this, mu, t);
  Acquire(mu);
  return r;
}

// Notification::HasBeenNotified is inline: an acquire load of the atomic<bool> that follows
// the Mutex member, in instrumented code. Releasing on that address too makes it an edge.
namespace {
const void* NotifiedFlag(const Notification* n) {
  return reinterpret_cast<const char*>(n) + sizeof(Mutex);
}
}  // namespace

void Notification::Notify() {
  REAL(void (*)(Notification*), "_ZN4absl7debian312Notification6NotifyEv");
  Release(this);
  Release(NotifiedFlag(this));
  real(this);
}
void Notification::WaitForNotification() const {
  REAL(void (*)(const Notification*), "_ZNK4absl7debian312Notification19WaitForNotificationEv");
  real(this);
  Acquire(this);
}
bool Notification::WaitForNotificationWithTimeout(Duration d) const {
  REAL(bool (*)(const Notification*, Duration),
       "_ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE");
  const bool r = real(this, d);
  if (r) Acquire(this);
  return r;
}
bool Notification::WaitForNotificationWithDeadline(Time t) const {
  REAL(bool (*)(const Notification*, Time),
       "_ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE");
  const bool r = real(this, t);
  if (r) Acquire(this);
  return r;
}

ABSL_NAMESPACE_END
}  // namespace absl
