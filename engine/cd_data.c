/* cd_data.c - response body bytes on their way to the owner (see cd_data.h). */
#include "cd_data.h"

#include <string.h>

#include <urcu/list.h>

#include "cd_channel.h"

/* The request's DATA event being filled goes to the owner. */
void cd__data_flush(cd_request *req) {
  cd_event *ev = req->resp.data_pending;
  if (ev == NULL) return;
  req->resp.data_pending = NULL;
  cds_list_del_init(&req->resp.data_node);
  cd__channel_push_event(req->chan, ev);
}

void cd__data_flush_all(cd__worker *w) {
  cd_request *req, *tmp;
  cds_list_for_each_entry_safe(req, tmp, &w->data_pending, resp.data_node) cd__data_flush(req);
}

/* Body bytes for the owner. curl hands them over in reads of whatever the
 * socket had (16 KiB at a time on loopback, where the worker outpaces the
 * server): the writes of one loop turn are gathered into one event of up
 * to CD__EVENT_LARGE bytes, sent at the end of the turn, so the owner gets
 * fewer, larger chunks (fewer Buffers, fewer calls). The last bytes of a
 * response of known length go out at once, so small responses cost no
 * more than before. */
int cd__data_queue(cd__worker *w, cd_request *req, const char *ptr, size_t n) {
  cd_event *ev = req->resp.data_pending;
  if (ev != NULL && ev->landing != NULL && ev->len + n <= ev->landing_cap) {
    memcpy(ev->landing + ev->len, ptr, n);
    ev->len += n;
    cd__window_add(req, n);
    return 0;
  }
  if (ev != NULL && ev->landing == NULL && ev->len + n <= ev->cap) {
    memcpy(ev->data + ev->len, ptr, n);
    ev->len += n;
    ev->data[ev->len] = '\0';
    cd__window_add(req, n);
    return 0;
  }
  cd__data_flush(req);
  /* decoded bytes: the length counts coded ones, the end comes with the transfer's */
  int more = req->dec.decoder != NULL || req->resp.length < 0 || req->resp.received + (int64_t)n < req->resp.length;
  /* A large body goes into a landing when the owner gave one (the bytes
   * then reach JS without another copy), else into an event. */
  int large = n >= CD_LANDING_MIN || (more && req->resp.received >= (int64_t)CD_LANDING_MIN);
  ev = large && n <= CD__EVENT_LARGE
    ? cd__event_new_landed(req->chan, req, ptr, n, (int32_t)w->index) : NULL;
  if (ev != NULL && !more) {
    cd__window_add(req, n);
    cd__channel_push_event(req->chan, ev);
    return 0;
  }
  if (ev == NULL) {
    if (!more || n >= CD__EVENT_LARGE) return cd__emit(req, CD_EV_DATA, ptr, n);
    ev = cd__event_new_room(req->chan, req, CD_EV_DATA, ptr, n, CD__EVENT_LARGE);
  }
  if (ev == NULL) return -1;
  cd__window_add(req, n);
  req->resp.data_pending = ev;
  cds_list_add_tail(&req->resp.data_node, &w->data_pending);
  return 0;
}
