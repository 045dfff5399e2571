/* cd_limit.c - see cd_limit.h. */
#include "cd_limit.h"

#include <stdlib.h>
#include <string.h>

#include "cd_config.h"

static unsigned limit_hash(uint64_t config_id, const char *origin) {
  uint64_t h = 1469598103934665603ull ^ config_id;
  for (const unsigned char *p = (const unsigned char *)origin; *p; p++) h = (h ^ *p) * 1099511628211ull;
  return (unsigned)(h % CD__LIMIT_BUCKETS);
}

static cd__limit *limit_find(cd__limits *ls, cd_request *req) {
  unsigned b = limit_hash(req->config->id, req->origin);
  for (cd__limit *l = ls->buckets[b]; l; l = l->next)
    if (l->config_id == req->config->id && strcmp(l->origin, req->origin) == 0) return l;
  size_t n = strlen(req->origin);
  cd__limit *l = malloc(sizeof(*l) + n + 1);
  if (l == NULL) return NULL;
  l->owner = ls;
  l->config_id = req->config->id;
  l->running = 0;
  l->connections = req->config->connections;
  l->max_streams = req->config->max_streams > 0 ? req->config->max_streams : 1;
  l->multiplexed = false;
  l->sessions_open = 0;
  l->sessions_ready = 0;
  l->streams_seen = 0;
  l->server_streams = 0;
  l->pins = 0;
  CDS_INIT_LIST_HEAD(&l->grown_node);
  CDS_INIT_LIST_HEAD(&l->queue);
  memcpy(l->origin, req->origin, n + 1);
  l->next = ls->buckets[b];
  ls->buckets[b] = l;
  return l;
}

/* Transfers that may run at once (see cd__limit). */
static uint64_t capacity(const cd__limit *l) {
  if (!l->multiplexed) return l->connections;
  uint64_t per = l->server_streams;
  if (per == 0) {
    per = (uint64_t)l->streams_seen + CD__LIMIT_STREAMS_STEP;
  }
  if (per > l->max_streams) per = l->max_streams;
  /* sessions beyond `connections` (a burst past the server's limit) carry
   * their streams to the end but are not counted on */
  unsigned ready = l->sessions_ready < l->connections ? l->sessions_ready : l->connections;
  uint64_t c = (uint64_t)ready * per;
  if (l->sessions_open < l->connections) c += l->connections - l->sessions_open;
  return c;
}

static void mark_grown(cd__limit *l) {
  if (cds_list_empty(&l->grown_node)) cds_list_add_tail(&l->grown_node, &l->owner->grown);
}

int cd__limit_acquire(cd__limits *ls, cd_request *req) {
  cd__limit *l = limit_find(ls, req);
  if (l == NULL) return CD__LIMIT_NO_MEMORY;
  if (l->running >= capacity(l)) {
    req->state = CD__T_QUEUED;
    cds_list_add_tail(&req->lim.wait_node, &l->queue);
    req->lim.queued = true;
    return CD__LIMIT_WAIT;
  }
  l->running++;
  req->lim.entry = l;
  return CD__LIMIT_RUN;
}

void cd__limit_dequeue(cd_request *req) {
  cds_list_del_init(&req->lim.wait_node);
  req->lim.queued = false;
}

cd__limit *cd__limit_release(cd_request *req) {
  cd__limit *l = req->lim.entry;
  req->lim.entry = NULL;
  if (l != NULL) l->running--;
  return l;
}

void cd__limit_multiplexed(cd_request *req) {
  cd__limit *l = req->lim.entry;
  if (l == NULL || l->multiplexed) return;
  l->multiplexed = true;
  mark_grown(l);
}

void cd__limit_session_opened(cd__limit *l) {
  /* libcurl opens a connection past `connections` only when the sessions
   * it has are full: what they carry is what the server allows */
  if (l->multiplexed && l->sessions_open >= l->connections && l->streams_seen > 0 && l->server_streams == 0)
    l->server_streams = l->streams_seen;
  l->sessions_open++;
}

void cd__limit_session_streams(cd__limit *l, unsigned streams) {
  if (streams <= l->streams_seen) return;
  l->streams_seen = streams;
  /* the capacity follows the most seen: more may start */
  if (l->multiplexed && l->server_streams == 0 && !cds_list_empty(&l->queue)) mark_grown(l);
}

void cd__limit_session_ready(cd__limit *l) {
  l->sessions_ready++;
  if (l->multiplexed) mark_grown(l);
}

void cd__limit_session_closed(cd__limit *l, bool ready) {
  l->sessions_open--;
  if (ready) l->sessions_ready--;
  /* one more session may open: a waiting request opens it */
  if (l->multiplexed && !cds_list_empty(&l->queue)) mark_grown(l);
  cd__limit_gc(l->owner, l);
}

cd_request *cd__limit_next(cd__limit *l) {
  if (cds_list_empty(&l->queue) || l->running >= capacity(l)) return NULL;
  cd_request *next = cds_list_entry(l->queue.next, cd_request, lim.wait_node);
  cd__limit_dequeue(next);
  next->lim.entry = l;
  l->running++;
  return next;
}

void cd__limit_gc(cd__limits *ls, cd__limit *l) {
  if (l->running > 0 || l->pins > 0 || l->sessions_open > 0 || !cds_list_empty(&l->queue) ||
      !cds_list_empty(&l->grown_node))
    return;
  unsigned b = limit_hash(l->config_id, l->origin);
  for (cd__limit **pp = &ls->buckets[b]; *pp; pp = &(*pp)->next) {
    if (*pp == l) {
      *pp = l->next;
      free(l);
      return;
    }
  }
}

void cd__limits_init(cd__limits *ls) {
  memset(ls->buckets, 0, sizeof(ls->buckets));
  CDS_INIT_LIST_HEAD(&ls->grown);
}

void cd__limits_free(cd__limits *ls) {
  for (unsigned i = 0; i < CD__LIMIT_BUCKETS; i++) {
    while (ls->buckets[i]) {
      cd__limit *l = ls->buckets[i];
      ls->buckets[i] = l->next;
      free(l);
    }
  }
}
