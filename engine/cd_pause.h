/* cd_pause.h - why a transfer is held, in one word of reasons
 * (cd_request.pause), and the one function that decides from it whether
 * libcurl receives and sends again.
 *
 * Reasons, each set by the callback that paused libcurl for it and lifted
 * by the event that ends it:
 *   CD__PAUSE_OWNER     the owner asked receiving to stop (CD__OWNER_HOLD
 *                       in cd_request.paused; a paused consumer alone,
 *                       CD__OWNER_CONSUMER, only stops bodyTimeout's
 *                       clock): lifted by its RESUME (cd__transfer_resume)
 *   CD__PAUSE_WINDOW    the response window is full: lifted by the
 *                       owner's CREDIT; sticky until then
 *   CD__PAUSE_OVERFLOW  the event ring is full (the request waits on
 *                       worker->stalled): lifted once the ring drains
 *   CD__PAUSE_UPLOAD    the read callback waits for the owner's next body
 *                       chunk (the request is on worker->upload_waits):
 *                       lifted when a chunk comes
 * and what libcurl holds: CD__PAUSE_HELD_RECV (the write callback returned
 * CURL_WRITEFUNC_PAUSE), CD__PAUSE_HELD_SEND (the read callback returned
 * CURL_READFUNC_PAUSE).
 *
 * libcurl's pause bits are replaced as a whole: curl_easy_pause(CONT)
 * resumes both directions (and re-enters the write callback at once), and
 * a callback whose reason still holds pauses its direction again. So
 * OWNER and UPLOAD, which their callbacks assert anew each time, go with
 * the HELD bits at every CONT; WINDOW and OVERFLOW stay until lifted.
 *
 * Above cd_channel (the ring's overflow, the window), below cd_transfer
 * and cd_raw. Threading: the request's worker; cd_request.paused and
 * paused_seen are the owner's atomics (cd_request.h).
 */
#ifndef CD_PAUSE_H
#define CD_PAUSE_H

#include "cd_request.h"

#define CD__PAUSE_OWNER 1u
#define CD__PAUSE_WINDOW 2u
#define CD__PAUSE_OVERFLOW 4u
#define CD__PAUSE_UPLOAD 8u
#define CD__PAUSE_HELD_RECV 16u
#define CD__PAUSE_HELD_SEND 32u

/* Whether the owner has the transfer paused (cd_request_pause: receiving
 * stops). A worker about to keep (or put) receiving paused on that account
 * records that it did (paused_seen), so that the owner's resume sends a
 * RESUME command. */
int cd__pause_owner(cd_request *req);

/* Whether the owner's consumer is paused (either pause): bodyTimeout's
 * clock stops. Recorded as cd__pause_owner records, so that the resume
 * arms the deadline again. */
int cd__pause_consumer(cd_request *req);

/* The reason receiving must wait now (OWNER, OVERFLOW or WINDOW, in that
 * order), or 0. A raw pipe asks it before each read. */
unsigned cd__pause_recv_reason(cd_request *req);

/* The write callback pauses receiving for `reason` (returns what it
 * returns to libcurl). */
size_t cd__pause_hold_recv(cd_request *req, unsigned reason);

/* The read callback pauses sending until the owner's next chunk (returns
 * what it returns to libcurl). */
size_t cd__pause_hold_send(cd_request *req);

/* Lifts `reasons`, then lets a running transfer go on (curl_easy_pause
 * CONT) when a direction libcurl holds has no reason left. The only call
 * that resumes libcurl. */
void cd__pause_lift(cd_request *req, unsigned reasons);

/* The transfer is ending: off the worker's lists, no reason left. */
void cd__pause_forget(cd_request *req);

#endif /* CD_PAUSE_H */
