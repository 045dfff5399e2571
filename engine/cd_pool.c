/* cd_pool.c - see cd_pool.h. */
#include "cd_pool.h"

#include <stdlib.h>

#include "cd_grow.h"
#include "cd_stats.h"

CURL *cd__pool_get(cd__easy_pool *pool) {
  if (pool->len > 0) return pool->items[--pool->len];
  CURL *easy = curl_easy_init();
  if (easy != NULL) cd__stat_add(&cd__live.handles, 1);
  return easy;
}

static void easy_cleanup(CURL *easy) {
  curl_easy_cleanup(easy);
  cd__stat_add(&cd__live.handles, -1);
}

void cd__pool_put(cd__easy_pool *pool, CURL *easy) {
  /* curl_easy_reset keeps the share: detach it so a closed agent's cache
   * can be freed. */
  curl_easy_setopt(easy, CURLOPT_SHARE, NULL);
  curl_easy_reset(easy);
  if (pool->len < CD__POOL_MAX &&
      cd__grow((void **)&pool->items, &pool->cap, pool->len + 1, sizeof(*pool->items), 16) == 0)
    pool->items[pool->len++] = easy;
  else
    easy_cleanup(easy);
}

void cd__pool_free(cd__easy_pool *pool) {
  for (size_t i = 0; i < pool->len; i++) easy_cleanup(pool->items[i]);
  free(pool->items);
  pool->items = NULL;
  pool->len = pool->cap = 0;
}
