/* cd_transfer.h - one request on a worker: its easy handle (options from
 * cd_options), curl's callbacks turned into events, pause and resume
 * (through cd_pause), deadlines, the per-origin connection limit, and the
 * one way a transfer ends.
 *
 * Above cd_channel, cd_conn, cd_limit, cd_pool, cd_share and the timer;
 * below cd_raw and the loop. It knows the CD_REQ_RAW flag (such transfers
 * only connect) but calls nothing of cd_raw.
 * Threading: every function runs on the request's worker.
 */
#ifndef CD_TRANSFER_H
#define CD_TRANSFER_H

#include <limits.h>

#include "cd_request.h"
#include "cd_worker.h"

/* How a transfer ends, for cd__transfer_end: a CURLcode (CURLE_OK is the
 * response's END, unless the engine decided an error meanwhile), an engine
 * error (CD_ERR_*), or one of these. */
#define CD__END_ABORTED INT_MIN        /* the owner aborted: CD_EV_ABORTED */
#define CD__END_SILENT (INT_MIN + 1)   /* the owner is gone: no event */

/* CD__CMD_SUBMIT: runs the request now, or queues it behind the origin's
 * connection limit. */
void cd__transfer_start(cd__worker *w, cd_request *req);
/* Sends the request's one terminal event (see above) and lets go of
 * everything the transfer holds, the worker's request reference last.
 * An HTTP/2 connection failure may instead send the request again, once.
 * Nothing happens for a request that has already ended. */
void cd__transfer_end(cd__worker *w, cd_request *req, int how);

/* Ends the waiting uploads (cd_upwait.h) whose server has closed the
 * connection: libcurl would wait for their body. */
void cd__transfer_check_upload_waits(cd__worker *w);
/* Gives the request's connection-limit slot to the next waiting request
 * (an upgraded connection leaves the origin's pool, as in undici). */
void cd__transfer_release_slot(cd__worker *w, cd_request *req);

void cd__transfer_resume(cd__worker *w, cd_request *req);
void cd__transfer_body(cd__chunk *chunk);
/* The request's deadline passed (fired from the worker's timer heap). */
void cd__transfer_timeout(cd__worker *w, cd_request *req);
/* CD__CMD_CREDIT: the owner freed half the window; a transfer paused on a
 * full window goes on. */
void cd__transfer_credit(cd_request *req);
/* Room again in the event ring: a transfer paused on it goes on. */
void cd__transfer_unstall(cd_request *req);
/* Starts the requests waiting behind limits that grew this loop turn (an
 * origin seen to answer in HTTP/2). */
void cd__transfer_fill_limits(cd__worker *w);
/* How long a transfer whose response is complete may go on uploading the
 * rest of its body (to keep its connection) before it is ended anyway. */
#define CD__EARLY_GRACE_MS 50
/* Ends the transfers whose response completed while their upload had not,
 * once their grace is over. Returns when the next one's grace ends, or
 * UINT64_MAX. */
uint64_t cd__transfer_end_early(cd__worker *w);
#endif /* CD_TRANSFER_H */
