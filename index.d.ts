// Type definitions for curl-dispatcher. Hand-written; re-uses undici's types.
import { Dispatcher } from 'undici'

export interface AgentConnectOptions {
  /** Connect timeout in ms (same as `connectTimeout`). */
  timeout?: number
  /** PEM CA bundle(s) replacing the system CAs. */
  ca?: string | Buffer | Array<string | Buffer>
  /** PEM client certificate. */
  cert?: string | Buffer | Array<string | Buffer>
  /** PEM client key. */
  key?: string | Buffer | Array<string | Buffer>
  /** Verify the server certificate and host name. Default true. */
  rejectUnauthorized?: boolean
  /** TLS name (SNI and certificate check) when it differs from the origin host. */
  servername?: string
  /** Unix domain socket to connect to instead of the URL's host. */
  socketPath?: string
  /** dns.lookup-style resolver, called on the JS thread; libcurl connects to the addresses it gives. */
  lookup?: (hostname: string, options: { family: number, hints: number, all: boolean },
    callback: (err: NodeJS.ErrnoException | null, address: string | Array<{ address: string, family: number }>, family?: number) => void) => void
  /** With `lookup`: false asks it for one address only. */
  autoSelectFamily?: boolean
}

export interface AgentProxyOptions {
  /** http:, https:, socks4:, socks4a:, socks5: or socks5h: URL; credentials may be in it. */
  uri: string | URL
  /** Proxy-Authorization value, e.g. 'Basic dXNlcjpwYXNz'. */
  token?: string
  /** base64 of 'user:password' (Basic). */
  auth?: string
  /** Headers sent to the proxy only. */
  headers?: Record<string, string>
  /** CONNECT tunnel for http: origins too (default true, as undici's ProxyAgent). */
  tunnel?: boolean
  proxyTls?: { ca?: string | Buffer | Array<string | Buffer>, rejectUnauthorized?: boolean }
}

/** The `decompress` option (agent and dispatch option): as undici's interceptors.decompress(), decoded in the worker. */
export interface DecompressOptions {
  /** statuses whose bodies stay coded (default [204, 304]; at most 16) */
  skipStatusCodes?: number[]
  /** leave error statuses (>= 400) coded (default true) */
  skipErrorResponses?: boolean
  /** keep content-encoding and content-length in a decoded response's headers (default false) */
  preserveHeaders?: boolean
  /** most decoded bytes, else ResponseExceededMaxSizeError (default 0: no limit) */
  maxSize?: number
}

export interface AgentOptions {
  /** Worker threads this agent spreads origins over (1-64). The process-wide pool grows to the largest value asked for. */
  threads?: number
  /** Concurrent requests (and so connections) per origin; unlimited when unset. */
  connections?: number | null
  /** ms until the response headers must have arrived; 0 disables. Default 300e3. */
  headersTimeout?: number
  /** ms of idleness allowed between body chunks; 0 disables. Default 300e3. */
  bodyTimeout?: number
  /** ms to establish a connection (TCP + TLS). Default 10e3. */
  connectTimeout?: number
  /** ms an idle connection is kept for reuse (rounded up to whole seconds). Default 4e3. */
  keepAliveTimeout?: number
  /** Largest response header block in bytes. Default 16384. */
  maxHeaderSize?: number
  /** Offer HTTP/2 by ALPN on https origins. Default false. */
  allowH2?: boolean
  /** HTTP/2 with prior knowledge on http: origins (one connection per request). */
  useH2c?: boolean
  /** 0 (or false) closes the connection after each request; values above 1 behave as 1. */
  pipelining?: number | boolean
  /** HTTP/1.x: a connection closes once it has carried this many requests. */
  maxRequestsPerClient?: number
  /** Streams per HTTP/2 session (with connections). Default 100. */
  maxConcurrentStreams?: number
  /** Largest response body in bytes; -1 for no limit. */
  maxResponseSize?: number
  /** decode Content-Encoding (gzip, deflate, br, zstd...) in the worker */
  decompress?: boolean | DecompressOptions
  /** Local IP address to bind outgoing connections to. */
  localAddress?: string
  autoSelectFamily?: boolean
  /** Head start, in ms, of the first address family. */
  autoSelectFamilyAttemptTimeout?: number
  /** Fail on a content-length header that disagrees with the body (default true). */
  strictContentLength?: boolean
  keepAliveMaxTimeout?: number
  keepAliveTimeoutThreshold?: number
  /** Unix domain socket to connect to (same as connect.socketPath). */
  socketPath?: string
  /** Origins in use at once; one more fails with MaxOriginsReachedError. Default Infinity. */
  maxOrigins?: number
  /** The dispatcher serving one origin, as undici's Agent option; the agent then routes to it and runs none of its own. */
  factory?: (origin: string | URL, options: object) => Dispatcher
  /** 'none' (default), 'env', a proxy URL, or proxy settings. */
  proxy?: 'none' | 'env' | string | URL | AgentProxyOptions
  /** undici's older name for connect's TLS settings; connect's own win. */
  tls?: AgentConnectOptions
  /** TLS and socket settings; a connector function makes the agent serve each origin with undici's Pool around it. */
  connect?: AgentConnectOptions | ((options: object, callback: (err: Error | null, socket: unknown) => void) => unknown)
}

