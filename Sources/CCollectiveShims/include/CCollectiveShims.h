// Cross-process atomics and futex waits on shared memory, for the collective's same-node links.
#ifndef C_COLLECTIVE_SHIMS_H
#define C_COLLECTIVE_SHIMS_H

#include <stdint.h>
#include <errno.h>
#include <time.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

/// Sequentially consistent load and store: a waiter's flag and a waker's counter must not pass
/// each other (the waker stores the counter, then reads the flag; the waiter the reverse).
static inline uint32_t swiftray_shared_load(const uint32_t *word) {
    return __atomic_load_n(word, __ATOMIC_SEQ_CST);
}

static inline void swiftray_shared_store(uint32_t *word, uint32_t value) {
    __atomic_store_n(word, value, __ATOMIC_SEQ_CST);
}

static inline void swiftray_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// Sleeps while `*word == expected`, at most `timeout_ms`; returns at once if it differs. Where
/// there is no futex, sleeps a short while instead (the caller re-checks either way).
static inline void swiftray_shared_wait(uint32_t *word, uint32_t expected, int timeout_ms) {
#if defined(__linux__)
    struct timespec timeout = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L };
    syscall(SYS_futex, word, FUTEX_WAIT, expected, &timeout, NULL, 0);
#else
    (void)word; (void)expected; (void)timeout_ms;
    struct timespec pause = { 0, 50000 };
    nanosleep(&pause, NULL);
#endif
}

/// Wakes every process waiting on `word`.
static inline void swiftray_shared_wake(uint32_t *word) {
#if defined(__linux__)
    syscall(SYS_futex, word, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0);
#else
    (void)word;
#endif
}

#endif
