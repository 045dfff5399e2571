/* cd_internal.h - structures shared by the engine's own files.
 *
 * Not a public header: the bridge and tests use engine.h only.
 */
#ifndef CD_INTERNAL_H
#define CD_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <ck_ring.h>
#include <curl/curl.h>
#include <urcu/list.h>
#include <urcu/urcu-memb.h>

#include "cd_timer.h"
#include "engine.h"

/* Ring sizes: power of two (ck_ring), one slot stays empty. */
#define CD_CMD_RING_SIZE 4096u
#define CD_EV_RING_SIZE 8192u

/* Events come from two per-channel pools, by payload size: the owner hands
 * them back through a free ring instead of free(). Cross-thread free() of
 * small events locked the worker's malloc arena (~12% of the JS thread's
 * time on 12-byte responses); freeing 64 KiB body events at the top of the
 * worker's arena made glibc trim and re-fault its heap (page faults were
 * ~15% of a 1 MiB download). */
#define CD_EVENT_SMALL 480u
#define CD_EVENT_LARGE (64u * 1024u)  /* = CURLOPT_BUFFERSIZE: curl's largest write */
#define CD_POOL_SMALL 0
#define CD_POOL_LARGE 1
#define CD_POOLS 2
#define CD_POOL_LARGE_RING 64u        /* at most 4 MiB of idle large events per channel */

/* Sockets one transfer may open while connecting (one per address tried). */
#define CD_MAX_OPENED 8


/* ---- commands (owner -> worker) -----------------------------------------
 * A command is a tagged pointer: the low bits say what it is. Requests and
 * chunks come from malloc, so the low 4 bits are free. */
enum cd_cmd_kind {
  CD_CMD_SUBMIT = 0,  /* cd_request *: start it */
  CD_CMD_RESUME = 1,  /* cd_request *: JS resumed; holds a request ref */
  CD_CMD_ABORT = 2,   /* cd_request *: drop it; holds a request ref */
  CD_CMD_BODY = 3     /* cd_chunk *: request body bytes; holds a request ref */
};
#define CD_CMD_TAG_MASK ((uintptr_t)0xF)

/* Request body bytes on their way to the read callback.
 * Ownership: allocated by the owner, then owned by the worker. */
typedef struct cd_chunk {
  struct cd_chunk *next;
  cd_request *req;
  size_t len;
  size_t off;    /* bytes already handed to curl */
  int end;       /* last chunk of the body */
  char data[];
} cd_chunk;

/* Owner-side queue of commands that did not fit in a full command ring.
 * Ownership: owner thread only. */
typedef struct cd_backlog_node {
  struct cd_backlog_node *next;
  void *cmd;
} cd_backlog_node;

/* ---- config -------------------------------------------------------------- */

/* Immutable after cd_config_new; shared by the owner and the workers running
 * the agent's transfers, kept alive by `refs`. */
struct cd_config {
  atomic_long refs;
  atomic_int closed;         /* the agent is done: drop its idle connections */
  uint64_t id;               /* unique per process, for per-agent limits */
  uint32_t tag;              /* the owner's id of the agent, echoed in connection events */
  long connect_timeout_ms;
  long keepalive_timeout_ms;
  unsigned connections;
  size_t max_header_size;
  int reject_unauthorized;
  struct curl_blob ca, cert, key;   /* data == NULL when unset */
  char *proxy_http, *proxy_https;   /* NULL: direct */
  struct curl_slist *proxy_headers; /* NULL when none */
  int proxy_tunnel;
  struct curl_blob proxy_ca;
  int proxy_reject_unauthorized;
  char *unix_socket_path;
  char *local_address;              /* curl's "host!ADDR" form */
  long happy_eyeballs_ms;
};

void cd_config_retain(cd_config *config);
/* Drops a transfer's or worker's reference (cd_config_release is the creator's). */
void cd_config_unref(cd_config *config);

