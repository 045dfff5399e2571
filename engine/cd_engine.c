/* cd_engine.c - the process-wide engine, environments, channels and the
 * owner-side request calls (see engine.h for the threading contract). */
#include "cd_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <urcu/rculist.h>

static pthread_mutex_t g_engine_mu = PTHREAD_MUTEX_INITIALIZER;
static cd_engine *g_engine;  /* guarded by g_engine_mu */

cd_counters cd_live;

void cd_stat_add(atomic_long *counter, long delta) {
  atomic_fetch_add_explicit(counter, delta, memory_order_relaxed);
}

/* ---- engine ------------------------------------------------------------ */

cd_engine *cd_engine_acquire(void) {
  pthread_mutex_lock(&g_engine_mu);
  cd_engine *e = g_engine;
  if (e == NULL) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) goto out;
    e = calloc(1, sizeof(*e));
    if (e == NULL) goto out;
    pthread_mutex_init(&e->mu, NULL);
    CDS_INIT_LIST_HEAD(&e->envs);
    g_engine = e;
  }
  e->refs++;
out:
  pthread_mutex_unlock(&g_engine_mu);
  return e;
}

void cd_engine_release(cd_engine *e) {
  pthread_mutex_lock(&g_engine_mu);
  if (--e->refs > 0) {
    pthread_mutex_unlock(&g_engine_mu);
    return;
  }
  g_engine = NULL;
  pthread_mutex_unlock(&g_engine_mu);

  unsigned n = atomic_load(&e->nworkers);
  for (unsigned i = 0; i < n; i++) cd_worker_stop(e->workers[i]);
  pthread_mutex_destroy(&e->mu);
  free(e);
  /* curl_global_cleanup is left out on purpose: other code in the process
   * (or a later engine) may still rely on libcurl's global state. */
}

void cd_engine_wake_all(void) {
  pthread_mutex_lock(&g_engine_mu);
  cd_engine *e = g_engine;
  if (e != NULL) {
    unsigned n = atomic_load(&e->nworkers);
    for (unsigned i = 0; i < n; i++) curl_multi_wakeup(e->workers[i]->multi);
  }
  pthread_mutex_unlock(&g_engine_mu);
}

unsigned cd_engine_ensure_workers(cd_engine *e, unsigned n) {
  if (n > CD_MAX_WORKERS) n = CD_MAX_WORKERS;
  pthread_mutex_lock(&e->mu);
  unsigned have = atomic_load(&e->nworkers);
  while (have < n) {
    cd_worker *w = cd_worker_start(e, have);
    if (w == NULL) break;
    e->workers[have++] = w;
    /* Publish after the slot is written: readers load nworkers first. */
    atomic_store_explicit(&e->nworkers, have, memory_order_release);
  }
  pthread_mutex_unlock(&e->mu);
  return have;
}

void cd_engine_get_stats(cd_engine *e, cd_engine_stats *out) {
  out->requests = atomic_load(&cd_live.requests);
  out->transfers = atomic_load(&cd_live.transfers);
  out->events = atomic_load(&cd_live.events);
  out->commands = atomic_load(&cd_live.commands);
  out->handles = atomic_load(&cd_live.handles);
  out->envs = atomic_load(&cd_live.envs);
  out->configs = atomic_load(&cd_live.configs);
  out->workers = atomic_load(&e->nworkers);
}

/* ---- environments ------------------------------------------------------ */

cd_env *cd_env_attach(cd_engine *e, cd_notify_fn notify, void *ctx) {
  cd_env *env = calloc(1, sizeof(*env));
  if (env == NULL) return NULL;
  env->engine = e;
  env->notify = notify;
  env->notify_ctx = ctx;
  pthread_mutex_init(&env->detach_mu, NULL);
  pthread_cond_init(&env->detach_cv, NULL);
  pthread_mutex_lock(&e->mu);
  cds_list_add_tail_rcu(&env->node, &e->envs);
  pthread_mutex_unlock(&e->mu);
  cd_stat_add(&cd_live.envs, 1);
  return env;
}

