// Compiled by `tsc -p test/types` in npm test: index.d.ts must describe the
// package as users write against it, with undici's own types.
import { Agent, TIMINGS_CHANNEL, RequestTimings, TimingsMessage, TimingsController, load, LoadResult, LoadProgress } from '../..'
import { subscribe } from 'node:diagnostics_channel'
import DefaultAgent from '../..'
import { Dispatcher, request, setGlobalDispatcher, interceptors, Pool } from 'undici'

const agent = new Agent({
  threads: 2,
  connections: 16,
  headersTimeout: 10_000,
  bodyTimeout: 0,
  connectTimeout: 5_000,
  keepAliveTimeout: 4_000,
  maxHeaderSize: 16_384,
  allowH2: false,
  connect: { ca: ['-----BEGIN CERTIFICATE-----'], rejectUnauthorized: true, servername: 'example.test', timeout: 1000 },
  pipelining: 1,
  maxResponseSize: 1 << 20,
  localAddress: '127.0.0.1',
  autoSelectFamily: true,
  strictContentLength: true,
  useH2c: false,
  proxy: { uri: 'http://127.0.0.1:3128', token: 'Basic dTpw', headers: { 'x-proxy': '1' }, tunnel: true }
})
void new Agent({ proxy: 'env', socketPath: '/tmp/s.sock' })
void new Agent({ proxy: 'socks5h://127.0.0.1:1080' })
void new Agent({ maxOrigins: 10, connect: { autoSelectFamily: false, lookup: (hostname, options, cb) => cb(null, '127.0.0.1', 4) } })
void new Agent({ factory: (origin, options) => new Pool(origin, options), connect: (options, cb) => cb(null, null) })
const other: Agent = new DefaultAgent()
const running: number = agent.stats['http://127.0.0.1:3000']?.running ?? 0
void running
agent.on('connect', (origin, targets) => { void origin; void targets })

// It is an undici Dispatcher: accepted wherever one is.
const dispatcher: Dispatcher = agent
setGlobalDispatcher(agent)
const composed: Dispatcher = agent.compose(interceptors.retry())

async function main (): Promise<void> {
  const { statusCode, body } = await request('http://127.0.0.1:8080/', { dispatcher: agent })
  const n: number = statusCode
  const text: string = await body.text()
  const accepted: boolean = agent.dispatch({ origin: 'http://127.0.0.1:8080', path: '/', method: 'GET' }, {
    onRequestStart (controller) { controller.abort(new Error('x')) },
    onResponseError (_controller, err) { console.log(err.message) }
  })
  agent.dispatch({ origin: 'http://127.0.0.1:8080', path: '/', method: 'GET', timings: true }, {
    onResponseEnd (controller) {
      const t: RequestTimings | null = (controller as TimingsController).timings
      const first: number | null = t?.firstByte ?? null
      const version: string | null = t?.httpVersion ?? null
      void [first, version]
    },
    onResponseError () {}
  })
  const channel: 'curl-dispatcher:request:timings' = TIMINGS_CHANNEL
  subscribe(channel, (message) => {
    const { request, timings } = message as TimingsMessage
    const total: number = timings.total
    const reused: boolean = timings.reused
    void [request.method, request.path, total, reused]
  })
  const stats = Agent.engineStats()
  const live: number = stats.requests + stats.transfers
  const closed: boolean = agent.closed || agent.destroyed
  await agent.close()
  await other.destroy()
  void [n, text, accepted, live, closed, dispatcher, composed]
}
void main

// @ts-expect-error threads must be a number
void new Agent({ threads: 'many' })

async function loadUsage (): Promise<void> {
  const r: LoadResult = await load({
    url: 'http://127.0.0.1:3000/',
    connections: 64,
    duration: 5,
    threads: 2,
    rate: 1000,
    requests: [{ path: '/a' }, { method: 'POST', path: '/b', body: 'x', headers: { 'content-type': 'text/plain' } }],
    onProgress: (p: LoadProgress) => { void [p.requests, p.p99] }
  })
  const p99: number = r.latency.p99
  const rps: number = r.requests.average
  const refused: number = r.errorsByKind.refused
  const corrected: boolean = r.corrected
  const twoxx: number = r['2xx']
  void [p99, rps, refused, corrected, twoxx, r.firstError?.kind]
  // @ts-expect-error duration is a number of seconds
  void load({ url: 'http://x/', duration: '5s' })
}
void loadUsage

function decompressUsage (): void {
  const a = new Agent({ decompress: true })
  const b = new Agent({ decompress: { skipStatusCodes: [204, 304, 206], skipErrorResponses: false, maxSize: 1 << 20 } })
  a.dispatch({ origin: 'http://x', path: '/', method: 'GET', decompress: false }, {})
  // @ts-expect-error skipStatusCodes is a list of numbers
  void new Agent({ decompress: { skipStatusCodes: '204' } })
  void [a, b]
}
void decompressUsage
