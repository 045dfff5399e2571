/* cd_pause.c - the pause word and its one decision (see cd_pause.h). */
#include "cd_pause.h"

#include "cd_channel.h"
#include "cd_worker.h"

/* Whether the owner asks for `bits`; a worker about to act on it records
 * that it did (paused_seen), so that the owner's resume sends a RESUME. */
static int owner_asks(cd_request *req, int bits) {
  if (!(atomic_load_explicit(&req->paused, memory_order_relaxed) & bits)) return 0;
  atomic_store(&req->paused_seen, 1);
  if (atomic_load(&req->paused) & bits) return 1;
  atomic_store(&req->paused_seen, 0);  /* resumed meanwhile, perhaps without a RESUME */
  return 0;
}

int cd__pause_owner(cd_request *req) {
  return owner_asks(req, CD__OWNER_HOLD);
}

int cd__pause_consumer(cd_request *req) {
  return owner_asks(req, CD__OWNER_CONSUMER);
}

unsigned cd__pause_recv_reason(cd_request *req) {
  if (cd__pause_owner(req)) return CD__PAUSE_OWNER;
  /* the owner is behind: hold the bytes in curl rather than in memory */
  if (req->chan->overflow_head != NULL) return CD__PAUSE_OVERFLOW;
  /* a window's worth is on its way to the owner: wait for its credit */
  if ((req->pause & CD__PAUSE_WINDOW) || cd__window_full(req)) return CD__PAUSE_WINDOW;
  return 0;
}

size_t cd__pause_hold_recv(cd_request *req, unsigned reason) {
  if (reason == CD__PAUSE_OVERFLOW && cds_list_empty(&req->stall_node))
    cds_list_add_tail(&req->stall_node, &req->worker->stalled);
  req->pause |= reason | CD__PAUSE_HELD_RECV;
  return CURL_WRITEFUNC_PAUSE;
}

size_t cd__pause_hold_send(cd_request *req) {
  if (cds_list_empty(&req->upwait.node)) cds_list_add_tail(&req->upwait.node, &req->worker->upload_waits);
  req->pause |= CD__PAUSE_UPLOAD | CD__PAUSE_HELD_SEND;
  return CURL_READFUNC_PAUSE;
}

/* UPLOAD's list entry and what the watch of its socket learnt. */
static void end_upload_wait(cd_request *req) {
  cds_list_del_init(&req->upwait.node);
  req->upwait.unread = 0;
  req->upwait.stale = false;
}

void cd__pause_lift(cd_request *req, unsigned reasons) {
  if (reasons & CD__PAUSE_OVERFLOW) cds_list_del_init(&req->stall_node);
  if (reasons & CD__PAUSE_UPLOAD) end_upload_wait(req);
  req->pause &= ~reasons;
  if (req->state != CD__T_RUNNING) return;
  unsigned p = req->pause;
  int recv = (p & CD__PAUSE_HELD_RECV) && !(p & (CD__PAUSE_WINDOW | CD__PAUSE_OVERFLOW)) &&
             !cd__pause_owner(req);
  int send = (p & CD__PAUSE_HELD_SEND) && !(p & CD__PAUSE_UPLOAD);
  if (!recv && !send) return;
  req->pause &= CD__PAUSE_WINDOW | CD__PAUSE_OVERFLOW;
  end_upload_wait(req);
  curl_easy_pause(req->easy, CURLPAUSE_CONT);
}

void cd__pause_forget(cd_request *req) {
  cds_list_del_init(&req->stall_node);
  end_upload_wait(req);
  req->pause = 0;
}