static cd_channel *channel_new(cd_env *env, cd_worker *w) {
  cd_channel *ch = calloc(1, sizeof(*ch));
  if (ch == NULL) return NULL;
  ch->cmd_buf = calloc(CD_CMD_RING_SIZE, sizeof(ck_ring_buffer_t));
  ch->ev_buf = calloc(CD_EV_RING_SIZE, sizeof(ck_ring_buffer_t));
  ch->free_buf[CD_POOL_SMALL] = calloc(CD_EV_RING_SIZE, sizeof(ck_ring_buffer_t));
  ch->free_buf[CD_POOL_LARGE] = calloc(CD_POOL_LARGE_RING, sizeof(ck_ring_buffer_t));
  if (ch->cmd_buf == NULL || ch->ev_buf == NULL || ch->free_buf[0] == NULL || ch->free_buf[1] == NULL) {
    free(ch->cmd_buf);
    free(ch->ev_buf);
    free(ch->free_buf[0]);
    free(ch->free_buf[1]);
    free(ch);
    return NULL;
  }
  ck_ring_init(&ch->cmd_ring, CD_CMD_RING_SIZE);
  ck_ring_init(&ch->ev_ring, CD_EV_RING_SIZE);
  ck_ring_init(&ch->free_ring[CD_POOL_SMALL], CD_EV_RING_SIZE);
  ck_ring_init(&ch->free_ring[CD_POOL_LARGE], CD_POOL_LARGE_RING);
  CDS_INIT_LIST_HEAD(&ch->transfers);
  ch->env = env;
  ch->worker = w;
  return ch;
}

/* The channel to worker `index`, created on first use. Owner thread. */
static cd_channel *env_channel(cd_env *env, unsigned index) {
  cd_channel *ch = atomic_load_explicit(&env->channels[index], memory_order_relaxed);
  if (ch != NULL) return ch;
  ch = channel_new(env, env->engine->workers[index]);
  if (ch != NULL) atomic_store_explicit(&env->channels[index], ch, memory_order_release);
  return ch;
}

static cd_request *cmd_request(void *cmd) {
  uintptr_t p = (uintptr_t)cmd & ~CD_CMD_TAG_MASK;
  if (((uintptr_t)cmd & CD_CMD_TAG_MASK) == CD_CMD_BODY) return ((cd_chunk *)p)->req;
  return (cd_request *)p;
}

/* Frees a command that will never be run (detach). */
static void drop_command(cd_engine *e, void *cmd) {
  uintptr_t kind = (uintptr_t)cmd & CD_CMD_TAG_MASK;
  cd_request *req = cmd_request(cmd);
  if (kind == CD_CMD_BODY) {
    free((void *)((uintptr_t)cmd & ~CD_CMD_TAG_MASK));
    cd_stat_add(&cd_live.commands, -1);
  } else if (kind == CD_CMD_SUBMIT) {
    cd_stat_add(&cd_live.transfers, -1);
  }
  cd_request_unref(req);  /* the worker's ref (SUBMIT) or the command's */
}

static void channel_flush_backlog(cd_channel *ch) {
  while (ch->backlog_head != NULL) {
    if (!ck_ring_enqueue_spsc(&ch->cmd_ring, ch->cmd_buf, ch->backlog_head->cmd)) return;
    cd_backlog_node *n = ch->backlog_head;
    ch->backlog_head = n->next;
    free(n);
  }
  ch->backlog_tail = NULL;
  atomic_store(&ch->cmd_blocked, 0);
}

/* Wakes the worker now, or at cd_env_poll_end when inside a drain. */
static void channel_wake(cd_channel *ch) {
  if (ch->env->draining) ch->wake_deferred = 1;
  else cd_worker_wake(ch->worker);
}

