'use strict'

// The documented shape of load()'s result (README, "Load generator";
// index.d.ts, LoadResult): autocannon's top-level fields, and ours.

const assert = require('node:assert/strict')

const PCTS = ['p0_001', 'p0_01', 'p0_1', 'p1', 'p2_5', 'p10', 'p25', 'p50', 'p75', 'p90', 'p97_5', 'p99', 'p99_9', 'p99_99', 'p99_999']
const STATS = ['average', 'mean', 'stddev', 'min', 'max', ...PCTS]

function numbers (obj, keys, what) {
  assert.equal(typeof obj, 'object', what)
  for (const k of keys) {
    assert.equal(typeof obj[k], 'number', `${what}.${k}`)
    assert.ok(Number.isFinite(obj[k]) && obj[k] >= 0, `${what}.${k} = ${obj[k]}`)
  }
}

function checkResultShape (r) {
  assert.equal(typeof r.url, 'string')
  numbers(r, ['connections', 'sampleInt', 'pipelining', 'workers', 'duration', 'samples', 'errors', 'timeouts',
    'mismatches', 'non2xx', 'resets', '1xx', '2xx', '3xx', '4xx', '5xx', 'threads'], 'result')
  for (const k of ['start', 'finish']) assert.ok(r[k] instanceof Date || !Number.isNaN(Date.parse(r[k])), k)
  assert.equal(typeof r.statusCodeStats, 'object')
  for (const [code, s] of Object.entries(r.statusCodeStats)) {
    assert.match(code, /^[1-5]\d\d$/)
    numbers(s, ['count'], `statusCodeStats.${code}`)
  }
  numbers(r.latency, [...STATS, 'totalCount'], 'latency')
  numbers(r.requests, [...STATS, 'total', 'sent'], 'requests')
  numbers(r.throughput, [...STATS, 'total'], 'throughput')
  assert.ok(r.latency.p50 <= r.latency.p99 && r.latency.p99 <= r.latency.max)
  assert.ok(r.http === '1.1' || r.http === '2')
  assert.equal(typeof r.corrected, 'boolean')
  numbers(r.errorsByKind, ['refused', 'timeout', 'tls', 'dns', 'reset', 'other'], 'errorsByKind')
  assert.equal(Object.values(r.errorsByKind).reduce((a, b) => a + b, 0), r.errors)
  assert.equal(r.timeouts, r.errorsByKind.timeout)
  assert.equal(r['1xx'] + r['2xx'] + r['3xx'] + r['4xx'] + r['5xx'], r.requests.total)
  if (r.firstError !== null) {
    assert.equal(typeof r.firstError.kind, 'string')
    assert.equal(typeof r.firstError.message, 'string')
    assert.equal(typeof r.firstError.code, 'number')
  }
}

module.exports = { checkResultShape, PCTS }
