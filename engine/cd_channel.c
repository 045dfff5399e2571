/* cd_channel.c - rings, commands, events and their pools (see cd_channel.h). */
#include "cd_channel.h"

#include <stdlib.h>
#include <string.h>

#include "cd_fault.h"
#include "cd_grow.h"
#include "cd_stats.h"

/* An event that lives in its request's `reserve` (holds a request reference). */
#define CD__EVENT_RESERVE ((size_t)-1)

/* ---- commands ------------------------------------------------------------ */

cd_request *cd__command_request(void *cmd) {
  void *p = cd__command_ptr(cmd);
  return cd__command_kind(cmd) == CD__CMD_BODY ? ((cd__chunk *)p)->req : p;
}

void cd__command_discard(void *cmd) {
  cd_request *req = cd__command_request(cmd);
  if (cd__command_kind(cmd) == CD__CMD_BODY) cd__chunk_free(cd__command_ptr(cmd));
  else if (cd__command_kind(cmd) == CD__CMD_SUBMIT) cd__stat_add(&cd__live.transfers, -1);
  cd__request_unref(req);
}

/* ---- the channel, owner side ------------------------------------------------ */

cd_channel *cd__channel_new(cd_env *env, cd__waker *waker, cd__dirty_list *dirty_list) {
  cd_channel *ch = calloc(1, sizeof(*ch));
  if (ch == NULL) return NULL;
  ch->cmd_buf = calloc(CD__CMD_RING_SIZE, sizeof(ck_ring_buffer_t));
  ch->ev_buf = calloc(CD__EV_RING_SIZE, sizeof(ck_ring_buffer_t));
  ch->free_buf[CD__POOL_SMALL] = calloc(CD__EV_RING_SIZE, sizeof(ck_ring_buffer_t));
  ch->free_buf[CD__POOL_LARGE] = calloc(CD__POOL_LARGE_RING, sizeof(ck_ring_buffer_t));
  ch->landing_buf = calloc(CD__LANDING_RING, sizeof(ck_ring_buffer_t));
  if (ch->cmd_buf == NULL || ch->ev_buf == NULL || ch->free_buf[0] == NULL || ch->free_buf[1] == NULL ||
      ch->landing_buf == NULL) {
    free(ch->cmd_buf);
    free(ch->ev_buf);
    free(ch->free_buf[0]);
    free(ch->free_buf[1]);
    free(ch->landing_buf);
    free(ch);
    return NULL;
  }
  ck_ring_init(&ch->landing_ring, CD__LANDING_RING);
  ck_ring_init(&ch->cmd_ring, CD__CMD_RING_SIZE);
  ck_ring_init(&ch->ev_ring, CD__EV_RING_SIZE);
  ck_ring_init(&ch->free_ring[CD__POOL_SMALL], CD__EV_RING_SIZE);
  ck_ring_init(&ch->free_ring[CD__POOL_LARGE], CD__POOL_LARGE_RING);
  CDS_INIT_LIST_HEAD(&ch->transfers);
  ch->env = env;
  ch->waker = waker;
  ch->dirty_list = dirty_list;
  return ch;
}

/* Frees an event for good (not through its pool). */
static void event_destroy(cd_event *ev) {
  cd__stat_add(&cd__live.events, -1);
  if (ev->cap == CD__EVENT_RESERVE) cd__request_unref(ev->req);
  else free(ev);
}

void cd__channel_free(cd_channel *ch) {
  void *item;
  while (ck_ring_dequeue_spsc(&ch->ev_ring, ch->ev_buf, &item)) event_destroy(item);
  for (int p = 0; p < CD__POOLS; p++) {
    while (ck_ring_dequeue_spsc(&ch->free_ring[p], ch->free_buf[p], &item)) free(item);
    free(ch->free_buf[p]);
  }
  while (ck_ring_dequeue_spsc(&ch->cmd_ring, ch->cmd_buf, &item)) cd__command_discard(item);
  cd__channel_drop_backlog(ch);
  free(ch->landing_buf);  /* the landings themselves are the owner's memory */
  free(ch->cmd_buf);
  free(ch->ev_buf);
  free(ch);
}

