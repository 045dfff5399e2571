/* engine.h - public interface of the curl-dispatcher engine.
 *
 * Pure C11 on libcurl, concurrencykit and liburcu: no Node headers. The
 * N-API bridge (napi/) and the C tests (test/engine/) are its only users.
 *
 * Threads and roles
 *   - One engine per process (cd_engine_acquire/cd_engine_release), shared by
 *     every "environment" (a JS thread: the main thread or a worker_thread).
 *   - The engine runs N worker threads; each owns a curl multi handle.
 *   - An environment (cd_env) is created and used by exactly one thread, its
 *     "owner" (the JS thread). Every cd_env_*, cd_request_* and cd_config_*
 *     call below is made on the owner thread unless it says otherwise.
 *   - Per environment and worker there is a channel: a command ring (owner
 *     to worker) and an event ring (worker to owner), both SPSC.
 *   - Workers tell the owner that events are waiting through the notify
 *     callback given to cd_env_attach. It is called from a worker thread, at
 *     most once until the owner calls cd_env_poll_begin again.
 *
 * One request, as the owner sees it
 *   cd_request_submit -> events (HEADERS*, DATA*, BODY_WANTED*) -> exactly
 *   one terminal event (END, ERROR or ABORTED) -> nothing more. After the
 *   terminal event has been handled the owner calls cd_request_release.
 */
#ifndef CD_ENGINE_H
#define CD_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CD_MAX_WORKERS 64

/* Default of cd_config_opts.max_header_size (and of the Agent's maxHeaderSize). */
#define CD_DEFAULT_MAX_HEADER_SIZE (16 * 1024)

typedef struct cd_engine cd_engine;
typedef struct cd_env cd_env;
typedef struct cd_config cd_config;
typedef struct cd_request cd_request;

/* ---- engine ---------------------------------------------------------- */

/* Takes a reference on the process-wide engine, starting it (with no
 * workers yet) on first use. Returns NULL on failure. Thread-safe. */
cd_engine *cd_engine_acquire(void);

/* Drops a reference; the last one stops and joins every worker. Every
 * environment must have been detached first. Thread-safe. */
void cd_engine_release(cd_engine *engine);

/* Grows the worker pool to at least n workers (capped at CD_MAX_WORKERS).
 * Returns the pool size after the call. Thread-safe. */
unsigned cd_engine_ensure_workers(cd_engine *engine, unsigned n);

/* Live object counts, for leak checks in tests. Read without locks. */
typedef struct cd_engine_stats {
  long requests;   /* cd_request objects alive */
  long transfers;  /* requests a worker is running or queueing */
  long events;     /* events allocated and not yet freed */
  long commands;   /* body chunks queued and not yet freed */
  long handles;    /* curl easy handles alive (active and pooled) */
  long envs;       /* attached environments */
  long configs;    /* agent configurations alive (held by an agent or a transfer) */
  unsigned workers;
  /* transfers each worker has finished since it started (index < workers):
   * where the requests ran, for tests and diagnostics */
  unsigned long long worker_transfers[CD_MAX_WORKERS];
} cd_engine_stats;

void cd_engine_get_stats(cd_engine *engine, cd_engine_stats *out);

/* ---- the process's malloc (cd_heap.c) ---------------------------------- */

/* What cd_heap_adapt found and did. */
typedef enum cd_heap_state {
  CD_HEAP_ADAPTED,     /* glibc's thresholds raised: freed landings stay resident */
  CD_HEAP_ALREADY,     /* an 8 MiB block already stays in the heap (raised
                          before, or a malloc that is not glibc's) */
  CD_HEAP_UNCHANGED,   /* glibc tuned by hand (it does not adapt), or no memory */
  CD_HEAP_DISABLED,    /* CURL_DISPATCHER_MALLOC_ADAPT=0 */
  CD_HEAP_UNSUPPORTED  /* not glibc */
} cd_heap_state;

