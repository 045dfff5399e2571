/* cd_options.c - the options of an easy handle (see cd_options.h). */
#include "cd_options.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "cd_config.h"
#include "cd_share.h"

void cd__options_base(CURL *e, char *errbuf) {
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  /* The user's path goes out as written, bodies as served: fetch decodes. */
  curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L);
  curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
}

/* Where the connection goes: a proxy, a Unix socket, a local address. */
static void setup_route(const cd_config *cfg, const char *url, int flags, CURL *e) {
  const char *proxy = NULL;
  if (flags & CD_REQ_PROXY)
    proxy = strncmp(url, "https:", 6) == 0 ? cfg->proxy_https : cfg->proxy_http;
  /* "" rather than NULL: curl would otherwise read http_proxy and friends
   * from the environment, behind the user's back. */
  curl_easy_setopt(e, CURLOPT_PROXY, proxy != NULL ? proxy : "");
  if (proxy != NULL) {
    if (cfg->proxy_headers != NULL) {
      curl_easy_setopt(e, CURLOPT_HEADEROPT, CURLHEADER_SEPARATE);
      curl_easy_setopt(e, CURLOPT_PROXYHEADER, cfg->proxy_headers);
    }
    if (cfg->proxy_tunnel) curl_easy_setopt(e, CURLOPT_HTTPPROXYTUNNEL, 1L);
    if (cfg->proxy_ca.data) curl_easy_setopt(e, CURLOPT_PROXY_CAINFO_BLOB, &cfg->proxy_ca);
    if (!cfg->proxy_reject_unauthorized) {
      curl_easy_setopt(e, CURLOPT_PROXY_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(e, CURLOPT_PROXY_SSL_VERIFYHOST, 0L);
    }
  }
  if (cfg->unix_socket_path != NULL) curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, cfg->unix_socket_path);
  if (cfg->local_address != NULL) curl_easy_setopt(e, CURLOPT_INTERFACE, cfg->local_address);
  if (cfg->happy_eyeballs_ms > 0) curl_easy_setopt(e, CURLOPT_HAPPY_EYEBALLS_TIMEOUT_MS, cfg->happy_eyeballs_ms);
}

/* libcurl 7.88 fails every stream but the first on a reused h2c (prior
 * knowledge) connection, "Error in the HTTP2 framing layer" (curl/curl#10634,
 * a 7.88 regression fixed in 8.0.0 by commit cbe9d82c): there each request
 * gets a connection of its own; from 8.0.0 they multiplex on one. Checked at
 * run time rather than with LIBCURL_VERSION_NUM, because the libcurl.so.4
 * loaded can differ from the headers the addon was built with. Once only:
 * curl_version_info() of 7.x rewrites a static struct on every call. */
static pthread_once_t h2c_once = PTHREAD_ONCE_INIT;
static bool h2c_reuse;

static void h2c_check(void) {
  h2c_reuse = curl_version_info(CURLVERSION_NOW)->version_num >= 0x080000;
}

/* Streams per HTTP/2 session are a multi-handle setting, one per worker,
 * so a worker takes the largest maxConcurrentStreams of the agents whose
 * HTTP/2 requests it runs; each agent's own total (sessions times streams)
 * is its connection limit's (cd_limit.c). (CURLMOPT_MAX_HOST_CONNECTIONS
 * would cap sessions too, but for every origin of the worker, whatever
 * agent: other agents' paused HTTP/1.1 requests then starved.) */
void cd__options_raise_streams(cd__worker *w, long streams) {
  if (streams > w->max_streams || w->max_streams == 0) {
    if (streams > w->max_streams) w->max_streams = streams;
    curl_multi_setopt(w->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, w->max_streams);
  }
}


void cd__options_request(cd__worker *w, cd_request *req, CURL *e) {
  const cd_config *cfg = req->config;
  cd__options_base(e, req->errbuf);
  curl_easy_setopt(e, CURLOPT_URL, req->url);
  if (req->request_target != NULL) curl_easy_setopt(e, CURLOPT_REQUEST_TARGET, req->request_target);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
  /* Larger reads mean fewer, larger DATA events for big bodies. */
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 64L * 1024L);
  if (req->flags & CD_REQ_RAW) {
    /* a byte pipe: HTTP/1.1 by ALPN, nothing sent by curl itself */
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    /* connect (proxy and TLS included), then stop: cd_raw.c takes over */
    curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
  } else if (req->http_version == CD_HTTP_2TLS) {
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    if ((long)cfg->max_streams > w->max_streams) cd__options_raise_streams(w, (long)cfg->max_streams);
    /* Without a connection limit, wait for a connection that can multiplex
     * rather than open one per request while the first one negotiates.
     * Under a limit, the limit does that (the first `connections` requests
     * open the sessions), and PIPEWAIT would hurt: with it libcurl 7.88
     * opened 301 sessions for 2000 requests with connections: 4 once the
     * limit had grown to 400 streams; without it, 4. */
    if (req->lim.entry == NULL) curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  } else if (req->http_version == CD_HTTP_2_PRIOR_KNOWLEDGE) {
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    pthread_once(&h2c_once, h2c_check);
    if (h2c_reuse) {
      curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    } else {
      curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
      curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    }
  } else {
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
  }

  if (strcmp(req->method, "HEAD") == 0) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (strcmp(req->method, "GET") != 0 || req->body_mode == CD_BODY_STREAM) {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
  }
  if (req->body_mode == CD_BODY_STREAM && req->body_data != NULL) {
    /* A whole body in memory: curl sends it with the request head, in one
     * write when it is small (the read callback path costs a second send
     * and a loop turn: 16 KiB POSTs ran at about half undici's rate). */
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_data_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body_data);
  } else if (req->body_mode == CD_BODY_STREAM) {
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_length);
  }
  if (req->flags & CD_REQ_RESET) curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
  if (req->share != NULL) curl_easy_setopt(e, CURLOPT_SHARE, req->share->handle);
  if (req->connect_to != NULL) {
    req->connect_to_list.data = req->connect_to;
    req->connect_to_list.next = NULL;
    curl_easy_setopt(e, (req->flags & CD_REQ_RESOLVE) ? CURLOPT_RESOLVE : CURLOPT_CONNECT_TO, &req->connect_to_list);
  }
  cd__options_config(e, cfg, req->url, req->flags);
}

void cd__options_config(CURL *e, const cd_config *cfg, const char *url, int flags) {
  setup_route(cfg, url, flags, e);
  if (cfg->connect_timeout_ms > 0) curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, cfg->connect_timeout_ms);
  if (cfg->keepalive_timeout_ms > 0) {
    /* libcurl reuses a connection while its idle time in whole seconds
     * (truncated) is not above this value: (ms - 1) / 1000 drops it at
     * ceil(ms / 1000) seconds, never later than asked for by more than
     * the rounding. */
    long secs = (cfg->keepalive_timeout_ms - 1) / 1000;
    curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, secs);
  }
  if (cfg->ca.data) curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &cfg->ca);
  if (cfg->cert.data) {
    curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cfg->cert);
    curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
  }
  if (cfg->key.data) {
    curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &cfg->key);
    curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (!cfg->reject_unauthorized) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
}
