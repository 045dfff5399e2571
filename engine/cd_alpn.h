/* cd_alpn.h - what TLS negotiated on a transfer's connection: the ALPN
 * protocol, read before the request goes out (libcurl reports its HTTP
 * version only once a response arrives).
 *
 * A leaf: libcurl and libc only. Threading: any thread, on an easy handle
 * that thread owns.
 */
#ifndef CD_ALPN_H
#define CD_ALPN_H

#include <stddef.h>

#include <curl/curl.h>

enum cd__alpn_result {
  CD__ALPN_PLAIN = 0,   /* not TLS (TCP, a Unix socket) */
  CD__ALPN_NONE = 1,    /* TLS, no protocol agreed (or the TLS library cannot tell) */
  CD__ALPN_AGREED = 2   /* TLS, `out` holds the protocol ("h2", "http/1.1") */
};

/* Reads the connection `easy` is about to send on (from its prerequisite
 * callback on). `out` gets a NUL-terminated protocol name with
 * CD__ALPN_AGREED, "" otherwise. */
int cd__alpn_read(CURL *easy, char *out, size_t cap);

#endif /* CD_ALPN_H */
