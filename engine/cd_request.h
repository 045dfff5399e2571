/* cd_request.h - one HTTP exchange: the object, its references, its header
 * list and its request-body chunks.
 *
 * Below the channel and the worker: this file allocates and frees, and
 * calls nothing above cd_config, cd_slist and cd_stats. The fields a worker
 * uses while running the request are declared here (the request is the one
 * object every layer touches) and marked with the file that owns them.
 *
 * Ownership: created by the owner in cd_request_submit (cd_submit.c) with
 * two references, the owner's (dropped by cd_request_release) and the
 * worker's (dropped when the worker has ended the transfer); each RESUME,
 * ABORT or BODY command in flight holds one more. Freed at zero, on
 * whichever thread drops the last reference.
 * Threading: fields are [const] after submit, [atomic], or [worker].
 */
#ifndef CD_REQUEST_H
#define CD_REQUEST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>
#include <urcu/list.h>

#include "cd_timer.h"
#include "engine.h"

/* Sockets one transfer may open while connecting (one per address tried). */
#define CD__MAX_OPENED 8
/* Payload room of the terminal event every request carries for the case
 * where no event can be allocated (see cd__event_new_terminal). */
#define CD__RESERVE_DATA 32

struct cd_channel;
struct cd__conn_table;
struct cd__limit;
struct cd__share;
struct cd__worker;

/* Request body bytes on their way to the read callback (or a raw socket).
 * Ownership: allocated by the owner (cd__chunk_new), then owned by the
 * worker, which frees it with cd__chunk_free. */
typedef struct cd__chunk {
  struct cd__chunk *next;
  cd_request *req;
  size_t len;
  size_t off;    /* bytes already handed on */
  int end;       /* last chunk of the body */
  char data[];
} cd__chunk;

enum cd__transfer_state {
  CD__T_NEW = 0,      /* not yet seen by the worker */
  CD__T_QUEUED,       /* waiting for a connection slot (config->connections) */
  CD__T_RUNNING,      /* in the multi handle */
  CD__T_DONE          /* terminal event emitted; worker ref dropped */
};

struct cd_request {
  atomic_int refs;
  atomic_int paused;                /* [atomic] owner pauses, worker reads */
  /* [atomic] the worker acted on `paused` (paused curl's receiving): the
   * owner's resume must then send a RESUME command; otherwise clearing
   * `paused` is all a resume takes. Set before the worker's second look at
   * `paused`, read after the owner's store to it (both seq_cst): one of
   * the two sees the other (cd_request_resume, on_write). */
  atomic_int paused_seen;
  atomic_long window_used;          /* [atomic] DATA bytes queued, not yet freed by the owner */
  atomic_int window_blocked;        /* [atomic] the worker waits for credit (cd_channel.c) */

  /* [const] */
  size_t alloc_size;                /* bytes of its allocation (cd_request.c's pool) */
  cd_env *env;
  struct cd_channel *chan;
  cd_config *config;                /* holds a config ref */
  uint32_t slot;
  char *url;                        /* strings: in the request's own allocation */
  char *origin;
  char *method;
  char *connect_to;                 /* CURLOPT_CONNECT_TO (or, CD_REQ_RESOLVE, CURLOPT_RESOLVE) entry, or NULL */
  char *request_target;             /* CURLOPT_REQUEST_TARGET, or NULL */
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

