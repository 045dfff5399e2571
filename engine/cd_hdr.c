/* cd_hdr.c - see cd_hdr.h.
 *
 * Layout (HdrHistogram's, with unit 1 us): bucket b holds values in
 * [1024 << b, 2048 << b) in 1024 sub-buckets of width 1 << b; bucket 0 also
 * holds [0, 1024) at width 1. Index of v: b = bit length of (v | 2047)
 * minus 11, sub = v >> b (1024..2047, or 0..2047 in bucket 0), index =
 * ((b + 1) << 10) + sub - 1024. */
#include "cd_hdr.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SUB_BITS 11                     /* 2048 sub-buckets: 3 significant digits */
#define SUB_COUNT (1u << SUB_BITS)
#define SUB_HALF_BITS (SUB_BITS - 1)
#define SUB_HALF (1u << SUB_HALF_BITS)
#define SUB_MASK ((uint64_t)SUB_COUNT - 1)
/* Buckets needed for CD_HDR_MAX_US: 2048 << (22 - 1) > 3.6e9. */
#define BUCKETS 22
#define CD_HDR_COUNTS ((size_t)(BUCKETS + 1) * SUB_HALF)

static inline unsigned bit_length(uint64_t v) { return 64u - (unsigned)__builtin_clzll(v); }

static inline uint64_t clamp(uint64_t us) {
  if (us < 1) return 1;
  return us > CD_HDR_MAX_US ? CD_HDR_MAX_US : us;
}

static inline size_t index_of(uint64_t v) {
  unsigned b = bit_length(v | SUB_MASK) - SUB_BITS;
  size_t sub = (size_t)(v >> b);
  return ((size_t)(b + 1) << SUB_HALF_BITS) + sub - SUB_HALF;
}

/* Bucket and sub-bucket of an index. */
static inline void split(size_t i, unsigned *b, uint64_t *sub) {
  long bucket = (long)(i >> SUB_HALF_BITS) - 1;
  uint64_t s = (i & (SUB_HALF - 1)) + SUB_HALF;
  if (bucket < 0) {
    s -= SUB_HALF;
    bucket = 0;
  }
  *b = (unsigned)bucket;
  *sub = s;
}

static inline uint64_t lowest_at(size_t i) {
  unsigned b;
  uint64_t sub;
  split(i, &b, &sub);
  return sub << b;
}

static inline uint64_t width_at(size_t i) {
  unsigned b;
  uint64_t sub;
  split(i, &b, &sub);
  return (uint64_t)1 << b;
}

uint64_t cd_hdr_lowest_equivalent(uint64_t v) { return lowest_at(index_of(v)); }

uint64_t cd_hdr_highest_equivalent(uint64_t v) {
  size_t i = index_of(v);
  return lowest_at(i) + width_at(i) - 1;
}

cd_hdr *cd_hdr_new(void) {
  cd_hdr *h = calloc(1, sizeof(*h) + CD_HDR_COUNTS * sizeof(uint64_t));
  if (h == NULL) return NULL;
  h->len = CD_HDR_COUNTS;
  h->min = UINT64_MAX;
  return h;
}

void cd_hdr_free(cd_hdr *h) { free(h); }

void cd_hdr_reset(cd_hdr *h) {
  memset(h->counts, 0, (h->top + 1) * sizeof(uint64_t));
  h->total = h->sum = h->max = 0;
  h->min = UINT64_MAX;
  h->top = 0;
}

void cd_hdr_record_n(cd_hdr *h, uint64_t us, uint64_t n) {
  if (n == 0) return;
  uint64_t v = clamp(us);
  size_t i = index_of(v);
  h->counts[i] += n;
  if (i > h->top) h->top = i;
  h->total += n;
  h->sum += v * n;
  if (v < h->min) h->min = v;
  if (v > h->max) h->max = v;
}

void cd_hdr_record(cd_hdr *h, uint64_t us) { cd_hdr_record_n(h, us, 1); }

void cd_hdr_merge(cd_hdr *dst, const cd_hdr *src) {
  if (src->total == 0) return;
  for (size_t i = 0; i <= src->top; i++) dst->counts[i] += src->counts[i];
  if (src->top > dst->top) dst->top = src->top;
  dst->total += src->total;
  dst->sum += src->sum;
  if (src->min < dst->min) dst->min = src->min;
  if (src->max > dst->max) dst->max = src->max;
}

void cd_hdr_copy(cd_hdr *dst, const cd_hdr *src) {
  /* Clears what dst used beyond src's range, then copies src's range. */
  if (dst->top > src->top) memset(dst->counts + src->top + 1, 0, (dst->top - src->top) * sizeof(uint64_t));
  memcpy(dst->counts, src->counts, (src->top + 1) * sizeof(uint64_t));
  dst->top = src->top;
  dst->total = src->total;
  dst->sum = src->sum;
  dst->min = src->min;
  dst->max = src->max;
}

uint64_t cd_hdr_percentile(const cd_hdr *h, double p) {
  if (h->total == 0) return 0;
  if (p <= 0) return h->min;
  if (p >= 100) return h->max;
  uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->total);
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i <= h->top; i++) {
    seen += h->counts[i];
    if (seen >= rank) {
      uint64_t v = lowest_at(i) + width_at(i) - 1;
      if (v > h->max) v = h->max;
      if (v < h->min) v = h->min;
      return v;
    }
  }
  return h->max;
}

double cd_hdr_mean(const cd_hdr *h) {
  return h->total ? (double)h->sum / (double)h->total : 0.0;
}

double cd_hdr_stddev(const cd_hdr *h) {
  if (h->total == 0) return 0.0;
  double mean = cd_hdr_mean(h), acc = 0.0;
  for (size_t i = 0; i <= h->top; i++) {
    if (h->counts[i] == 0) continue;
    double mid = (double)lowest_at(i) + (double)(width_at(i) >> 1);
    double d = mid - mean;
    acc += d * d * (double)h->counts[i];
  }
  return sqrt(acc / (double)h->total);
}