int cd__channel_flush_backlog(cd_channel *ch) {
  int moved = 0;
  while (ch->backlog_head != NULL) {
    if (!ck_ring_enqueue_spsc(&ch->cmd_ring, ch->cmd_buf, ch->backlog_head->cmd)) return moved;
    cd__backlog_node *n = ch->backlog_head;
    ch->backlog_head = n->next;
    free(n);
    moved = 1;
  }
  ch->backlog_tail = NULL;
  atomic_store(&ch->cmd_blocked, 0);
  return moved;
}

void cd__channel_drop_backlog(cd_channel *ch) {
  while (ch->backlog_head) {
    cd__backlog_node *n = ch->backlog_head;
    ch->backlog_head = n->next;
    cd__command_discard(n->cmd);
    free(n);
  }
  ch->backlog_tail = NULL;
}

/* Wakes the worker now; inside a drain, once every CD__DRAIN_WAKE_EVERY
 * commands, the rest at cd_env_poll_end. */
static void channel_wake(cd_channel *ch) {
  if (ch->env->draining && ++ch->wake_deferred < CD__DRAIN_WAKE_EVERY) return;
  ch->wake_deferred = 0;
  cd__waker_wake(ch->waker);
}

void cd__channel_wake_deferred(cd_channel *ch) {
  if (!ch->wake_deferred) return;
  ch->wake_deferred = 0;
  cd__waker_wake(ch->waker);
}

void cd__channel_push_command(cd_channel *ch, void *cmd) {
  if (ch->backlog_head == NULL && ck_ring_enqueue_spsc(&ch->cmd_ring, ch->cmd_buf, cmd)) {
    channel_wake(ch);
    return;
  }
  /* Ring full: keep the command on the owner's side, in order. The worker
   * notifies us once it has drained the ring (cmd_blocked), and
   * cd_env_poll_begin moves the backlog over. */
  cd__backlog_node *n = malloc(sizeof(*n));
  if (n == NULL) abort();  /* cannot drop a command without losing a request */
  n->next = NULL;
  n->cmd = cmd;
  if (ch->backlog_tail) ch->backlog_tail->next = n; else ch->backlog_head = n;
  ch->backlog_tail = n;
  atomic_store(&ch->cmd_blocked, 1);
  channel_wake(ch);
}

size_t cd__channel_pop_events(cd_channel *ch, cd_event **out, size_t max) {
  size_t got = 0;
  while (got < max && ck_ring_dequeue_spsc(&ch->ev_ring, ch->ev_buf, &out[got])) got++;
  /* The worker holds events back while the ring is full; now there is room. */
  if (got > 0 && atomic_load_explicit(&ch->ev_stalled, memory_order_relaxed)) cd__waker_wake(ch->waker);
  return got;
}

/* The owner is done with `len` bytes of `req`'s response. Pairs with
 * cd__window_full, as a wakeup with parking: the worker publishes
 * window_blocked before reading window_used, the owner lowers window_used
 * before reading window_blocked, so at least one of them sees the other. */
static void window_credit(cd_channel *ch, cd_request *req, size_t len) {
  long used = atomic_fetch_sub(&req->window_used, (long)len) - (long)len;
  if (used <= CD_RESPONSE_WINDOW / 2 && atomic_load(&req->window_blocked) &&
      atomic_exchange(&req->window_blocked, 0)) {
    cd__request_ref(req);
    cd__channel_push_command(ch, cd__command(CD__CMD_CREDIT, req));
  }
}

