'use strict'

// One benchmark row for one round, in a process of its own: the process's
// CPU time and peak RSS then belong to this client alone (our Agent's libcurl
// worker threads included, since process.cpuUsage() covers every thread).
//
// Closed loop: `concurrency` requests are kept in flight; each completion
// starts the next request. After a warm-up (JIT, connection pool, TLS
// handshakes) a timed window counts completions, their latencies and the
// CPU used. The result goes to the parent over IPC as one JSON message.
//
// argv[2] is the JSON config written by run.js:
//   agent: 'ours' | 'undici'
//   api: 'dispatch' | 'request' | 'stream' | 'pipeline' | 'fetch'
//   url, method, bodySize, expectStatus, expectBytes, concurrency,
//   warmupMs, durationMs, ca (PEM), h2 (bool), threads (number | null),
//   urls (several origins, used in turn; url is then the first),
//   busyUs (synchronous JS work per response, a service's own handler)
//   decompress (a compressed answer decoded: ours with the decompress
//   option, undici's dispatch and request with interceptors.decompress(),
//   its fetch by itself)
//   acceptEncoding (the request's accept-encoding field: every row the same)
//   bodyFile (the request body is a fresh fs.createReadStream of this file
//   for each request, instead of one Buffer of bodySize bytes)
//   consumeUsPer64k (stream() and pipeline() rows: the Writable the body
//   goes into takes this long per 64 KiB before it asks for more, as a slow
//   disk or a slow downstream client would)
//   liveHeapMB (about this many MB of live JS objects held through the run,
//   as a service holds its caches and state: V8 sizes its old-generation
//   limit, and so how often it runs full collections, from the live heap)

const fs = require('node:fs')
const path = require('node:path')
const { Writable, pipeline } = require('node:stream')
const { performance } = require('node:perf_hooks')
const { Samples, percentile } = require('../stats')
const threadCpu = require('./thread-cpu')

const cfg = JSON.parse(process.argv[2])

// CD_TEST_AGENT=undici substitutes undici's Agent for ours (as the test
// suite does) to check the harness's own code paths for our rows.
const OURS = process.env.CD_TEST_AGENT === 'undici' ? 'undici' : path.resolve(__dirname, '..', '..')

function firstLine (msg) {
  return String(msg).split('\n')[0]
}

// fetch() wraps every failure as "fetch failed"; the cause says what it was.
function describe (err) {
  if (!err || typeof err !== 'object') return firstLine(err)
  const text = (err.code ? err.code + ': ' : '') + firstLine(err.message)
  return err.cause ? `${text} (${describe(err.cause)})` : text
}

// -> { dispatcher } or { status, reason } when the row cannot run.
function makeDispatcher (undici) {
  const connect = { ca: cfg.ca }
  if (cfg.agent === 'undici') {
    const opts = { connect }
    if (cfg.h2) {
      // By default undici puts one stream on each h2 connection (pipelining
      // is its streams-per-connection limit) and, since requests dispatched
      // while a connection is still being made open new ones, ends up with
      // one connection per in-flight request. The scenario is N streams on
      // one connection, like h2load -c 1 -m N: ask for exactly that.
      opts.allowH2 = true
      opts.connections = 1
      opts.pipelining = cfg.concurrency
    }
    const agent = new undici.Agent(opts)
    // fetch decodes by itself: an interceptor under it would decode first
    if (cfg.decompress && cfg.api !== 'fetch') return { dispatcher: agent.compose(undici.interceptors.decompress()) }
    return { dispatcher: agent }
  }

  let Agent
  try {
    Agent = require(OURS).Agent
  } catch (err) {
    return { status: 'unavailable', reason: firstLine(err.message) }
  }
  if (typeof Agent !== 'function') return { status: 'unavailable', reason: `${OURS} exports no Agent` }
  const opts = { connect }
  if (cfg.threads != null) opts.threads = cfg.threads
  if (cfg.h2) opts.allowH2 = true
  if (cfg.decompress) opts.decompress = true
  try {
    return { dispatcher: new Agent(opts) }
  } catch (err) {
    if (cfg.h2) return { status: 'skipped', reason: 'HTTP/2 not implemented yet', detail: 'new Agent({ allowH2: true }): ' + firstLine(err.message) }
    return { status: 'error', reason: 'new Agent(): ' + firstLine(err.message) }
  }
}

// Each maker returns start(cb): begins one request and calls
// cb(err, statusCode, bodyBytes) exactly once.

