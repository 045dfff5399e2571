/* cd_limit.h - the per-origin connection limit (config->connections):
 * at most that many transfers of one agent to one origin run at once on a
 * worker, the rest wait in order.
 *
 * Above cd_request; it only counts and queues, the caller starts what it
 * hands back. Ownership and threading: one worker.
 */
#ifndef CD_LIMIT_H
#define CD_LIMIT_H

#include <stdint.h>

#include <urcu/list.h>

#include "cd_request.h"

#define CD__LIMIT_BUCKETS 256u

/* One agent's running and waiting transfers to one origin. The origin's
 * capacity is `connections` transfers until it is seen to answer in
 * HTTP/2, then `connections` sessions of `max_streams` streams each
 * (cd__limit_multiplexed): undici's meaning of `connections`. */
typedef struct cd__limit {
  struct cd__limit *next;           /* hash chain */
  uint64_t config_id;
  unsigned running;
  unsigned capacity;                /* transfers that may run at once */
  struct cds_list_head grown_node;  /* the worker's list of limits to refill */
  unsigned pins;                    /* callers iterating it: not freed meanwhile */
  struct cds_list_head queue;       /* waiting requests (wait_node) */
  char origin[];
} cd__limit;

/* One worker's limiters, by (agent, origin). Embedded in the worker. */
typedef struct cd__limits {
  cd__limit *buckets[CD__LIMIT_BUCKETS];
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
/* `req`'s origin answered in HTTP/2: its limit grows to sessions of
 * streams. Returns its limiter when it grew (queued requests may start:
 * the caller runs cd__limit_next), else NULL. */
cd__limit *cd__limit_multiplexed(cd_request *req);
/* Frees the limiter once nothing runs or waits there. */
void cd__limit_gc(cd__limits *ls, cd__limit *l);
void cd__limits_free(cd__limits *ls);

#endif /* CD_LIMIT_H */