static void channel_push_command(cd_channel *ch, void *cmd) {
  if (ch->backlog_head == NULL && ck_ring_enqueue_spsc(&ch->cmd_ring, ch->cmd_buf, cmd)) {
    channel_wake(ch);
    return;
  }
  /* Ring full: keep the command on the owner's side, in order. The worker
   * notifies us once it has drained the ring (cmd_blocked), and
   * cd_env_poll_begin moves the backlog over. */
  cd_backlog_node *n = malloc(sizeof(*n));
  if (n == NULL) abort();  /* cannot drop a command without losing a request */
  n->next = NULL;
  n->cmd = cmd;
  if (ch->backlog_tail) ch->backlog_tail->next = n; else ch->backlog_head = n;
  ch->backlog_tail = n;
  atomic_store(&ch->cmd_blocked, 1);
  channel_wake(ch);
}

void cd_env_detach(cd_env *env) {
  cd_engine *e = env->engine;
  unsigned n = atomic_load(&e->nworkers);
  int pending = 0;

  /* Commands still on our side never reached a worker. */
  for (unsigned i = 0; i < n; i++) {
    cd_channel *ch = atomic_load(&env->channels[i]);
    if (ch == NULL) continue;
    while (ch->backlog_head) {
      cd_backlog_node *bn = ch->backlog_head;
      ch->backlog_head = bn->next;
      drop_command(e, bn->cmd);
      free(bn);
    }
    ch->backlog_tail = NULL;
    pending++;
  }

  pthread_mutex_lock(&env->detach_mu);
  env->detach_pending = pending;
  pthread_mutex_unlock(&env->detach_mu);
  for (unsigned i = 0; i < n; i++) {
    cd_channel *ch = atomic_load(&env->channels[i]);
    if (ch == NULL) continue;
    atomic_store(&ch->detach, 1);
    cd_worker_wake(ch->worker);
  }
  pthread_mutex_lock(&env->detach_mu);
  while (env->detach_pending > 0) pthread_cond_wait(&env->detach_cv, &env->detach_mu);
  pthread_mutex_unlock(&env->detach_mu);

  pthread_mutex_lock(&e->mu);
  cds_list_del_rcu(&env->node);
  pthread_mutex_unlock(&e->mu);
  /* Workers walk the env list without locks: wait until none can still be
   * looking at this env or its channels. */
  urcu_memb_synchronize_rcu();

  for (unsigned i = 0; i < n; i++) {
    cd_channel *ch = atomic_load(&env->channels[i]);
    if (ch == NULL) continue;
    void *item;
    while (ck_ring_dequeue_spsc(&ch->ev_ring, ch->ev_buf, &item)) cd_event_destroy(item);
    for (int p = 0; p < CD_POOLS; p++) {
      while (ck_ring_dequeue_spsc(&ch->free_ring[p], ch->free_buf[p], &item)) free(item);
      free(ch->free_buf[p]);
    }
    while (ck_ring_dequeue_spsc(&ch->cmd_ring, ch->cmd_buf, &item)) drop_command(e, item);
    free(ch->cmd_buf);
    free(ch->ev_buf);
    free(ch);
  }
  pthread_mutex_destroy(&env->detach_mu);
  pthread_cond_destroy(&env->detach_cv);
  free(env);
  cd_stat_add(&cd_live.envs, -1);
}

/* ---- requests (owner side) -------------------------------------------- */

static void free_headers(cd_request *req);

void cd_request_unref(cd_request *req) {
  if (atomic_fetch_sub_explicit(&req->refs, 1, memory_order_acq_rel) != 1) return;
  free_headers(req);
  free(req->hdr);
  free(req->trailers);
  cd_config_unref(req->config);
  free(req);
  cd_stat_add(&cd_live.requests, -1);
}

/* Shared, immutable tails of every request's header list: the headers
 * curl would add on its own, suppressed, so the server gets the user's
 * headers plus Host and the framing headers, nothing else. curl only reads
 * the lists; these nodes are never freed. */
static struct curl_slist suppress_expect = {(char *)"Expect:", NULL};
static struct curl_slist suppress_accept = {(char *)"Accept:", &suppress_expect};
/* With an in-memory body (CURLOPT_POSTFIELDS) curl would add a form type. */
static struct curl_slist suppress_form = {(char *)"Content-Type:", &suppress_accept};

/* Turns "Name: value\n" lines into curl's list, in curl's dialect: an empty
 * value is written "Name;" (curl reads "Name:" as "remove this header").
 * The user's nodes end in one of the shared tails above. */
