/* cd_pool.h - a worker's idle curl easy handles.
 *
 * A leaf (libcurl, cd_stats). curl_easy_reset keeps what the multi handle
 * shares (connections, DNS and TLS session caches), so reusing handles
 * costs no handshakes. Ownership and threading: embedded in one worker.
 */
#ifndef CD_POOL_H
#define CD_POOL_H

#include <stddef.h>

#include <curl/curl.h>

#define CD__POOL_MAX 256  /* idle handles kept; more are cleaned up */

typedef struct cd__easy_pool {
  CURL **items;
  size_t len, cap;
} cd__easy_pool;

/* An idle handle, or a new one; NULL when out of memory. */
CURL *cd__pool_get(cd__easy_pool *pool);
/* Resets the handle and keeps it for reuse (or cleans it up). */
void cd__pool_put(cd__easy_pool *pool, CURL *easy);
void cd__pool_free(cd__easy_pool *pool);

#endif /* CD_POOL_H */