function makeDispatchStart (dispatcher, urls, body, headers) {
  // The minimal undici v2 handler: what any dispatcher consumer has to do
  // at least, so this row measures the dispatcher, not an API layered on it.
  class Handler {
    constructor (cb) {
      this.cb = cb
      this.status = 0
      this.bytes = 0
    }

    onRequestStart () {}
    onResponseStart (controller, statusCode) { this.status = statusCode }
    onResponseData (controller, chunk) { this.bytes += chunk.length }
    onResponseEnd () { this.cb(null, this.status, this.bytes) }
    onResponseError (controller, err) { this.cb(err) }
  }
  // The options are built once (a literal, as a caller's would be); only a
  // stream body, which cannot be sent twice, makes them per request.
  const all = urls.map((url) => ({ origin: url.origin, path: url.pathname, method: cfg.method, headers, body: cfg.bodyFile ? undefined : body() }))
  const perRequest = (o) => ({ origin: o.origin, path: o.path, method: o.method, headers: o.headers, body: body() })
  if (all.length === 1 && !cfg.bodyFile) {
    const opts = all[0]
    return (cb) => dispatcher.dispatch(opts, new Handler(cb))
  }
  let next = 0
  return (cb) => {
    const opts = all[next]
    next = (next + 1) % all.length
    dispatcher.dispatch(cfg.bodyFile ? perRequest(opts) : opts, new Handler(cb))
  }
}

function cycle (urls) {
  const hrefs = urls.map((u) => u.href)
  let next = 0
  return () => {
    const href = hrefs[next]
    next = (next + 1) % hrefs.length
    return href
  }
}

function makeRequestStart (undici, dispatcher, urls, body, headers) {
  const nextHref = cycle(urls)
  async function one () {
    const res = await undici.request(nextHref(), { dispatcher, method: cfg.method, headers, body: body() })
    let bytes = 0
    for await (const chunk of res.body) bytes += chunk.length
    return [res.statusCode, bytes]
  }
  return (cb) => one().then(([s, b]) => cb(null, s, b), cb)
}

// Where stream() and pipeline() write the body: a Writable that consumes the
// bytes as a file or an HTTP response would, at full speed or, with
// consumeUsPer64k, at a slow consumer's pace.
function makeSink (onBytes) {
  const usPer64k = cfg.consumeUsPer64k || 0
  return new Writable({
    write (chunk, encoding, callback) {
      onBytes(chunk.length)
      if (!usPer64k) return callback()
      setTimeout(callback, usPer64k * chunk.length / 65536 / 1000)
    }
  })
}

function makeStreamStart (undici, dispatcher, urls, body, headers) {
  const nextHref = cycle(urls)
  return (cb) => {
    let status = 0
    let bytes = 0
    undici.stream(nextHref(), { dispatcher, method: cfg.method, headers, body: body() }, ({ statusCode }) => {
      status = statusCode
      return makeSink((n) => { bytes += n })
    }).then(() => cb(null, status, bytes), cb)
  }
}

function makePipelineStart (undici, dispatcher, urls, body, headers) {
  const nextHref = cycle(urls)
  return (cb) => {
    let status = 0
    let bytes = 0
    const duplex = undici.pipeline(nextHref(), { dispatcher, method: cfg.method, headers }, ({ statusCode, body }) => {
      status = statusCode
      return body
    })
    const source = body()
    const sink = makeSink((n) => { bytes += n })
    pipeline(duplex, sink, (err) => (err ? cb(err) : cb(null, status, bytes)))
    // what the request sends goes in through the duplex's writable side
    if (source == null) duplex.end()
    else if (Buffer.isBuffer(source)) duplex.end(source)
    else source.pipe(duplex)
  }
}

function makeFetchStart (undici, dispatcher, urls, body, headers) {
  const nextHref = cycle(urls)
  async function one () {
    const init = { dispatcher, method: cfg.method, headers, body: body() }
    // a stream body needs fetch's half-duplex mode
    if (init.body && !Buffer.isBuffer(init.body)) init.duplex = 'half'
    const res = await undici.fetch(nextHref(), init)
    let bytes = 0
    for await (const chunk of res.body) bytes += chunk.length
    return [res.status, bytes]
  }
  return (cb) => one().then(([s, b]) => cb(null, s, b), cb)
}

