/* cd_loop.c - one worker thread: its loop and its commands.
 *
 * The loop, per iteration (worker_main):
 *   1. run_channels: walk the attached environments (RCU read side), run
 *      their commands, move held-back events into rings that have room
 *      again, and let go of detaching environments; then cd__load_run:
 *      load runs (cd_load.c) adopted, ended, sent on schedule;
 *   2. curl_multi_perform, then read_results: end completed transfers (or
 *      open the pipe of a connected CD_REQ_RAW one);
 *   3. end transfers whose response completed while uploading, and pump
 *      the raw pipes;
 *   4. fire_timers: the engine's own deadlines (headers and body timeouts);
 *   5. unstall_transfers: let transfers paused on a full ring go on;
 *   6. sweep the caches of closed agents;
 *   7. notify each environment that received events (once per iteration);
 *   8. park in curl_multi_poll unless a command arrived meanwhile.
 * The only cross-thread wakeup is curl_multi_wakeup, sent by an owner thread
 * only while this worker is parked (see cd_waker.h).
 */
#include "cd_loop.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/rculist.h>

#include "cd_clock.h"
#include "cd_channel.h"
#include "cd_data.h"
#include "cd_conn.h"
#include "cd_limit.h"
#include "cd_load.h"
#include "cd_pool.h"
#include "cd_raw.h"
#include "cd_share.h"
#include "cd_timer.h"
#include "cd_transfer.h"
#include "cd_upwait.h"

#define CD_IDLE_POLL_MS 1000
#define CD_MAX_CACHED_CONNECTIONS 4096
/* Raw connections one worker polls at once; more are still served, each
 * loop turn, but only these wake a parked worker. */
#define CD_RAW_POLL_MAX 1024
/* Idle connections watched at once (cd_conn.h), besides those. */
#define CD_POLL_MAX (CD_RAW_POLL_MAX + 1024)

/* ---- commands ------------------------------------------------------------ */

/* Ends any request, raw pipe or not (an abort, a detach). */
static void end_request(cd__worker *w, cd_request *req, int how) {
  cd__raw_close(w, req);
  cd__transfer_end(w, req, how);
}

/* Runs one command, then drops the request reference it held (SUBMIT's is
 * the worker's own, kept until the transfer ends). */
static void run_command(cd__worker *w, void *cmd) {
  cd_request *req = cd__command_request(cmd);
  switch (cd__command_kind(cmd)) {
    case CD__CMD_SUBMIT:
      cd__transfer_start(w, req);
      return;
    case CD__CMD_RESUME:
      if (req->state == CD__T_RUNNING) cd__transfer_resume(w, req);
      break;
    case CD__CMD_ABORT:
      end_request(w, req, CD__END_ABORTED);
      break;
    case CD__CMD_BODY:
      cd__transfer_body(cd__command_ptr(cmd));
      break;
    case CD__CMD_CREDIT:
      cd__transfer_credit(req);  /* raw pipes read again at the next pump */
      break;
  }
  cd__request_unref(req);
}

/* Lets go of everything this worker holds for a detaching environment, then
 * acknowledges. Runs inside the RCU read-side section that found `chan`. */
static void detach_channel(cd__worker *w, cd_channel *chan) {
  void *cmd;
  cd__conn_forget_channel(&w->conns, chan);  /* connections closing from here on go unreported */
  while (ck_ring_dequeue_spsc(&chan->cmd_ring, chan->cmd_buf, &cmd)) cd__command_discard(cmd);
  while (!cds_list_empty(&chan->transfers)) {
    cd_request *req = cds_list_entry(chan->transfers.next, cd_request, chan_node);
    end_request(w, req, CD__END_SILENT);
  }
  cd__channel_drop_overflow(chan);
  atomic_store(&chan->detach, 2);

  cd_env *env = chan->env;
  pthread_mutex_lock(&env->detach_mu);
  if (--env->detach_pending == 0) pthread_cond_signal(&env->detach_cv);
  pthread_mutex_unlock(&env->detach_mu);
}

/* Step 1 of the loop. */
static void run_channels(cd__worker *w) {
  cd_env *env;
  urcu_memb_read_lock();
  cd__registry_for_each(env, w->registry) {
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
    if (atomic_load_explicit(&chan->cmd_blocked, memory_order_relaxed)) cd__channel_mark_dirty(chan);
    if (chan->overflow_head != NULL) cd__channel_flush_overflow(chan);
  }
  urcu_memb_read_unlock();
}

