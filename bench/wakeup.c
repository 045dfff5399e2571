/* bench/wakeup.c - what one cross-thread round trip costs on this machine.
 *
 * Two threads, each sleeping in poll() on an eventfd, bounce a token back
 * and forth: the round trip is what a request pays, beyond its own socket
 * I/O, when it goes from the JS thread to a worker and its answer comes
 * back (the engine's two wakeups: the worker's, then the JS thread's).
 * With one request in flight nothing is batched, so this bounds the serial
 * latency of any threaded client against a single-threaded one.
 *
 *   gcc -std=c11 -O2 -pthread bench/wakeup.c -o /tmp/wakeup && /tmp/wakeup
 *
 * Prints the median, p90 and p99 of 20 000 round trips in microseconds.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 20000

static int to_peer, to_main;

static void wait_token(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  uint64_t v;
  while (poll(&p, 1, -1) != 1) {}
  if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v)) abort();
}

static void send_token(int fd) {
  uint64_t v = 1;
  if (write(fd, &v, sizeof(v)) != (ssize_t)sizeof(v)) abort();
}

static void *peer(void *arg) {
  (void)arg;
  for (int i = 0; i < ROUNDS; i++) {
    wait_token(to_peer);
    send_token(to_main);
  }
  return NULL;
}

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(void) {
  to_peer = eventfd(0, 0);
  to_main = eventfd(0, 0);
  if (to_peer < 0 || to_main < 0) return 1;
  pthread_t t;
  if (pthread_create(&t, NULL, peer, NULL) != 0) return 1;
  static double rt[ROUNDS];
  for (int i = 0; i < ROUNDS; i++) {
    double t0 = now_us();
    send_token(to_peer);
    wait_token(to_main);
    rt[i] = now_us() - t0;
  }
  pthread_join(t, NULL);
  qsort(rt, ROUNDS, sizeof(rt[0]), by_value);
  printf("cross-thread round trip (eventfd + poll): p50 %.1f us, p90 %.1f us, p99 %.1f us\n",
         rt[ROUNDS / 2], rt[ROUNDS * 9 / 10], rt[ROUNDS * 99 / 100]);
  return 0;
}
