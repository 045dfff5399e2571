/* cd_limit.h - the per-origin connection limit (config->connections):
 * at most that many transfers of one agent to one origin run at once on a
 * worker, the rest wait in order.
 *
 * Above cd_request; it only counts and queues, the caller starts what it
 * hands back. Ownership and threading: one worker.
 */
#ifndef CD_LIMIT_H
#define CD_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include <urcu/list.h>

#include "cd_request.h"

#define CD__LIMIT_BUCKETS 256u

struct cd__limits;

/* One agent's running and waiting transfers to one origin. The origin's
 * capacity is `connections` transfers until it is seen to answer in
 * HTTP/2, then `connections` sessions of `max_streams` streams each
 * (cd__limit_multiplexed): undici's meaning of `connections`.
 *
 * Sessions are counted, not assumed: libcurl puts a transfer on a session
 * that is connected and has a free stream, and otherwise opens a new
 * connection (PIPEWAIT only waits while the origin's protocol is unknown).
 * A capacity of `connections` x `max_streams` handed over while fewer
 * sessions were connected (slow TLS handshakes, a session closing) made
 * libcurl open one connection per transfer that did not fit: 5 700 for
 * undici's test/issue-4880.js. So, multiplexed, the capacity is the streams
 * of the connected sessions plus one transfer per session still to open;
 * cd_conn.c reports each socket of the limit opening, connecting and
 * closing (cd__limit_session_*).
 *
 * libcurl does not say how many streams the server allows
 * (SETTINGS_MAX_CONCURRENT_STREAMS); past it, it opens another connection.
 * So the streams admitted per session grow one step ahead of the most
 * seen on one session (as libcurl places them), up to max_streams; a
 * session opened while `connections` were already open shows the server's
 * limit (libcurl only opens one when the others are full): streams_seen,
 * from then on. The burst beyond it is one step per session, not every
 * stream that did not fit (181 sessions for 200 requests, connections 2,
 * a server allowing 10, before). Growing takes a loop turn per step, a
 * few milliseconds to reach 100 streams. */
#define CD__LIMIT_STREAMS_STEP 2u
typedef struct cd__limit {
  struct cd__limit *next;           /* hash chain */
  struct cd__limits *owner;
  uint64_t config_id;
  unsigned running;
  unsigned connections;             /* config->connections */
  unsigned max_streams;             /* config->max_streams */
  bool multiplexed;                 /* the origin answered in HTTP/2 */
  unsigned sessions_open;           /* sockets of this limit, connecting or connected */
  unsigned sessions_ready;          /* of which connected (a transfer got to send on it) */
  unsigned streams_seen;            /* most transfers seen on one of its sessions at once */
  unsigned server_streams;          /* the server's stream limit, once learned; 0: unknown */
  struct cds_list_head grown_node;  /* the worker's list of limits to refill */
  unsigned pins;                    /* callers iterating it: not freed meanwhile */
  struct cds_list_head queue;       /* waiting requests (wait_node) */
  char origin[];
} cd__limit;

/* One worker's limiters, by (agent, origin). Embedded in the worker;
 * cd__limits_init before use. */
typedef struct cd__limits {
  cd__limit *buckets[CD__LIMIT_BUCKETS];
  struct cds_list_head grown;       /* limits that may start more (grown_node) */
} cd__limits;

enum cd__limit_verdict { CD__LIMIT_RUN = 0, CD__LIMIT_WAIT = 1, CD__LIMIT_NO_MEMORY = -1 };

/* Takes a slot for `req` (CD__LIMIT_RUN), or queues it (CD__LIMIT_WAIT,
 * state CD__T_QUEUED). Only for configs with a connections limit. */
int cd__limit_acquire(cd__limits *ls, cd_request *req);
/* A queued request leaves the queue without having run. */
void cd__limit_dequeue(cd_request *req);
/* Gives back `req`'s slot. Returns its limiter (to pass to
 * cd__limit_next), or NULL when `req` held none. */
cd__limit *cd__limit_release(cd_request *req);
/* The next waiting request that may run now, its slot taken, or NULL. */
cd_request *cd__limit_next(cd__limit *l);
/* `req`'s origin answered in HTTP/2: its limit counts sessions of
 * streams from now on. Queued requests may start: the limiter goes on
 * the owner's `grown` list, for the caller to run cd__limit_next. */
void cd__limit_multiplexed(cd_request *req);
/* A socket of `l` opened, connected (a transfer sends on it) or closed
 * (after connecting when `ready`). May put `l` on the `grown` list;
 * closed may free `l`. */
void cd__limit_session_opened(cd__limit *l);
/* A transfer is about to send on a session of `l` that now carries
 * `streams` transfers. */
void cd__limit_session_streams(cd__limit *l, unsigned streams);
void cd__limit_session_ready(cd__limit *l);
void cd__limit_session_closed(cd__limit *l, bool ready);
/* Frees the limiter once nothing runs or waits there and it has no open
 * session. */
void cd__limit_gc(cd__limits *ls, cd__limit *l);
void cd__limits_init(cd__limits *ls);
void cd__limits_free(cd__limits *ls);

#endif /* CD_LIMIT_H */
