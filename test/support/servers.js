'use strict'

// Loopback servers for the tests. Every server listens on 127.0.0.1, port 0,
// and close() destroys every socket it accepted, so no handle outlives a test.

const http = require('node:http')
const https = require('node:https')
const net = require('node:net')
const { once } = require('node:events')

function track (server, proto) {
  const sockets = new Set()
  const stats = { connections: 0, requests: 0, bytes: 0 }
  const connectionEvent = server instanceof https.Server ? 'secureConnection' : 'connection'
  server.on(connectionEvent, (socket) => {
    stats.connections++
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  })
  if (connectionEvent !== 'connection') {
    // Count raw TCP connections too, and destroy them on close().
    server.on('connection', (socket) => {
      sockets.add(socket)
      socket.once('close', () => sockets.delete(socket))
    })
  }
  server.on('request', () => { stats.requests++ })

  let closed = false
  async function close () {
    if (closed) return
    closed = true
    const done = new Promise((resolve) => server.close(() => resolve()))
    for (const socket of sockets) socket.destroy()
    if (typeof server.closeAllConnections === 'function') server.closeAllConnections()
    await done
  }

  return { server, sockets, stats, close }
}

async function listen (server, proto, host = '127.0.0.1') {
  const t = track(server, proto)
  server.listen(0, host)
  await once(server, 'listening')
  const { port } = server.address()
  const hostPart = host.includes(':') ? `[${host}]` : host
  const origin = `${proto}://${hostPart}:${port}`
  return { ...t, port, origin, url: origin }
}

// A node:http server. handler(req, res) as for http.createServer.
async function startServer (handler, { serverOptions = {}, host } = {}) {
  const server = http.createServer(serverOptions, handler)
  return listen(server, 'http', host)
}

// A node:https server; tlsOptions carries key/cert/ca/requestCert...
async function startTlsServer (handler, tlsOptions) {
  const server = https.createServer(tlsOptions, handler)
  return listen(server, 'https')
}

// A raw TCP server for misbehaving responses. onConnection(socket, stats).
// stats.bytes counts every byte received from clients; stats.data keeps the
// concatenated bytes of each connection (as latin1 strings).
async function startRawServer (onConnection) {
  const server = net.createServer()
  const t = track(server, 'http')
  t.stats.data = []
  server.on('connection', (socket) => {
    const index = t.stats.data.length
    t.stats.data.push('')
    socket.on('data', (chunk) => {
      t.stats.bytes += chunk.length
      t.stats.data[index] += chunk.toString('latin1')
    })
    socket.on('error', () => {})
    if (onConnection) onConnection(socket, t.stats)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  const origin = `http://127.0.0.1:${port}`
  return { ...t, port, origin, url: origin }
}

// Reads one request head (up to CRLFCRLF) from a socket.
// Resolves { head, requestLine, method, path, headers: [[name, value]...], rest }.
function readRequestHead (socket) {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0)
    function onData (chunk) {
      buf = Buffer.concat([buf, chunk])
      const end = buf.indexOf('\r\n\r\n')
      if (end === -1) return
      socket.off('data', onData)
      socket.off('error', onError)
      socket.off('end', onEnd)
      const head = buf.subarray(0, end).toString('latin1')
      const rest = buf.subarray(end + 4)
      const lines = head.split('\r\n')
      const requestLine = lines.shift()
      const [method, path] = requestLine.split(' ')
      const headers = lines.map((line) => {
        const i = line.indexOf(':')
        return [line.slice(0, i), line.slice(i + 1).trim()]
      })
      resolve({ head, requestLine, method, path, headers, rest })
    }
    function onError (err) { reject(err) }
    function onEnd () { reject(new Error('connection ended before a request head')) }
    socket.on('data', onData)
    socket.on('error', onError)
    socket.on('end', onEnd)
  })
}

