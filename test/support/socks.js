'use strict'

// A small SOCKS4/4a/5 server for the proxy tests: CONNECT only, optional
// username/password (SOCKS5, RFC 1929), and it connects only to loopback
// (any other target is refused with the protocol's failure reply). It
// records what each client asked for in `stats.targets`.

const net = require('node:net')
const dns = require('node:dns')
const { once } = require('node:events')

const LOOPBACK = new Set(['127.0.0.1', '::1'])

// Reads exact byte counts from a socket that is still in flowing mode.
function reader (socket) {
  let buf = Buffer.alloc(0)
  let want = 0
  let wake = null
  socket.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk])
    if (wake !== null && buf.length >= want) { const w = wake; wake = null; w() }
  })
  socket.on('close', () => { if (wake !== null) { const w = wake; wake = null; w() } })
  return {
    async read (n) {
      if (buf.length < n) {
        want = n
        await new Promise((resolve) => { wake = resolve })
        if (buf.length < n) throw new Error('socks client went away')
      }
      const out = buf.subarray(0, n)
      buf = buf.subarray(n)
      return out
    },
    async readUntilNul () {
      for (;;) {
        const i = buf.indexOf(0)
        if (i >= 0) {
          const out = buf.subarray(0, i)
          buf = buf.subarray(i + 1)
          return out
        }
        await this.read(buf.length + 1).then((b) => { buf = Buffer.concat([b, buf]) })
      }
    },
    rest () {
      const out = buf
      buf = Buffer.alloc(0)
      socket.removeAllListeners('data')
      return out
    }
  }
}

async function resolveLoopback (host) {
  if (LOOPBACK.has(host)) return host
  if (host === 'localhost') return (await dns.promises.lookup(host, { family: 4 })).address
  return null
}

function tunnel (client, r, host, port, onReady) {
  const upstream = net.connect({ host, port })
  upstream.on('error', () => { client.destroy() })
  client.once('close', () => { upstream.destroy() })
  upstream.once('connect', () => {
    onReady(true)
    const early = r.rest()
    if (early.length) upstream.write(early)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  upstream.once('error', () => onReady(false))
}

async function handleSocks5 (client, r, opts, stats) {
  const n = (await r.read(1))[0]
  const methods = [...await r.read(n)]
  const method = opts.auth ? 2 : 0
  if (!methods.includes(method)) {
    client.end(Buffer.from([5, 0xff]))
    return
  }
  client.write(Buffer.from([5, method]))
  if (method === 2) {
    const [, ulen] = await r.read(2)
    const user = (await r.read(ulen)).toString()
    const plen = (await r.read(1))[0]
    const pass = (await r.read(plen)).toString()
    const ok = user === opts.auth.username && pass === opts.auth.password
    stats.authAttempts.push({ user, ok })
    if (!ok) {
      client.end(Buffer.from([1, 1]))
      return
    }
    client.write(Buffer.from([1, 0]))
  }
  const [, cmd, , atyp] = await r.read(4)
  let host
  if (atyp === 1) host = [...await r.read(4)].join('.')
  else if (atyp === 3) host = (await r.read((await r.read(1))[0])).toString()
  else if (atyp === 4) host = ipv6(await r.read(16))
  else throw new Error('bad address type')
  const port = (await r.read(2)).readUInt16BE(0)
  stats.targets.push({ version: 5, host, port, addressType: atyp })
  const address = cmd === 1 ? await resolveLoopback(host) : null
  const reply = (code) => Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0])
  if (address === null) {
    client.end(reply(cmd === 1 ? 2 : 7)) // not allowed by ruleset / command not supported
    return
  }
  tunnel(client, r, address, port, (ok) => client.write(reply(ok ? 0 : 5)))
}

function ipv6 (b) {
  const parts = []
  for (let i = 0; i < 16; i += 2) parts.push(b.readUInt16BE(i).toString(16))
  return parts.join(':').replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:{3,}/, '::')
}

async function handleSocks4 (client, r, opts, stats) {
  const [cmd] = await r.read(1)
  const port = (await r.read(2)).readUInt16BE(0)
  const ip = [...await r.read(4)]
  const user = (await r.readUntilNul()).toString()
  let host = ip.join('.')
  let version = 4
  if (ip[0] === 0 && ip[1] === 0 && ip[2] === 0 && ip[3] !== 0) {
    host = (await r.readUntilNul()).toString()
    version = '4a'
  }
  stats.targets.push({ version, host, port, user })
  const reply = (ok) => Buffer.from([0, ok ? 0x5a : 0x5b, 0, 0, 0, 0, 0, 0])
  const address = cmd === 1 ? await resolveLoopback(host) : null
  if (address === null || (opts.socks4User && user !== opts.socks4User)) {
    client.end(reply(false))
    return
  }
  tunnel(client, r, address, port, (ok) => client.write(reply(ok)))
}

/**
 * opts.auth: { username, password } to require SOCKS5 authentication;
 * opts.socks4User: the SOCKS4 user id to require.
 */
async function startSocksServer (opts = {}) {
  const stats = { connections: 0, targets: [], authAttempts: [] }
  const sockets = new Set()
  const server = net.createServer((client) => {
    stats.connections++
    sockets.add(client)
    client.once('close', () => sockets.delete(client))
    client.on('error', () => {})
    const r = reader(client)
    r.read(1).then(([version]) => {
      if (version === 5) return handleSocks5(client, r, opts, stats)
      if (version === 4) return handleSocks4(client, r, opts, stats)
      client.destroy()
    }).catch(() => client.destroy())
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  return {
    port,
    stats,
    async close () {
      const done = new Promise((resolve) => server.close(resolve))
      for (const s of sockets) s.destroy()
      await done
    }
  }
}

module.exports = { startSocksServer }
