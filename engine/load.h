/* load.h - public interface of the engine's load generator.
 *
 * A load run sends requests from a list of templates, cycled in order,
 * over a number of connections spread across the engine's workers, for a
 * duration or an amount, as fast as the server answers or at a fixed
 * rate. Its loop, its latency histogram (cd_hdr.h) and its counters live
 * on the workers: the owner only starts a run, reads merged snapshots
 * (cd_load_read, e.g. once per second) and frees it. No request of a run
 * produces an event.
 *
 * Each worker used runs a "part" of the run: its share of the connections
 * (and of the amount), each connection one reused curl easy handle (with
 * `pipelining` > 1 on HTTP/2, that many handles multiplexed as streams),
 * re-armed from the next template as soon as its request ends. The easy
 * handles get the same libcurl options as the Agent's transfers for the
 * config's TLS, proxy, Unix socket and timeouts (cd__options_config)
 * and use the config's per-worker connection cache.
 *
 * With a rate, request k of slot j of a run with S slots is due at
 * start + (j + k * S) / rate: a slot whose previous request is still out
 * sends as soon as it ends, and latency counts from the due instant, not
 * from the send (coordinated-omission correction, wrk2's method). Without
 * a rate, latency counts from the send.
 *
 * Threading: every call on the owner thread (any one thread), except that
 * `done` is called from a worker thread.
 */
#ifndef CD_LOAD_PUBLIC_H
#define CD_LOAD_PUBLIC_H

#include <stddef.h>
#include <stdint.h>

#include "cd_hdr.h"
#include "engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cd_load cd_load;

/* One request to send. Strings are copied by cd_load_start. */
typedef struct cd_load_template {
  const char *url;        /* absolute http(s) URL */
  const char *method;     /* NULL: GET (with a body too: never POST unless asked) */
  const char *headers;    /* "Name: value\n" lines, or NULL */
  size_t headers_len;
  const void *body;       /* request body, or NULL */
  size_t body_len;
} cd_load_template;

/* How a request failed (curl's result and the OS error, classified). */
enum cd_load_error_kind {
  CD_LOAD_ERR_REFUSED = 0, /* connection refused (ECONNREFUSED) */
  CD_LOAD_ERR_TIMEOUT = 1, /* no complete answer within timeout_ms, or connect timeout */
  CD_LOAD_ERR_TLS = 2,     /* handshake or certificate failure */
  CD_LOAD_ERR_DNS = 3,     /* the host (or proxy) name did not resolve */
  CD_LOAD_ERR_RESET = 4,   /* the connection was reset or closed before the answer ended */
  CD_LOAD_ERR_OTHER = 5,
  CD_LOAD_ERR_KINDS = 6
};

typedef void (*cd_load_done_fn)(void *ctx);

typedef struct cd_load_opts {
  const cd_load_template *templates; /* at least one */
  size_t templates_len;
  unsigned connections;   /* >= 1, in total over every worker */
  unsigned pipelining;    /* requests in flight per connection: HTTP/2 streams; 0 or 1
                           * for HTTP/1.1 (libcurl has no HTTP/1.1 pipelining) */
  unsigned threads;       /* workers to spread the connections over; capped by the
                           * engine's pool (cd_engine_ensure_workers first) and by
                           * `connections` */
  uint64_t duration_ms;   /* stop starting requests after this long (in-flight ones are
                           * dropped, uncounted); 0: no limit */
  uint64_t amount;        /* send exactly this many requests in total; 0: no limit.
                           * One of duration_ms and amount must be set. */
  double rate;            /* requests per second over the whole run; 0: as fast as answered */
  uint32_t timeout_ms;    /* per request, from its send; 0: none */
  int http_version;       /* enum cd_http_version */
  int flags;              /* CD_REQ_PROXY: through the config's proxy */
  cd_load_done_fn done;   /* called once, from a worker, when every part has ended; may be NULL */
  void *done_ctx;
} cd_load_opts;

/* Errors of cd_load_start. */
enum cd_load_start_error {
  CD_LOAD_OK = 0,
  CD_LOAD_EINVAL = 1,      /* options out of range */
  CD_LOAD_ENOMEM = 2,
  CD_LOAD_EH2C = 3,        /* HTTP/2 prior knowledge on a libcurl before 8.0 (cd_transfer.c) */
  CD_LOAD_ENOWORKERS = 4   /* the engine has no worker */
};

#define CD_LOAD_MESSAGE_MAX 256

/* Counters of a run, summed over its parts. */
typedef struct cd_load_counts {
  uint64_t sent;          /* requests handed to libcurl */
  uint64_t completed;     /* responses received in full (any status) */
  uint64_t status[6];     /* completed by class: [1]..[5] = 1xx..5xx, [0] others */
  uint64_t bytes;         /* response bytes received: header blocks and bodies */
  uint64_t errors;        /* requests that failed (every kind, timeouts included) */
  uint64_t error_kinds[CD_LOAD_ERR_KINDS];
  uint64_t inflight;      /* sent and not yet ended */
  uint64_t elapsed_us;    /* since the start; frozen when the run has finished */
  int finished;           /* every part has ended */
  int first_error_kind;   /* of the first failure seen by any part, or -1 */
  int first_error_code;   /* its CURLcode */
  char first_error[CD_LOAD_MESSAGE_MAX]; /* its message ("" when none) */
} cd_load_counts;

/* Completed responses by exact status code, 100..599 (index code - 100). */
#define CD_LOAD_CODES 500

/* Starts a run on the config's behalf (the run holds a config reference
 * until cd_load_free). Returns NULL and sets *error when it cannot. */
cd_load *cd_load_start(cd_engine *engine, cd_config *config, const cd_load_opts *opts, int *error);

/* Asks every part to stop now: nothing more is sent, requests in flight
 * are dropped uncounted. `done` follows. */
void cd_load_stop(cd_load *load);

/* A snapshot of the run, at most a few tens of milliseconds old (each part
 * publishes its counters every CD__LOAD_PUBLISH_MS and when it ends; once
 * `finished` the snapshot is final). `latency`, if not NULL, is reset and
 * receives the merged latency histogram; `codes`, if not NULL, receives
 * CD_LOAD_CODES counts. */
void cd_load_read(cd_load *load, cd_load_counts *counts, cd_hdr *latency, uint64_t *codes);

/* Stops the run if it is still going, waits until every worker has let go
 * of it (at most one loop turn each), and frees it. */
void cd_load_free(cd_load *load);

#ifdef __cplusplus
}
#endif

#endif /* CD_LOAD_PUBLIC_H */
