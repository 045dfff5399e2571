'use strict'

// An application with an APM agent that watches undici's diagnostics
// channels: `node apm-app.js <dd-trace|elastic-apm-node> <ours|undici>
// <origin> <refused-port>`. It starts the APM offline (dd-trace's log
// exporter, Elastic's disableSend with span and error filters), makes a
// GET, a POST, a 500 and a refused request inside a parent, and prints the
// undici spans (and Elastic's captured errors) with what differs by nature
// between two runs (ids, times, process facts) left out. No
// uncaughtException handler: a subscriber's throw would kill it.
// test/apm.test.js compares the output for both agents.

const [apmName, agentKind, origin, refusedPort] = process.argv.slice(2)

const DROPPED_META = /^(_dd\.|runtime-id$|version$|service$|language$|error\.stack$)/
const DROPPED_METRICS = /^(process_id$|_dd\.|_sampling_priority)/

let collect
let inParent
const printed = []

if (apmName === 'dd-trace') {
  const tracer = require('dd-trace').init({
    experimental: { exporter: 'log' },
    startupLogs: false,
    telemetry: { enabled: false },
    remoteConfig: { enabled: false },
    runtimeMetrics: false,
    flushInterval: 0,
    plugins: true
  })
  // The log exporter writes one JSON line of traces per flush.
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = (chunk, ...rest) => {
    const text = String(chunk)
    if (text.startsWith('{"traces"')) {
      for (const trace of JSON.parse(text).traces) printed.push(...trace)
      return true
    }
    return write(chunk, ...rest)
  }
  inParent = (fn) => tracer.trace('parent', fn)
  collect = () => printed.filter((s) => s.meta?.component === 'undici').map((s) => ({
    name: s.name,
    resource: s.resource,
    type: s.type,
    error: s.error,
    parentIsTestSpan: printed.some((p) => p.name === 'parent' && p.span_id === s.parent_id),
    meta: Object.fromEntries(Object.entries(s.meta).filter(([k]) => !DROPPED_META.test(k))),
    metrics: Object.fromEntries(Object.entries(s.metrics).filter(([k]) => !DROPPED_METRICS.test(k)))
  }))
} else {
  const apm = require('elastic-apm-node').start({
    serviceName: 'apm-app',
    disableSend: true,
    centralConfig: false,
    metricsInterval: '0s',
    cloudProvider: 'none',
    logLevel: 'off',
    captureExceptions: false
  })
  const spans = []
  const errors = []
  apm.addSpanFilter((span) => { spans.push(span); return span })
  apm.addErrorFilter((error) => { errors.push(error); return error })
  inParent = async (fn) => {
    const t = apm.startTransaction('parent')
    try {
      return await fn()
    } finally {
      t.end()
    }
  }
  collect = () => ({
    spans: spans.filter((s) => s.subtype === 'http').map((s) => ({
      name: s.name, type: s.type, subtype: s.subtype, action: s.action, outcome: s.outcome, context: s.context
    })),
    errors: errors.map((e) => ({ type: e.exception?.type, code: e.exception?.code, message: e.exception?.message }))
  })
}

const undici = require('undici')
const { Agent } = agentKind === 'ours' ? require('../..') : undici

async function main () {
  const dispatcher = new Agent()
  const statuses = []
  await inParent(async () => {
    let res = await undici.request(`${origin}/get`, { dispatcher })
    statuses.push(res.statusCode)
    await res.body.text()
    res = await undici.request(`${origin}/post`, { dispatcher, method: 'POST', body: 'hello' })
    statuses.push(res.statusCode)
    await res.body.text()
    res = await undici.request(`${origin}/fail`, { dispatcher })
    statuses.push(res.statusCode)
    await res.body.dump()
    await undici.request(`http://127.0.0.1:${refusedPort}/`, { dispatcher }).then(
      () => { throw new Error('a refused connection succeeded') },
      (err) => statuses.push(err.code))
  })
  await dispatcher.close()
  await new Promise((resolve) => setTimeout(resolve, 300)) // the APM's flush
  process.stdout.write(JSON.stringify({ statuses, collected: collect() }) + '\n')
  process.exit(0) // the APMs keep timers
}

main()
