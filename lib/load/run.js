'use strict'

// load(): one run of the engine's load generator (engine/load.h). JS starts
// it, reads a snapshot once per second (progress and the per-second
// samples autocannon's requests and throughput statistics are made of) and
// once at the end; every request, its timing and its counting stay on the
// workers.

const { clearInterval, setImmediate, setInterval } = require('../timers')
const binding = require('../binding')
const { HTTP_1_1, HTTP_2TLS, HTTP_2_PRIOR_KNOWLEDGE } = require('../constants')
const { normalizeLoadOptions } = require('./options')
const { PERCENTILES, sampleStats, latencyStats } = require('./stats')

const SAMPLE_MS = 1000
const PROGRESS_PERCENTILES = [99]

const ERROR_KINDS = Object.freeze(['refused', 'timeout', 'tls', 'dns', 'reset', 'other'])

// What a failure of this kind means, for the one-line message of a run
// that reached nothing.
const KIND_TEXT = Object.freeze({
  refused: 'connection refused',
  timeout: 'timed out',
  tls: 'TLS failure',
  dns: 'DNS failure',
  reset: 'connection reset or closed',
  other: 'request failed'
})

class LoadError extends Error {
  constructor (message, code, result) {
    super(message)
    this.name = 'LoadError'
    this.code = code
    this.result = result
  }
}

function buildResult (norm, snap, samples, start, finish) {
  const durationS = snap.elapsedMs / 1000
  // A run shorter than one sample interval has one sample: its rate.
  const reqSamples = samples.length ? samples.map((s) => s.requests) : [durationS > 0 ? Math.round(snap.completed / durationS) : snap.completed]
  const bytesSamples = samples.length ? samples.map((s) => s.bytes) : [durationS > 0 ? Math.round(snap.bytes / durationS) : snap.bytes]
  const statusCodeStats = {}
  for (const [code, count] of Object.entries(snap.codes)) statusCodeStats[code] = { count }
  const requests = sampleStats(reqSamples, snap.completed)
  requests.sent = snap.sent
  const s = norm.summary
  return {
    title: s.title,
    url: s.url,
    socketPath: s.socketPath,
    connections: s.connections,
    sampleInt: SAMPLE_MS,
    pipelining: s.pipelining,
    workers: s.threads,
    duration: Math.round(durationS * 100) / 100,
    samples: reqSamples.length,
    start,
    finish,
    errors: snap.errors,
    timeouts: snap.errorKinds.timeout,
    mismatches: 0,
    non2xx: snap.completed - snap.status[2],
    resets: 0,
    '1xx': snap.status[1],
    '2xx': snap.status[2],
    '3xx': snap.status[3],
    '4xx': snap.status[4],
    '5xx': snap.status[5],
    statusCodeStats,
    latency: latencyStats(snap.latency),
    requests,
    throughput: sampleStats(bytesSamples, snap.bytes),
    // ours
    threads: s.threads,
    http: norm.params.h2 ? '2' : '1.1',
    amount: s.amount,
    rate: s.rate,
    corrected: s.rate != null,
    errorsByKind: { ...snap.errorKinds },
    firstError: snap.firstError
  }
}

function progressOf (snap, prev) {
  const dt = (snap.elapsedMs - prev.elapsedMs) / 1000
  return {
    elapsed: snap.elapsedMs / 1000,
    requests: dt > 0 ? Math.round((snap.completed - prev.completed) / dt) : 0,
    bytes: dt > 0 ? Math.round((snap.bytes - prev.bytes) / dt) : 0,
    total: snap.completed,
    sent: snap.sent,
    errors: snap.errors,
    timeouts: snap.errorKinds.timeout,
    inflight: snap.inflight,
    p99: Math.round(snap.latency.percentiles[0]) / 1000
  }
}

/**
 * Runs a load test. Resolves with autocannon's result shape (plus ours);
 * rejects with InvalidArgumentError before anything is sent, or with a
 * LoadError (code CD_LOAD_*) when the engine refuses the run.
 */
function load (opts) {
  let norm
  try {
    norm = normalizeLoadOptions(opts)
  } catch (err) {
    return Promise.reject(err)
  }
  const { params, url } = norm
  const httpVersion = !params.h2 ? HTTP_1_1 : url.protocol === 'https:' ? HTTP_2TLS : HTTP_2_PRIOR_KNOWLEDGE
  return new Promise((resolve, reject) => {
    const configId = binding.createConfig(norm.config)
    let handle
    let timer = null
    let onAbort = null
    const start = new Date()
    const samples = []
    let prev = { elapsedMs: 0, completed: 0, bytes: 0 }
    // One sample per interval, as a per-second rate over the interval's
    // actual length (timers drift); a last partial interval counts if it
    // is at least half of one.
    const sample = (snap, minMs) => {
      const dt = snap.elapsedMs - prev.elapsedMs
      if (dt < minMs) return false
      samples.push({
        requests: Math.round((snap.completed - prev.completed) * 1000 / dt),
        bytes: Math.round((snap.bytes - prev.bytes) * 1000 / dt)
      })
      return true
    }
    const finish = () => {
      clearInterval(timer)
      if (onAbort) norm.signal.removeEventListener('abort', onAbort)
      const snap = binding.loadRead(handle, PERCENTILES)
      sample(snap, SAMPLE_MS / 2)
      binding.loadFree(handle)
      binding.releaseConfig(configId)
      resolve(buildResult(norm, snap, samples, start, new Date()))
    }
    try {
      handle = binding.loadStart(configId, norm.templates, { ...params, httpVersion }, () => {
        // keeps `handle` reachable until the run has ended
        setImmediate(finish)
      })
    } catch (err) {
      binding.releaseConfig(configId)
      reject(new LoadError(err.message, err.code))
      return
    }
    timer = setInterval(() => {
      const snap = binding.loadRead(handle, PROGRESS_PERCENTILES)
      if (snap.finished || !sample(snap, 1)) return  // finish() comes
      if (norm.onProgress) {
        try {
          norm.onProgress(progressOf(snap, prev))
        } catch (err) {
          process.nextTick(() => { throw err })
        }
      }
      prev = snap
    }, SAMPLE_MS)
    if (norm.signal) {
      onAbort = () => binding.loadStop(handle)
      if (norm.signal.aborted) onAbort()
      else norm.signal.addEventListener('abort', onAbort, { once: true })
    }
  })
}

module.exports = { load, LoadError, ERROR_KINDS, KIND_TEXT }
