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

static void config_free(cd_config *c) {
  free(c->ca.data);
  free(c->cert.data);
  free(c->key.data);
  free(c);
}

cd_config *cd_config_new(const cd_config_opts *o) {
  cd_config *c = calloc(1, sizeof(*c));
  if (c == NULL) return NULL;
  atomic_init(&c->refs, 1);
  c->id = atomic_fetch_add(&next_config_id, 1);
  c->connect_timeout_ms = o->connect_timeout_ms;
  c->keepalive_timeout_ms = o->keepalive_timeout_ms;
  c->connections = o->connections;
  c->max_header_size = o->max_header_size ? o->max_header_size : 16 * 1024;
  c->reject_unauthorized = o->reject_unauthorized;
  if (copy_blob(&c->ca, o->ca, o->ca_len) || copy_blob(&c->cert, o->cert, o->cert_len) ||
      copy_blob(&c->key, o->key, o->key_len)) {
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