/* Lets glibc keep freed landing memory resident, as it does by itself
 * once a process has freed an 8 MiB block (cd_heap.c says why and how).
 * Once per process; any thread. */
cd_heap_state cd_heap_adapt(void);

/* "adapted", "already", "unchanged", "disabled" or "unsupported". */
const char *cd_heap_state_name(cd_heap_state state);

/* ---- environments ----------------------------------------------------- */

typedef void (*cd_notify_fn)(void *ctx);

/* Attaches the calling thread as an environment. `notify` is called from
 * worker threads when events become available (see top of file). */
cd_env *cd_env_attach(cd_engine *engine, cd_notify_fn notify, void *ctx);

/* Detaches: every unfinished request of this environment is dropped by its
 * worker (no further events), queued events and commands are freed, and the
 * environment is freed. Blocks until the workers have let go. Afterwards
 * the owner calls cd_request_release for each request it still holds. */
void cd_env_detach(cd_env *env);

/* ---- configuration ---------------------------------------------------- */

/* Immutable per-agent settings shared by the agent's in-flight transfers.
 * Blobs are copied. Zero/NULL means "libcurl's default". */
typedef struct cd_config_opts {
  long connect_timeout_ms;       /* 0: libcurl's default (300 s) */
  long keepalive_timeout_ms;     /* idle time after which the client closes a pooled
                                  * connection (within the next sweep, see cd_conn.c);
                                  * 0: libcurl's default, never closed early */
  long keepalive_threshold_ms;   /* a server's "Keep-Alive: timeout=N" shortens the
                                  * connection's keepalive to N s minus this */
  unsigned max_requests_per_conn; /* HTTP/1.x: a connection is closed once it has
                                  * carried this many requests; 0: no limit */
  unsigned connections;          /* max connections per origin (HTTP/1.1: transfers; once
                                  * the origin answers in HTTP/2: sessions of up to
                                  * max_streams streams each); 0: unlimited */
  unsigned max_streams;          /* streams per HTTP/2 session; 0: 100 */
  size_t max_header_size;        /* bytes of one response header block; 0: 16 KiB */
  int reject_unauthorized;       /* verify peer certificate and host name */
  const char *ca; size_t ca_len; /* PEM bundle replacing the system CAs */
  const char *cert; size_t cert_len; /* client certificate, PEM */
  const char *key; size_t key_len;   /* client key, PEM */
  /* Proxies, as curl URLs (http, https, socks4, socks4a, socks5, socks5h;
   * credentials in the URL). Used by requests submitted with
   * CD_REQ_PROXY, by their scheme; NULL: that scheme goes direct. */
  const char *proxy_http;
  const char *proxy_https;
  const char *proxy_headers;     /* "Name: value\n" lines sent to the proxy only, or NULL */
  int proxy_tunnel;              /* CONNECT through HTTP proxies for http: origins too */
  const char *proxy_ca; size_t proxy_ca_len; /* PEM bundle for an https proxy */
  int proxy_reject_unauthorized; /* verify an https proxy's certificate */
  const char *unix_socket_path;  /* connect here instead of the URL's host, or NULL */
  const char *local_address;     /* bind outgoing connections to this IP, or NULL */
  long happy_eyeballs_ms;        /* head start of the first address family; 0: default */
  uint32_t tag;                  /* the owner's id for this config, echoed in CD_EV_DISCONNECTED */
} cd_config_opts;

cd_config *cd_config_new(const cd_config_opts *opts);
/* Drops the creator's reference; in-flight transfers keep theirs. The
 * agent's idle connections are closed once its transfers are done. */
void cd_config_release(cd_config *config);

/* ---- requests ----------------------------------------------------------- */

enum cd_body_mode {
  CD_BODY_NONE = 0,   /* no request body and no Content-Length */
  CD_BODY_STREAM = 1  /* body chunks follow through cd_request_write */
};

