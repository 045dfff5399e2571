'use strict'

// Fallback benchmark server for machines without nginx, run by servers.js in
// its own process. Serves the same paths as the nginx config: the docroot
// files (held in memory), and a sink (POST, PUT) that reads the whole body before
// answering, over HTTP/1.1, HTTPS and HTTP/2 over TLS on 127.0.0.1 only.

const fs = require('node:fs')
const http = require('node:http')
const https = require('node:https')
const http2 = require('node:http2')
const path = require('node:path')
const zlib = require('node:zlib')

const cfg = JSON.parse(process.argv[2])
const files = new Map()
for (const name of fs.readdirSync(cfg.www)) {
  files.set('/' + name, fs.readFileSync(path.join(cfg.www, name)))
}
const sinkReply = Buffer.from(cfg.sinkReply)

let accepted = 0

// Works for http/https (IncomingMessage) and the http2 compatibility API.
function handle (req, res) {
  if (req.url === cfg.statusPath) {
    // The line of nginx's stub_status that the harness reads.
    res.end(`server accepts handled requests\n ${accepted} ${accepted} 0\n`)
    return
  }
  if (req.url === cfg.sinkPath) {
    req.on('data', () => {})
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': sinkReply.length })
      res.end(sinkReply)
    })
    return
  }
  const body = files.get(req.url)
  if (!body) {
    res.writeHead(404, { 'content-length': 0 })
    res.end()
    return
  }
  if (req.url === '/json' && /\bgzip\b/.test(req.headers['accept-encoding'] ?? '')) {
    // as nginx's gzip on, level 1, made per response
    const coded = zlib.gzipSync(body, { level: 1 })
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': coded.length })
    res.end(coded)
    return
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length })
  res.end(body)
}

const tls = { key: fs.readFileSync(cfg.key), cert: fs.readFileSync(cfg.cert) }
// Benchmark connections live for the whole run.
const h1opts = { keepAliveTimeout: 300000, headersTimeout: 0, requestTimeout: 0 }
const servers = [
  http.createServer(h1opts, handle).listen(cfg.ports.http, '127.0.0.1'),
  // Node always writes from memory: the sendfile-off origin is one more port
  http.createServer(h1opts, handle).listen(cfg.ports.mem, '127.0.0.1'),
  https.createServer({ ...h1opts, ...tls }, handle).listen(cfg.ports.https, '127.0.0.1'),
  http2.createSecureServer({ ...tls, settings: { maxConcurrentStreams: 128 } }, handle).listen(cfg.ports.h2, '127.0.0.1'),
  ...cfg.ports.extra.map((port) => http.createServer(h1opts, handle).listen(port, '127.0.0.1'))
]

let listening = 0
for (const s of servers) {
  s.on('connection', () => { accepted++ })
  s.once('listening', () => {
    if (++listening === servers.length) process.send({ ready: true })
  })
  s.once('error', (err) => {
    process.send({ error: err.message })
    process.exit(1)
  })
}

process.on('SIGTERM', () => process.exit(0))
// The harness died without stopping us: don't outlive it.
process.on('disconnect', () => process.exit(0))
