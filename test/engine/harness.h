/* harness.h - drives one engine environment from its owner thread.
 *
 * th_env wraps a cd_env: its notify callback (called from worker threads)
 * signals a condition variable; th_pump() waits for it, then drains the
 * environment with cd_env_poll_begin/cd_env_poll and files every event under
 * its request (th_req), checking the per-request protocol as it goes:
 *   - events carry the slot and request pointer of a live request,
 *   - HEADERS (1xx blocks, then one final block) before any DATA,
 *   - exactly one terminal event (END, ERROR, ABORTED), nothing after it,
 *   - END only after final headers; ERROR flags consistent with what was
 *     delivered; cd_env_poll never returns more than asked,
 *   - CD_EV_TIMINGS only for CD_REQ_TIMINGS requests, at most once, with a
 *     payload of one cd_timings, and immediately followed by the terminal
 *     event,
 *   - notify is never called twice without a cd_env_poll_begin in between,
 *     never from the owner thread, and is never lost (a pump that times out
 *     looks for undelivered events and fails if they were not announced).
 * Any violation fails the test at once (cd_test_fail).
 *
 * Unless th_req.no_release is set, the harness calls cd_request_release
 * right after the terminal event has been filed.
 */
#ifndef CD_TEST_HARNESS_H
#define CD_TEST_HARNESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "server.h"

typedef struct th_env th_env;
typedef struct th_req th_req;

/* Called on the owner thread after the event has been filed in r and before
 * it is freed (and before auto-release for a terminal event). */
typedef void (*th_event_cb)(th_env *t, th_req *r, const cd_event *ev);

struct th_req {
  th_env *t;
  cd_request *req;
  uint32_t slot;

  /* set by the test */
  int keep_body;        /* keep the body bytes in body/body_len */
  int check_pattern;    /* body must be ts_pattern() from offset 0 */
  int no_release;       /* the test calls th_release itself */
  int raw;              /* CD_REQ_RAW: DATA carries raw bytes, no HEADERS */
  th_event_cb on_event;
  void *data;           /* for the test */
  uint64_t u64[4];      /* scratch for the test */

  /* filled by the harness */
  int nevents;
  int ninfo;            /* 1xx header blocks seen */
  int info_status[8];
  char *info_head;      /* first 1xx block */
  size_t info_head_len;
  int status;           /* final status, 0 until seen */
  int version;
  char *head;           /* final header block */
  size_t head_len;
  int head_facts;       /* its CD_HEAD_* facts (HEADERS' c) */
  int keepalive_hint;   /* its Keep-Alive hint in ms, or -1 (HEADERS' d) */
  int ndata;
  int nbody_wanted;
  int nconnected;       /* CONNECTED events (0 or 1) */
  int nconnecting;      /* CONNECTING events (0 or 1, CD_REQ_SENDING only) */
  int nsending;         /* SENDING events (CD_REQ_SENDING only) */
  char sending[256];    /* the last SENDING payload, NUL-terminated */
  int sending_tls;      /* its `a` */
  uint64_t body_bytes;
  uint8_t *body;
  size_t body_len, body_cap;
  int terminal;         /* 0 or CD_EV_END / CD_EV_ERROR / CD_EV_ABORTED */
  int err_a, err_b, err_c, err_d;
  int err_curl;         /* ERROR: the CURLcode in d (d >> CD_ERRF_CURL_CODE_SHIFT), or 0 */
  char *term_data;      /* END: trailers; ERROR: message (NUL-terminated) */
  size_t term_len;
  int flags;            /* the CD_REQ_* flags it was submitted with */
  int ntimings;         /* CD_EV_TIMINGS events (0, or 1 with CD_REQ_TIMINGS) */
  cd_timings timings;   /* the last CD_EV_TIMINGS payload */
  int timings_last;     /* the previous event was CD_EV_TIMINGS */
  uint64_t t_submit, t_headers, t_first_data, t_last_data, t_terminal; /* ms */
  int released;
  int detached;         /* unfinished when its environment was detached */
};

