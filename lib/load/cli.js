'use strict'

// `curl-dispatcher load URL [flags]`: the command line of load() (bin/).
//
// Exit status: 0; 1 when a request failed (unless --allow-errors) or the
// target could not be reached at all; 2 for bad, unknown or contradictory
// flags, before any request is sent.

const fs = require('node:fs')

const { load, KIND_TEXT } = require('./run')
const { normalizeLoadOptions } = require('./options')
const { progressLine, header, summary } = require('./format')

const USAGE = `Usage: curl-dispatcher load [options] URL

A load generator on libcurl worker threads (autocannon's flags where they overlap).

  -c, --connections N   concurrent connections (default 10)
  -d, --duration S      seconds to run (default 10)
  -a, --amount N        send exactly N requests instead of running for a duration
  -m, --method M        request method (default GET)
  -H, --headers H       request header "Name: value" (or Name=value); repeatable
  -b, --body BODY       request body
  -p, --pipelining N    requests in flight per connection: HTTP/2 streams (needs --h2)
  -R, --rate N          offer N requests per second in total; latency is then
                        measured from each request's intended start
  -t, --timeout S       seconds before a request counts as timed out (default 10)
  -j, --json            print the result as JSON (autocannon's shape) on stdout
      --requests FILE   a JSON array of request templates cycled in order:
                        [{ "method", "path", "headers", "body" }, ...]
      --threads N       worker threads to spread the connections over (default 1)
      --h2              HTTP/2 (ALPN on https:, prior knowledge on http:)
      --insecure        do not verify the server's certificate
      --ca FILE         verify the server against these PEM certificates
      --socket-path P   connect to this Unix socket
      --proxy URL       through this proxy (http, https, socks4, socks4a, socks5, socks5h)
      --allow-errors    exit 0 even when requests failed
      --no-progress     no progress line
  -h, --help            this text
`

class UsageError extends Error {}

const FLAGS = {
  connections: { short: 'c', type: 'int' },
  duration: { short: 'd', type: 'number' },
  amount: { short: 'a', type: 'int' },
  method: { short: 'm', type: 'string' },
  headers: { short: 'H', type: 'string', repeat: true },
  body: { short: 'b', type: 'string' },
  pipelining: { short: 'p', type: 'int' },
  rate: { short: 'R', type: 'number' },
  timeout: { short: 't', type: 'number' },
  json: { short: 'j', type: 'bool' },
  threads: { type: 'int' },
  h2: { type: 'bool' },
  insecure: { type: 'bool' },
  ca: { type: 'string' },
  'socket-path': { type: 'string' },
  proxy: { type: 'string' },
  'allow-errors': { type: 'bool' },
  requests: { type: 'string' },
  'no-progress': { type: 'bool' },
  help: { short: 'h', type: 'bool' }
}
const SHORT = Object.fromEntries(Object.entries(FLAGS).filter(([, f]) => f.short).map(([name, f]) => [f.short, name]))

function parseValue (name, type, raw) {
  if (type === 'string') return raw
  const n = Number(raw)
  if (raw === '' || !Number.isFinite(n) || n <= 0 || (type === 'int' && !Number.isInteger(n))) {
    throw new UsageError(`--${name} needs a positive ${type === 'int' ? 'integer' : 'number'} (got ${JSON.stringify(raw)})`)
  }
  return n
}

function parseArgs (argv) {
  const out = { headers: [] }
  const positional = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--') {
      positional.push(...argv.slice(i + 1))
      break
    }
    let name
    let inline
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2)
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined
      if (!FLAGS[name]) throw new UsageError(`unknown option --${name}`)
    } else if (arg.startsWith('-') && arg.length > 1) {
      name = SHORT[arg[1]]
      if (!name) throw new UsageError(`unknown option ${arg.slice(0, 2)}`)
      if (arg.length > 2) inline = arg.slice(2)
    } else {
      positional.push(arg)
      continue
    }
    const flag = FLAGS[name]
    if (flag.type === 'bool') {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`)
      out[name] = true
      continue
    }
    let raw = inline
    if (raw === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`)
      raw = argv[++i]
    }
    const v = parseValue(name, flag.type, raw)
    if (flag.repeat) out[name].push(v)
    else if (out[name] !== undefined) throw new UsageError(`--${name} given twice`)
    else out[name] = v
  }
  return { flags: out, positional }
}

function parseHeader (h) {
  const colon = h.indexOf(':')
  const eq = h.indexOf('=')
  const at = colon > 0 && (eq < 0 || colon < eq) ? colon : eq
  if (at <= 0) throw new UsageError(`--headers needs "Name: value" or Name=value (got ${JSON.stringify(h)})`)
  return [h.slice(0, at).trim(), h.slice(at + 1).trim()]
}