function runClosedLoop (start) {
  return new Promise((resolve) => {
    const latencies = new Samples()
    let phase = 'warmup' // -> 'timed' -> 'drain'
    let inFlight = 0
    let completed = 0
    let errors = 0
    let firstError = null
    let t0 = 0
    let t1 = 0
    let cpu0 = null
    let cpu1 = null
    let threads0 = null
    let threads1 = null
    const busyMs = (cfg.busyUs || 0) / 1000

    function launch () {
      const began = performance.now()
      inFlight++
      let settled = false
      try {
        start((err, status, bytes) => {
          if (settled) return
          settled = true
          done(began, err, status, bytes)
        })
      } catch (err) {
        if (!settled) { settled = true; done(began, err) }
      }
    }

    function done (began, err, status, bytes) {
      inFlight--
      const ended = performance.now()
      if (!err && (status !== cfg.expectStatus || bytes !== cfg.expectBytes)) {
        err = new Error(`unexpected response: status ${status}, ${bytes} body bytes (want ${cfg.expectStatus}, ${cfg.expectBytes})`)
      }
      if (err) {
        errors++
        if (!firstError) firstError = describe(err)
      } else if (phase === 'timed') {
        completed++
        latencies.push(ended - began)
      }
      if (busyMs > 0) {
        // The application's own work on each response, synchronous on the
        // JS thread (a JSON.parse, a template): what a service does between
        // one response and the next.
        const until = ended + busyMs
        while (performance.now() < until);
      }
      if (phase === 'drain') {
        if (inFlight === 0) finish()
      } else if (err) {
        // Never re-issue synchronously after a failure: a request that fails
        // inside dispatch() would recurse.
        setImmediate(launch)
      } else {
        launch()
      }
    }

    function finish () {
      clearTimeout(drainTimer)
      const seconds = (t1 - t0) / 1000
      const cpuUs = cpu1.user + cpu1.system
      const sorted = latencies.sorted()
      const split = threadCpu.between(threads0, threads1)
      const jsPerReqUs = split && completed ? split.jsUs / completed : null
      resolve({
        requests: completed,
        seconds,
        rps: completed / seconds,
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        cpuUserUs: cpu1.user,
        cpuSysUs: cpu1.system,
        cpuPerReqUs: completed ? cpuUs / completed : null,
        reqPerCpuSec: cpuUs ? completed / (cpuUs / 1e6) : null,
        jsPerReqUs,
        otherPerReqUs: split && completed ? split.otherUs / completed : null,
        workerPerReqUs: split && completed ? split.workerUs / completed : null,
        jsCeilingRps: jsPerReqUs ? 1e6 / jsPerReqUs : null,
        errors,
        firstError,
        leftInFlight: inFlight
      })
    }

    let drainTimer = null
    setTimeout(() => {
      phase = 'timed'
      threads0 = threadCpu.sample()
      cpu0 = process.cpuUsage()
      t0 = performance.now()
      setTimeout(() => {
        t1 = performance.now()
        cpu1 = process.cpuUsage(cpu0)
        threads1 = threadCpu.sample()
        phase = 'drain'
        if (inFlight === 0) return finish()
        // Requests still in flight are not counted; don't wait forever on a
        // stuck one.
        drainTimer = setTimeout(finish, 10000)
      }, cfg.durationMs)
    }, cfg.warmupMs)

    for (let i = 0; i < cfg.concurrency; i++) launch()
  })
}

// Small objects that stay alive to the end of the run: ~155 bytes each,
// with a string and an array, as a service's cached records are.
function holdLiveHeap (mb) {
  const records = new Array(Math.round(mb * 1024 * 1024 / 155))
  for (let i = 0; i < records.length; i++) records[i] = { id: i, name: 'record ' + i, tags: [i, i + 1] }
  return records
}

async function main () {
  const liveHeap = cfg.liveHeapMB ? holdLiveHeap(cfg.liveHeapMB) : null
  const undici = require('undici')
  const made = makeDispatcher(undici)
  if (!made.dispatcher) return { status: made.status, reason: made.reason, detail: made.detail }
  const dispatcher = made.dispatcher

  const urls = (cfg.urls || [cfg.url]).map((u) => new URL(u))
  // body() gives each request its body: one shared Buffer, or a fresh file
  // stream (a Readable cannot be sent twice)
  const buffer = cfg.bodySize ? Buffer.alloc(cfg.bodySize, 'b') : undefined
  const body = cfg.bodyFile ? () => fs.createReadStream(cfg.bodyFile) : () => buffer
  let headers = cfg.bodySize ? { 'content-type': 'application/octet-stream' } : undefined
  // a stream has no length of its own: declare it, as an upload of a file does
  if (cfg.bodyFile) headers['content-length'] = String(cfg.bodySize)
  if (cfg.acceptEncoding) headers = { ...headers, 'accept-encoding': cfg.acceptEncoding }
  const makers = {
    dispatch: () => makeDispatchStart(dispatcher, urls, body, headers),
    request: () => makeRequestStart(undici, dispatcher, urls, body, headers),
    stream: () => makeStreamStart(undici, dispatcher, urls, body, headers),
    pipeline: () => makePipelineStart(undici, dispatcher, urls, body, headers),
    fetch: () => makeFetchStart(undici, dispatcher, urls, body, headers)
  }
  const start = makers[cfg.api]()

  const r = await runClosedLoop(start)
  // Closing is not timed; bounded so a dispatcher that hangs on close still
  // lets us report.
  await Promise.race([
    dispatcher.close().catch(() => {}),
    new Promise((resolve) => setTimeout(resolve, 2000).unref())
  ])
  r.maxRssMB = process.resourceUsage().maxRSS / 1024
  if (liveHeap !== null) r.liveHeapRecords = liveHeap.length // held to here
  if (r.requests === 0) return { status: 'error', reason: r.firstError || 'no request completed', ...r }
  return { status: 'ok', ...r }
}

function send (msg) {
  process.send(msg, () => process.exit(0))
}

main().then(send, (err) => send({ status: 'error', reason: firstLine(err && err.stack ? err.stack : err) }))
