/* cd_loadctl.c - the owner's side of a load run: start, stop, read, free
 * (load.h). Beside cd_submit.c at the top of the engine: it finds the
 * workers through the engine and hands each its part with cd__load_post. */
#include "cd_loadctl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cd_config.h"
#include "cd_clock.h"
#include "cd_engine.h"
#include "cd_load.h"
#include "cd_slist.h"

static char *dup_n(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d == NULL) return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

static void free_parts(cd_load *load) {
  for (unsigned i = 0; i < load->nparts; i++) {
    cd__load_part *p = &load->parts[i];
    free(p->slots);
    free(p->codes);
    free(p->pcodes);
    cd_hdr_free(p->hist);
    cd_hdr_free(p->phist);
    pthread_mutex_destroy(&p->mu);
  }
  free(load->parts);
}

static void free_load(cd_load *load) {
  if (load->parts != NULL) free_parts(load);
  for (size_t i = 0; i < load->ntmpls; i++) {
    cd__load_tmpl *t = &load->tmpls[i];
    free(t->url);
    free(t->method);
    free(t->body);
    curl_slist_free_all(t->headers);
  }
  free(load->tmpls);
  pthread_cond_destroy(&load->cv);
  pthread_mutex_destroy(&load->mu);
  cd__config_unref(load->config);
  free(load);
}

static int make_template(cd__load_tmpl *t, const cd_load_template *in) {
  t->url = dup_n(in->url, strlen(in->url));
  if (t->url == NULL) return -1;
  /* GET is curl's default, except with a body, which curl would send as
   * POST: then the method is kept and goes out as written. */
  const char *method = in->method != NULL ? in->method : "GET";
  if (strcmp(method, "GET") != 0 || in->body != NULL) {
    t->method = dup_n(method, strlen(method));
    if (t->method == NULL) return -1;
    t->head = strcmp(method, "HEAD") == 0;
  }
  if (in->body != NULL) {
    t->body = dup_n(in->body, in->body_len);
    if (t->body == NULL) return -1;
    t->body_len = in->body_len;
  }
  struct curl_slist *tail = NULL;
  if (in->headers != NULL && cd__slist_from_lines(in->headers, in->headers_len, &t->headers, &tail) != 0)
    return -1;
  /* As the Agent: no "Expect: 100-continue" wait, no "Accept: * / *" of
   * curl's own, and no form Content-Type on a body the user did not type. */
  static const char *const suppress[] = {"Expect:", "Accept:", "Content-Type:"};
  for (size_t i = 0; i < (t->body != NULL ? 3u : 2u); i++) {
    char name[16];
    size_t n = strlen(suppress[i]);
    for (size_t j = 0; j < n; j++) name[j] = (char)(suppress[i][j] | 0x20);
    name[n] = '\0';
    if (cd__slist_has(t->headers, NULL, name)) continue;
    struct curl_slist *l = curl_slist_append(t->headers, suppress[i]);
    if (l == NULL) return -1;
    t->headers = l;
  }
  return 0;
}

/* libcurl before 8.0 cannot reuse an h2c connection (cd_transfer.c). */
static int g_h2c_ok;
static void h2c_check(void) { g_h2c_ok = curl_version_info(CURLVERSION_NOW)->version_num >= 0x080000; }