enum cd_http_version {
  CD_HTTP_1_1 = 0,
  CD_HTTP_2TLS = 1,   /* HTTP/2 when ALPN agrees, else 1.1 */
  CD_HTTP_2_PRIOR_KNOWLEDGE = 2  /* h2c on http: URLs; multiplexed with libcurl >= 8.0,
                                  * one connection per request before (7.88
                                  * mishandles h2c reuse; see cd_transfer.c) */
};

/* cd_request_opts.flags */
#define CD_REQ_RESET 1           /* close the connection after this request */
#define CD_REQ_PROXY 2           /* go through the config's proxy for the URL's scheme */
#define CD_REQ_RAW 8             /* connect only, then a raw byte pipe (Upgrade, CONNECT):
                                  * body chunks go out as written, every byte read
                                  * comes back as DATA, the peer closing is END */
#define CD_REQ_NO_RETRY 4        /* not idempotent: when a reused connection turns out
                                  * dead after the request went out, fail with
                                  * CD_ERR_CONNECTION_LOST instead of letting libcurl
                                  * send it again on another connection */
#define CD_REQ_TIMINGS 16        /* measure the request's phases: a CD_EV_TIMINGS event
                                  * comes just before its terminal event; without
                                  * the flag nothing is measured */
#define CD_REQ_RESOLVE 32        /* connect_to is a CURLOPT_RESOLVE entry instead,
                                  * "HOST:PORT:ADDR[,ADDR]...": the addresses the
                                  * owner resolved the URL's host to */
#define CD_REQ_SENDING 64        /* say which connection the request goes out on:
                                  * CD_EV_CONNECTING when it opens one of its own,
                                  * CD_EV_SENDING each time libcurl is about to send
                                  * it; without the flag neither is sent */
#define CD_REQ_DECODE 128        /* undo the final response's content codings in the
                                  * worker (cd_decode.h) unless its status is in
                                  * decode_skip or is an error: DATA carries the decoded
                                  * bytes, HEADERS' facts say CD_HEAD_DECODED */
#define CD_REQ_DECODE_ERRORS 256 /* with CD_REQ_DECODE: error statuses (>= 400) too */

typedef struct cd_request_opts {
  const char *url;         /* absolute http(s) URL, already validated */
  const char *origin;      /* scheme://host:port, for routing and limits */
  const char *method;      /* token, already validated */
  const char *headers;     /* "Name: value\n" lines, validated, may be NULL */
  size_t headers_len;
  int body_mode;           /* enum cd_body_mode */
  int64_t body_length;     /* CD_BODY_STREAM: bytes, or -1 for chunked */
  uint32_t headers_timeout_ms; /* 0 disables */
  uint32_t body_timeout_ms;    /* idle time between body chunks; 0 disables */
  int http_version;        /* enum cd_http_version */
  int flags;               /* CD_REQ_* */
  const void *body_data;   /* CD_BODY_STREAM: the whole body, owned by the caller
                            * and left untouched until the terminal event (no
                            * copy, no cd_request_write), or NULL */
  size_t body_data_len;
  const char *connect_to;  /* "HOST:PORT:ADDR:PORT" (CURLOPT_CONNECT_TO), or NULL:
                            * the URL names the TLS name, ADDR where to connect;
                            * with CD_REQ_RESOLVE a CURLOPT_RESOLVE entry */
  const char *request_target; /* the request line's target when it is not
                            * the URL's path (an absolute-form URL, as undici
                            * sends a `path` that is one), or NULL */
  unsigned worker;         /* which worker runs it (taken modulo the pool) */
  uint32_t slot;           /* the owner's id, echoed in every event */
  const uint16_t *decode_skip; /* CD_REQ_DECODE: statuses left coded, at most */
  unsigned decode_skip_len;    /* CD_DECODE_SKIP_MAX of them */
} cd_request_opts;

#define CD_DECODE_SKIP_MAX 16

/* Hands a request to its worker. The returned object carries one
 * reference for the owner. Returns NULL if out of memory. */
