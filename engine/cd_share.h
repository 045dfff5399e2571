/* cd_share.h - one agent's connection, DNS and TLS session caches on one
 * worker: agents do not share connections (as undici's Agents do not), and
 * an agent's idle connections close when it is closed.
 *
 * Above cd_config. Ownership and threading: one worker; each cache holds a
 * config reference until it is swept.
 */
#ifndef CD_SHARE_H
#define CD_SHARE_H

#include <curl/curl.h>

#include "cd_config.h"

typedef struct cd__share {
  struct cd__share *next;
  cd_config *config;
  CURLSH *handle;
  unsigned active;                  /* transfers using it (cd__share_use) */
  uint64_t idle_since_ms;           /* when `active` last fell to 0 */
} cd__share;

/* The agent's cache on this worker (list head *shares), created on first
 * use. NULL when out of memory. */
cd__share *cd__share_get(cd__share **shares, cd_config *config);
/* Whether cd__shares_sweep (not `all`) frees this cache. */
int cd__share_sweepable(const cd__share *share);
/* Frees the caches of closed agents that no transfer uses any more (their
 * idle connections close), or every cache when `all`. */
void cd__shares_sweep(cd__share **shares, int all);

/* A transfer (or a load run) uses the agent's cache on this worker, and
 * stops: returns 1 when that left it unused (its connections are idle from
 * `now_ms`). */
void cd__share_use(cd__share *s);
int cd__share_unuse(cd__share *s, uint64_t now_ms);

#endif /* CD_SHARE_H */
