/* cd_request.h - one HTTP exchange: the object, its references, its header
 * list and its request-body chunks.
 *
 * Below the channel and the worker: this file allocates and frees, and
 * calls nothing above cd_config, cd_slist and cd_stats. Two halves: what
 * the owner and the worker share (the atomics, the [const] request as
 * submitted, the reserve event), and the transfer, which only the worker
 * touches, in one part per module that owns it (resp, upload, upwait, lim,
 * conn, raw). Both live in one allocation: the request is the one object
 * every layer of the worker touches, and a transfer never outlives it.
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
struct cd__decoder;

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

/* cd_request.paused: what the owner asked (cd_request_pause,
 * cd_request_pause_consumer; cd_request_resume clears both). */
#define CD__OWNER_CONSUMER 1 /* the consumer is paused: bodyTimeout's clock stops */
#define CD__OWNER_HOLD 2     /* and receiving stops (the owner holds enough) */

struct cd_request {
  atomic_int refs;
  atomic_int paused;                /* [atomic] CD__OWNER_* bits: owner sets, worker reads */
  /* [atomic] the worker acted on `paused` (paused curl's receiving, or
   * stopped bodyTimeout's clock for a paused consumer): the
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
  uint16_t decode_skip[CD_DECODE_SKIP_MAX]; /* CD_REQ_DECODE: statuses left coded */
  unsigned decode_skip_len;

  /* [worker] The transfer: everything only the request's worker touches
   * (as curl keeps a SingleRequest beside each Curl_easy), one part per
   * module that owns it; cd_transfer.c's own fields first. */
  struct cd__worker *worker;        /* set when the worker takes it */
  int state;                        /* enum cd__transfer_state */
  CURL *easy;
  struct curl_slist connect_to_list; /* one-entry list for curl */
  struct cds_list_head chan_node;   /* chan->transfers */
  struct cds_list_head stall_node;  /* worker->stalled, while CD__PAUSE_OVERFLOW (cd_pause.c) */
  struct cd__share *share;          /* the agent's connection cache on this worker */
  unsigned pause;                   /* cd_pause.h: why libcurl is held, and what it holds */
  bool retried;                     /* sent again after its HTTP/2 connection went away */
  bool early_done;                  /* in worker->early: response complete, upload not */
  struct cds_list_head early_node;  /* worker->early */
  uint64_t early_deadline_ms;       /* in worker->early: ended then if still uploading */
  int error;                        /* CD_ERR_* decided by the engine, or 0 */
  cd__timer timer;
  uint64_t deadline_ms;             /* 0: no deadline armed */
  char errbuf[CURL_ERROR_SIZE];

  /* cd_transfer.c: the response as it arrives */
  struct {
    bool final_headers;             /* final (non-1xx) header block delivered */
    int64_t length;                 /* final response's Content-Length, or -1 */
    int64_t keepalive_hint_ms;      /* final response's Keep-Alive: timeout=, or -1 */
    int64_t received;               /* body bytes received */
    bool coded;                     /* final response framed by a Transfer-Encoding */
    int version;                    /* final response's HTTP version (11, 20...), 0 before */
    char *hdr;                      /* header block being collected */
    size_t hdr_len, hdr_cap;
    char *trailers;
    size_t trailers_len, trailers_cap;
    cd_event *data_pending;         /* DATA being filled this loop turn, or NULL */
    struct cds_list_head data_node; /* worker->data_pending while data_pending */
  } resp;

  /* cd_transfer.c and cd_bodydec.c (CD_REQ_DECODE): a coded response body */
  struct {
    struct cd__decoder *decoder;    /* undoing the final response's codings, or NULL */
    size_t skip;                    /* bytes at the start of libcurl's next deliveries
                                     * that the decoder already has (a paused write is
                                     * delivered again from its start) */
    char error[192];                /* CD_ERR_DECODE's payload */
  } dec;

  /* cd_transfer.c: the request body on its way to the read callback */
  struct {
    cd__chunk *head;                /* chunks the owner wrote, not yet read */
    cd__chunk *tail;
    bool wanted;                    /* BODY_WANTED sent, no chunk since */
    bool queued_all;                /* the last chunk has been queued */
    bool read_all;                  /* the read callback reached the end of the body */
  } upload;

  /* cd_upwait.c: an upload waiting for the owner (CD__PAUSE_UPLOAD) */
  struct {
    struct cds_list_head node;      /* worker->upload_waits */
    int unread;                     /* bytes left unread on its socket at the last check */
    bool stale;                     /* those bytes stayed unread, connection open: not polled */
  } upwait;

  /* cd_limit.c: the origin's connection limit */
  struct {
    struct cd__limit *entry;        /* the limit it counts in, or NULL */
    struct cds_list_head wait_node; /* the limit's queue, while queued */
    bool queued;
  } lim;

  /* cd_conn.c: the connection it opens and sends on */
  struct {
    struct cd__conn_table *table;   /* the worker's */
    curl_socket_t opened[CD__MAX_OPENED]; /* sockets this transfer opened */
    unsigned opened_len;
    bool sent;                      /* the request went out at least once */
    bool connecting_told;           /* CD_REQ_SENDING: CD_EV_CONNECTING sent */
    curl_socket_t fd;               /* the connection it sends on (counted there), or bad */
    uint32_t serial;                /* that entry's serial (descriptors are reused) */
    bool lost;                      /* sends on a connection cd_conn.c could not tell */
  } conn;

  /* cd_raw.c (CD_REQ_RAW) */
  struct {
    bool open;                      /* connected: in worker->raw */
    bool want_write;                /* a send would block: poll for POLLOUT */
    bool shut;                      /* the owner's end was passed on */
    curl_socket_t fd;
    struct cds_list_head node;      /* worker->raw */
  } raw;

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
