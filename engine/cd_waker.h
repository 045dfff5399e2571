/* cd_waker.h - waking a worker parked in curl_multi_poll.
 *
 * A leaf (libcurl only). The pattern is libuv's uv_async_send: the waking
 * side reads `parked` cheaply, claims the wakeup with an exchange, and makes
 * the expensive call (curl_multi_wakeup, a write to a pipe) only when the
 * worker is really parked and nobody has woken it yet.
 *
 * Ownership: embedded in its worker. Threading: cd__waker_wake from any
 * thread; park/unpark on the worker's thread only.
 */
#ifndef CD_WAKER_H
#define CD_WAKER_H

#include <stdatomic.h>

#include <curl/curl.h>

typedef struct cd__waker {
  CURLM *multi;                /* the worker's multi handle (only wakeup is used here) */
  atomic_int parked;           /* inside curl_multi_poll, or about to be */
  atomic_int wake_pending;     /* a wakeup was sent since parking */
} cd__waker;

/* Any thread: wakes the worker if it is parked. The fence pairs with the
 * one in cd__waker_park: either the worker sees what the caller published
 * before this call, or the caller sees `parked` and wakes it. */
static inline void cd__waker_wake(cd__waker *k) {
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&k->parked, memory_order_relaxed) &&
      !atomic_exchange(&k->wake_pending, 1))
    curl_multi_wakeup(k->multi);
}

/* Worker: about to park. Check for work after this call, then poll. */
static inline void cd__waker_park(cd__waker *k) {
  atomic_store(&k->parked, 1);
  atomic_thread_fence(memory_order_seq_cst);
}

/* Worker: back from polling. */
static inline void cd__waker_unpark(cd__waker *k) {
  atomic_store(&k->parked, 0);
  atomic_store(&k->wake_pending, 0);
}

/* Any thread: wakes the worker whether it is parked or not (shutdown,
 * configuration changes). */
static inline void cd__waker_kick(cd__waker *k) {
  curl_multi_wakeup(k->multi);
}

#endif /* CD_WAKER_H */
