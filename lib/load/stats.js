'use strict'

// The statistics of autocannon's result objects: percentile keys p0_001 ..
// p99_999 (hdr-histogram-percentiles-obj's list), and mean, stddev, min,
// max of the per-second samples (requests, throughput).

const PERCENTILES = Object.freeze([0.001, 0.01, 0.1, 1, 2.5, 10, 25, 50, 75, 90, 97.5, 99, 99.9, 99.99, 99.999])

function percentileKey (p) {
  return `p${p}`.replace('.', '_')
}

// Sample statistics of per-second counts (exact: the samples are few).
function sampleStats (samples, total) {
  const sorted = [...samples].sort((a, b) => a - b)
  const n = sorted.length
  const mean = n ? sorted.reduce((a, b) => a + b, 0) / n : 0
  const variance = n ? sorted.reduce((a, b) => a + (b - mean) * (b - mean), 0) / n : 0
  const out = {
    average: round2(mean),
    mean: round2(mean),
    stddev: round2(Math.sqrt(variance)),
    min: n ? sorted[0] : 0,
    max: n ? sorted[n - 1] : 0,
    total
  }
  for (const p of PERCENTILES) {
    const rank = Math.max(1, Math.ceil((p / 100) * n))
    out[percentileKey(p)] = n ? sorted[rank - 1] : 0
  }
  return out
}

// Latency from the addon's snapshot (microseconds) to milliseconds, 3 decimals.
function latencyStats (lat) {
  const ms = (us) => Math.round(us) / 1000
  const out = {
    average: round2(lat.mean / 1000),
    mean: round2(lat.mean / 1000),
    stddev: round2(lat.stddev / 1000),
    min: ms(lat.min),
    max: ms(lat.max)
  }
  PERCENTILES.forEach((p, i) => { out[percentileKey(p)] = ms(lat.percentiles[i] ?? 0) })
  out.totalCount = lat.count
  return out
}

function round2 (x) {
  return Math.round(x * 100) / 100
}

module.exports = { PERCENTILES, percentileKey, sampleStats, latencyStats }
