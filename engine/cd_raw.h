/* cd_raw.h - raw connections, for HTTP Upgrade (WebSocket) and CONNECT.
 *
 * A CD_REQ_RAW request is a connect-only transfer (cd_transfer.c); once
 * libcurl has connected, this file turns it into a byte pipe. Above
 * cd_transfer, below the loop. Threading: the worker only.
 */
#ifndef CD_RAW_H
#define CD_RAW_H

#include <stddef.h>

#include <curl/curl.h>

#include "cd_request.h"
#include "cd_worker.h"

/* The connect-only transfer is done: the pipe opens. */
void cd__raw_open(cd__worker *w, cd_request *req);
/* The pipe closes: out of the worker's raw list (nothing for a request
 * that is no open pipe). cd__transfer_end comes next, which closes the
 * connection. */
void cd__raw_close(cd__worker *w, cd_request *req);
/* Moves bytes both ways on every open pipe, until each would block. */
void cd__raw_pump(cd__worker *w);
/* The pipes' descriptors to poll while parked (at most `max`). */
size_t cd__raw_waitfds(cd__worker *w, struct curl_waitfd *fds, size_t max);

#endif /* CD_RAW_H */