struct th_env {
  cd_engine *eng;
  cd_env *env;
  pthread_t owner;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int notified;
  atomic_int notify_calls;
  atomic_int since_begin;
  atomic_int double_notify;
  atomic_int notify_on_owner;
  atomic_long begins_started;    /* bumped just before cd_env_poll_begin */
  th_req **reqs;
  size_t nreqs, cap;
  uint32_t slot_base;
  size_t outstanding;   /* submitted, terminal not yet seen */
  long connected;       /* CONNECTED events */
  long disconnected;    /* DISCONNECTED events */
  uint32_t last_disconnect_tag;
  size_t poll_max;      /* max events per cd_env_poll call (default 64) */
  uint64_t events;
  const char *name;     /* for messages */
  /* landings given (th_give_landings), by worker and id, and how many
   * DATA events came in one */
  char *landing_mem[4][CD_LANDINGS];
  long landed;
};

/* Attaches the calling thread. Fails the test on error. */
th_env *th_attach(cd_engine *eng, const char *name);
/* Detaches, then releases every request not released yet (as engine.h
 * asks: unfinished ones were dropped by their workers, finished ones may
 * still be held), and frees the th_req objects. */
void th_detach(th_env *t);

/* Fills slot/url/origin/method and submits. `base` may be NULL. */
th_req *th_submit(th_env *t, cd_config *cfg, const ts_server *srv,
                  const char *method, const char *path,
                  const cd_request_opts *base);
/* Submits with fully specified options (slot is overwritten). */
th_req *th_submit_opts(th_env *t, cd_config *cfg, const cd_request_opts *o);
/* GET /hello to 127.0.0.1 on a port nobody listens on (a refused
 * connection), with `base`'s other options (may be NULL). */
th_req *th_submit_refused(th_env *t, cd_config *cfg, const cd_request_opts *base);

void th_write(th_env *t, th_req *r, const void *data, size_t len, int end);
/* Gives worker `worker` (< 4) landings 0..count-1 of CD_LANDING_CAP bytes,
 * as lib/native.js does; each landed DATA event gives its landing back. */
void th_give_landings(th_env *t, unsigned worker, unsigned count);
void th_release(th_req *r);

/* Waits up to timeout_ms for a notification, then drains. Returns the
 * number of events handled. */
size_t th_pump(th_env *t, unsigned timeout_ms);
/* Pumps for about ms milliseconds, whatever happens. */
void th_pump_for(th_env *t, unsigned ms);
/* Pumps until r has its terminal event; fails the test after timeout_ms. */
void th_wait(th_env *t, th_req *r, unsigned timeout_ms);
/* Pumps until every submitted request has its terminal event. */
void th_wait_all(th_env *t, unsigned timeout_ms);
/* Pumps until pred(t, arg) is true; returns 1, or 0 on timeout. */
int th_wait_until(th_env *t, int (*pred)(th_env *, void *), void *arg,
                  unsigned timeout_ms);

/* Waits (without pumping) until the engine counters for requests,
 * transfers, events and commands are all zero; fails after timeout_ms. */
/* Waits until the engine holds no requests, transfers, events or commands,
 * draining `t` (may be NULL) meanwhile. */
void th_expect_idle(cd_engine *eng, th_env *t, unsigned timeout_ms);
void th_print_stats(cd_engine *eng, const char *when);

/* A config with everything at its default. */
cd_config *th_config_default(void);

/* Common fixture: engine with 2 workers, one server, one env, one config. */
typedef struct th_fx {
  cd_engine *eng;
  ts_server *srv;
  th_env *t;
  cd_config *cfg;
} th_fx;

void th_fx_begin(th_fx *fx, unsigned workers);
/* Waits for the outstanding requests, checks that the server never saw
 * Expect: and (unless allow_accept) Accept:, releases the config, detaches,
 * checks that the engine is idle, stops the server, releases the engine. */
void th_fx_end(th_fx *fx, int allow_accept);

/* Check helpers */
void th_expect_end(const th_req *r, int status);
void th_expect_body(const th_req *r, const void *data, size_t len);
void th_expect_error(const th_req *r, int code);
const char *th_ev_name(int type);

#endif /* CD_TEST_HARNESS_H */