// A raw TCP server that parses each request (head, then a body framed by
// content-length or chunked transfer-encoding) and records it in
// `requests` as { method, path, headers: [[name, value]...], head, body,
// chunked, trailers }. It answers each request with respond(req, socket)
// or, by default, "200 OK" with body "ok". Keep-alive is honoured.
async function startCaptureServer (respond) {
  const requests = []
  const srv = await startRawServer((socket) => {
    let buf = Buffer.alloc(0)
    let req = null
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk])
      try {
        parse()
      } catch (err) {
        socket.destroy()
      }
    })
    function done () {
      requests.push(req)
      const r = req
      req = null
      if (respond) {
        respond(r, socket)
      } else {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
      }
    }
    function parse () {
      for (;;) {
        if (req === null) {
          const end = buf.indexOf('\r\n\r\n')
          if (end === -1) return
          const head = buf.subarray(0, end).toString('latin1')
          buf = buf.subarray(end + 4)
          const lines = head.split('\r\n')
          const [method, path] = lines.shift().split(' ')
          const headers = lines.map((line) => {
            const i = line.indexOf(':')
            return [line.slice(0, i), line.slice(i + 1).trim()]
          })
          const get = (name) => headers.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v)
          const te = get('transfer-encoding')
          const cl = get('content-length')
          req = { method, path, headers, head, body: Buffer.alloc(0), chunked: false, trailers: [], parts: [] }
          if (te.length > 0 && /chunked/i.test(te[te.length - 1])) {
            req.chunked = true
            req.state = 'size'
          } else if (cl.length > 0) {
            req.remaining = parseInt(cl[0], 10)
            req.state = 'fixed'
          } else {
            req.state = 'none'
          }
        }
        if (req.state === 'none') {
          done()
          continue
        }
        if (req.state === 'fixed') {
          const n = Math.min(req.remaining, buf.length)
          req.parts.push(buf.subarray(0, n))
          buf = buf.subarray(n)
          req.remaining -= n
          if (req.remaining > 0) return
          req.body = Buffer.concat(req.parts)
          done()
          continue
        }
        if (req.state === 'size') {
          const eol = buf.indexOf('\r\n')
          if (eol === -1) return
          const size = parseInt(buf.subarray(0, eol).toString('latin1').split(';')[0], 16)
          buf = buf.subarray(eol + 2)
          if (size === 0) {
            req.state = 'trailers'
          } else {
            req.remaining = size
            req.state = 'data'
          }
        }
        if (req.state === 'data') {
          if (buf.length < req.remaining + 2) return
          req.parts.push(buf.subarray(0, req.remaining))
          buf = buf.subarray(req.remaining + 2)
          req.state = 'size'
          continue
        }
        if (req.state === 'trailers') {
          const eol = buf.indexOf('\r\n')
          if (eol === -1) return
          const line = buf.subarray(0, eol).toString('latin1')
          buf = buf.subarray(eol + 2)
          if (line === '') {
            req.body = Buffer.concat(req.parts)
            done()
          } else {
            req.trailers.push(line)
          }
          continue
        }
        return
      }
    }
  })
  srv.requests = requests
  return srv
}

// A listening port whose accept queue is full, so that a new connection
// attempt hangs in SYN_SENT (the kernel drops its SYN): a connect timeout on
// loopback. A worker_thread listens with backlog 1 and then blocks its event
// loop (Atomics.wait), so it never accepts; a few filler connections fill the
// queue. close() unblocks the worker and drops the fillers.
async function startBlackholeServer () {
  const { Worker } = require('node:worker_threads')
  const sab = new SharedArrayBuffer(4)
  const flag = new Int32Array(sab)
  const worker = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads')
    const net = require('node:net')
    const server = net.createServer()
    server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      parentPort.postMessage(server.address().port)
      Atomics.wait(new Int32Array(workerData.sab), 0, 0)
      process.exit(0)
    })
  `, { eval: true, workerData: { sab } })
  const port = await new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  const fillers = []
  for (let i = 0; i < 4; i++) {
    const socket = net.connect(port, '127.0.0.1')
    socket.on('error', () => {})
    fillers.push(socket)
  }
  await new Promise((resolve) => setTimeout(resolve, 200))
  let closed = false
  async function close () {
    if (closed) return
    closed = true
    for (const socket of fillers) socket.destroy()
    const exited = once(worker, 'exit')
    Atomics.store(flag, 0, 1)
    Atomics.notify(flag, 0)
    await exited
  }
  return { port, origin: `http://127.0.0.1:${port}`, url: `http://127.0.0.1:${port}`, close }
}

// A port on which nothing listens: bind, read the port, close.
async function closedPort () {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

module.exports = {
  startServer,
  startTlsServer,
  startRawServer,
  startCaptureServer,
  startBlackholeServer,
  readRequestHead,
  closedPort
}
