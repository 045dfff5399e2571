'use strict'

// An application as a service runs one: OpenTelemetry's undici
// instrumentation registered, the Agent as the global dispatcher, no
// uncaughtException handler. It makes requests of every kind through the
// Agent (undici.request, undici.fetch, Node's global fetch, a 500, a
// refused connection), prints what it saw as JSON and exits on its own.
// test/otel.test.js runs it against its server (OTEL_APP_ORIGIN).

const net = require('node:net')
const api = require('@opentelemetry/api')
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks')
const { W3CTraceContextPropagator } = require('@opentelemetry/core')
const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base')
const { UndiciInstrumentation } = require('@opentelemetry/instrumentation-undici')

api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
api.propagation.setGlobalPropagator(new W3CTraceContextPropagator())
const exporter = new InMemorySpanExporter()
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
const instrumentation = new UndiciInstrumentation({ headersToSpanAttributes: { requestHeaders: ['x-app'] } })
instrumentation.setTracerProvider(provider)
instrumentation.enable()

const undici = require('undici')
const { Agent } = require(require('./agent').agentModulePath)

async function freePort () {
  const server = net.createServer().listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function main () {
  const origin = process.env.OTEL_APP_ORIGIN
  const agent = new Agent()
  undici.setGlobalDispatcher(agent)
  const headers = { 'x-app': '1' }
  const statuses = []
  let res = await undici.request(`${origin}/a`, { headers })
  statuses.push(res.statusCode)
  await res.body.text()
  res = await undici.fetch(`${origin}/b`, { headers })
  statuses.push(res.status)
  await res.text()
  res = await fetch(`${origin}/c`, { headers })
  statuses.push(res.status)
  await res.text()
  res = await undici.request(`${origin}/fail`, { headers })
  statuses.push(res.statusCode)
  await res.body.dump()
  const port = await freePort()
  await undici.request(`http://127.0.0.1:${port}/`, { headers }).then(() => {
    throw new Error('a refused connection succeeded')
  }, (err) => {
    if (err.code !== 'ECONNREFUSED') throw err
  })
  await agent.close()
  const spans = exporter.getFinishedSpans()
  const withPeer = spans.filter((s) => s.attributes['network.peer.address'] === '127.0.0.1').length
  process.stdout.write(JSON.stringify({ statuses, spans: spans.length, withPeer }))
}

main()
