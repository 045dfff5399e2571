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
  l->config_id = req->config->id;
  l->running = 0;
  l->capacity = req->config->connections;
  l->pins = 0;
  CDS_INIT_LIST_HEAD(&l->grown_node);
  CDS_INIT_LIST_HEAD(&l->queue);
  memcpy(l->origin, req->origin, n + 1);
  l->next = ls->buckets[b];
  ls->buckets[b] = l;
  return l;
}

int cd__limit_acquire(cd__limits *ls, cd_request *req) {
  cd__limit *l = limit_find(ls, req);
  if (l == NULL) return CD__LIMIT_NO_MEMORY;
  if (l->running >= l->capacity) {
    req->state = CD__T_QUEUED;
    cds_list_add_tail(&req->wait_node, &l->queue);
    req->in_wait_list = true;
    return CD__LIMIT_WAIT;
  }
  l->running++;
  req->limit = l;
  return CD__LIMIT_RUN;
}

void cd__limit_dequeue(cd_request *req) {
  cds_list_del_init(&req->wait_node);
  req->in_wait_list = false;
}

cd__limit *cd__limit_release(cd_request *req) {
  cd__limit *l = req->limit;
  req->limit = NULL;
  if (l != NULL) l->running--;
  return l;
}

cd__limit *cd__limit_multiplexed(cd_request *req) {
  cd__limit *l = req->limit;
  if (l == NULL) return NULL;
  unsigned capacity = req->config->connections * req->config->max_streams;
  if (capacity / req->config->max_streams != req->config->connections) capacity = UINT32_MAX;
  if (l->capacity >= capacity) return NULL;
  l->capacity = capacity;
  return l;
}

cd_request *cd__limit_next(cd__limit *l) {
  if (cds_list_empty(&l->queue) || l->running >= l->capacity) return NULL;
  cd_request *next = cds_list_entry(l->queue.next, cd_request, wait_node);
  cd__limit_dequeue(next);
  next->limit = l;
  l->running++;
  return next;
}

void cd__limit_gc(cd__limits *ls, cd__limit *l) {
  if (l->running > 0 || l->pins > 0 || !cds_list_empty(&l->queue) || !cds_list_empty(&l->grown_node)) return;
  unsigned b = limit_hash(l->config_id, l->origin);
  for (cd__limit **pp = &ls->buckets[b]; *pp; pp = &(*pp)->next) {
    if (*pp == l) {
      *pp = l->next;
      free(l);
      return;
    }
  }
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
