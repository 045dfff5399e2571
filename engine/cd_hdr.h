/* cd_hdr.h - a log-linear latency histogram in the manner of HdrHistogram.
 *
 * A leaf (libc only). Values are microseconds from 1 us to CD_HDR_MAX_US
 * (one hour), kept to 3 significant decimal digits: each power-of-two range
 * is cut into 1024 equal sub-buckets (2048 in the first), so a recorded
 * value v is known to within v/1024 (0.1 %), whatever its size. 23 552
 * buckets of 8 bytes (184 KiB); larger values are counted as CD_HDR_MAX_US,
 * 0 as 1 us. Count, min, max and sum are exact.
 *
 * Public: the load generator (cd_load.c) records in it on a worker, the
 * bridge and the C tests read percentiles from a merged copy.
 * Ownership: the creator frees it. Threading: none; one thread at a time
 * (the load generator publishes copies under its own lock).
 */
#ifndef CD_HDR_H
#define CD_HDR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CD_HDR_MAX_US (3600ull * 1000 * 1000)

typedef struct cd_hdr {
  uint64_t total;     /* values recorded */
  uint64_t min, max;  /* exact, after clamping to [1, CD_HDR_MAX_US]; min is
                       * UINT64_MAX while empty */
  uint64_t sum;       /* exact sum of the clamped values */
  size_t top;         /* counts[] past this index are all 0 */
  size_t len;         /* CD_HDR_COUNTS */
  uint64_t counts[];
} cd_hdr;

/* A new, empty histogram; NULL when out of memory. */
cd_hdr *cd_hdr_new(void);
void cd_hdr_free(cd_hdr *h);
void cd_hdr_reset(cd_hdr *h);

/* Records one value (hot path: a few shifts, one increment). */
void cd_hdr_record(cd_hdr *h, uint64_t us);
/* Records `n` values equal to `us`. */
void cd_hdr_record_n(cd_hdr *h, uint64_t us, uint64_t n);

/* dst += src. */
void cd_hdr_merge(cd_hdr *dst, const cd_hdr *src);
/* dst = src (copies only the used part of the counts). */
void cd_hdr_copy(cd_hdr *dst, const cd_hdr *src);

/* The value at percentile p (0..100): the largest value equivalent to the
 * recorded value at rank ceil(p/100 * total), never above max; p 0 gives
 * min, 100 gives max. 0 when empty. */
uint64_t cd_hdr_percentile(const cd_hdr *h, double p);
/* Exact mean; 0 when empty. */
double cd_hdr_mean(const cd_hdr *h);
/* Standard deviation, from each bucket's midpoint; 0 when empty. */
double cd_hdr_stddev(const cd_hdr *h);

/* The range of values that count as equal to v: [lowest, highest]. */
uint64_t cd_hdr_lowest_equivalent(uint64_t v);
uint64_t cd_hdr_highest_equivalent(uint64_t v);

#ifdef __cplusplus
}
#endif

#endif /* CD_HDR_H */
