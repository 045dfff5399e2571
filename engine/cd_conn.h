/* cd_conn.h - which agent and origin each open connection belongs to, so
 * that owners learn when connections open (CD_EV_CONNECTED, on the request
 * that opened it) and close (CD_EV_DISCONNECTED, an environment-level event).
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

/* One worker's open sockets, indexed by descriptor.
 * Ownership: embedded in the worker; entries are owned by the table. */
typedef struct cd__conn_table {
  struct cd__conn **items;
  size_t cap;
} cd__conn_table;

/* Installs the socket callbacks on `easy` for `req`. */
void cd__conn_setup(cd__conn_table *table, cd_request *req, CURL *easy);
/* Connections closing from now on go unreported to this channel (its
 * owner is detaching). */
void cd__conn_forget_channel(cd__conn_table *table, cd_channel *chan);
/* A transfer is about to leave its easy handle (still in the multi): the
 * connection it used learns the server's keep-alive hint, if any, and is
 * closed at once when the hint leaves no time to reuse it. Returns the
 * connection's keepalive in ms when the hint shortened it, else 0. */
uint32_t cd__conn_transfer_done(cd__conn_table *table, cd_request *req);
/* Closes the idle connections whose keepalive has run out: those of an
 * agent with no transfer on this worker for at least their keepalive. The
 * owner hears of each at once (CD_EV_DISCONNECTED). Returns the time of the
 * next expiry to check, or UINT64_MAX when none is due. */
uint64_t cd__conn_sweep(cd__conn_table *table, uint64_t now_ms);
/* The agent's cache is about to be freed: no entry may point at it. */
void cd__conn_forget_share(cd__conn_table *table, cd__share *share);
/* Frees the table, after every connection has closed. */
void cd__conn_table_free(cd__conn_table *table);

#endif /* CD_CONN_H */
