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
  connect?: AgentConnectOptions
}

export interface EngineStats {
  requests: number
  transfers: number
  events: number
  commands: number
  handles: number
  envs: number
  workers: number
  inflight: number
}

export declare class Agent extends Dispatcher {
  constructor (options?: AgentOptions)
  readonly closed: boolean
  readonly destroyed: boolean
  dispatch (options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean
  /** Live object counts of the native engine (for leak checks). */
  static engineStats (): EngineStats
}

export default Agent
