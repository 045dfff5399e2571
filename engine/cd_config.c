/* cd_config.c - immutable, reference-counted agent settings. */
#include "cd_config.h"

#include <stdlib.h>
#include <string.h>

#include "cd_slist.h"
#include "cd_stats.h"

static atomic_ullong next_config_id = 1;

static int copy_blob(struct curl_blob *blob, const char *data, size_t len) {
  blob->data = NULL;
  blob->len = 0;
  blob->flags = CURL_BLOB_NOCOPY;  /* the config outlives every transfer using it */
  if (data == NULL || len == 0) return 0;
  blob->data = malloc(len);
  if (blob->data == NULL) return -1;
  memcpy(blob->data, data, len);
  blob->len = len;
  return 0;
}

/* NULL stays NULL; returns -1 only when a copy was needed and failed. */
static int copy_str(char **out, const char *s) {
  *out = NULL;
  if (s == NULL) return 0;
  *out = strdup(s);
  return *out == NULL ? -1 : 0;
}

static int copy_header_lines(struct curl_slist **out, const char *lines) {
  struct curl_slist *tail = NULL;
  *out = NULL;
  return lines != NULL ? cd__slist_from_lines(lines, strlen(lines), out, &tail) : 0;
}

static void config_free(cd_config *c) {
  free(c->ca.data);
  free(c->cert.data);
  free(c->key.data);
  free(c->proxy_ca.data);
  free(c->proxy_http);
  free(c->proxy_https);
  curl_slist_free_all(c->proxy_headers);
  free(c->unix_socket_path);
  free(c->local_address);
  free(c);
  cd__stat_add(&cd__live.configs, -1);
}

cd_config *cd_config_new(const cd_config_opts *o) {
  cd_config *c = calloc(1, sizeof(*c));
  if (c == NULL) return NULL;
  atomic_init(&c->refs, 1);
  cd__stat_add(&cd__live.configs, 1);
  c->id = atomic_fetch_add(&next_config_id, 1);
  c->connect_timeout_ms = o->connect_timeout_ms;
  c->keepalive_timeout_ms = o->keepalive_timeout_ms;
  c->keepalive_threshold_ms = o->keepalive_threshold_ms;
  c->max_requests_per_conn = o->max_requests_per_conn;
  c->connections = o->connections;
  c->max_streams = o->max_streams ? o->max_streams : CD__DEFAULT_MAX_STREAMS;
  c->max_header_size = o->max_header_size ? o->max_header_size : CD_DEFAULT_MAX_HEADER_SIZE;
  c->reject_unauthorized = o->reject_unauthorized;
  c->proxy_tunnel = o->proxy_tunnel;
  c->proxy_reject_unauthorized = o->proxy_reject_unauthorized;
  c->happy_eyeballs_ms = o->happy_eyeballs_ms;
  c->tag = o->tag;
  char *local = NULL;
  if (o->local_address != NULL) {
    /* "host!" makes curl bind to an address, never to an interface name. */
    size_t n = strlen(o->local_address);
    local = malloc(n + 6);
    if (local != NULL) memcpy(local, "host!", 5), memcpy(local + 5, o->local_address, n + 1);
  }
  c->local_address = local;
  if ((o->local_address != NULL && local == NULL) ||
      copy_blob(&c->ca, o->ca, o->ca_len) || copy_blob(&c->cert, o->cert, o->cert_len) ||
      copy_blob(&c->key, o->key, o->key_len) || copy_blob(&c->proxy_ca, o->proxy_ca, o->proxy_ca_len) ||
      copy_str(&c->proxy_http, o->proxy_http) || copy_str(&c->proxy_https, o->proxy_https) ||
      copy_str(&c->unix_socket_path, o->unix_socket_path) ||
      copy_header_lines(&c->proxy_headers, o->proxy_headers)) {
    config_free(c);
    return NULL;
  }
  return c;
}

void cd__config_retain(cd_config *c) {
  atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void cd__config_unref(cd_config *c) {
  if (c != NULL && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) config_free(c);
}

void cd__config_close(cd_config *c) {
  atomic_store(&c->closed, 1);
}
