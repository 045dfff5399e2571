/* test_faults.c - events that cannot be allocated (CD_FAULT_INJECTION):
 * the request still ends, with CD_ERR_NO_MEMORY, and nothing leaks. */
#include <string.h>

#include "cd_fault.h"
#include "cd_test.h"
#include "harness.h"

static int connected(th_env *t, void *arg) {
  (void)t;
  return ((th_req *)arg)->nconnected > 0;
}

/* A body chunk's DATA event fails: an ERROR, not a lost chunk. Event
 * allocations of a fresh GET: CONNECTED, HEADERS, DATA, END. */
TEST_IMPL(fault_data_event) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  cd_fault_events(2, 1);
  th_req *r = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/big?n=1000", NULL);
  th_wait(fx.t, r, tu_slow_ms(5000));
  cd_fault_events(0, 0);
  th_expect_error(r, CD_ERR_NO_MEMORY);
  ASSERT_EQ(r->ndata, 0);
  th_fx_end(&fx, 0);
  return 0;
}

/* A raw pipe's DATA (or BODY_WANTED) event fails: the pipe ends with an
 * ERROR; before, a NULL event was queued and the owner's drain crashed. */
TEST_IMPL(fault_raw_event) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  cd_request_opts o;
  memset(&o, 0, sizeof o);
  o.flags = CD_REQ_RAW;
  th_req *r = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/", &o);
  r->keep_body = 1;
  ASSERT_MSG(th_wait_until(fx.t, connected, r, tu_slow_ms(5000)), "raw pipe never connected");
  cd_fault_events(0, 1);
  const char *head = "GET /hello HTTP/1.1\r\nHost: raw\r\n\r\n";
  th_write(fx.t, r, head, strlen(head), 0);
  th_wait(fx.t, r, tu_slow_ms(5000));
  cd_fault_events(0, 0);
  th_expect_error(r, CD_ERR_NO_MEMORY);
  th_fx_end(&fx, 0);
  return 0;
}

/* No event at all can be allocated: every request still gets its one
 * terminal event, from the reserve it carries. */
TEST_IMPL(fault_every_event) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  cd_fault_events(0, 1 << 30);
  th_req *r[4];
  r[0] = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/hello", NULL);
  r[1] = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/chunked", NULL);
  r[2] = th_submit(fx.t, fx.cfg, fx.srv, "POST", "/echo", NULL);
  r[3] = th_submit(fx.t, fx.cfg, fx.srv, "GET", "/nothing", NULL);
  r[3]->no_release = 1;  /* it may end before the abort below */
  for (int i = 0; i < 3; i++) th_wait(fx.t, r[i], tu_slow_ms(5000));
  cd_request_abort(r[3]->req);
  th_wait(fx.t, r[3], tu_slow_ms(5000));
  th_release(r[3]);
  cd_fault_events(0, 0);
  for (int i = 0; i < 3; i++) th_expect_error(r[i], CD_ERR_NO_MEMORY);
  /* the abort may overtake the connection's failure */
  ASSERT_MSG(r[3]->terminal == CD_EV_ABORTED || (r[3]->terminal == CD_EV_ERROR && r[3]->err_a == CD_ERR_NO_MEMORY),
             "slot %u ended with %s", r[3]->slot, th_ev_name(r[3]->terminal));
  th_fx_end(&fx, 0);
  return 0;
}
