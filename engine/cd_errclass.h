/* cd_errclass.h - the libcurl failures that their CURLcode does not tell
 * apart, classed as engine error codes (engine.h enum cd_error).
 *
 * A few failures must reach the owner as their own kind of error (undici
 * raises HeadersOverflowError, HTTPParserError, or Node's TLS error for
 * them), but libcurl reports them with a CURLcode it also uses for many
 * other failures, and gives no sign of which one it was but the text it
 * writes into the error buffer, or when it came (before the final head).
 * What that looks like, in which libcurl versions, is known here and
 * nowhere else: the owner maps engine codes, never message text. The
 * CURLcode itself still goes out with the event (CD_ERRF_CURL_CODE_SHIFT).
 *
 * A leaf: libc, curl.h's CURLcode values, engine.h's codes. Threading: any
 * (a pure function).
 */
#ifndef CD_ERRCLASS_H
#define CD_ERRCLASS_H

#include <stdbool.h>

/* The code of CD_EV_ERROR for a transfer libcurl failed with `curl_code`:
 * CD_ERR_HEADERS_OVERFLOW, CD_ERR_BAD_CHUNK or CD_ERR_TLS_HOSTNAME when
 * the failure is one of those, else curl_code itself. os_errno is
 * CURLINFO_OS_ERRNO; headers: the final response head had been delivered;
 * message: libcurl's error buffer (curl_easy_strerror's text when libcurl
 * wrote none), NUL-terminated. */
int cd__errclass(int curl_code, long os_errno, bool headers, const char *message);

#endif /* CD_ERRCLASS_H */