cd_load *cd_load_start(cd_engine *engine, cd_config *config, const cd_load_opts *o, int *error) {
  static pthread_once_t h2c_once = PTHREAD_ONCE_INIT;
  *error = CD_LOAD_EINVAL;
  if (o->templates == NULL || o->templates_len == 0 || o->connections == 0 ||
      (o->duration_ms == 0 && o->amount == 0) || !(o->rate >= 0) || !isfinite(o->rate))
    return NULL;
  for (size_t i = 0; i < o->templates_len; i++)
    if (o->templates[i].url == NULL) return NULL;
  unsigned pipelining = o->pipelining ? o->pipelining : 1;
  if (pipelining > 1 && o->http_version == CD_HTTP_1_1) return NULL;
  if (o->http_version == CD_HTTP_2_PRIOR_KNOWLEDGE) {
    pthread_once(&h2c_once, h2c_check);
    if (!g_h2c_ok) {
      *error = CD_LOAD_EH2C;
      return NULL;
    }
  }
  unsigned nworkers = atomic_load_explicit(&engine->nworkers, memory_order_acquire);
  if (nworkers == 0) {
    *error = CD_LOAD_ENOWORKERS;
    return NULL;
  }
  unsigned threads = o->threads ? o->threads : 1;
  if (threads > nworkers) threads = nworkers;
  if (threads > o->connections) threads = o->connections;

  *error = CD_LOAD_ENOMEM;
  cd_load *load = calloc(1, sizeof(*load));
  if (load == NULL) return NULL;
  pthread_mutex_init(&load->mu, NULL);
  pthread_cond_init(&load->cv, NULL);
  cd__config_retain(config);
  load->config = config;
  load->tmpls = calloc(o->templates_len, sizeof(*load->tmpls));
  if (load->tmpls == NULL) goto fail;
  load->ntmpls = o->templates_len;
  for (size_t i = 0; i < o->templates_len; i++)
    if (make_template(&load->tmpls[i], &o->templates[i]) != 0) goto fail;
  load->parts = calloc(threads, sizeof(*load->parts));
  if (load->parts == NULL) goto fail;
  load->nparts = threads;
  load->nslots = (uint64_t)o->connections * pipelining;
  load->period_us = o->rate > 0 ? 1e6 / o->rate : 0;
  load->timeout_ms = o->timeout_ms;
  load->http_version = o->http_version;
  load->flags = o->flags & CD_REQ_PROXY;
  load->pipelining = pipelining;
  load->done = o->done;
  load->done_ctx = o->done_ctx;

  uint64_t slot_base = 0, amount_given = 0;
  for (unsigned i = 0; i < threads; i++) {
    cd__load_part *p = &load->parts[i];
    pthread_mutex_init(&p->mu, NULL);
    p->load = load;
    p->worker = engine->workers[i];
    unsigned conns = o->connections / threads + (i < o->connections % threads);
    p->nslots = conns * pipelining;
    /* The amount in proportion to the slots, rounded so that the shares
     * add up to it exactly. */
    p->amount = UINT64_MAX;
    if (o->amount > 0) {
      uint64_t upto = (uint64_t)((unsigned __int128)o->amount * (slot_base + p->nslots) / load->nslots);
      p->amount = upto - amount_given;
      amount_given = upto;
    }
    p->slots = calloc(p->nslots, sizeof(*p->slots));
    p->codes = calloc(CD_LOAD_CODES, sizeof(uint64_t));
    p->pcodes = calloc(CD_LOAD_CODES, sizeof(uint64_t));
    p->hist = cd_hdr_new();
    p->phist = cd_hdr_new();
    if (p->slots == NULL || p->codes == NULL || p->pcodes == NULL || p->hist == NULL || p->phist == NULL) {
      load->nparts = i + 1;
      goto fail;
    }
    for (unsigned j = 0; j < p->nslots; j++) {
      p->slots[j].part = p;
      p->slots[j].index = slot_base + j;
    }
    slot_base += p->nslots;
    p->c.first_error_kind = -1;
    p->pc.first_error_kind = -1;
    p->first_error_us = p->p_first_error_us = UINT64_MAX;
  }

  load->alive = threads;
  load->start_us = cd__clock_us();
  load->end_us = o->duration_ms ? load->start_us + o->duration_ms * 1000u : UINT64_MAX;
  for (unsigned i = 0; i < threads; i++) {
    cd__load_part *p = &load->parts[i];
    cd__load_post(p);
  }
  *error = CD_LOAD_OK;
  return load;
fail:
  free_load(load);
  return NULL;
}

void cd_load_stop(cd_load *load) {
  atomic_store(&load->stop, 1);
  for (unsigned i = 0; i < load->nparts; i++) cd__load_kick(&load->parts[i]);
}

void cd_load_read(cd_load *load, cd_load_counts *out, cd_hdr *latency, uint64_t *codes) {
  memset(out, 0, sizeof(*out));
  out->first_error_kind = -1;
  if (latency != NULL) cd_hdr_reset(latency);
  if (codes != NULL) memset(codes, 0, CD_LOAD_CODES * sizeof(uint64_t));
  /* `finished` first: once it is seen, every part's last publish is in. */
  pthread_mutex_lock(&load->mu);
  int finished = load->alive == 0;
  uint64_t finish_us = load->finish_us;
  pthread_mutex_unlock(&load->mu);
  uint64_t first_us = UINT64_MAX;
  for (unsigned i = 0; i < load->nparts; i++) {
    cd__load_part *p = &load->parts[i];
    pthread_mutex_lock(&p->mu);
    const cd_load_counts *c = &p->pc;
    out->sent += c->sent;
    out->completed += c->completed;
    for (int k = 0; k < 6; k++) out->status[k] += c->status[k];
    out->bytes += c->bytes;
    out->errors += c->errors;
    for (int k = 0; k < CD_LOAD_ERR_KINDS; k++) out->error_kinds[k] += c->error_kinds[k];
    out->inflight += c->inflight;
    if (c->first_error_kind >= 0 && p->p_first_error_us < first_us) {
      first_us = p->p_first_error_us;
      out->first_error_kind = c->first_error_kind;
      out->first_error_code = c->first_error_code;
      memcpy(out->first_error, c->first_error, sizeof(out->first_error));
    }
    if (latency != NULL) cd_hdr_merge(latency, p->phist);
    if (codes != NULL)
      for (int k = 0; k < CD_LOAD_CODES; k++) codes[k] += p->pcodes[k];
    pthread_mutex_unlock(&p->mu);
  }
  out->finished = finished;
  out->elapsed_us = (finished ? finish_us : cd__clock_us()) - load->start_us;
}

void cd_load_free(cd_load *load) {
  if (load == NULL) return;
  cd_load_stop(load);
  pthread_mutex_lock(&load->mu);
  while (load->alive > 0) pthread_cond_wait(&load->cv, &load->mu);
  pthread_mutex_unlock(&load->mu);
  free_load(load);
}