  /* [worker] cd_transfer.c */
  struct cd__worker *worker;        /* set when the worker takes it */
  int state;                        /* enum cd__transfer_state */
  CURL *easy;
  struct curl_slist connect_to_list; /* one-entry list for curl */
  struct cds_list_head chan_node;   /* chan->transfers */
  struct cds_list_head wait_node;   /* the limiter's queue (cd_limit.c) */
  struct cds_list_head stall_node;  /* worker->stalled, while CD__PAUSE_OVERFLOW (cd_pause.c) */
  struct cd__limit *limit;          /* connection limiter entry, or NULL */
  struct cd__share *share;          /* the agent's connection cache on this worker */
  bool in_wait_list;                /* on the limiter's queue */
  unsigned pause;                   /* cd_pause.h: why libcurl is held, and what it holds */
  bool final_headers;               /* final (non-1xx) header block delivered */
  bool body_wanted;                 /* BODY_WANTED sent, no chunk since */
  bool body_done;                   /* the last chunk has been queued */
  bool upload_done;                 /* the read callback reached the end of the body */
  bool early_done;                  /* in worker->early: response complete, upload not */
  bool retried;                     /* sent again after its HTTP/2 connection went away */
  int64_t resp_length;              /* final response's Content-Length, or -1 */
  int64_t keepalive_hint_ms;        /* final response's Keep-Alive: timeout=, or -1 */
  int64_t resp_received;            /* body bytes received */
  struct cds_list_head early_node;  /* worker->early */
  struct cds_list_head upwait_node; /* worker->upload_waits: read callback paused for the owner */
  int upwait_unread;                /* bytes left unread on its socket at the last check */
  bool upwait_stale;                /* those bytes stayed unread, connection open: not polled */
  bool resp_coded;                  /* final response framed by a Transfer-Encoding */
  int resp_version;                 /* final response's HTTP version (11, 20...), 0 before */
  uint64_t early_deadline_ms;       /* in worker->early: ended then if still uploading */
  int error;                        /* CD_ERR_* decided by the engine, or 0 */
  cd_event *data_pending;           /* DATA being filled this loop turn, or NULL */
  struct cds_list_head data_node;   /* worker->data_pending while data_pending */
  cd__chunk *body_head;
  cd__chunk *body_tail;
  char *hdr;                        /* header block being collected */
  size_t hdr_len, hdr_cap;
  char *trailers;
  size_t trailers_len, trailers_cap;
  cd__timer timer;
  uint64_t deadline_ms;             /* 0: no deadline armed */
  char errbuf[CURL_ERROR_SIZE];

  /* [worker] cd_conn.c */
  struct cd__conn_table *conn_table; /* the worker's */
  curl_socket_t opened[CD__MAX_OPENED]; /* sockets this transfer opened */
  unsigned opened_len;
  bool sent;                        /* the request went out at least once */
  bool connecting_told;             /* CD_REQ_SENDING: CD_EV_CONNECTING sent */
  curl_socket_t conn_fd;            /* the connection it sends on (counted there), or bad */
  uint32_t conn_serial;             /* that entry's serial (descriptors are reused) */
  bool conn_lost;                   /* sends on a connection cd_conn.c could not tell */

  /* [worker] cd_raw.c (CD_REQ_RAW) */
  bool raw_open;                    /* connected: in worker->raw */
  bool raw_want_write;              /* a send would block: poll for POLLOUT */
  bool raw_shut;                    /* the owner's end was passed on */
  curl_socket_t raw_fd;
  struct cds_list_head raw_node;    /* worker->raw */

  /* cd_timings.c, CD_REQ_TIMINGS requests only */
  int64_t timings_submit_us;        /* [owner, before SUBMIT is pushed] the origin of the instants */
  int64_t timings_start_us;         /* [worker] handed to libcurl; 0: not yet */

  /* [worker, then owner] cd_channel.c: the terminal event used when none
   * can be allocated, so that a request always ends. Lives as long as the
   * request, which the owner releases only after freeing the event. */
  _Alignas(cd_event) unsigned char reserve[sizeof(cd_event) + CD__RESERVE_DATA + 1];
};

/* Allocates a request (one allocation with its strings) and its header
 * list, with two references (owner and worker). Returns NULL if out of
 * memory. Owner thread. */
cd_request *cd__request_new(cd_env *env, struct cd_channel *chan, cd_config *config,
                            const cd_request_opts *opts);

/* Any thread. */
void cd__request_ref(cd_request *req);
void cd__request_unref(cd_request *req);

/* A body chunk for `req` (the BODY command carrying it holds the request
 * reference, see cd_channel.h). NULL if out of memory. Owner thread. */
cd__chunk *cd__chunk_new(cd_request *req, const void *data, size_t len, int end);
/* Frees a chunk. */
void cd__chunk_free(cd__chunk *chunk);
/* Frees every chunk queued on the request. Worker thread. */
void cd__request_drop_body(cd_request *req);

#endif /* CD_REQUEST_H */
