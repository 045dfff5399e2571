/* cd_config.h - immutable, reference-counted agent settings.
 *
 * A leaf above cd_stats and cd_slist. cd_config_new (public, engine.h)
 * copies the owner's options; transfers and per-worker caches hold
 * references. The creator's reference is dropped by cd_config_release
 * (public, in cd_engine.c, which also wakes the workers so that they drop
 * the agent's idle connections).
 */
#ifndef CD_CONFIG_H
#define CD_CONFIG_H

#include <stdatomic.h>
#include <stdint.h>

#include <curl/curl.h>

#include "engine.h"

/* undici's maxConcurrentStreams default, and libcurl's. */
#define CD__DEFAULT_MAX_STREAMS 100u

/* Immutable after cd_config_new, except `refs` and `closed`. Shared by the
 * owner and the workers running the agent's transfers. */
struct cd_config {
  atomic_long refs;
  atomic_int closed;         /* the agent is done: drop its idle connections */
  uint64_t id;               /* unique per process, for per-agent limits */
  uint32_t tag;              /* the owner's id of the agent, echoed in connection events */
  long connect_timeout_ms;
  long keepalive_timeout_ms;
  long keepalive_threshold_ms;      /* subtracted from a server's Keep-Alive: timeout= */
  unsigned max_requests_per_conn;   /* HTTP/1.x requests per connection; 0: no limit */
  unsigned connections;
  unsigned max_streams;             /* streams per HTTP/2 connection (never 0) */
  size_t max_header_size;
  int reject_unauthorized;
  struct curl_blob ca, cert, key;   /* data == NULL when unset */
  char *proxy_http, *proxy_https;   /* NULL: direct */
  struct curl_slist *proxy_headers; /* NULL when none */
  int proxy_tunnel;
  struct curl_blob proxy_ca;
  int proxy_reject_unauthorized;
  char *unix_socket_path;
  char *local_address;              /* curl's "host!ADDR" form */
  long happy_eyeballs_ms;
};

/* Any thread. */
void cd__config_retain(cd_config *config);
/* Drops a reference (NULL is ignored); the last one frees. Any thread. */
void cd__config_unref(cd_config *config);
/* Marks the agent closed: workers drop its idle connections once none of
 * its transfers is left. Owner thread. */
void cd__config_close(cd_config *config);

#endif /* CD_CONFIG_H */
