/* cd_conn.h - which agent and origin each open connection belongs to, so
 * that owners learn when connections open (CD_EV_CONNECTED, on the request
 * that opened it) and close (CD_EV_DISCONNECTED, an environment-level event),
 * and, with CD_REQ_SENDING, when a request opens one (CD_EV_CONNECTING) and
 * which one it goes out on (CD_EV_SENDING, with TLS's ALPN from cd_alpn).
 *
 * Above cd_channel (it queues events), below cd_transfer (which installs
 * its callbacks on every easy handle). Threading: one worker only.
 */
#ifndef CD_CONN_H
#define CD_CONN_H

#include <stddef.h>

#include <curl/curl.h>

#include "cd_channel.h"
#include "cd_request.h"
#include "cd_share.h"

struct cd__conn;

#define CD__CONN_PORT_BUCKETS 1024u

/* One worker's open sockets, indexed by descriptor, and of the TCP ones
 * which transfers use each (`users`): a transfer's prerequisite callback
 * names its connection by address and port, found through `ports`.
 * Ownership: embedded in the worker (zeroed, then `clock` set); entries
 * are owned by the table. */
typedef struct cd__conn_table {
  struct cd__conn **items;
  size_t cap;
  curl_socket_t *ports;        /* CD__CONN_PORT_BUCKETS chains by local port, or NULL */
  uint32_t serial;             /* the last entry's */
  unsigned lost;               /* running transfers whose connection was not found:
                                * while any, no connection counts as idle by itself */
  const uint64_t *clock;       /* the worker's loop time, ms */
} cd__conn_table;

/* Installs the socket callbacks on `easy` for `req`. */
void cd__conn_setup(cd__conn_table *table, cd_request *req, CURL *easy);
/* Connections closing from now on go unreported to this channel (its
 * owner is detaching). */
void cd__conn_forget_channel(cd__conn_table *table, cd_channel *chan);
/* A transfer is about to leave its easy handle (still in the multi): it no
 * longer uses its connection, which learns the server's keep-alive hint,
 * if any, and is closed at once when the hint leaves no time to reuse it.
 * Returns the connection's keepalive in ms when it became idle or the hint
 * shortened it (the sweep is due then at the latest), else 0. */
uint32_t cd__conn_transfer_done(cd__conn_table *table, cd_request *req);
/* Closes the idle connections whose keepalive has run out: a TCP
 * connection no transfer has used for its keepalive, any other of an agent
 * with no transfer on this worker for that long. The owner hears of each at
 * once (CD_EV_DISCONNECTED). Returns the time of the next expiry to check,
 * or UINT64_MAX when none is due. */
uint64_t cd__conn_sweep(cd__conn_table *table, uint64_t now_ms);
/* Idle TCP connections to watch for input, as poll entries (POLLIN), at
 * most `max`. libcurl does not read a connection no transfer uses: a
 * server's GOAWAY or close would wait there until a new transfer looks. */
size_t cd__conn_idle_waitfds(cd__conn_table *table, struct curl_waitfd *fds, size_t max);
/* After the poll: an idle connection with input is closed (shut down, the
 * owner told). On HTTP/1.1 it can only be the server closing it; on
 * HTTP/2 a GOAWAY, or a frame such as a PING that cannot be told from it
 * without reading (TLS), which costs a new connection later. */
void cd__conn_idle_check(cd__conn_table *table, const struct curl_waitfd *fds, size_t n);
/* The agent's cache is about to be freed: no entry may point at it. */
void cd__conn_forget_share(cd__conn_table *table, cd__share *share);
/* Frees the table, after every connection has closed. */
void cd__conn_table_free(cd__conn_table *table);

/* The TCP connection a running transfer sends on (counted since its
 * prerequisite callback), or CURL_SOCKET_BAD when not known or closed. */
curl_socket_t cd__conn_transfer_fd(cd__conn_table *t, cd_request *req);

#endif /* CD_CONN_H */
