/* test_hdr.c - the latency histogram (engine/cd_hdr.c): exact counts,
 * percentiles within the 3-digit bound, merge equals recording together. */
#include <math.h>
#include <stdlib.h>

#include "cd_hdr.h"
#include "cd_test.h"

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* The exact value at rank ceil(p/100 * n) of sorted v. */
static uint64_t exact_percentile(const uint64_t *v, size_t n, double p) {
  size_t rank = (size_t)ceil(p / 100.0 * (double)n);
  if (rank < 1) rank = 1;
  return v[rank - 1];
}

TEST_IMPL(hdr_exact_counts) {
  cd_hdr *h = cd_hdr_new();
  ASSERT_NOT_NULL(h);
  ASSERT_EQ(cd_hdr_percentile(h, 50), 0);
  for (uint64_t v = 1; v <= 10000; v++) cd_hdr_record(h, v);
  ASSERT_EQ(h->total, 10000);
  ASSERT_EQ(h->min, 1);
  ASSERT_EQ(h->max, 10000);
  ASSERT_EQ(h->sum, 10000ull * 10001 / 2);
  ASSERT(fabs(cd_hdr_mean(h) - 5000.5) < 1e-9);
  /* Below 2048 every value has its own bucket: exact. */
  ASSERT_EQ(cd_hdr_percentile(h, 10), 1000);
  ASSERT_EQ(cd_hdr_percentile(h, 0), 1);
  ASSERT_EQ(cd_hdr_percentile(h, 100), 10000);
  uint64_t p50 = cd_hdr_percentile(h, 50);
  ASSERT_GE(p50, 5000);
  ASSERT_LE(p50, 5000 + 5000 / 1024 + 1);
  /* A uniform spread has a standard deviation of n / sqrt(12). */
  ASSERT(fabs(cd_hdr_stddev(h) - 10000 / sqrt(12.0)) < 10);
  /* Clamping: 0 counts as 1 us, beyond an hour as an hour. */
  cd_hdr_reset(h);
  ASSERT_EQ(h->total, 0);
  cd_hdr_record(h, 0);
  cd_hdr_record(h, CD_HDR_MAX_US * 10);
  ASSERT_EQ(h->min, 1);
  ASSERT_EQ(h->max, CD_HDR_MAX_US);
  ASSERT_EQ(cd_hdr_percentile(h, 99.9), CD_HDR_MAX_US);
  cd_hdr_record_n(h, 7, 5);
  ASSERT_EQ(h->total, 7);
  ASSERT_EQ(cd_hdr_percentile(h, 50), 7);
  cd_hdr_free(h);
  return 0;
}

TEST_IMPL(hdr_percentile_accuracy) {
  enum { N = 200000 };
  uint64_t *v = malloc(N * sizeof(*v));
  ASSERT_NOT_NULL(v);
  cd_hdr *h = cd_hdr_new();
  tu_rng r;
  tu_rng_seed(&r, 42);
  for (size_t i = 0; i < N; i++) {
    /* log-uniform over 1 us .. 1 h */
    double e = (double)tu_rng_range(&r, 0, 1000000) / 1000000.0 * log((double)CD_HDR_MAX_US);
    v[i] = (uint64_t)exp(e);
    if (v[i] < 1) v[i] = 1;
    cd_hdr_record(h, v[i]);
  }
  qsort(v, N, sizeof(*v), cmp_u64);
  const double ps[] = {0.001, 1, 2.5, 10, 25, 50, 75, 90, 97.5, 99, 99.9, 99.99, 99.999};
  for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
    uint64_t exact = exact_percentile(v, N, ps[i]);
    uint64_t got = cd_hdr_percentile(h, ps[i]);
    /* the top of the exact value's bucket: never below, at most 1/1024 above */
    ASSERT_MSG(got >= exact && (double)got <= (double)exact * (1.0 + 1.0 / 1024) + 1,
               "p%g: %llu vs exact %llu", ps[i], (unsigned long long)got, (unsigned long long)exact);
    ASSERT_EQ(got, cd_hdr_highest_equivalent(exact) < h->max ? cd_hdr_highest_equivalent(exact) : h->max);
  }
  ASSERT_EQ(h->min, v[0]);
  ASSERT_EQ(h->max, v[N - 1]);
  cd_hdr_free(h);
  free(v);
  return 0;
}

TEST_IMPL(hdr_merge) {
  cd_hdr *a = cd_hdr_new(), *b = cd_hdr_new(), *all = cd_hdr_new(), *m = cd_hdr_new();
  tu_rng r;
  tu_rng_seed(&r, 7);
  for (int i = 0; i < 50000; i++) {
    uint64_t x = tu_rng_range(&r, 1, 5000000);
    cd_hdr_record(i & 1 ? a : b, x);
    cd_hdr_record(all, x);
  }
  cd_hdr_record(b, 3000000000ull);  /* b reaches higher buckets than a */
  cd_hdr_record(all, 3000000000ull);
  cd_hdr_merge(m, a);
  cd_hdr_merge(m, b);
  ASSERT_EQ(m->total, all->total);
  ASSERT_EQ(m->sum, all->sum);
  ASSERT_EQ(m->min, all->min);
  ASSERT_EQ(m->max, all->max);
  ASSERT_EQ(m->top, all->top);
  ASSERT(memcmp(m->counts, all->counts, all->len * sizeof(uint64_t)) == 0);
  ASSERT_EQ(cd_hdr_percentile(m, 99), cd_hdr_percentile(all, 99));
  /* copy: a smaller histogram over a larger one leaves nothing behind */
  cd_hdr_copy(m, a);
  ASSERT_EQ(m->total, a->total);
  ASSERT(memcmp(m->counts, a->counts, a->len * sizeof(uint64_t)) == 0);
  ASSERT_EQ(cd_hdr_percentile(m, 100), a->max);
  cd_hdr_free(a);
  cd_hdr_free(b);
  cd_hdr_free(all);
  cd_hdr_free(m);
  return 0;
}
