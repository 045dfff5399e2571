/* test_idle.c - idle keep-alive connections close on time, by the client,
 * with no further request (cd_conn.c's sweep). */
#include <string.h>

#include "cd_test.h"
#include "harness.h"

static cd_config *config_keepalive(long ms) {
  cd_config_opts o;
  memset(&o, 0, sizeof o);
  o.keepalive_timeout_ms = ms;
  cd_config *c = cd_config_new(&o);
  ASSERT_NOT_NULL(c);
  return c;
}

static int no_open_conns(th_env *t, void *arg) {
  (void)t;
  return ts_open_conns(arg) == 0;
}

static int one_open_conn(th_env *t, void *arg) {
  (void)t;
  return ts_open_conns(arg) == 1;
}

/* Three connections, then quiet: the server sees all three closed within
 * the keepalive plus the sweep's slack, the owner hears of each then, and
 * the next request simply opens a new connection. */
TEST_IMPL(idle_connections_close_on_time) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  cd_config *cfg = config_keepalive(400);
  th_req *r[3];
  for (int i = 0; i < 3; i++) r[i] = th_submit(fx.t, cfg, fx.srv, "GET", "/slow?ms=100", NULL);
  for (int i = 0; i < 3; i++) th_wait(fx.t, r[i], tu_slow_ms(5000));
  for (int i = 0; i < 3; i++) th_expect_end(r[i], 200);
  uint64_t done = tu_now_ms();
  ASSERT_EQ(ts_accepted(fx.srv), 3);
  th_pump_for(fx.t, 250);
  ASSERT_MSG(ts_open_conns(fx.srv) == 3, "closed before the keepalive: %ld open", ts_open_conns(fx.srv));
  ASSERT_MSG(th_wait_until(fx.t, no_open_conns, fx.srv, tu_slow_ms(3000)), "%ld connections still open",
             ts_open_conns(fx.srv));
  uint64_t closed_after = tu_now_ms() - done;
  th_pump_for(fx.t, 50);
  cd_test_log("closed %llu ms after the last response (keepalive 400 ms)", (unsigned long long)closed_after);
  /* from when this thread saw the last response, which lags the worker */
  ASSERT_MSG(closed_after + tu_slow_ms(50) >= 400 && closed_after < tu_slow_ms(1400), "closed after %llu ms",
             (unsigned long long)closed_after);
  ASSERT_EQ(fx.t->disconnected, 3);

  th_req *again = th_submit(fx.t, cfg, fx.srv, "GET", "/hello", NULL);
  th_wait(fx.t, again, tu_slow_ms(5000));
  th_expect_end(again, 200);
  ASSERT_EQ(ts_accepted(fx.srv), 4);
  cd_config_release(cfg);
  th_fx_end(&fx, 0);
  return 0;
}

/* A connection in use is never swept, however long its response takes,
 * and another agent's quiet connections still are. */
TEST_IMPL(idle_sweep_spares_busy_agent) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  cd_config *quiet = config_keepalive(300);
  cd_config *busy = config_keepalive(300);
  th_req *q = th_submit(fx.t, quiet, fx.srv, "GET", "/hello", NULL);
  th_wait(fx.t, q, tu_slow_ms(5000));
  th_expect_end(q, 200);
  th_req *slow = th_submit(fx.t, busy, fx.srv, "GET", "/slow?ms=1200", NULL);
  th_wait(fx.t, slow, tu_slow_ms(5000));
  th_expect_end(slow, 200);
  ASSERT_EQ(fx.t->disconnected, 1);  /* the quiet agent's, not the busy one's */
  ASSERT_EQ(ts_accepted(fx.srv), 2);
  cd_config_release(quiet);
  cd_config_release(busy);
  th_fx_end(&fx, 0);
  return 0;
}

static int one_disconnected(th_env *t, void *arg) {
  (void)arg;
  return t->disconnected >= 1;
}

/* An agent busy on one connection: its other, idle, connection is still
 * closed after its own keepalive (a transfer names the connection it sends
 * on, so idleness is known per TCP connection), not once the agent is
 * quiet. */