void cd_event_free(cd_event *ev) {
  if (ev == NULL) return;
  cd_channel *ch = ev->chan;
  if (ev->type == CD_EV_DATA && ev->req != NULL) window_credit(ch, ev->req, ev->len);
  int pool = ev->cap == CD__EVENT_SMALL ? CD__POOL_SMALL : ev->cap == CD__EVENT_LARGE ? CD__POOL_LARGE : -1;
  if (pool >= 0 && ck_ring_enqueue_spsc(&ch->free_ring[pool], ch->free_buf[pool], ev)) {
    cd__stat_add(&cd__live.events, -1);
    return;
  }
  event_destroy(ev);
}

/* ---- events, worker side ------------------------------------------------------ */

static void event_fill(cd_event *ev, cd_channel *chan, cd_request *req, int type, const void *data, size_t len) {
  ev->chan = chan;
  ev->next = NULL;
  ev->req = req;
  ev->slot = req != NULL ? req->slot : CD_SLOT_NONE;
  ev->type = type;
  ev->a = ev->b = ev->c = ev->d = 0;
  ev->len = len;
  ev->landing = NULL;
  if (len) memcpy(ev->data, data, len);
  ev->data[len] = '\0';
  cd__stat_add(&cd__live.events, 1);
}

cd_event *cd__event_new(cd_channel *chan, cd_request *req, int type, const void *data, size_t len) {
  return cd__event_new_room(chan, req, type, data, len, len);
}

cd_event *cd__event_new_room(cd_channel *chan, cd_request *req, int type, const void *data, size_t len,
                             size_t room) {
  if (cd__fault_hit()) return NULL;
  cd_event *ev = NULL;
  if (room < len) room = len;
  int pool = room <= CD__EVENT_SMALL ? CD__POOL_SMALL : room <= CD__EVENT_LARGE ? CD__POOL_LARGE : -1;
  if (pool >= 0) {
    size_t cap = pool == CD__POOL_SMALL ? CD__EVENT_SMALL : CD__EVENT_LARGE;
    void *recycled;
    if (ck_ring_dequeue_spsc(&chan->free_ring[pool], chan->free_buf[pool], &recycled)) ev = recycled;
    else ev = malloc(sizeof(*ev) + cap + 1);
    if (ev == NULL) return NULL;
    ev->cap = cap;
  } else {
    ev = malloc(sizeof(*ev) + room + 1);
    if (ev == NULL) return NULL;
    ev->cap = room;
  }
  event_fill(ev, chan, req, type, data, len);
  return ev;
}

cd_event *cd__event_new_landed(cd_channel *chan, cd_request *req, const void *data, size_t len,
                               int32_t worker) {
  if (chan->landing_spare == NULL) {
    void *item;
    if (!ck_ring_dequeue_spsc(&chan->landing_ring, chan->landing_buf, &item)) return NULL;
    chan->landing_spare = item;
  }
  cd__landing *l = chan->landing_spare;
  if (len > l->cap) return NULL;  /* never: callers pass at most CD__EVENT_LARGE */
  cd_event *ev = cd__event_new(chan, req, CD_EV_DATA, NULL, 0);
  if (ev == NULL) return NULL;  /* the landing stays spare */
  chan->landing_spare = NULL;
  memcpy(l->memory, data, len);
  ev->landing = l->memory;
  ev->landing_cap = l->cap;
  ev->landing_id = l->id;
  ev->len = len;
  ev->b = worker;
  return ev;
}

int cd__landing_give(cd_channel *ch, uint32_t id, void *memory, size_t cap) {
  if (id >= CD_LANDINGS || memory == NULL || cap < CD_LANDING_MIN) return -1;
  cd__landing *l = &ch->landings[id];
  l->memory = memory;
  l->cap = cap;
  l->id = id;
  /* at most CD_LANDINGS are ever given and not yet handed back: room */
  return ck_ring_enqueue_spsc(&ch->landing_ring, ch->landing_buf, l) ? 0 : -1;
}