export interface EngineStats {
  requests: number
  transfers: number
  events: number
  commands: number
  handles: number
  envs: number
  /** agent configurations alive: held by an agent, or by a worker until it drops the agent's idle connections */
  configs: number
  workers: number
  inflight: number
  /** transfers each worker has finished since it started, by worker index */
  workerTransfers: number[]
  /**
   * what loading the addon did to glibc's malloc (README, Performance):
   * raised its thresholds, found them raised already (or a malloc not
   * glibc's), left a hand-tuned one unchanged, was turned off by
   * CURL_DISPATCHER_MALLOC_ADAPT=0, or found no glibc
   */
  heap: 'adapted' | 'already' | 'unchanged' | 'disabled' | 'unsupported'
}

export interface AgentOriginStats {
  connected: number
  free: number
  pending: number
  queued: number
  running: number
  size: number
}

/**
 * One request's phases, published on `curl-dispatcher:request:timings` and
 * set as `controller.timings` (dispatch option `timings: true`). Times are
 * milliseconds since the request was dispatched (handed to the engine at
 * the end of `dispatch()`), microsecond precision, cumulative instants as
 * in the Resource Timing API. A phase the request did not need (DNS,
 * connect and TLS on a reused connection; TLS over plain TCP) equals the
 * instant before it; `null`: the request never got there (it failed or was
 * aborted first).
 */
export interface RequestTimings {
  /** libcurl got the transfer: until then it was in the worker's queue (and waiting for a `connections` slot). */
  queued: number | null
  /** the host name was resolved */
  dns: number | null
  /** TCP connected (to the origin, or to the proxy) */
  connect: number | null
  /** TLS handshake with the origin done */
  tls: number | null
  /** libcurl began sending the request (connection ready) */
  sent: number | null
  /** the first response byte arrived */
  firstByte: number | null
  /** the engine ended the request */
  total: number
  /** sent on a connection opened by an earlier request */
  reused: boolean
  remoteAddress: string | null
  remotePort: number | null
  /** as OpenTelemetry's network.protocol.version */
  httpVersion: '1.0' | '1.1' | '2' | '3' | null
  /** the dispatch instant on performance.now()'s time line */
  startTime: number
}

/** A message of the `curl-dispatcher:request:timings` diagnostics channel. */
export interface TimingsMessage {
  /** the `request` object of undici's `undici:request:*` messages for the same request */
  request: {
    origin: string
    method: string
    path: string
    headers: string[]
    completed: boolean
    aborted: boolean
    [key: string]: unknown
  }
  timings: RequestTimings
}

export declare const TIMINGS_CHANNEL: 'curl-dispatcher:request:timings'

/** undici's DispatchOptions, `timings: true` to get `controller.timings`, and `decompress`. */
export interface DispatchOptions extends Dispatcher.DispatchOptions {
  timings?: boolean
  /** overrides the agent's `decompress` for this request */
  decompress?: boolean | DecompressOptions
}

/** The controller this Agent hands to handlers; `timings` is set before onResponseEnd/onResponseError when the dispatch options said `timings: true` (null until then, and when not asked). */
export interface TimingsController extends Dispatcher.DispatchController {
  readonly timings: RequestTimings | null
}