cd_request *cd_request_submit(cd_env *env, cd_config *config,
                              const cd_request_opts *opts);

/* Appends request body bytes (copied); `end` marks the last chunk.
 * Returns 0, or -1 when out of memory. */
int cd_request_write(cd_request *req, const void *data,
                     size_t len, int end);

/* Stops delivery of response body bytes as soon as the worker sees it.
 * Events already queued are still delivered: the owner holds them. */
void cd_request_pause(cd_request *req);

/* The owner's consumer is paused, but the owner keeps taking the bytes
 * (it holds them itself, and calls cd_request_pause once it holds enough):
 * the worker goes on receiving, within the response window, and only the
 * time toward bodyTimeout stops until cd_request_resume. Where consumers
 * pause after nearly every chunk and resume a moment later (undici's body
 * streams, fetch's), this saves libcurl's pause, the copy it makes of a
 * paused write, and a RESUME command each time. */
void cd_request_pause_consumer(cd_request *req);

/* Lets the transfer receive again (ends either pause). */
void cd_request_resume(cd_request *req);

/* Asks the worker to drop the transfer. Unless the terminal event was
 * already queued, the worker answers with CD_EV_ABORTED. */
void cd_request_abort(cd_request *req);

/* The owner is done with the request (after its terminal event). */
void cd_request_release(cd_request *req);

/* ---- events ------------------------------------------------------------- */

enum cd_event_type {
  CD_EV_HEADERS = 1,     /* a: status, b: HTTP version x10 (10, 11, 20); data: raw header block,
                          * status line first; a final (>= 200) head's facts: c: CD_HEAD_*
                          * bits, d: its "Keep-Alive: timeout=" hint in ms, or -1 (1xx
                          * heads: c 0, d -1) */
  CD_EV_DATA = 2,        /* data: response body bytes */
  CD_EV_BODY_WANTED = 3, /* the worker has sent every queued body byte */
  CD_EV_END = 4,         /* terminal; data: raw trailer lines (may be empty) */
  CD_EV_ERROR = 5,       /* terminal; a: cd_error code, b: OS errno, c: TLS verify result,
                          * d: CD_ERRF_* | proxy CONNECT status
                          * << CD_ERRF_CONNECT_STATUS_SHIFT | libcurl's CURLcode
                          * << CD_ERRF_CURL_CODE_SHIFT; data: message */
  CD_EV_ABORTED = 6,     /* terminal; answer to cd_request_abort */
  CD_EV_CONNECTED = 8,   /* this request opened the connection it is about to use;
                          * a and data as CD_EV_SENDING's */
  CD_EV_DISCONNECTED = 9, /* environment-level (slot CD_SLOT_NONE, no request): a
                          * connection that was reported CONNECTED closed;
                          * a: the config's tag; data: the origin */
  CD_EV_TIMINGS = 10,    /* CD_REQ_TIMINGS: immediately before the terminal event
                          * (END, ERROR or ABORTED; none after detach, none when
                          * it cannot be allocated); data: one cd_timings */
  CD_EV_CONNECTING = 11, /* CD_REQ_SENDING: the request opens a connection of its
                          * own (its first socket; once per request); no data */
  CD_EV_SENDING = 12     /* CD_REQ_SENDING: the connection is ready (TLS and proxy
                          * tunnel done) and the request is about to go out on it;
                          * again if libcurl sends it again on another one.
                          * a: 1 over TLS, else 0; data: "ip port local-ip
                          * local-port", then " protocol" when TLS agreed one by
                          * ALPN ("h2", "http/1.1"); empty addresses for a Unix
                          * socket */
};

/* CD_EV_TIMINGS payload: where the request was when it passed each phase.
 * at[] holds instants in microseconds since cd_request_submit (a monotonic
 * clock, CLOCK_MONOTONIC), cumulative and non-decreasing in index order, as
 * the Resource Timing API's; -1 means the request never got there (it
 * failed or was aborted before). A phase that was not needed takes the
 * instant before it: on a reused connection DNS, CONNECT and TLS equal
 * QUEUED; over plain TCP, TLS equals CONNECT. */
