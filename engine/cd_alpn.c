/* cd_alpn.c - the ALPN protocol of a transfer's TLS connection (see
 * cd_alpn.h).
 *
 * libcurl hands out its TLS library's session (CURLINFO_TLS_SSL_PTR) but
 * says nothing of ALPN until a response arrives. With OpenSSL, the
 * library's own SSL_get0_alpn_selected answers. It is looked up at run time
 * (dlsym) rather than linked: the engine then needs no OpenSSL headers or
 * link flags, and inside Node it finds the OpenSSL that libcurl's calls
 * already bind to (Node exports it). Other TLS back ends report "none".
 */
#include "cd_alpn.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

typedef void (*cd__alpn_selected_fn)(const void *ssl, const unsigned char **data, unsigned *len);

static cd__alpn_selected_fn alpn_selected;
static pthread_once_t alpn_once = PTHREAD_ONCE_INIT;

static void alpn_lookup(void) {
  void *sym = dlsym(RTLD_DEFAULT, "SSL_get0_alpn_selected");
  /* a data pointer to a function pointer: POSIX guarantees it works for dlsym */
  memcpy(&alpn_selected, &sym, sizeof(alpn_selected));
}

int cd__alpn_read(CURL *easy, char *out, size_t cap) {
  if (cap > 0) out[0] = '\0';
  struct curl_tlssessioninfo *info = NULL;
  if (curl_easy_getinfo(easy, CURLINFO_TLS_SSL_PTR, &info) != CURLE_OK || info == NULL ||
      info->internals == NULL)
    return CD__ALPN_PLAIN;
  if (info->backend != CURLSSLBACKEND_OPENSSL) return CD__ALPN_NONE;
  pthread_once(&alpn_once, alpn_lookup);
  if (alpn_selected == NULL) return CD__ALPN_NONE;
  const unsigned char *proto = NULL;
  unsigned len = 0;
  alpn_selected(info->internals, &proto, &len);
  if (proto == NULL || len == 0 || len >= cap) return CD__ALPN_NONE;
  memcpy(out, proto, len);
  out[len] = '\0';
  return CD__ALPN_AGREED;
}