/* Anything to do before parking? Checked after `parked` is set. */
static int has_commands(cd__worker *w) {
  int found = 0;
  cd_env *env;
  if (cd__load_pending(w)) return 1;
  urcu_memb_read_lock();
  cd__registry_for_each(env, w->registry) {
    cd_channel *chan = atomic_load_explicit(&env->channels[w->index], memory_order_acquire);
    if (chan == NULL || atomic_load(&chan->detach) == 2) continue;
    if (atomic_load(&chan->detach) == 1 || ck_ring_size(&chan->cmd_ring) > 0 ||
        (chan->overflow_head != NULL && ck_ring_size(&chan->ev_ring) < CD__EV_RING_SIZE - 1)) {
      found = 1;
      break;
    }
  }
  urcu_memb_read_unlock();
  return found;
}

/* ---- the loop ------------------------------------------------------------ */

/* Step 2: what libcurl finished. */
static void read_results(cd__worker *w) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(w->multi, &left)) != NULL) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURLcode result = msg->data.result;
    cd_request *req = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req);
    if (req == NULL) continue;
    if (cd__load_owns(req)) {
      cd__load_done(w, req, (int)result);  /* a load run's request */
      continue;
    }
    if ((req->flags & CD_REQ_RAW) && result == CURLE_OK && req->error == 0)
      cd__raw_open(w, req);  /* connected: the pipe opens, the request goes on */
    else
      cd__transfer_end(w, req, (int)result);
  }
}

static void fire_timers(cd__worker *w) {
  cd__timer *t;
  while ((t = cd__timer_heap_peek(&w->timers)) != NULL && t->deadline_ms <= w->now_ms) {
    cd__timer_heap_remove(&w->timers, t);
    cd_request *req = (cd_request *)((char *)t - offsetof(cd_request, timer));
    cd__transfer_timeout(w, req);
  }
}

static void unstall_transfers(cd__worker *w) {
  cd_request *req, *tmp;
  cds_list_for_each_entry_safe(req, tmp, &w->stalled, stall_node) {
    if (req->chan->overflow_head == NULL) cd__transfer_unstall(req);
  }
}

static void park(cd__worker *w) {
  long timeout = CD_IDLE_POLL_MS;
  cd__timer *t = cd__timer_heap_peek(&w->timers);
  if (t != NULL) {
    uint64_t now = cd__clock_ms();
    long until = t->deadline_ms > now ? (long)(t->deadline_ms - now) : 0;
    if (until < timeout) timeout = until;
  }
  uint64_t next = w->conn_sweep_ms < w->early_next_ms ? w->conn_sweep_ms : w->early_next_ms;
  if (next != UINT64_MAX) {
    uint64_t now = cd__clock_ms();
    long until = next > now ? (long)(next - now) : 0;
    if (until < timeout) timeout = until;
  }
  if (!cds_list_empty(&w->stalled)) timeout = timeout < 1 ? timeout : 1;
  timeout = cd__load_park_ms(w, timeout);
  if (!cds_list_empty(&w->limits.grown)) return;  /* a session closed outside perform: refill now */
  if (timeout == 0) return;

  /* Either has_commands sees what an owner pushed, or the owner sees
   * `parked` and wakes us (cd_waker.h). */
  cd__waker_park(&w->waker);
  if (!has_commands(w) && !atomic_load(&w->stop)) {
    /* Raw connections are ours to watch: libcurl no longer polls them; so
     * are idle ones, which libcurl does not read (cd_conn.h). */
    struct curl_waitfd fds[CD_POLL_MAX + 1];  /* + the load timer */
    size_t nraw = cds_list_empty(&w->raw) ? 0 : cd__raw_waitfds(w, fds, CD_RAW_POLL_MAX);
    size_t nidle = cd__conn_idle_waitfds(&w->conns, fds + nraw, CD_POLL_MAX - nraw);
    size_t nup = cds_list_empty(&w->upload_waits)
                     ? 0 : cd__upwait_fds(w, fds + nraw + nidle, CD_POLL_MAX - nraw - nidle);
    size_t used = nraw + nidle + nup;
    size_t nload = cd__load_waitfds(w, fds + used, CD_POLL_MAX + 1 - used);
    curl_multi_poll(w->multi, fds, (unsigned)(used + nload), (int)timeout, NULL);
    if (nidle > 0) cd__conn_idle_check(&w->conns, fds + nraw, nidle);
    if (nload > 0) cd__load_waitfds_done(w, fds + used);
  }
  cd__waker_unpark(&w->waker);
}