enum cd_timing {
  CD_TIMING_QUEUED = 0,     /* the worker handed the transfer to libcurl: time in the
                             * command ring, waiting for the worker and for a
                             * `connections` slot comes before it */
  CD_TIMING_DNS = 1,        /* the name was resolved (CURLINFO_NAMELOOKUP_TIME_T) */
  CD_TIMING_CONNECT = 2,    /* TCP connected, to the host or the proxy (CURLINFO_CONNECT_TIME_T) */
  CD_TIMING_TLS = 3,        /* TLS handshake with the origin done (CURLINFO_APPCONNECT_TIME_T) */
  CD_TIMING_SENT = 4,       /* libcurl starts sending the request (CURLINFO_PRETRANSFER_TIME_T:
                             * connection ready, proxy tunnel included) */
  CD_TIMING_FIRST_BYTE = 5, /* the first response byte arrived (CURLINFO_STARTTRANSFER_TIME_T) */
  CD_TIMING_TOTAL = 6,      /* the worker ended the request (just before this event) */
  CD_TIMINGS = 7
};

#define CD_TIMINGS_ADDRESS_MAX 48  /* bytes of cd_timings.remote_address, NUL included */

typedef struct cd_timings {
  int64_t at[CD_TIMINGS];   /* enum cd_timing; microseconds since submit, or -1 */
  int64_t submit_us;        /* the submit instant, CLOCK_MONOTONIC microseconds */
  int32_t reused;           /* 1: sent on a connection opened earlier (CURLINFO_NUM_CONNECTS 0) */
  int32_t remote_port;      /* CURLINFO_PRIMARY_PORT, 0 unknown */
  int32_t http_version;     /* 10, 11, 20, 30; 0 unknown */
  int32_t reserved;
  char remote_address[CD_TIMINGS_ADDRESS_MAX]; /* CURLINFO_PRIMARY_IP, "" unknown */
} cd_timings;

#define CD_SLOT_NONE UINT32_MAX

/* Response body bytes of one request that may be on their way to the owner
 * (DATA events queued and not yet freed with cd_event_free). A transfer
 * that reaches it stops reading until the owner has freed half of it, so a
 * slow or paused consumer holds a bounded amount of memory whatever the
 * response's size. */
#define CD_RESPONSE_WINDOW (256 * 1024)

/* Error codes of CD_EV_ERROR: a CURLcode (>= 0), or one of the engine's own.
 * A libcurl failure that its CURLcode does not tell apart from others is
 * given one of the engine's codes instead (cd_errclass.c: HEADERS_OVERFLOW,
 * BAD_CHUNK, TLS_HOSTNAME); the CURLcode itself is in d either way. */
enum cd_error {
  CD_ERR_HEADERS_TIMEOUT = -1,
  CD_ERR_BODY_TIMEOUT = -2,
  CD_ERR_HEADERS_OVERFLOW = -3, /* a response head over max_header_size, or over one of
                                 * libcurl's own limits on headers */
  CD_ERR_NO_MEMORY = -4,
  CD_ERR_AMBIGUOUS_LENGTH = -6, /* conflicting Content-Length, or with Transfer-Encoding */
  CD_ERR_CONNECTION_LOST = -7,  /* CD_REQ_NO_RETRY: the connection died under the request */
  CD_ERR_BAD_CHUNK = -8,        /* libcurl's chunked decoder refused the response's framing */
  CD_ERR_TLS_HOSTNAME = -9,     /* the server's certificate does not name the host */
  CD_ERR_DECODE = -10           /* CD_REQ_DECODE: the body could not be decoded, or has too
                                 * many codings; data: "<code> <errno> <message>", Node's
                                 * zlib error for the same bytes ("-" and 0: none) */
};

