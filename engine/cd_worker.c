/* cd_worker.c - one worker thread: its loop, its commands, its events.
 *
 * The loop, per iteration:
 *   1. walk the attached environments (RCU read side) and run their
 *      commands; let go of detaching environments;
 *   2. curl_multi_perform, then finish completed transfers;
 *   3. fire the engine's own timers (headers and body timeouts);
 *   4. move held-back events into rings that have room again and let
 *      transfers stalled on a full ring go on;
 *   5. notify each environment that received events (once per iteration);
 *   6. park in curl_multi_poll unless a command arrived meanwhile.
 * The only cross-thread wakeup is curl_multi_wakeup, sent by an owner thread
 * only while this worker is parked (see cd_worker_wake).
 */
#include "cd_internal.h"

#include <stdlib.h>
#include <string.h>

#include <urcu/rculist.h>

#define CD_IDLE_POLL_MS 1000
#define CD_MAX_CACHED_CONNECTIONS 4096
/* Raw connections one worker polls at once; more are still served, each
 * loop turn, but only these wake a parked worker. */
#define CD_RAW_POLL_MAX 1024

/* ---- events -------------------------------------------------------------- */

static cd_event *event_new(cd_channel *chan, cd_request *req, uint32_t slot, int type,
                           const void *data, size_t len) {
  cd_event *ev = NULL;
  int pool = len <= CD_EVENT_SMALL ? CD_POOL_SMALL : len <= CD_EVENT_LARGE ? CD_POOL_LARGE : -1;
  if (pool >= 0) {
    size_t cap = pool == CD_POOL_SMALL ? CD_EVENT_SMALL : CD_EVENT_LARGE;
    void *recycled;
    if (ck_ring_dequeue_spsc(&chan->free_ring[pool], chan->free_buf[pool], &recycled)) ev = recycled;
    else ev = malloc(sizeof(*ev) + cap + 1);
    if (ev == NULL) return NULL;
    ev->cap = cap;
  } else {
    ev = malloc(sizeof(*ev) + len + 1);
    if (ev == NULL) return NULL;
    ev->cap = len;
  }
  ev->chan = chan;
  ev->next = NULL;
  ev->req = req;
  ev->slot = slot;
  ev->type = type;
  ev->a = ev->b = ev->c = ev->d = 0;
  ev->len = len;
  if (len) memcpy(ev->data, data, len);
  ev->data[len] = '\0';
  cd_stat_add(&cd_live.events, 1);
  return ev;
}

cd_event *cd_event_new(cd_request *req, int type, const void *data, size_t len) {
  return event_new(req->chan, req, req->slot, type, data, len);
}

cd_event *cd_event_new_env(cd_channel *chan, int type, const void *data, size_t len) {
  return event_new(chan, NULL, CD_SLOT_NONE, type, data, len);
}

static void mark_dirty(cd_worker *w, cd_channel *chan) {
  if (chan->dirty) return;
  if (w->dirty_len == w->dirty_cap) {
    size_t cap = w->dirty_cap ? w->dirty_cap * 2 : 16;
    cd_channel **d = realloc(w->dirty, cap * sizeof(*d));
    if (d == NULL) abort();
    w->dirty = d;
    w->dirty_cap = cap;
  }
  chan->dirty = 1;
  w->dirty[w->dirty_len++] = chan;
}

void cd_worker_push_event(cd_worker *w, cd_channel *chan, cd_event *ev) {
  if (chan->overflow_head != NULL || !ck_ring_enqueue_spsc(&chan->ev_ring, chan->ev_buf, ev)) {
    /* Ring full: hold the event back, in order. Body data stops flowing
     * (the write callback pauses while an overflow exists), so what is held
     * here is bounded by a few events per transfer. */
    if (chan->overflow_tail) chan->overflow_tail->next = ev; else chan->overflow_head = ev;
    chan->overflow_tail = ev;
    atomic_store(&chan->ev_stalled, 1);
  }
  mark_dirty(w, chan);
}

/* Moves held-back events into the ring. Returns 1 if none is left. */
static int flush_overflow(cd_worker *w, cd_channel *chan) {
  while (chan->overflow_head != NULL) {
    if (!ck_ring_enqueue_spsc(&chan->ev_ring, chan->ev_buf, chan->overflow_head)) return 0;
    chan->overflow_head = chan->overflow_head->next;
    mark_dirty(w, chan);
  }
  chan->overflow_tail = NULL;
  atomic_store(&chan->ev_stalled, 0);
  return 1;
}

static void notify_envs(cd_worker *w) {
  for (size_t i = 0; i < w->dirty_len; i++) {
    cd_channel *chan = w->dirty[i];
    cd_env *env = chan->env;
    chan->dirty = 0;
    /* Like uv_async_send: a cheap read first, the exchange second, the
     * expensive call last and only once per drain of the owner. */
    if (!atomic_load_explicit(&env->scheduled, memory_order_relaxed) &&
        !atomic_exchange(&env->scheduled, 1))
      env->notify(env->notify_ctx);
  }
  w->dirty_len = 0;
}

