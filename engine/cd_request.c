/* cd_request.c - allocation, references, header list and body chunks of a
 * request (see cd_request.h). */
#include "cd_request.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cd_config.h"
#include "cd_slist.h"
#include "cd_stats.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define CD__POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define CD__UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#elif defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define CD__POISON(p, n) VALGRIND_MAKE_MEM_NOACCESS((p), (n))
#define CD__UNPOISON(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#endif
#endif
#ifndef CD__POISON
#define CD__POISON(p, n) ((void)(p), (void)(n))
#define CD__UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* Freed requests kept for the next ones. A request is one allocation of
 * more than a kilobyte, and glibc serves every allocation that large by
 * first consolidating the thread's fast bins: on the JS thread, which
 * allocates a request per dispatch and frees small blocks all the time,
 * that consolidation and the free were 9 % of its samples on small GETs
 * (docs/architecture.md, "Decisions measured"). Any thread may free the
 * last reference, so the pool has a lock; a block in it is poisoned for
 * ASan and valgrind, so a use after free is still caught. Bounded: at
 * most CD__POOL_MAX blocks, each sized for the request it last held
 * (CD__POOL_SLACK more), reused when the next one fits. */
#define CD__POOL_MAX 64
#define CD__POOL_SLACK 256
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static cd_request *pool[CD__POOL_MAX];
static size_t pool_sizes[CD__POOL_MAX]; /* pool[i]'s alloc_size: its memory stays poisoned */
static size_t pool_len;

static cd_request *pool_take(size_t need) {
  cd_request *req = NULL;
  size_t size = 0;
  pthread_mutex_lock(&pool_mu);
  if (pool_len > 0) {
    pool_len--;
    req = pool[pool_len];
    size = pool_sizes[pool_len];
  }
  pthread_mutex_unlock(&pool_mu);
  if (req == NULL) return NULL;
  if (size < need) {
    free(req);
    return NULL;
  }
  CD__UNPOISON(req, size);
  memset(req, 0, need);
  req->alloc_size = size;
  return req;
}

static void pool_give(cd_request *req) {
  size_t size = req->alloc_size;
  pthread_mutex_lock(&pool_mu);
  if (pool_len < CD__POOL_MAX) {
    CD__POISON(req, size);
    pool_sizes[pool_len] = size;
    pool[pool_len++] = req;
    req = NULL;
  }
  pthread_mutex_unlock(&pool_mu);
  free(req);
}

/* Shared, immutable tails of every request's header list: the headers
 * curl would add on its own, suppressed, so the server gets the user's
 * headers plus Host and the framing headers, nothing else. curl only reads
 * the lists; these nodes are never freed. */
static struct curl_slist suppress_expect = {(char *)"Expect:", NULL};
static struct curl_slist suppress_accept = {(char *)"Accept:", &suppress_expect};
/* With an in-memory body (CURLOPT_POSTFIELDS) curl would add a form type. */
static struct curl_slist suppress_form = {(char *)"Content-Type:", &suppress_accept};

/* The user's nodes, ending in one of the shared tails above. */
static int build_headers(cd_request *req, const char *lines, size_t len) {
  struct curl_slist *list = NULL, *tail = NULL;
  if (cd__slist_from_lines(lines, len, &list, &tail) != 0) return -1;
  struct curl_slist *shared = req->body_data != NULL && !cd__slist_has(list, NULL, "content-type:")
                                  ? &suppress_form
                                  : &suppress_accept;
  if (tail) tail->next = shared; else list = shared;
  req->headers = list;
  req->headers_tail = tail;
  return 0;
}

static void free_headers(cd_request *req) {
  if (req->headers_tail == NULL) return;  /* only the shared tail */
  req->headers_tail->next = NULL;
  curl_slist_free_all(req->headers);
}

cd_request *cd__request_new(cd_env *env, struct cd_channel *chan, cd_config *config,
                            const cd_request_opts *o) {
  const char *method = o->method ? o->method : "GET";
  const char *origin = o->origin ? o->origin : "";
  size_t url_len = strlen(o->url) + 1, origin_len = strlen(origin) + 1;
  size_t method_len = strlen(method) + 1, connect_len = o->connect_to ? strlen(o->connect_to) + 1 : 0;
  size_t target_len = o->request_target ? strlen(o->request_target) + 1 : 0;
  size_t need = sizeof(cd_request) + url_len + origin_len + method_len + connect_len + target_len;
  cd_request *req = pool_take(need);
  if (req == NULL) {
    req = calloc(1, need + CD__POOL_SLACK);
    if (req == NULL) return NULL;
    req->alloc_size = need + CD__POOL_SLACK;
  }
  char *strings = (char *)(req + 1);
  req->url = memcpy(strings, o->url, url_len);
  req->origin = memcpy(strings += url_len, origin, origin_len);
  req->method = memcpy(strings += origin_len, method, method_len);
  if (connect_len) req->connect_to = memcpy(strings + method_len, o->connect_to, connect_len);
  if (target_len) req->request_target = memcpy(strings + method_len + connect_len, o->request_target, target_len);
  atomic_init(&req->refs, 2);  /* owner + worker */
  req->env = env;
  req->chan = chan;
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
  req->decode_skip_len = o->decode_skip_len < CD_DECODE_SKIP_MAX ? o->decode_skip_len : CD_DECODE_SKIP_MAX;
  if (req->decode_skip_len) memcpy(req->decode_skip, o->decode_skip, req->decode_skip_len * sizeof(uint16_t));
  req->flags = o->flags;

  cd__timer_init(&req->timer);
  CDS_INIT_LIST_HEAD(&req->chan_node);
  CDS_INIT_LIST_HEAD(&req->lim.wait_node);
  CDS_INIT_LIST_HEAD(&req->stall_node);
  CDS_INIT_LIST_HEAD(&req->early_node);
  CDS_INIT_LIST_HEAD(&req->upwait.node);
  CDS_INIT_LIST_HEAD(&req->raw.node);
  CDS_INIT_LIST_HEAD(&req->resp.data_node);
  req->resp.length = -1;
  req->resp.keepalive_hint_ms = -1;
  if (build_headers(req, o->headers, o->headers_len) != 0) {
    pool_give(req);
    return NULL;
  }
  cd__config_retain(config);
  req->config = config;
  cd__stat_add(&cd__live.requests, 1);
  return req;
}

void cd__request_ref(cd_request *req) {
  atomic_fetch_add_explicit(&req->refs, 1, memory_order_relaxed);
}

void cd__request_unref(cd_request *req) {
  if (atomic_fetch_sub_explicit(&req->refs, 1, memory_order_acq_rel) != 1) return;
  free_headers(req);
  free(req->resp.hdr);
  free(req->resp.trailers);
  cd__config_unref(req->config);
  pool_give(req);
  cd__stat_add(&cd__live.requests, -1);
}

cd__chunk *cd__chunk_new(cd_request *req, const void *data, size_t len, int end) {
  cd__chunk *c = malloc(sizeof(*c) + len);
  if (c == NULL) return NULL;
  c->next = NULL;
  c->req = req;
  c->len = len;
  c->off = 0;
  c->end = end;
  if (len) memcpy(c->data, data, len);
  cd__stat_add(&cd__live.commands, 1);
  return c;
}

void cd__chunk_free(cd__chunk *c) {
  free(c);
  cd__stat_add(&cd__live.commands, -1);
}

void cd__request_drop_body(cd_request *req) {
  while (req->upload.head != NULL) {
    cd__chunk *c = req->upload.head;
    req->upload.head = c->next;
    cd__chunk_free(c);
  }
  req->upload.tail = NULL;
}
