/* test_landing.c - large bodies written into landings the owner gave
 * (engine.h cd_env_give_landing). The harness checks every landed event's
 * landing, scribbles over it once filed and gives it back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cd_test.h"
#include "harness.h"

static th_req *download(th_fx *fx, const char *path, unsigned worker) {
  cd_request_opts o;
  memset(&o, 0, sizeof o);
  o.worker = worker;
  th_req *r = th_submit(fx->t, fx->cfg, fx->srv, "GET", path, &o);
  r->check_pattern = 1;
  return r;
}

/* Byte-exact bodies through landings on two workers, with more bodies in
 * flight than landings (the rest are copied into events). */
TEST_IMPL(landing_large_bodies) {
  th_fx fx;
  th_fx_begin(&fx, 2);
  th_give_landings(fx.t, 0, 4);
  th_give_landings(fx.t, 1, 2);
  static const uint64_t sizes[] = {5u << 20, (3u << 20) + 17, 1u << 20, 65536, 70000, 8u << 20};
  th_req *r[6];
  for (unsigned i = 0; i < 6; i++) {
    char path[64];
    snprintf(path, sizeof path, "/big?n=%llu", (unsigned long long)sizes[i]);
    r[i] = download(&fx, path, i % 2);
  }
  th_req *chunked = download(&fx, "/chunked?n=3000000", 0);
  th_wait_all(fx.t, tu_slow_ms(20000));
  for (unsigned i = 0; i < 6; i++) {
    th_expect_end(r[i], 200);
    ASSERT_EQ(r[i]->body_bytes, sizes[i]);
  }
  th_expect_end(chunked, 200);
  ASSERT_EQ(chunked->body_bytes, 3000000);
  ASSERT_GE(fx.t->landed, 20);
  th_fx_end(&fx, 0);
  return 0;
}

/* Small bodies never take a landing. */
TEST_IMPL(landing_not_for_small_bodies) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_give_landings(fx.t, 0, 4);
  for (int i = 0; i < 20; i++) download(&fx, "/big?n=4000", 0);
  th_wait_all(fx.t, tu_slow_ms(10000));
  ASSERT_EQ(fx.t->landed, 0);
  th_fx_end(&fx, 0);
  return 0;
}

/* Bad ids, sizes and workers are refused; nothing is given then. */
TEST_IMPL(landing_refused) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  char *mem = malloc(CD_LANDING_CAP);
  ASSERT_NOT_NULL(mem);
  ASSERT_EQ(cd_env_give_landing(fx.t->env, 0, CD_LANDINGS, mem, CD_LANDING_CAP), -1);
  ASSERT_EQ(cd_env_give_landing(fx.t->env, 0, 0, mem, CD_LANDING_MIN - 1), -1);
  ASSERT_EQ(cd_env_give_landing(fx.t->env, 0, 0, NULL, CD_LANDING_CAP), -1);
  ASSERT_EQ(cd_env_give_landing(fx.t->env, 64, 0, mem, CD_LANDING_CAP), -1);
  /* none was taken: a download copies into events */
  download(&fx, "/big?n=2000000", 0);
  th_wait_all(fx.t, tu_slow_ms(10000));
  ASSERT_EQ(fx.t->landed, 0);
  th_fx_end(&fx, 0);
  free(mem);
  return 0;
}

/* Landings held by events of an aborted transfer come back with them. */
TEST_IMPL(landing_abort_mid_body) {
  th_fx fx;
  th_fx_begin(&fx, 1);
  th_give_landings(fx.t, 0, 2);
  th_req *a = download(&fx, "/big?n=50000000", 0);
  while (a->body_bytes < (1u << 20) && !a->terminal) th_pump(fx.t, 100);
  cd_request_abort(a->req);
  th_wait(fx.t, a, tu_slow_ms(5000));
  long before = fx.t->landed;
  th_req *b = download(&fx, "/big?n=4000000", 0);
  th_wait(fx.t, b, tu_slow_ms(10000));
  th_expect_end(b, 200);
  ASSERT_GT(fx.t->landed, before);
  th_fx_end(&fx, 0);
  return 0;
}