/* ---- channel ----------------------------------------------------------------
 * The pair of rings between one environment and one worker.
 * Ownership: allocated by the owner (lazily, on first use of the worker),
 * freed by the owner in cd_env_detach after the worker acknowledged.
 * Threading: fields are marked [owner], [worker], or [atomic]. */
typedef struct cd_channel {
  ck_ring_t cmd_ring;               /* [owner produces, worker consumes] */
  ck_ring_buffer_t *cmd_buf;
  cd_backlog_node *backlog_head;    /* [owner] commands waiting for room */
  cd_backlog_node *backlog_tail;
  atomic_int cmd_blocked;           /* [atomic] owner has a backlog: worker notifies after draining */

  ck_ring_t ev_ring;                /* [worker produces, owner consumes] */
  ck_ring_buffer_t *ev_buf;
  ck_ring_t free_ring[CD_POOLS];    /* [owner produces, worker consumes] events to reuse */
  ck_ring_buffer_t *free_buf[CD_POOLS];
  int wake_deferred;                /* [owner] a command was pushed during a drain */
  cd_event *overflow_head;          /* [worker] events waiting for room */
  cd_event *overflow_tail;
  atomic_int ev_stalled;            /* [atomic] worker has overflow: owner wakes it after draining */
  int dirty;                        /* [worker] events pushed since the last notify */

  struct cds_list_head transfers;   /* [worker] this env's transfers on this worker */
  atomic_int detach;                /* [atomic] owner asks the worker to let go */

  cd_env *env;
  struct cd_worker *worker;
} cd_channel;

/* ---- environment -------------------------------------------------------- */

/* One attached JS thread.
 * Ownership: created and freed by the owner; workers reach it through the
 * engine's env list under RCU read-side locks.
 * Threading: [owner] fields, [atomic] fields, [const] after attach. */
struct cd_env {
  struct cds_list_head node;        /* engine->envs, RCU list */
  cd_engine *engine;                /* [const] */
  cd_notify_fn notify;              /* [const] */
  void *notify_ctx;                 /* [const] */
  atomic_int scheduled;             /* [atomic] a notify is outstanding */
  _Atomic(cd_channel *) channels[CD_MAX_WORKERS]; /* [owner writes once, workers read] */
  unsigned poll_cursor;             /* [owner] fairness between channels */
  int draining;                     /* [owner] between poll_begin and poll_end */

  pthread_mutex_t detach_mu;        /* detach handshake */
  pthread_cond_t detach_cv;
  int detach_pending;               /* channels not yet acknowledged */
};

/* ---- request ----------------------------------------------------------------
 * One HTTP exchange. Created by the owner in cd_request_submit, run by one
 * worker. Freed when `refs` reaches zero: one ref for the owner (dropped by
 * cd_request_release), one for the worker (dropped when the worker is done
 * with it), and one per RESUME/ABORT/BODY command in flight.
 * Threading: [const] after submit, [atomic], or [worker]. */
enum cd_transfer_state {
  CD_T_NEW = 0,      /* not yet seen by the worker */
  CD_T_QUEUED,       /* waiting for a connection slot (config->connections) */
  CD_T_RUNNING,      /* in the multi handle */
  CD_T_DONE          /* terminal event emitted; worker ref dropped */
};

struct cd_request {
  atomic_int refs;
  atomic_int paused;                /* [atomic] owner pauses, worker reads */

  /* [const] */
  cd_env *env;
  cd_channel *chan;
  cd_config *config;                /* holds a config ref */
  uint32_t slot;
  char *url;                        /* strings: in the request's own allocation */
  char *origin;
  char *method;
  char *connect_to;                 /* CURLOPT_CONNECT_TO entry, or NULL */
  struct curl_slist connect_to_list; /* [worker] one-entry list for curl */
  struct curl_slist *headers;       /* the user's nodes, then a shared tail */
  struct curl_slist *headers_tail;  /* the user's last node, or NULL */
  int body_mode;
  int64_t body_length;
  const char *body_data;            /* caller-owned whole body, or NULL */
  size_t body_data_len;
  uint32_t headers_timeout_ms;
  uint32_t body_timeout_ms;
  int http_version;
  int flags;                        /* CD_REQ_* */

