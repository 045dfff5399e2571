/* cd_share.c - see cd_share.h. */
#include "cd_share.h"

#include <stdlib.h>

cd__share *cd__share_get(cd__share **shares, cd_config *config) {
  for (cd__share *s = *shares; s; s = s->next)
    if (s->config == config) return s;
  cd__share *s = calloc(1, sizeof(*s));
  if (s == NULL) return NULL;
  s->handle = curl_share_init();
  if (s->handle == NULL) {
    free(s);
    return NULL;
  }
  /* Used by this worker only: no lock callbacks needed. */
  curl_share_setopt(s->handle, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  curl_share_setopt(s->handle, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(s->handle, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  cd__config_retain(config);
  s->config = config;
  s->next = *shares;
  *shares = s;
  return s;
}

int cd__share_sweepable(const cd__share *s) {
  return s->active == 0 && atomic_load_explicit(&s->config->closed, memory_order_relaxed);
}

void cd__shares_sweep(cd__share **shares, int all) {
  cd__share **pp = shares;
  while (*pp != NULL) {
    cd__share *s = *pp;
    if (all || cd__share_sweepable(s)) {
      *pp = s->next;
      curl_share_cleanup(s->handle);
      cd__config_unref(s->config);
      free(s);
    } else {
      pp = &s->next;
    }
  }
}

void cd__share_use(cd__share *s) {
  s->active++;
}

int cd__share_unuse(cd__share *s, uint64_t now_ms) {
  if (--s->active > 0) return 0;
  s->idle_since_ms = now_ms;
  return 1;
}
