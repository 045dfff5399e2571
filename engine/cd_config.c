/* cd_config.c - immutable, reference-counted agent settings. */
#include "cd_internal.h"

#include <stdlib.h>
#include <string.h>

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

/* "Name: value\n" lines into a curl list, in curl's dialect ("Name;" for
 * an empty value, as the request headers). */
static int copy_header_lines(struct curl_slist **out, const char *lines) {
  *out = NULL;
  for (const char *p = lines; p != NULL && *p != '\0';) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    if (n > 0) {
      char *line = malloc(n + 1);
      if (line == NULL) return -1;
      memcpy(line, p, n);
      line[n] = '\0';
      if (line[n - 1] == ':') line[n - 1] = ';';
      struct curl_slist *list = curl_slist_append(*out, line);
      free(line);
      if (list == NULL) return -1;
      *out = list;
    }
    p = nl ? nl + 1 : NULL;
  }
  return 0;
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
  cd_stat_add(&cd_live.configs, -1);
}

cd_config *cd_config_new(const cd_config_opts *o) {
  cd_config *c = calloc(1, sizeof(*c));
  if (c == NULL) return NULL;
  atomic_init(&c->refs, 1);
  cd_stat_add(&cd_live.configs, 1);
  c->id = atomic_fetch_add(&next_config_id, 1);
  c->connect_timeout_ms = o->connect_timeout_ms;
  c->keepalive_timeout_ms = o->keepalive_timeout_ms;
  c->connections = o->connections;
  c->max_header_size = o->max_header_size ? o->max_header_size : 16 * 1024;
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

void cd_config_retain(cd_config *c) {
  atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

static void config_unref(cd_config *c) {
  if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) config_free(c);
}

void cd_config_release(cd_config *c) {
  if (c == NULL) return;
  /* The creator is done: workers drop the agent's idle connections. */
  atomic_store(&c->closed, 1);
  cd_engine_wake_all();
  config_unref(c);
}

void cd_config_unref(cd_config *c) {
  if (c != NULL) config_unref(c);
}
