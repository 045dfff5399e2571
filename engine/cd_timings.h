/* cd_timings.h - per-request phase timings (CD_REQ_TIMINGS): the instants
 * a request passed, from libcurl's CURLINFO_*_TIME_T and three readings of
 * our own clock (submit, hand-over to libcurl, end), sent as one
 * CD_EV_TIMINGS event (engine.h: struct cd_timings) just before the
 * terminal event.
 *
 * Above cd_channel (it emits an event), below cd_transfer and cd_submit,
 * which call it at three points, each behind a test of the flag: a request
 * without CD_REQ_TIMINGS costs one branch per point and nothing else.
 * Threading: cd__timings_submit on the owner (before the SUBMIT command is
 * pushed, which publishes what it wrote), the others on the request's
 * worker.
 */
#ifndef CD_TIMINGS_H
#define CD_TIMINGS_H

#include <stdint.h>

#include "cd_request.h"

/* Owner: the request is being submitted; the origin of its instants. */
void cd__timings_submit(cd_request *req);
/* Worker: the transfer is about to be handed to libcurl (its clock for the
 * CURLINFO_*_TIME_T values starts at its next perform). */
void cd__timings_start(cd_request *req);
/* Worker: the request is ending and its terminal event comes next; queues
 * CD_EV_TIMINGS (the caller skips it when the owner is gone). An event
 * that cannot be allocated is skipped: timings never fail a request. */
void cd__timings_emit(cd_request *req);
/* Fills `out` from what the request's easy handle (if any) measured and
 * `end_us`, the instant it ended. Exposed for the engine tests. */
void cd__timings_collect(cd_request *req, int64_t end_us, cd_timings *out);

#endif /* CD_TIMINGS_H */