static int build_headers(cd_request *req, const char *lines, size_t len) {
  struct curl_slist *list = NULL, *tail = NULL;
  int has_content_type = 0;
  const char *p = lines, *end = lines ? lines + len : NULL;
  char stack[512];
  while (p != NULL && p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    if (n > 0) {
      char *line = n < sizeof(stack) ? stack : malloc(n + 1);
      if (line == NULL) goto fail;
      memcpy(line, p, n);
      line[n] = '\0';
      if (n >= 13 && strncasecmp(line, "content-type:", 13) == 0) has_content_type = 1;
      size_t l = n;
      while (l > 0 && line[l - 1] == ' ') l--;
      if (l > 0 && line[l - 1] == ':') {
        line[l - 1] = ';';
        line[l] = '\0';
      }
      struct curl_slist *node = curl_slist_append(NULL, line);
      if (line != stack) free(line);
      if (node == NULL) goto fail;
      if (tail) tail->next = node; else list = node;
      tail = node;
    }
    p = nl ? nl + 1 : end;
  }
  struct curl_slist *shared = req->body_data != NULL && !has_content_type ? &suppress_form : &suppress_accept;
  if (tail) tail->next = shared; else list = shared;
  req->headers = list;
  req->headers_tail = tail;
  return 0;
fail:
  curl_slist_free_all(list);
  return -1;
}

static void free_headers(cd_request *req) {
  if (req->headers_tail == NULL) return;  /* only the shared tail */
  req->headers_tail->next = NULL;
  curl_slist_free_all(req->headers);
}

cd_request *cd_request_submit(cd_env *env, cd_config *config, const cd_request_opts *o) {
  cd_engine *e = env->engine;
  unsigned n = atomic_load_explicit(&e->nworkers, memory_order_acquire);
  if (n == 0 && (n = cd_engine_ensure_workers(e, 1)) == 0) return NULL;
  cd_channel *ch = env_channel(env, o->worker % n);
  if (ch == NULL) return NULL;

  /* The request and its strings in one allocation. */
  const char *method = o->method ? o->method : "GET";
  const char *origin = o->origin ? o->origin : "";
  size_t url_len = strlen(o->url) + 1, origin_len = strlen(origin) + 1;
  size_t method_len = strlen(method) + 1, connect_len = o->connect_to ? strlen(o->connect_to) + 1 : 0;
  cd_request *req = calloc(1, sizeof(*req) + url_len + origin_len + method_len + connect_len);
  if (req == NULL) return NULL;
  char *strings = (char *)(req + 1);
  req->url = memcpy(strings, o->url, url_len);
  req->origin = memcpy(strings += url_len, origin, origin_len);
  req->method = memcpy(strings += origin_len, method, method_len);
  if (connect_len) req->connect_to = memcpy(strings + method_len, o->connect_to, connect_len);
  atomic_init(&req->refs, 2);  /* owner + worker */
  req->env = env;
  req->chan = ch;
  req->slot = o->slot;
  req->body_mode = o->body_mode;
  req->body_length = o->body_mode == CD_BODY_STREAM ? o->body_length : 0;
  if (o->body_mode == CD_BODY_STREAM && o->body_data != NULL) {
    req->body_data = o->body_data;
    req->body_data_len = o->body_data_len;
  }
  req->headers_timeout_ms = o->headers_timeout_ms;
  req->body_timeout_ms = o->body_timeout_ms;
  req->http_version = o->http_version;
  req->flags = o->flags;

  cd_timer_init(&req->timer);
  CDS_INIT_LIST_HEAD(&req->chan_node);
  CDS_INIT_LIST_HEAD(&req->wait_node);
  CDS_INIT_LIST_HEAD(&req->early_node);
  CDS_INIT_LIST_HEAD(&req->raw_node);
  req->resp_length = -1;
  if (build_headers(req, o->headers, o->headers_len) != 0) {
    free(req);
    return NULL;
  }
  cd_config_retain(config);
  req->config = config;
  cd_stat_add(&cd_live.requests, 1);
  cd_stat_add(&cd_live.transfers, 1);
  channel_push_command(ch, (void *)((uintptr_t)req | CD_CMD_SUBMIT));
  return req;
}

