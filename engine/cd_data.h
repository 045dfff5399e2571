/* cd_data.h - response body bytes on their way to the owner: gathered into
 * DATA events (one per request and loop turn, up to CD__EVENT_LARGE bytes,
 * in a landing when the owner lent one), counted in the response window,
 * pushed at the end of the loop turn or before the terminal event.
 *
 * Below cd_transfer and cd_bodydec, above cd_channel.
 * Threading: the request's worker.
 */
#ifndef CD_DATA_H
#define CD_DATA_H

#include <stddef.h>

#include "cd_request.h"
#include "cd_worker.h"

/* Adds body bytes to the request's DATA event (and to its window). 0, or
 * -1 when out of memory. */
int cd__data_queue(cd__worker *w, cd_request *req, const char *ptr, size_t n);

/* The request's DATA event being filled goes to the owner now. */
void cd__data_flush(cd_request *req);

/* Every request's DATA event being filled goes (end of a loop turn). */
void cd__data_flush_all(cd__worker *w);

#endif /* CD_DATA_H */
