/* cd_slots.h - request slots: small integers naming requests across the
 * bridge. A slot indexes the addon's table of cd_request pointers and
 * lib/native.js's table of JS request states. A slot is recycled only
 * after its terminal event has been delivered to JS (cd_events.c frees the
 * batch's finished slots once the JS call returns). JS thread only.
 */
#ifndef CD_SLOTS_H
#define CD_SLOTS_H

#include "cd_addon.h"

/* Reserves a slot (growing the tables). Returns 0, or -1 out of memory. */
int cd__slot_alloc(cd_addon *a, uint32_t *out);

/* Gives back a slot that was never used (the submit failed). */
void cd__slot_unreserve(cd_addon *a, uint32_t slot);

/* Releases the slot's request and body reference and recycles the slot. */
void cd__slot_free(napi_env env, cd_addon *a, uint32_t slot);

/* The request in slot `v` (a JS number), or NULL with a RangeError thrown. */
cd_request *cd__slot_request(napi_env env, cd_addon *a, napi_value v);

/* The threadsafe function keeps the event loop alive only while requests
 * are in flight, so an idle process exits by itself. Call after changing
 * a->inflight. */
void cd__update_ref(napi_env env, cd_addon *a);

#endif /* CD_SLOTS_H */