/* CD_EV_ERROR flags */
#define CD_ERRF_CONNECTED 1     /* a connection had been established */
#define CD_ERRF_HEADERS 2       /* final response headers had been delivered */
#define CD_ERRF_CONNECT_STATUS_SHIFT 8 /* (d >> this) & CD_ERRF_CONNECT_STATUS_MASK: */
#define CD_ERRF_CONNECT_STATUS_MASK 0xfff /* the proxy's CONNECT status, or 0 */
#define CD_ERRF_CURL_CODE_SHIFT 20 /* d >> this: the CURLcode libcurl failed the transfer
                                    * with, or 0 for the engine's own errors */

/* CD_EV_HEADERS facts (c) of a final response head: what its fields say of
 * its connection and framing, so that the owner need not parse them again. */
#define CD_HEAD_KEEPS_ALIVE 1   /* the connection stays open after it: HTTP/1.1 (and
                                 * later) without "Connection: close", HTTP/1.0 with
                                 * "Connection: keep-alive" (llhttp's test) */
#define CD_HEAD_CHUNKED 2       /* a Transfer-Encoding field naming chunked */
#define CD_HEAD_HAS_LENGTH 4    /* a Content-Length field */
#define CD_HEAD_DECODED 8       /* CD_REQ_DECODE: the worker undoes its content codings;
                                 * DATA carries the decoded bytes */

/* Owner-thread view of one event. Free with cd_event_free. The payload is
 * data[], or, for a DATA event written into a landing (see
 * cd_env_give_landing), the landing's memory: landing != NULL, landing_id
 * says which, and `b` is the worker's index. */
typedef struct cd_event {
  struct cd_event *next;   /* engine-internal queueing */
  struct cd_channel *chan; /* engine-internal: where to recycle it */
  size_t cap;              /* engine-internal: payload capacity */
  cd_request *req;
  uint32_t slot;
  int32_t type;
  int32_t a, b, c, d;
  size_t len;
  char *landing;           /* the payload, in a landing; NULL: in data[] */
  size_t landing_cap;      /* engine-internal */
  uint32_t landing_id;
  char data[];
} cd_event;

/* Landings: memory the owner lends a worker (the bytes of a Buffer that JS
 * allocated) to write large response bodies into, so that they reach the
 * owner without a second copy. Per environment and worker, CD_LANDINGS of
 * them, by id. A DATA event whose payload is in a landing hands the
 * landing back: the owner takes the bytes (or copies them out) and gives
 * that id a landing again, the same memory or new. The worker writes into
 * a landing the body of a response that is large (a write of at least
 * CD_LANDING_MIN bytes, or that much received already); without a landing
 * it copies into the event as before. The owner may give any subset of the
 * ids, and more of them over time.
 * Owner thread; returns 0, or -1 when out of memory. `cap` is at least
 * CD_LANDING_MIN. */
#define CD_LANDINGS 128
#define CD_LANDING_MIN (16u * 1024u)
#define CD_LANDING_CAP (64u * 1024u)  /* the size to give: the largest DATA event */
int cd_env_give_landing(cd_env *env, unsigned worker, uint32_t id, void *memory, size_t cap);

/* Starts a drain: clears the "notified" state so that events pushed from
 * now on cause a new notification. Call before cd_env_poll. */
void cd_env_poll_begin(cd_env *env);

/* Pops up to `max` events in per-request order. Returns how many. */
size_t cd_env_poll(cd_env *env, cd_event **out, size_t max);

/* Ends a drain. Between cd_env_poll_begin and this call, commands pushed
 * by the owner (requests dispatched from event handlers) do not wake their
 * worker one by one: each worker that got commands is woken once, here. */
void cd_env_poll_end(cd_env *env);

/* Owner thread: frees (recycles) an event returned by cd_env_poll. */
void cd_event_free(cd_event *ev);

#ifdef __cplusplus
}
#endif

#endif /* CD_ENGINE_H */