/* ---- commands ------------------------------------------------------------ */

static void run_command(cd_worker *w, void *cmd) {
  uintptr_t kind = (uintptr_t)cmd & CD_CMD_TAG_MASK;
  void *p = (void *)((uintptr_t)cmd & ~CD_CMD_TAG_MASK);
  cd_request *req;
  switch (kind) {
    case CD_CMD_SUBMIT:
      cd_transfer_start(w, p);
      return;
    case CD_CMD_RESUME:
      req = p;
      if (req->state == CD_T_RUNNING) cd_transfer_resume(w, req);
      cd_request_unref(req);
      return;
    case CD_CMD_ABORT:
      req = p;
      cd_transfer_abort(w, req, 1);
      cd_request_unref(req);
      return;
    case CD_CMD_BODY:
      req = ((cd_chunk *)p)->req;
      cd_transfer_body(w, p);
      cd_request_unref(req);
      return;
  }
}

/* Drops a command without running it (detaching environment). */
static void discard_command(void *cmd) {
  uintptr_t kind = (uintptr_t)cmd & CD_CMD_TAG_MASK;
  void *p = (void *)((uintptr_t)cmd & ~CD_CMD_TAG_MASK);
  cd_request *req = p;
  if (kind == CD_CMD_BODY) {
    req = ((cd_chunk *)p)->req;
    free(p);
    cd_stat_add(&cd_live.commands, -1);
  } else if (kind == CD_CMD_SUBMIT) {
    cd_stat_add(&cd_live.transfers, -1);
  }
  cd_request_unref(req);
}

/* Lets go of everything this worker holds for a detaching environment, then
 * acknowledges. Runs inside the RCU read-side section that found `chan`. */
static void detach_channel(cd_worker *w, cd_channel *chan) {
  void *cmd;
  cd_conn_forget_channel(w, chan);  /* connections closing from here on go unreported */
  while (ck_ring_dequeue_spsc(&chan->cmd_ring, chan->cmd_buf, &cmd)) discard_command(cmd);
  while (!cds_list_empty(&chan->transfers)) {
    cd_request *req = cds_list_entry(chan->transfers.next, cd_request, chan_node);
    cd_transfer_abort(w, req, 0);
  }
  while (chan->overflow_head != NULL) {
    cd_event *ev = chan->overflow_head;
    chan->overflow_head = ev->next;
    cd_event_destroy(ev);
  }
  chan->overflow_tail = NULL;
  atomic_store(&chan->detach, 2);

  cd_env *env = chan->env;
  pthread_mutex_lock(&env->detach_mu);
  if (--env->detach_pending == 0) pthread_cond_signal(&env->detach_cv);
  pthread_mutex_unlock(&env->detach_mu);
}

/* Step 1 of the loop. */
static void run_channels(cd_worker *w) {
  cd_env *env;
  urcu_memb_read_lock();
  cds_list_for_each_entry_rcu(env, &w->engine->envs, node) {
    cd_channel *chan = atomic_load_explicit(&env->channels[w->index], memory_order_acquire);
    if (chan == NULL) continue;
    int detach = atomic_load(&chan->detach);
    if (detach == 2) continue;
    if (detach == 1) {
      detach_channel(w, chan);
      continue;
    }
    void *cmd;
    while (ck_ring_dequeue_spsc(&chan->cmd_ring, chan->cmd_buf, &cmd)) run_command(w, cmd);
    /* The owner parked commands because the ring was full: it is empty now,
     * so get the owner to move them (it does so when notified). */
    if (atomic_load_explicit(&chan->cmd_blocked, memory_order_relaxed)) mark_dirty(w, chan);
    if (chan->overflow_head != NULL) flush_overflow(w, chan);
  }
  urcu_memb_read_unlock();
}

/* Anything to do before parking? Checked after `parked` is set. */
static int has_commands(cd_worker *w) {
  int found = 0;
  cd_env *env;
  urcu_memb_read_lock();
  cds_list_for_each_entry_rcu(env, &w->engine->envs, node) {
    cd_channel *chan = atomic_load_explicit(&env->channels[w->index], memory_order_acquire);
    if (chan == NULL || atomic_load(&chan->detach) == 2) continue;
    if (atomic_load(&chan->detach) == 1 || ck_ring_size(&chan->cmd_ring) > 0 ||
        (chan->overflow_head != NULL && ck_ring_size(&chan->ev_ring) < CD_EV_RING_SIZE - 1)) {
      found = 1;
      break;
    }
  }
  urcu_memb_read_unlock();
  return found;
}

/* ---- the loop ------------------------------------------------------------ */

static void finish_completed(cd_worker *w) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(w->multi, &left)) != NULL) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURLcode result = msg->data.result;
    cd_request *req = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req);
    if (req != NULL) cd_transfer_done(w, req, result);
  }
}