  /* [worker] */
  int state;                        /* enum cd_transfer_state */
  CURL *easy;
  struct cds_list_head chan_node;   /* chan->transfers */
  struct cds_list_head wait_node;   /* limiter queue or worker->stalled */
  struct cd_limit *limit;           /* connection limiter entry, or NULL */
  struct cd_share *share;           /* the agent's connection cache on this worker */
  bool in_wait_list;
  bool recv_paused;                 /* write callback returned PAUSE */
  bool send_paused;                 /* read callback returned PAUSE */
  bool stalled;                     /* paused because the event ring is full */
  bool final_headers;               /* final (non-1xx) header block delivered */
  bool body_wanted;                 /* BODY_WANTED sent, no chunk since */
  bool body_done;                   /* the last chunk has been queued */
  bool upload_done;                 /* the read callback reached the end of the body */
  bool early_done;                  /* in worker->early: response complete, upload not */
  int64_t resp_length;              /* final response's Content-Length, or -1 */
  int64_t resp_received;            /* body bytes received */
  struct cds_list_head early_node;  /* worker->early */
  int error;                        /* CD_ERR_* decided by the engine, or 0 */
  cd_chunk *body_head;
  cd_chunk *body_tail;
  char *hdr;                        /* header block being collected */
  size_t hdr_len, hdr_cap;
  char *trailers;
  size_t trailers_len, trailers_cap;
  cd_timer timer;
  uint64_t deadline_ms;             /* 0: no deadline armed */
  curl_socket_t opened[CD_MAX_OPENED]; /* sockets this transfer opened (cd_conn.c) */
  unsigned opened_len;
  bool sent;                        /* the request went out at least once (cd_conn.c) */
  bool retried;                     /* sent again after its HTTP/2 connection went away */
  /* CD_REQ_RAW (cd_raw.c) */
  bool raw_open;                    /* connected: in worker->raw */
  bool raw_want_write;              /* a send would block: poll for POLLOUT */
  bool raw_shut;                    /* the owner's end was passed on */
  curl_socket_t raw_fd;
  struct cds_list_head raw_node;    /* worker->raw */
  char errbuf[CURL_ERROR_SIZE];
};

/* ---- worker -------------------------------------------------------------- */

/* Per-origin connection limiter (config->connections).
 * Ownership and threading: one worker. */
typedef struct cd_limit {
  struct cd_limit *next;            /* hash chain */
  uint64_t config_id;
  unsigned running;
  struct cds_list_head queue;       /* waiting requests (wait_node) */
  char origin[];
} cd_limit;

#define CD_LIMIT_BUCKETS 256u

/* One agent's connection, DNS and TLS session caches on one worker: agents
 * do not share connections (as undici's Agents do not), and an agent's idle
 * connections close when it is closed.
 * Ownership and threading: one worker; holds a config reference. */
typedef struct cd_share {
  struct cd_share *next;
  cd_config *config;
  CURLSH *handle;
  unsigned active;                  /* transfers using it */
} cd_share;

/* One worker thread with its curl multi handle.
 * Ownership: created by the engine, joined and freed by the engine.
 * Threading: [worker] fields only on its thread; [atomic] fields from any. */
