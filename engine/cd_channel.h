/* cd_channel.h - the pair of rings between one environment and one worker,
 * and everything that travels on them: commands (owner to worker), events
 * (worker to owner) and the pools events are recycled through.
 *
 * Above cd_request (commands and events name requests), below everything
 * that runs on a worker. Calls down only: waking a worker goes through its
 * cd__waker, notifying an owner through its cd_env's notify function.
 *
 * Flow control: a full command ring parks commands in the owner's backlog
 * (moved over at cd_env_poll_begin once the worker asks); a full event ring
 * parks events in the worker's overflow (moved over when the owner drains),
 * while the transfers that would add more are paused (see cd_transfer.c).
 * Nothing is dropped and neither side ever blocks.
 *
 * Ownership: allocated by the owner on first use of a worker
 * (cd__channel_new), freed by the owner (cd__channel_free) after the worker
 * acknowledged the detach. Threading: fields marked [owner], [worker] or
 * [atomic]; functions say which side calls them.
 */
#ifndef CD_CHANNEL_H
#define CD_CHANNEL_H

#include <stdatomic.h>
#include <stdint.h>

#include <ck_ring.h>
#include <urcu/list.h>

#include "cd_registry.h"
#include "cd_request.h"
#include "cd_waker.h"
#include "engine.h"

/* Ring sizes: power of two (ck_ring), one slot stays empty. */
#define CD__CMD_RING_SIZE 4096u
#define CD__EV_RING_SIZE 8192u

/* Events come from two per-channel pools, by payload size: the owner hands
 * them back through a free ring instead of free(). Cross-thread free() of
 * small events locked the worker's malloc arena (~12% of the JS thread's
 * time on 12-byte responses); freeing 64 KiB body events at the top of the
 * worker's arena made glibc trim and re-fault its heap (page faults were
 * ~15% of a 1 MiB download). */
#define CD__EVENT_SMALL 480u
#define CD__EVENT_LARGE (64u * 1024u)  /* = CURLOPT_BUFFERSIZE: curl's largest write */
#define CD__POOL_SMALL 0
#define CD__POOL_LARGE 1
#define CD__POOLS 2
#define CD__POOL_LARGE_RING 64u        /* at most 4 MiB of idle large events per channel */
#define CD__LANDING_RING (2u * CD_LANDINGS) /* holds every landing, one slot stays empty */
/* While the owner drains a batch, its commands wake the worker in groups of
 * this many, and once more at the end of the drain. A wake per command cost
 * the JS thread a syscall per request; one per drain made the worker wait
 * for the whole batch: with 64 requests in flight on one worker, ~58
 * responses completed per batch, and the worker, the JS thread and the
 * server took turns instead of working at once (docs/architecture.md,
 * *Wakeups*). */
#define CD__DRAIN_WAKE_EVERY 8u

/* ---- commands -------------------------------------------------------------
 * A command is a tagged pointer: the low bits say what it is. Requests and
 * chunks come from malloc, so the low 4 bits are free. Every command holds
 * one request reference, dropped once it has run or been discarded. */
enum cd__cmd_kind {
  CD__CMD_SUBMIT = 0,  /* cd_request *: start it (the worker's reference) */
  CD__CMD_RESUME = 1,  /* cd_request *: the owner resumed */
  CD__CMD_ABORT = 2,   /* cd_request *: drop it */
  CD__CMD_BODY = 3,    /* cd__chunk *: request body bytes */
  CD__CMD_CREDIT = 4   /* cd_request *: the owner freed half the window */
};
#define CD__CMD_TAG_MASK ((uintptr_t)0xF)

static inline void *cd__command(int kind, void *p) {
  return (void *)((uintptr_t)p | (uintptr_t)kind);
}
static inline int cd__command_kind(void *cmd) {
  return (int)((uintptr_t)cmd & CD__CMD_TAG_MASK);
}
static inline void *cd__command_ptr(void *cmd) {
  return (void *)((uintptr_t)cmd & ~CD__CMD_TAG_MASK);
}
/* The request a command is for. */
cd_request *cd__command_request(void *cmd);
/* Frees a command that will never run, and its request reference. */
void cd__command_discard(void *cmd);

/* ---- the channel ------------------------------------------------------- */

/* Channels of one worker that received events since its last notify pass.
 * Ownership and threading: embedded in the worker, worker thread only. */
typedef struct cd__dirty_list {
  struct cd_channel **items;
  size_t len, cap;
} cd__dirty_list;

/* A landing (engine.h, cd_env_give_landing): owner memory a worker may
 * write one DATA event into. Filled by the owner, then passed through the
 * channel's landing ring; the worker owns it until its event is polled. */
typedef struct cd__landing {
  char *memory;
  size_t cap;
  uint32_t id;
} cd__landing;

/* Owner-side queue of commands that did not fit in a full command ring.
 * Ownership: owner thread only. */
typedef struct cd__backlog_node {
  struct cd__backlog_node *next;
  void *cmd;
} cd__backlog_node;