export declare class Agent extends Dispatcher {
  constructor (options?: AgentOptions)
  readonly closed: boolean
  readonly destroyed: boolean
  dispatch (options: DispatchOptions, handler: Dispatcher.DispatchHandler): boolean
  /** Per origin: connections and requests, as undici's PoolStats. */
  readonly stats: Record<string, AgentOriginStats>
  /** Live object counts of the native engine (for leak checks). */
  static engineStats (): EngineStats
}

export default Agent

/** One request of a mixed load: fields left out come from the LoadOptions. */
export interface LoadRequestTemplate {
  method?: string
  /** path and query on the url's origin, starting with / */
  path?: string
  headers?: Record<string, string | number | Array<string | number>>
  body?: string | Uint8Array
}

/** load()'s progress callback, once per second. */
export interface LoadProgress {
  /** seconds since the start */
  elapsed: number
  /** responses per second over the last second */
  requests: number
  /** bytes read per second over the last second */
  bytes: number
  /** responses so far */
  total: number
  sent: number
  errors: number
  timeouts: number
  inflight: number
  /** latency p99 so far, ms */
  p99: number
}

export interface LoadOptions {
  url: string | URL
  /** concurrent connections (default 10) */
  connections?: number
  /** seconds (default 10; not with amount) */
  duration?: number
  /** exactly this many requests (not with duration) */
  amount?: number
  method?: string
  headers?: Record<string, string | number | Array<string | number>>
  body?: string | Uint8Array
  /** requests in flight per connection: HTTP/2 streams, needs h2 (default 1) */
  pipelining?: number
  /** requests per second offered in total; latency is then measured from each request's intended start */
  rate?: number
  /** seconds before a request counts as timed out (default 10; 0: none) */
  timeout?: number
  /** worker threads the connections are spread over (default 1) */
  threads?: number
  /** HTTP/2: ALPN on https:, prior knowledge on http: (libcurl 8 or later) */
  h2?: boolean
  /** do not verify the server's certificate */
  insecure?: boolean
  /** PEM certificates to verify the server against */
  ca?: string | Buffer | Array<string | Buffer>
  socketPath?: string
  /** a proxy URL (http, https, socks4, socks4a, socks5, socks5h), or AgentOptions' proxy forms */
  proxy?: AgentOptions['proxy']
  /** several requests, cycled in order */
  requests?: LoadRequestTemplate[]
  onProgress?: (progress: LoadProgress) => void
  /** aborting stops the run; the promise resolves with what was done */
  signal?: AbortSignal
  title?: string
}

type LoadPercentiles = {
  p0_001: number; p0_01: number; p0_1: number; p1: number; p2_5: number; p10: number; p25: number; p50: number
  p75: number; p90: number; p97_5: number; p99: number; p99_9: number; p99_99: number; p99_999: number
}

export interface LoadStats extends LoadPercentiles {
  average: number
  mean: number
  stddev: number
  min: number
  max: number
}

export type LoadErrorKind = 'refused' | 'timeout' | 'tls' | 'dns' | 'reset' | 'other'

/** autocannon's result fields (same names, same meaning), then ours. */
export interface LoadResult {
  title?: string
  url: string
  socketPath?: string
  connections: number
  sampleInt: number
  pipelining: number
  /** = threads */
  workers: number
  /** seconds */
  duration: number
  samples: number
  start: Date
  finish: Date
  /** failed requests, every kind (timeouts included) */
  errors: number
  timeouts: number
  /** always 0 (autocannon's body expectations are not supported) */
  mismatches: number
  non2xx: number
  /** always 0 (autocannon's pipeline resets; connection resets are errorsByKind.reset) */
  resets: number
  '1xx': number
  '2xx': number
  '3xx': number
  '4xx': number
  '5xx': number
  statusCodeStats: Record<string, { count: number }>
  /** milliseconds, from an HDR-style histogram (3 significant digits) */
  latency: LoadStats & { totalCount: number }
  /** per-second samples of responses; total: responses, sent: requests sent */
  requests: LoadStats & { total: number; sent: number }
  /** per-second samples of bytes read; total: bytes read */
  throughput: LoadStats & { total: number }
  threads: number
  http: '1.1' | '2'
  amount?: number
  rate?: number
  /** latency was measured from each request's intended start (with rate) */
  corrected: boolean
  errorsByKind: Record<LoadErrorKind, number>
  firstError: { kind: LoadErrorKind; code: number; message: string } | null
}

/** Runs a load test on the engine's worker threads. */
export declare function load (options: LoadOptions): Promise<LoadResult>
