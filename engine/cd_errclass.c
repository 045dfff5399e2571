/* cd_errclass.c - libcurl failures classed as engine codes (see
 * cd_errclass.h).
 *
 * Read against libcurl 7.88.1 (Debian bookworm's, which carries the 8.3
 * header-size limit as a security fix) and 8.0 to 8.21. The message is the
 * first one libcurl wrote for the transfer: it fills its error buffer only
 * once. */
#include "cd_errclass.h"

#include <errno.h>
#include <string.h>

#include <curl/curl.h>

#include "engine.h"

/* CURLE_TOO_LARGE, returned from libcurl 8.6 on; 7.88's curl.h has no name
 * for it. */
#define CD__CURLE_TOO_LARGE 100

/* Whether `hay` contains `lower` (lower case) in any ASCII case. Not
 * strcasestr: the addon runs under whatever locale Node set. */
static bool contains_nocase(const char *hay, const char *lower) {
  size_t n = strlen(lower);
  for (; *hay != '\0'; hay++) {
    size_t i = 0;
    while (i < n && hay[i] != '\0' &&
           (hay[i] >= 'A' && hay[i] <= 'Z' ? hay[i] + ('a' - 'A') : hay[i]) == lower[i])
      i++;
    if (i == n) return true;
  }
  return false;
}

int cd__errclass(int curl_code, long os_errno, bool headers, const char *message) {
  switch (curl_code) {
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
      /* libcurl's own limit on a response's header bytes (300 KB, above a
       * larger maxHeaderSize): "Too large response headers: %zu > %u" from
       * Curl_bump_headersize (lib/http.c), as CURLE_RECV_ERROR, the code of
       * every failed read; libcurl >= 8.3, and Debian's 7.88.1. Before the
       * errno: that is whatever the last socket call left, and a server
       * still writing the block can leave ECONNRESET there once libcurl
       * gives up on it. */
      if (strncmp(message, "Too large response headers", 26) == 0) return CD_ERR_HEADERS_OVERFLOW;
      /* a reset connection is the system error the errno names, whatever
       * the message */
      if (os_errno == ECONNRESET || os_errno == EPIPE) return curl_code;
      /* libcurl's chunked decoder refused the framing, as CURLE_RECV_ERROR
       * again: up to 8.5 it writes "<reason> in chunked-encoding"
       * (lib/transfer.c, reasons from Curl_chunked_strerror); from 8.6 a
       * bad size comes first as "chunk hex-length ..." or (later) "invalid
       * chunk size: ..." (lib/http_chunks.c), other faults as before. */
      if (contains_nocase(message, "chunk")) return CD_ERR_BAD_CHUNK;
      return curl_code;
    case CURLE_OUT_OF_MEMORY:
      /* Before the final head, libcurl's limit on one header line
       * (CURL_MAX_HTTP_HEADER, 100 KB) in 7.x and 8.0-8.5: the line's
       * buffer refuses to grow with CURLE_OUT_OF_MEMORY and libcurl writes
       * no message. After it, only a message that names a header: builds
       * on hyper write "Too long response header" (lib/c-hyper.c, a
       * trailer line too). */
      return !headers || contains_nocase(message, "header") ? CD_ERR_HEADERS_OVERFLOW : curl_code;
    case CD__CURLE_TOO_LARGE:
      /* libcurl >= 8.6 reports the header-line limit with this code (its
       * buffers' limit became CURLE_TOO_LARGE), and >= 8.14 its limit on
       * the number of header fields (5000). After the final head it is
       * another of its limits (a paused transfer's buffer, for one). */
      return !headers ? CD_ERR_HEADERS_OVERFLOW : curl_code;
    case CURLE_PEER_FAILED_VERIFICATION:
      /* libcurl checks the host name itself, after OpenSSL verified the
       * chain (Curl_ossl_verifyhost, lib/vtls/openssl.c): the verify
       * result stays X509_V_OK and the code is the one of every failed
       * verification. Its messages, 7.88 to 8.21: "SSL: no alternative
       * certificate subject name matches target host name '%s'" and "SSL:
       * certificate subject name '%s' does not match target host name
       * '%s'" ("hostname" from 8.10; the second also in GnuTLS's
       * lib/vtls/gtls.c, and in 7.88's lib/vtls/x509asn1.c). "altname" is
       * in none of them; it has always been looked for, and still is. */
      if (contains_nocase(message, "subject name") || contains_nocase(message, "does not match") ||
          contains_nocase(message, "altname"))
        return CD_ERR_TLS_HOSTNAME;
      return curl_code;
    default:
      return curl_code;
  }
}