int cd_request_write(cd_env *env, cd_request *req, const void *data, size_t len, int end) {
  cd_chunk *c = malloc(sizeof(*c) + len);
  if (c == NULL) return -1;
  c->next = NULL;
  c->req = req;
  c->len = len;
  c->off = 0;
  c->end = end;
  if (len) memcpy(c->data, data, len);
  atomic_fetch_add_explicit(&req->refs, 1, memory_order_relaxed);
  cd_stat_add(&cd_live.commands, 1);
  channel_push_command(req->chan, (void *)((uintptr_t)c | CD_CMD_BODY));
  return 0;
}

void cd_request_pause(cd_request *req) {
  atomic_store_explicit(&req->paused, 1, memory_order_relaxed);
}

void cd_request_resume(cd_env *env, cd_request *req) {
  atomic_store_explicit(&req->paused, 0, memory_order_relaxed);
  atomic_fetch_add_explicit(&req->refs, 1, memory_order_relaxed);
  channel_push_command(req->chan, (void *)((uintptr_t)req | CD_CMD_RESUME));
}

void cd_request_abort(cd_env *env, cd_request *req) {
  atomic_fetch_add_explicit(&req->refs, 1, memory_order_relaxed);
  channel_push_command(req->chan, (void *)((uintptr_t)req | CD_CMD_ABORT));
}

void cd_request_release(cd_request *req) {
  cd_request_unref(req);
}

/* ---- events (owner side) ------------------------------------------------ */

void cd_env_poll_end(cd_env *env) {
  env->draining = 0;
  unsigned n = atomic_load(&env->engine->nworkers);
  for (unsigned i = 0; i < n; i++) {
    cd_channel *ch = atomic_load_explicit(&env->channels[i], memory_order_relaxed);
    if (ch != NULL && ch->wake_deferred) {
      ch->wake_deferred = 0;
      cd_worker_wake(ch->worker);
    }
  }
}

void cd_env_poll_begin(cd_env *env) {
  env->draining = 1;
  atomic_store(&env->scheduled, 0);
  unsigned n = atomic_load(&env->engine->nworkers);
  for (unsigned i = 0; i < n; i++) {
    cd_channel *ch = atomic_load_explicit(&env->channels[i], memory_order_relaxed);
    if (ch != NULL && ch->backlog_head != NULL) {
      channel_flush_backlog(ch);
      cd_worker_wake(ch->worker);
    }
  }
}

size_t cd_env_poll(cd_env *env, cd_event **out, size_t max) {
  unsigned n = atomic_load(&env->engine->nworkers);
  size_t got = 0;
  for (unsigned k = 0; k < n && got < max; k++) {
    unsigned i = (env->poll_cursor + k) % n;
    cd_channel *ch = atomic_load_explicit(&env->channels[i], memory_order_relaxed);
    if (ch == NULL) continue;
    size_t before = got;
    while (got < max && ck_ring_dequeue_spsc(&ch->ev_ring, ch->ev_buf, &out[got])) got++;
    /* The worker holds events back while the ring is full; now there is room. */
    if (got > before && atomic_load_explicit(&ch->ev_stalled, memory_order_relaxed))
      cd_worker_wake(ch->worker);
  }
  if (n) env->poll_cursor = (env->poll_cursor + 1) % n;
  return got;
}

void cd_event_destroy(cd_event *ev) {
  cd_stat_add(&cd_live.events, -1);
  free(ev);
}

void cd_event_free(cd_event *ev) {
  if (ev == NULL) return;
  cd_channel *ch = ev->chan;
  int pool = ev->cap == CD_EVENT_SMALL ? CD_POOL_SMALL : ev->cap == CD_EVENT_LARGE ? CD_POOL_LARGE : -1;
  if (pool >= 0 && ck_ring_enqueue_spsc(&ch->free_ring[pool], ch->free_buf[pool], ev)) {
    cd_stat_add(&cd_live.events, -1);
    return;
  }
  cd_event_destroy(ev);
}