cd_event *cd__event_new_terminal(cd_request *req, int type, const void *data, size_t len) {
  cd_event *ev = cd__event_new(req->chan, req, type, data, len);
  if (ev != NULL) return ev;
  /* Out of memory: the request still ends, through its reserve. */
  ev = (cd_event *)req->reserve;
  if (type == CD_EV_END && len > 0) {
    /* trailers cannot be cut short without lying about them */
    static const char message[] = "out of memory";
    event_fill(ev, req->chan, req, CD_EV_ERROR, message, sizeof(message) - 1);
    ev->a = CD_ERR_NO_MEMORY;
  } else {
    event_fill(ev, req->chan, req, type, data, len < CD__RESERVE_DATA ? len : CD__RESERVE_DATA);
  }
  ev->cap = CD__EVENT_RESERVE;
  cd__request_ref(req);  /* the event lives in the request */
  return ev;
}

void cd__channel_mark_dirty(cd_channel *chan) {
  if (chan->dirty) return;
  cd__dirty_list *list = chan->dirty_list;
  if (cd__grow((void **)&list->items, &list->cap, list->len + 1, sizeof(*list->items), 16) != 0) abort();
  chan->dirty = 1;
  list->items[list->len++] = chan;
}

void cd__channel_push_event(cd_channel *chan, cd_event *ev) {
  if (chan->overflow_head != NULL || !ck_ring_enqueue_spsc(&chan->ev_ring, chan->ev_buf, ev)) {
    /* Ring full: hold the event back, in order. Body data stops flowing
     * (the write callback pauses while an overflow exists), so what is held
     * here is bounded by a few events per transfer. */
    if (chan->overflow_tail) chan->overflow_tail->next = ev; else chan->overflow_head = ev;
    chan->overflow_tail = ev;
    atomic_store(&chan->ev_stalled, 1);
  }
  cd__channel_mark_dirty(chan);
}

int cd__window_full(cd_request *req) {
  if (atomic_load_explicit(&req->window_used, memory_order_relaxed) < CD_RESPONSE_WINDOW) return 0;
  atomic_store(&req->window_blocked, 1);
  if (atomic_load(&req->window_used) > CD_RESPONSE_WINDOW / 2) return 1;
  /* The owner freed enough meanwhile: take the flag back unless the owner
   * already did (then a CREDIT is on its way, and harmless). */
  atomic_exchange(&req->window_blocked, 0);
  return 0;
}

void cd__window_add(cd_request *req, size_t len) {
  atomic_fetch_add_explicit(&req->window_used, (long)len, memory_order_relaxed);
}

int cd__emit(cd_request *req, int type, const void *data, size_t len) {
  cd_event *ev = cd__event_new(req->chan, req, type, data, len);
  if (ev == NULL) return -1;
  /* counted before the owner can see it, so its credit never comes first */
  if (type == CD_EV_DATA) cd__window_add(req, len);
  cd__channel_push_event(req->chan, ev);
  return 0;
}

int cd__channel_flush_overflow(cd_channel *chan) {
  while (chan->overflow_head != NULL) {
    if (!ck_ring_enqueue_spsc(&chan->ev_ring, chan->ev_buf, chan->overflow_head)) return 0;
    chan->overflow_head = chan->overflow_head->next;
    cd__channel_mark_dirty(chan);
  }
  chan->overflow_tail = NULL;
  atomic_store(&chan->ev_stalled, 0);
  return 1;
}

void cd__channel_drop_overflow(cd_channel *chan) {
  while (chan->overflow_head != NULL) {
    cd_event *ev = chan->overflow_head;
    chan->overflow_head = ev->next;
    event_destroy(ev);
  }
  chan->overflow_tail = NULL;
}

void cd__dirty_list_notify(cd__dirty_list *list) {
  for (size_t i = 0; i < list->len; i++) {
    cd_channel *chan = list->items[i];
    cd_env *env = chan->env;
    chan->dirty = 0;
    /* Like uv_async_send: a cheap read first, the exchange second, the
     * expensive call last and only once per drain of the owner. */
    if (!atomic_load_explicit(&env->scheduled, memory_order_relaxed) &&
        !atomic_exchange(&env->scheduled, 1))
      env->notify(env->notify_ctx);
  }
  list->len = 0;
}