typedef struct cd_channel {
  ck_ring_t cmd_ring;               /* [owner produces, worker consumes] */
  ck_ring_buffer_t *cmd_buf;
  cd__backlog_node *backlog_head;   /* [owner] commands waiting for room */
  cd__backlog_node *backlog_tail;
  atomic_int cmd_blocked;           /* [atomic] owner has a backlog: worker notifies after draining */
  unsigned wake_deferred;           /* [owner] commands pushed during a drain since the last wake */

  ck_ring_t ev_ring;                /* [worker produces, owner consumes] */
  ck_ring_buffer_t *ev_buf;
  ck_ring_t free_ring[CD__POOLS];   /* [owner produces, worker consumes] events to reuse */
  ck_ring_buffer_t *free_buf[CD__POOLS];
  cd_event *overflow_head;          /* [worker] events waiting for room */
  cd_event *overflow_tail;
  atomic_int ev_stalled;            /* [atomic] worker has overflow: owner wakes it after draining */
  ck_ring_t landing_ring;           /* [owner produces, worker consumes] landings given */
  ck_ring_buffer_t *landing_buf;
  cd__landing landings[CD_LANDINGS]; /* [owner writes before giving, worker reads after taking] */
  cd__landing *landing_spare;       /* [worker] taken from the ring, not yet written into */
  int dirty;                        /* [worker] in the worker's dirty list */

  struct cds_list_head transfers;   /* [worker] this env's transfers on this worker */
  atomic_int detach;                /* [atomic] 1: owner asks the worker to let go; 2: done */

  cd_env *env;                      /* [const] */
  cd__waker *waker;                 /* [const] the worker's */
  cd__dirty_list *dirty_list;       /* [const] the worker's */
} cd_channel;

/* Owner side ---------------------------------------------------------------- */

cd_channel *cd__channel_new(cd_env *env, cd__waker *waker, cd__dirty_list *dirty_list);
/* Frees the channel and whatever is still in it (detach, after the worker
 * let go and a grace period passed). */
void cd__channel_free(cd_channel *ch);
/* Queues a command (ring, or backlog when full) and wakes the worker; while
 * the owner drains, only every CD__DRAIN_WAKE_EVERY-th command wakes it and
 * cd__channel_wake_deferred wakes it for the rest. */
void cd__channel_push_command(cd_channel *ch, void *cmd);
/* Moves backlogged commands into the ring. Returns 1 if any was moved. */
int cd__channel_flush_backlog(cd_channel *ch);
/* Frees every backlogged command (detach). */
void cd__channel_drop_backlog(cd_channel *ch);
void cd__channel_wake_deferred(cd_channel *ch);
/* Pops up to `max` events. */
size_t cd__channel_pop_events(cd_channel *ch, cd_event **out, size_t max);
/* Gives the worker landing `id` (cd_env_give_landing). 0, or -1 on a bad
 * id, size or a ring with no room (a landing given twice). */
int cd__landing_give(cd_channel *ch, uint32_t id, void *memory, size_t cap);

/* Worker side --------------------------------------------------------------- */

/* A new event for `req` (or, with req NULL, an environment-level one with
 * slot CD_SLOT_NONE), payload copied. NULL when out of memory. */
cd_event *cd__event_new(cd_channel *chan, cd_request *req, int type, const void *data, size_t len);
/* A DATA event whose payload goes into a landing the owner gave, when one
 * is there (the first `len` bytes copied); NULL when none is (or out of
 * memory): the caller copies into an ordinary event. */
cd_event *cd__event_new_landed(cd_channel *chan, cd_request *req, const void *data, size_t len,
                               int32_t worker);
/* The same, with room for at least `room` payload bytes (for appending). */
cd_event *cd__event_new_room(cd_channel *chan, cd_request *req, int type, const void *data, size_t len,
                             size_t room);
/* Counts `len` more DATA bytes of `req` on their way to the owner (the
 * window, see cd__window_full); cd__emit does it for the events it sends. */
void cd__window_add(cd_request *req, size_t len);
/* A terminal event for `req`; never NULL: when none can be allocated the
 * request's reserve is used (an END with trailers becomes an out-of-memory
 * ERROR, other payloads are cut to CD__RESERVE_DATA bytes). */
cd_event *cd__event_new_terminal(cd_request *req, int type, const void *data, size_t len);
/* Queues an event for the owner (ring, or overflow when full). */
void cd__channel_push_event(cd_channel *chan, cd_event *ev);
/* The one way a worker sends a non-terminal event of a request: allocates
 * and queues it. Returns 0, or -1 when out of memory (nothing was queued:
 * the caller ends the request with CD_ERR_NO_MEMORY). */
int cd__emit(cd_request *req, int type, const void *data, size_t len);
/* Non-zero when `req` has CD_RESPONSE_WINDOW bytes on their way to the
 * owner: the caller holds back (pauses) until a CREDIT command comes. The
 * owner's side is in cd_event_free. */
int cd__window_full(cd_request *req);
/* Moves held-back events into the ring. Returns 1 if none is left. */
int cd__channel_flush_overflow(cd_channel *chan);
/* Frees held-back events (detach). */
void cd__channel_drop_overflow(cd_channel *chan);
/* Calls each dirty channel's owner's notify function, at most once per
 * owner drain (the uv_async_send pattern), and empties the list. */
void cd__dirty_list_notify(cd__dirty_list *list);
/* Flags the channel for the next notify pass. */
void cd__channel_mark_dirty(cd_channel *chan);

#endif /* CD_CHANNEL_H */
