/* cd_load.h - the load generator's internals (public calls: load.h).
 *
 * Two halves, one struct set:
 *   cd_load.c     worker side, above cd_transfer (its libcurl options),
 *                 cd_pool, cd_share and cd_slist, below the loop: adopts
 *                 parts, sends, re-arms each easy handle from the next
 *                 template as its request ends, records, publishes, ends.
 *   cd_loadctl.c  owner side, beside cd_submit.c at the top: start, stop,
 *                 read, free; reaches workers only through cd__load_post.
 *
 * Ownership: the owner allocates the run, its parts, slots and histograms
 * (cd_load_start) and frees them (cd_load_free) once `alive` is 0. A worker
 * holds a part from cd__load_post until it ends it (alive--, under `mu`),
 * and never touches it afterwards.
 * Threading, by field: [const] set before the part is posted; [worker] its
 * worker only; [pub] under the part's `mu`; [atomic] any thread; [mu]
 * under the run's `mu`.
 */
#ifndef CD_LOAD_H
#define CD_LOAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <curl/curl.h>
#include <urcu/list.h>

#include "cd_config.h"
#include "cd_hdr.h"
#include "load.h"

/* How often a running part publishes its counters for cd_load_read. */
#define CD__LOAD_PUBLISH_MS 50

struct cd__worker;
struct cd__share;
typedef struct cd__load_part cd__load_part;

/* One template, ready for libcurl. [const] */
typedef struct cd__load_tmpl {
  char *url;
  char *method;               /* NULL: GET */
  int head;                   /* HEAD: no response body */
  struct curl_slist *headers; /* the user's lines, then "Expect:" and "Accept:" unless given */
  char *body;                 /* NULL: none */
  size_t body_len;
} cd__load_tmpl;

/* One request in flight at a time: a connection (HTTP/1.1) or a stream. */
typedef struct cd__load_slot {
  CURL *easy;                 /* [worker] from the worker's pool while the part runs */
  cd__load_part *part;        /* [const] */
  uint64_t index;             /* [const] position among every slot of the run */
  uint64_t k;                 /* [worker] with a rate: requests this slot was due so far */
  uint64_t due_us;            /* [worker] with a rate: when its next request is due */
  uint64_t sent_us;           /* [worker] when its request in flight was sent */
  size_t tmpl;                /* [worker] the template its handle holds, or SIZE_MAX */
  int busy;                   /* [worker] in the multi handle */
  int waiting;                /* [worker] with a rate: idle until due_us */
  int held;                   /* [worker] HTTP/2: a stream waiting for the sessions to open */
  char errbuf[CURL_ERROR_SIZE];
} cd__load_slot;

struct cd__load_part {
  cd__load_part *inbox_next;  /* [atomic] the worker's inbox (owner pushes) */
  struct cds_list_head node;  /* [worker] in the worker's running parts */
  cd_load *load;              /* [const] */
  struct cd__worker *worker;  /* [const] */
  cd__load_slot *slots;       /* [const] array; entries [worker] */
  unsigned nslots;            /* [const] */
  uint64_t amount;            /* [const] this part's share; UINT64_MAX: no limit */

  /* [worker] */
  size_t cursor;              /* next template */
  unsigned busy;              /* slots in the multi handle */
  int ending;                 /* sends nothing more; ends when busy is 0 */
  int started;                /* a response came */
  int held;                   /* some slots are held (see cd__load_slot.held) */
  uint64_t next_due_us;       /* earliest due_us of a waiting slot, UINT64_MAX */
  uint64_t next_publish_us;
  struct cd__share *share;
  cd_load_counts c;           /* the part's own counters */
  uint64_t first_error_us;    /* when c.first_error was set, UINT64_MAX */
  uint64_t *codes;            /* CD_LOAD_CODES */
  cd_hdr *hist;

  /* [pub] the last published copy, read by cd_load_read */
  pthread_mutex_t mu;
  cd_load_counts pc;
  uint64_t p_first_error_us;
  uint64_t *pcodes;
  cd_hdr *phist;
};

struct cd_load {
  cd_config *config;          /* [const] a reference, dropped by cd_load_free */
  cd__load_tmpl *tmpls;       /* [const] */
  size_t ntmpls;
  cd__load_part *parts;       /* [const] array */
  unsigned nparts;
  uint64_t nslots;            /* [const] over every part */
  uint64_t start_us;          /* [const] */
  uint64_t end_us;            /* [const] start + duration, or UINT64_MAX */
  double period_us;           /* [const] 1e6 / rate, or 0 without a rate */
  uint32_t timeout_ms;        /* [const] */
  int http_version;           /* [const] */
  int flags;                  /* [const] */
  unsigned pipelining;        /* [const] */
  atomic_int stop;            /* [atomic] owner asked, or a part saw the target unreachable */
  atomic_int any_response;    /* [atomic] some part completed a response */
  cd_load_done_fn done;       /* [const] */
  void *done_ctx;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  unsigned alive;             /* [mu] parts not ended yet */
  uint64_t finish_us;         /* [mu] when the last part ended */
};

/* Per-worker state, embedded in cd__worker. */
typedef struct cd__load_worker {
  _Atomic(cd__load_part *) inbox; /* [atomic] parts posted, not adopted yet */
  struct cds_list_head parts;     /* [worker] running parts */
  uint64_t next_us;               /* [worker] when cd__load_run must run next; UINT64_MAX: idle */
  /* [worker] A timerfd armed at next_us (Linux; -1 elsewhere, or before
   * the first rate): curl_multi_poll's timeout is whole milliseconds, so
   * parking on it alone sent paced requests up to 2 ms late (latency,
   * counted from the due instant, was spread evenly over 0-2 ms). */
  int timer_fd;
  uint64_t timer_armed_us;        /* [worker] what timer_fd is armed at; 0: disarmed */
} cd__load_worker;

/* Owner: hands `part` to its worker (cd_loadctl.c). */
void cd__load_post(cd__load_part *part);
/* Owner: wakes the worker of `part` (to see a stop). */
void cd__load_kick(cd__load_part *part);

/* Worker side, called by the loop (cd_loop.c). */
void cd__load_worker_init(cd__load_worker *lw);
/* Parts were posted and not adopted yet (checked before parking). */
int cd__load_pending(struct cd__worker *w);
/* Once per loop turn: adopts posted parts, ends stopped or finished ones,
 * sends what a rate made due, publishes counters. */
void cd__load_run(struct cd__worker *w);
/* CURLOPT_PRIVATE of the run's handles is a slot pointer with bit 0 set;
 * cd_request pointers are aligned. */
static inline int cd__load_owns(const void *priv) { return ((uintptr_t)priv & 1u) != 0; }
/* A run's request ended (from curl_multi_info_read). */
void cd__load_done(struct cd__worker *w, void *priv, int result);
/* The park timeout, lowered to when cd__load_run must run next (rounded
 * up: never early; the timer below wakes the loop on time). */
long cd__load_park_ms(struct cd__worker *w, long timeout_ms);
/* The descriptor to poll beside libcurl's (0 or 1 entries in `fds`): the
 * timer, armed at the next due send. */
size_t cd__load_waitfds(struct cd__worker *w, struct curl_waitfd *fds, size_t max);
/* After the poll: `fd`, as cd__load_waitfds gave it, is read if it fired. */
void cd__load_waitfds_done(struct cd__worker *w, const struct curl_waitfd *fd);
/* Engine shutdown: ends every part the worker holds or was posted. */
void cd__load_worker_stop(struct cd__worker *w);

#endif /* CD_LOAD_H */
