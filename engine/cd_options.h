/* cd_options.h - the options of an easy handle: those every handle gets
 * (cd__options_base), those of one request (method, URL, headers, body,
 * HTTP version), those of its agent's config (route, timeouts, TLS), and
 * the worker's streams per HTTP/2 session. The load generator's handles
 * (cd_load.c) take the base and config ones too.
 *
 * Above cd_config and cd_share, below cd_transfer and cd_load (which add
 * their own callbacks). Threading: the worker that owns the handle.
 */
#ifndef CD_OPTIONS_H
#define CD_OPTIONS_H

#include <curl/curl.h>

#include "cd_request.h"
#include "cd_worker.h"

/* No signals, http(s) only, the path as written, bodies as served (never
 * decoded), CONNECT headers hidden, TCP_NODELAY; errors into `errbuf`. */
void cd__options_base(CURL *e, char *errbuf);

/* Everything of `req` but its callbacks: the base options, method, URL,
 * request target, headers, body (in memory, or an upload of known or
 * chunked length whose read callback the caller sets), HTTP version, reuse,
 * the agent's cache (req->share), connect-to or resolve entry, and the
 * config's options. */
void cd__options_request(cd__worker *w, cd_request *req, CURL *e);

/* The options every easy handle of an agent gets from its config: the
 * route (proxy for `url`'s scheme under CD_REQ_PROXY, Unix socket, local
 * address, happy eyeballs), connect and keep-alive timeouts, TLS material
 * and verification. */
void cd__options_config(CURL *e, const cd_config *cfg, const char *url, int flags);

/* Streams per HTTP/2 session are a multi-handle setting, one per worker:
 * raises the worker's to `streams` (never lowers it), and sets it the first
 * time whatever it is. */
void cd__options_raise_streams(cd__worker *w, long streams);

#endif /* CD_OPTIONS_H */