typedef struct cd_worker {
  cd_engine *engine;
  unsigned index;
  pthread_t thread;
  CURLM *multi;                     /* [worker], except curl_multi_wakeup */
  atomic_int parked;                /* [atomic] inside curl_multi_poll, or about to be */
  atomic_int wake_pending;          /* [atomic] a wakeup was sent since parking */
  atomic_int stop;                  /* [atomic] engine shutdown */

  uint64_t now_ms;                  /* [worker] loop time */
  cd_timer_heap timers;             /* [worker] */
  CURL **pool;                      /* [worker] idle easy handles */
  size_t pool_len, pool_cap;
  struct cds_list_head stalled;     /* [worker] transfers paused on full rings */
  struct cds_list_head early;       /* [worker] responses complete while still uploading */
  struct cds_list_head raw;         /* [worker] open CD_REQ_RAW connections */
  cd_channel **dirty;               /* [worker] channels to notify */
  size_t dirty_len, dirty_cap;
  cd_limit *limits[CD_LIMIT_BUCKETS]; /* [worker] */
  cd_share *shares;                 /* [worker] */
  struct cd_conn **conns;           /* [worker] open sockets by descriptor (cd_conn.c) */
  size_t conns_cap;
} cd_worker;

/* ---- engine -------------------------------------------------------------- */

struct cd_engine {
  pthread_mutex_t mu;               /* refs, workers growth, env list writes */
  long refs;
  cd_worker *workers[CD_MAX_WORKERS]; /* slots written once under mu */
  atomic_uint nworkers;
  struct cds_list_head envs;        /* RCU list of cd_env */
};

/* Live object counters (process-wide, like the engine), for leak checks. */
typedef struct cd_counters {
  atomic_long requests, transfers, events, commands, handles, envs, configs;
} cd_counters;
extern cd_counters cd_live;

/* cd_engine.c */
void cd_request_unref(cd_request *req);
void cd_engine_wake_all(void);
void cd_stat_add(atomic_long *counter, long delta);

/* cd_worker.c */
cd_worker *cd_worker_start(cd_engine *engine, unsigned index);
void cd_worker_stop(cd_worker *w);
void cd_worker_wake(cd_worker *w);
/* Queues an event for the owner (ring, or overflow when full). */
void cd_worker_push_event(cd_worker *w, cd_channel *chan, cd_event *ev);
cd_event *cd_event_new(cd_request *req, int type, const void *data, size_t len);
/* An environment-level event (no request; slot CD_SLOT_NONE). */
cd_event *cd_event_new_env(cd_channel *chan, int type, const void *data, size_t len);

/* cd_transfer.c: terminal events that end the transfer (worker thread). */
void cd_transfer_fail(cd_worker *w, cd_request *req, int code, const char *message);
void cd_transfer_end(cd_worker *w, cd_request *req);

/* cd_raw.c: CD_REQ_RAW connections. Worker thread only. */
void cd_raw_setup(cd_request *req, CURL *easy);
void cd_raw_open(cd_worker *w, cd_request *req);
void cd_raw_close(cd_request *req);
void cd_raw_pump(cd_worker *w);
size_t cd_raw_waitfds(cd_worker *w, struct curl_waitfd *fds, size_t max);

/* cd_conn.c: connection open/close reports. Worker thread only. */
void cd_conn_setup(cd_request *req, CURL *easy);
void cd_conn_forget_channel(cd_worker *w, cd_channel *chan);
void cd_conn_free_all(cd_worker *w);
/* Frees an event for good (detach paths, either thread). */
void cd_event_destroy(cd_event *ev);

/* cd_transfer.c */
int cd_transfer_start(cd_worker *w, cd_request *req);
void cd_transfer_done(cd_worker *w, cd_request *req, CURLcode result);
void cd_transfer_abort(cd_worker *w, cd_request *req, int emit);
void cd_transfer_resume(cd_worker *w, cd_request *req);
void cd_transfer_body(cd_worker *w, cd_chunk *chunk);
void cd_transfer_timeout(cd_worker *w, cd_request *req);
void cd_transfer_unstall(cd_worker *w, cd_request *req);
void cd_transfer_finish_early(cd_worker *w);
void cd_limit_release(cd_worker *w, cd_request *req);
void cd_shares_sweep(cd_worker *w, int all);

#endif /* CD_INTERNAL_H */
