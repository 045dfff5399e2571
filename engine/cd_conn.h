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
/* Frees the table, after every connection has closed. */
void cd__conn_table_free(cd__conn_table *table);

#endif /* CD_CONN_H */