static void fire_timers(cd_worker *w) {
  cd_timer *t;
  while ((t = cd_timer_heap_peek(&w->timers)) != NULL && t->deadline_ms <= w->now_ms) {
    cd_timer_heap_remove(&w->timers, t);
    cd_request *req = (cd_request *)((char *)t - offsetof(cd_request, timer));
    cd_transfer_timeout(w, req);
  }
}

static void unstall_transfers(cd_worker *w) {
  cd_request *req, *tmp;
  cds_list_for_each_entry_safe(req, tmp, &w->stalled, wait_node) {
    if (req->chan->overflow_head == NULL) cd_transfer_unstall(w, req);
  }
}

static void park(cd_worker *w) {
  long timeout = CD_IDLE_POLL_MS;
  cd_timer *t = cd_timer_heap_peek(&w->timers);
  if (t != NULL) {
    uint64_t now = cd_now_ms();
    long until = t->deadline_ms > now ? (long)(t->deadline_ms - now) : 0;
    if (until < timeout) timeout = until;
  }
  if (!cds_list_empty(&w->stalled)) timeout = timeout < 1 ? timeout : 1;
  if (timeout == 0) return;

  atomic_store(&w->parked, 1);
  /* Pairs with the fence in cd_worker_wake: either we see the owner's
   * command here, or the owner sees `parked` and wakes us. */
  atomic_thread_fence(memory_order_seq_cst);
  if (!has_commands(w) && !atomic_load(&w->stop)) {
    /* Raw connections are ours to watch: libcurl no longer polls them. */
    struct curl_waitfd fds[CD_RAW_POLL_MAX];
    size_t nfds = cds_list_empty(&w->raw) ? 0 : cd_raw_waitfds(w, fds, CD_RAW_POLL_MAX);
    curl_multi_poll(w->multi, fds, (unsigned)nfds, (int)timeout, NULL);
  }
  atomic_store(&w->parked, 0);
  atomic_store(&w->wake_pending, 0);
}

static void *worker_main(void *arg) {
  cd_worker *w = arg;
  urcu_memb_register_thread();
  while (!atomic_load(&w->stop)) {
    int running;
    w->now_ms = cd_now_ms();
    run_channels(w);
    curl_multi_perform(w->multi, &running);
    finish_completed(w);
    if (!cds_list_empty(&w->early)) cd_transfer_finish_early(w);
    if (!cds_list_empty(&w->raw)) cd_raw_pump(w);
    w->now_ms = cd_now_ms();
    fire_timers(w);
    unstall_transfers(w);
    if (w->shares != NULL) cd_shares_sweep(w, 0);
    notify_envs(w);
    park(w);
  }
  urcu_memb_unregister_thread();
  return NULL;
}

cd_worker *cd_worker_start(cd_engine *engine, unsigned index) {
  cd_worker *w = calloc(1, sizeof(*w));
  if (w == NULL) return NULL;
  w->engine = engine;
  w->index = index;
  w->multi = curl_multi_init();
  if (w->multi == NULL) {
    free(w);
    return NULL;
  }
  /* libcurl's default cache limit is 4x the handles currently added; this
   * engine removes a handle as soon as its transfer ends and JS refills
   * later, so between bursts the limit fell to a few connections and
   * ~7% of requests opened a new one (353 connections for 5000 requests
   * at 64 in flight). Idle connections still go after keepAliveTimeout. */
  curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, (long)CD_MAX_CACHED_CONNECTIONS);
  cd_timer_heap_init(&w->timers);
  CDS_INIT_LIST_HEAD(&w->stalled);
  CDS_INIT_LIST_HEAD(&w->early);
  CDS_INIT_LIST_HEAD(&w->raw);
  if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
    curl_multi_cleanup(w->multi);
    free(w);
    return NULL;
  }
  return w;
}

void cd_worker_stop(cd_worker *w) {
  atomic_store(&w->stop, 1);
  curl_multi_wakeup(w->multi);
  pthread_join(w->thread, NULL);
  cd_shares_sweep(w, 1);
  for (size_t i = 0; i < w->pool_len; i++) {
    curl_easy_cleanup(w->pool[i]);
    cd_stat_add(&cd_live.handles, -1);
  }
  free(w->pool);
  curl_multi_cleanup(w->multi);
  cd_conn_free_all(w);  /* after every connection has closed */
  cd_timer_heap_free(&w->timers);
  free(w->dirty);
  for (unsigned i = 0; i < CD_LIMIT_BUCKETS; i++) {
    while (w->limits[i]) {
      cd_limit *l = w->limits[i];
      w->limits[i] = l->next;
      free(l);
    }
  }
  free(w);
}

void cd_worker_wake(cd_worker *w) {
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&w->parked, memory_order_relaxed) &&
      !atomic_exchange(&w->wake_pending, 1))
    curl_multi_wakeup(w->multi);
}