/* Frees closed agents' caches (every cache when `all`); the connection
 * table forgets them first, as their connections close. */
static void sweep_shares(cd__worker *w, int all) {
  for (cd__share *s = w->shares; s != NULL; s = s->next)
    if (all || cd__share_sweepable(s)) cd__conn_forget_share(&w->conns, s);
  cd__shares_sweep(&w->shares, all);
}

/* Named for top -H, perf and gdb ("cd-worker-N", at most 15 characters):
 * otherwise every worker shows as its process's name. Linux and glibc
 * only; a name is a help, not a need. */
static void name_thread(const cd__worker *w) {
#if defined(__linux__) && defined(__GLIBC__)
  char name[16];
  snprintf(name, sizeof(name), "cd-worker-%u", w->index % 10000u);
  pthread_setname_np(pthread_self(), name);
#else
  (void)w;
#endif
}

static void *worker_main(void *arg) {
  cd__worker *w = arg;
  name_thread(w);
  urcu_memb_register_thread();
  while (!atomic_load(&w->stop)) {
    int running;
    w->now_ms = cd__clock_ms();
    run_channels(w);
    cd__load_run(w);
    curl_multi_perform(w->multi, &running);
    read_results(w);
    if (!cds_list_empty(&w->limits.grown)) cd__transfer_fill_limits(w);
    w->early_next_ms = cds_list_empty(&w->early) ? UINT64_MAX : cd__transfer_end_early(w);
    if (!cds_list_empty(&w->upload_waits)) cd__transfer_check_upload_waits(w);
    if (!cds_list_empty(&w->raw)) cd__raw_pump(w);
    w->now_ms = cd__clock_ms();
    if (w->now_ms >= w->conn_sweep_ms) w->conn_sweep_ms = cd__conn_sweep(&w->conns, w->now_ms);
    fire_timers(w);
    unstall_transfers(w);
    if (!cds_list_empty(&w->data_pending)) cd__data_flush_all(w);
    if (w->shares != NULL) sweep_shares(w, 0);
    cd__dirty_list_notify(&w->dirty);
    park(w);
  }
  urcu_memb_unregister_thread();
  return NULL;
}

cd__worker *cd__loop_start(cd__registry *registry, unsigned index) {
  cd__worker *w = calloc(1, sizeof(*w));
  if (w == NULL) return NULL;
  w->registry = registry;
  w->index = index;
  w->multi = curl_multi_init();
  if (w->multi == NULL) {
    free(w);
    return NULL;
  }
  w->waker.multi = w->multi;
  w->conn_sweep_ms = UINT64_MAX;
  w->early_next_ms = UINT64_MAX;
  w->conns.clock = &w->now_ms;
  /* libcurl's default cache limit is 4x the handles currently added; this
   * engine removes a handle as soon as its transfer ends and JS refills
   * later, so between bursts the limit fell to a few connections and
   * ~7% of requests opened a new one (353 connections for 5000 requests
   * at 64 in flight). Idle connections still go after keepAliveTimeout. */
  curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, (long)CD_MAX_CACHED_CONNECTIONS);
  cd__timer_heap_init(&w->timers);
  CDS_INIT_LIST_HEAD(&w->stalled);
  CDS_INIT_LIST_HEAD(&w->early);
  CDS_INIT_LIST_HEAD(&w->upload_waits);
  CDS_INIT_LIST_HEAD(&w->data_pending);
  cd__limits_init(&w->limits);
  CDS_INIT_LIST_HEAD(&w->raw);
  cd__load_worker_init(&w->load);
  if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
    curl_multi_cleanup(w->multi);
    free(w);
    return NULL;
  }
  return w;
}

void cd__loop_stop(cd__worker *w) {
  atomic_store(&w->stop, 1);
  cd__waker_kick(&w->waker);
  pthread_join(w->thread, NULL);
  cd__load_worker_stop(w);
  sweep_shares(w, 1);
  cd__pool_free(&w->pool);
  curl_multi_cleanup(w->multi);
  cd__conn_table_free(&w->conns);  /* after every connection has closed */
  cd__timer_heap_free(&w->timers);
  free(w->dirty.items);
  free(w->decoded);
  cd__limits_free(&w->limits);
  free(w);
}