TEST_IMPL(idle_sweep_per_connection) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  cd_config *cfg = config_keepalive(300);
  th_req *slow = th_submit(fx.t, cfg, fx.srv, "GET", "/slow?ms=2000", NULL);
  th_pump_for(fx.t, 100);
  th_req *quick = th_submit(fx.t, cfg, fx.srv, "GET", "/hello", NULL);
  th_wait(fx.t, quick, tu_slow_ms(5000));
  th_expect_end(quick, 200);
  ASSERT_EQ(ts_accepted(fx.srv), 2);
  uint64_t done = tu_now_ms();
  ASSERT_MSG(th_wait_until(fx.t, one_disconnected, NULL, tu_slow_ms(1500)), "the idle connection is still open");
  uint64_t after = tu_now_ms() - done;
  cd_test_log("idle connection closed %llu ms after its response (keepalive 300 ms), the other still busy",
              (unsigned long long)after);
  /* Measured from when this thread saw the response, which lags the
   * worker's end of it (tens of milliseconds under valgrind): the slack
   * widens with the time bounds. */
  ASSERT_MSG(after + tu_slow_ms(50) >= 300, "closed after %llu ms, before its keepalive", (unsigned long long)after);
  ASSERT_EQ(slow->terminal, 0);  /* the busy connection was left alone */
  /* The server's thread reads the close a little after the owner hears of
   * it (under valgrind, tens of milliseconds): wait for it, well inside the
   * slow response's remaining time. */
  ASSERT_MSG(th_wait_until(fx.t, one_open_conn, fx.srv, tu_slow_ms(500)),
             "%ld connections open, expected the busy one only", ts_open_conns(fx.srv));
  th_wait(fx.t, slow, tu_slow_ms(5000));
  th_expect_end(slow, 200);
  cd_config_release(cfg);
  th_fx_end(&fx, 0);
  return 0;
}

/* The server closes an idle connection while the agent is busy on
 * another: the owner hears of it at once (the worker watches idle
 * connections, which libcurl does not read), not at the keepalive. */
TEST_IMPL(idle_close_by_server_seen) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  cd_config *cfg = config_keepalive(10000);
  th_req *slow = th_submit(fx.t, cfg, fx.srv, "GET", "/slow?ms=2000", NULL);
  th_pump_for(fx.t, 100);
  th_req *r = th_submit(fx.t, cfg, fx.srv, "GET", "/close-after?ms=200", NULL);
  th_wait(fx.t, r, tu_slow_ms(5000));
  th_expect_end(r, 200);
  uint64_t done = tu_now_ms();
  ASSERT_MSG(th_wait_until(fx.t, one_disconnected, NULL, tu_slow_ms(1500)), "the closed connection was not reported");
  uint64_t after = tu_now_ms() - done;
  cd_test_log("server's close seen %llu ms after the response (server waited 200 ms)", (unsigned long long)after);
  ASSERT_EQ(slow->terminal, 0);
  th_wait(fx.t, slow, tu_slow_ms(5000));
  th_expect_end(slow, 200);
  /* the next request opens a new connection and succeeds */
  th_req *again = th_submit(fx.t, cfg, fx.srv, "GET", "/hello", NULL);
  th_wait(fx.t, again, tu_slow_ms(5000));
  th_expect_end(again, 200);
  cd_config_release(cfg);
  th_fx_end(&fx, 0);
  return 0;
}

/* A transfer that reuses a connection counts on it (found by its ports):
 * a response slower than the keepalive on a reused connection is not
 * swept under it. */
TEST_IMPL(idle_sweep_spares_reused_connection) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  cd_config *cfg = config_keepalive(300);
  th_req *first = th_submit(fx.t, cfg, fx.srv, "GET", "/hello", NULL);
  th_wait(fx.t, first, tu_slow_ms(5000));
  th_expect_end(first, 200);
  th_req *slow = th_submit(fx.t, cfg, fx.srv, "GET", "/slow?ms=1200", NULL);
  th_wait(fx.t, slow, tu_slow_ms(5000));
  th_expect_end(slow, 200);
  ASSERT_EQ(ts_accepted(fx.srv), 1);
  ASSERT_EQ(fx.t->disconnected, 0);
  cd_config_release(cfg);
  th_fx_end(&fx, 0);
  return 0;
}