// argv (after `load`) -> load() options and the command's own settings.
function optionsFromArgs (argv) {
  const { flags, positional } = parseArgs(argv)
  if (flags.help) return { help: true }
  if (positional.length === 0) throw new UsageError('missing URL')
  if (positional.length > 1) throw new UsageError(`one URL only (got ${positional.join(' ')})`)
  const headers = {}
  for (const h of flags.headers) {
    const [name, value] = parseHeader(h)
    headers[name] = name in headers ? [].concat(headers[name], value) : value
  }
  let ca
  if (flags.ca !== undefined) {
    if (flags.insecure) throw new UsageError('--insecure and --ca contradict each other')
    try {
      ca = fs.readFileSync(flags.ca)
    } catch (err) {
      throw new UsageError(`--ca: cannot read ${flags.ca}: ${err.code ?? err.message}`)
    }
  }
  let requests
  if (flags.requests !== undefined) {
    try {
      requests = JSON.parse(fs.readFileSync(flags.requests, 'utf8'))
    } catch (err) {
      throw new UsageError(`--requests: cannot read ${flags.requests}: ${err.code ?? err.message}`)
    }
  }
  const opts = {
    url: positional[0],
    requests,
    connections: flags.connections,
    duration: flags.duration,
    amount: flags.amount,
    method: flags.method,
    headers,
    body: flags.body,
    pipelining: flags.pipelining,
    rate: flags.rate,
    timeout: flags.timeout,
    threads: flags.threads,
    h2: flags.h2,
    insecure: flags.insecure,
    ca,
    socketPath: flags['socket-path'],
    proxy: flags.proxy
  }
  for (const k of Object.keys(opts)) if (opts[k] === undefined) delete opts[k]
  return {
    opts,
    json: flags.json === true,
    allowErrors: flags['allow-errors'] === true,
    progress: flags['no-progress'] !== true
  }
}

// `signal`: aborting stops the run and prints what was done (bin/ aborts on
// the first Ctrl-C).
async function main (argv, io = { stdout: process.stdout, stderr: process.stderr }, { signal } = {}) {
  const [command, ...rest] = argv
  if (command === '-h' || command === '--help' || command === 'help') {
    io.stdout.write(USAGE)
    return 0
  }
  if (command !== 'load') {
    io.stderr.write(`curl-dispatcher: ${command === undefined ? 'missing command' : `unknown command ${JSON.stringify(command)}`}\n\n${USAGE}`)
    return 2
  }
  let cli
  try {
    cli = optionsFromArgs(rest)
    if (cli.help) {
      io.stdout.write(USAGE)
      return 0
    }
    normalizeLoadOptions(cli.opts)  // every check, before anything is sent
  } catch (err) {
    if (err instanceof UsageError || err.code === 'UND_ERR_INVALID_ARG') {
      io.stderr.write(`curl-dispatcher load: ${err.message}\nTry 'curl-dispatcher load --help'.\n`)
      return 2
    }
    throw err
  }
  const tty = io.stderr.isTTY === true && cli.progress
  let result
  try {
    result = await load({
      ...cli.opts,
      signal,
      onProgress: tty ? (p) => io.stderr.write(`\r\x1b[K${progressLine(p)}`) : undefined
    })
  } catch (err) {
    if (tty) io.stderr.write('\r\x1b[K')
    if (err.code === 'UND_ERR_INVALID_ARG' || /^CD_LOAD_E/.test(err.code ?? '')) {
      io.stderr.write(`curl-dispatcher load: ${err.message}\n`)
      return 2
    }
    throw err
  }
  if (tty) io.stderr.write('\r\x1b[K')
  if (cli.json) io.stdout.write(JSON.stringify(result) + '\n')
  if (result.requests.total === 0 && result.errors > 0) {
    const e = result.firstError
    io.stderr.write(`curl-dispatcher load: cannot reach ${result.url}: ${KIND_TEXT[e.kind]} (${e.message})\n`)
    return 1
  }
  if (!cli.json) io.stdout.write(header(result, `${result.duration}s`) + '\n' + summary(result))
  if (result.errors > 0 && !cli.allowErrors) {
    const e = result.firstError
    io.stderr.write(`curl-dispatcher load: ${result.errors} request${result.errors === 1 ? '' : 's'} failed ` +
      `(first: ${KIND_TEXT[e.kind]}: ${e.message}); --allow-errors to exit 0 anyway\n`)
    return 1
  }
  return 0
}

module.exports = { main, optionsFromArgs, parseArgs, UsageError, USAGE }
