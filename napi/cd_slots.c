/* cd_slots.c - request slots (see cd_slots.h). */
#include "cd_slots.h"

#include <stdlib.h>
#include <string.h>

int cd__slot_alloc(cd_addon *a, uint32_t *out) {
  if (a->free_len > 0) {
    *out = a->free_slots[--a->free_len];
    return 0;
  }
  if (a->next_slot == a->slots_cap) {
    uint32_t cap = a->slots_cap ? a->slots_cap * 2 : 256;
    cd_request **slots = realloc(a->slots, cap * sizeof(*slots));
    if (slots == NULL) return -1;
    a->slots = slots;
    uint32_t *fs = realloc(a->free_slots, cap * sizeof(*fs));
    if (fs == NULL) return -1;
    a->free_slots = fs;
    uint32_t *fin = realloc(a->finished, cap * sizeof(*fin));
    if (fin == NULL) return -1;
    a->finished = fin;
    napi_ref *refs = realloc(a->body_refs, cap * sizeof(*refs));
    if (refs == NULL) return -1;
    a->body_refs = refs;
    memset(a->body_refs + a->slots_cap, 0, (cap - a->slots_cap) * sizeof(*refs));
    memset(a->slots + a->slots_cap, 0, (cap - a->slots_cap) * sizeof(*slots));
    a->slots_cap = cap;
  }
  *out = a->next_slot++;
  return 0;
}

void cd__slot_unreserve(cd_addon *a, uint32_t slot) {
  a->free_slots[a->free_len++] = slot;
}

void cd__slot_free(napi_env env, cd_addon *a, uint32_t slot) {
  if (a->body_refs[slot] != NULL) {
    napi_delete_reference(env, a->body_refs[slot]);
    a->body_refs[slot] = NULL;
  }
  cd_request_release(a->slots[slot]);
  a->slots[slot] = NULL;
  a->free_slots[a->free_len++] = slot;
}

cd_request *cd__slot_request(napi_env env, cd_addon *a, napi_value v) {
  uint32_t slot = 0;
  if (napi_get_value_uint32(env, v, &slot) != napi_ok || slot >= a->slots_cap ||
      a->slots[slot] == NULL) {
    napi_throw_range_error(env, NULL, "curl-dispatcher native: unknown request slot");
    return NULL;
  }
  return a->slots[slot];
}

void cd__update_ref(napi_env env, cd_addon *a) {
  if (a->inflight > 0 && !a->tsfn_refed) {
    napi_ref_threadsafe_function(env, a->tsfn);
    a->tsfn_refed = 1;
  } else if (a->inflight == 0 && a->tsfn_refed) {
    napi_unref_threadsafe_function(env, a->tsfn);
    a->tsfn_refed = 0;
  }
}
