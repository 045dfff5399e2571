'use strict'

// Loopback servers for the benchmark. nginx is preferred: it is fast and
// cheap enough that the client under test, not the server, is the
// bottleneck, and its cost does not change between runs of our code. When
// nginx is not installed a Node server (bench/node-server.js) stands in, in a
// child process so that it does not share the harness's event loop.
//
// Everything lives in one temp dir (config, docroot, certificate, logs, pid,
// body buffers) that stop() removes. Only 127.0.0.1 is ever listened on.

const { spawn, spawnSync, fork, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

// Path -> body size. The 12-byte body is the "no payload" case; the others
// exercise body streaming at growing sizes.
// /json: an API's answer, a JSON array of about 88 KiB, which the servers
// compress (gzip level 1, about 9 KiB on the wire) for a client that asks.
const JSON_BODY = Buffer.from(JSON.stringify(Array.from({ length: 700 }, (_, i) => ({
  id: i, name: `item ${i}`, email: `user${i}@example.com`, active: i % 3 !== 0, score: (i * 7919) % 1000 / 10, tags: ['a', 'b', 'c'].slice(0, i % 4)
}))))
const FILES = {
  '/12b': 12,
  '/1k': 1024,
  '/64k': 64 * 1024,
  '/1m': 1024 * 1024,
  '/json': JSON_BODY.length
}
const SINK_PATH = '/sink'
const SINK_REPLY = 'ok'
// nginx's stub_status (and its Node imitation): the harness reads the count of
// accepted connections before and after each row, which shows reconnect
// storms and whether HTTP/2 streams really share a connection.
const STATUS_PATH = '/status'
// Plain-HTTP origins besides the main one (same content, ports of their own):
// the several-origins scenario spreads its requests over all of them.
const EXTRA_ORIGINS = 3

function which (cmd) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const p = path.join(dir, cmd)
    try {
      fs.accessSync(p, fs.constants.X_OK)
      return p
    } catch {}
  }
  // Debian puts nginx in /usr/sbin, which a non-root PATH may lack.
  for (const dir of ['/usr/sbin', '/sbin', '/usr/local/sbin']) {
    const p = path.join(dir, cmd)
    if (fs.existsSync(p)) return p
  }
  return null
}

// Asks the kernel for `n` distinct free loopback ports. All sockets are held
// open until every port is known so the kernel cannot hand out one twice.
async function freePorts (n) {
  const servers = []
  try {
    for (let i = 0; i < n; i++) {
      const s = net.createServer()
      servers.push(s)
      await new Promise((resolve, reject) => {
        s.once('error', reject)
        s.listen(0, '127.0.0.1', resolve)
      })
    }
    return servers.map((s) => s.address().port)
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  }
}

function writeDocroot (dir) {
  fs.mkdirSync(dir, { recursive: true })
  for (const [name, size] of Object.entries(FILES)) {
    // 12 B is "hello world\n"; larger bodies are a repeated letter (content
    // does not matter, only size; nothing is compressed).
    const body = name === '/json' ? JSON_BODY : size === 12 ? Buffer.from('hello world\n') : Buffer.alloc(size, 'x')
    fs.writeFileSync(path.join(dir, name.slice(1)), body)
  }
}

// Self-signed certificate for 127.0.0.1 and localhost, made fresh each run so
// nothing secret is ever stored in the repo. Clients trust it as their CA.
function makeCertificate (dir) {
  const openssl = which('openssl')
  if (!openssl) throw new Error('openssl not found: run tools/install-bench-deps.sh')
  const key = path.join(dir, 'key.pem')
  const cert = path.join(dir, 'cert.pem')
  execFileSync(openssl, [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-keyout', key, '-out', cert, '-days', '2',
    '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'
  ], { stdio: ['ignore', 'ignore', 'pipe'] })
  return { key, cert, pem: fs.readFileSync(cert, 'utf8') }
}

function nginxConfig ({ dir, ports, tls }) {
  const common = `
    root ${path.join(dir, 'www')};
    # /sink answers POST and PUT after nginx has read the whole request body,
    # as an upload endpoint does. "return" alone would answer at once and
    # discard the rest, and a client still sending then drops the connection
    # (undici and libcurl both do). The mirror module reads the body before
    # the content phase (its subrequest answers 204 and is discarded); the
    # static handler then refuses the method and error_page turns that into
    # the reply.
    location = ${SINK_PATH} {
      mirror /sink-mirror;
      mirror_request_body on;
      error_page 404 405 =200 @sink_reply;
    }
    location = /sink-mirror {
      internal;
      return 204;
    }
    location @sink_reply {
      return 200 "${SINK_REPLY}";
    }
    location = /json {
      default_type application/json;
      gzip on;
      gzip_comp_level 1;
      gzip_types application/json;
      gzip_min_length 0;
    }
    location / {
    }`
  const tlsFiles = `
    ssl_certificate ${tls.cert};
    ssl_certificate_key ${tls.key};`
  return `# Generated by bench/servers.js for one benchmark run.
daemon off;
worker_processes 1;
pid ${path.join(dir, 'nginx.pid')};
error_log ${path.join(dir, 'error.log')} warn;

events {
  worker_connections 4096;
}

http {
  access_log off;
  default_type application/octet-stream;
  sendfile on;
  tcp_nodelay on;
  open_file_cache max=16 inactive=600s;
  open_file_cache_valid 600s;
  # A benchmark connection lives for the whole run.
  keepalive_timeout 300s;
  keepalive_requests 100000000;
  # POST bodies stay in memory; nothing is written to the temp path.
  client_max_body_size 10m;
  client_body_buffer_size 1m;
  client_body_temp_path ${path.join(dir, 'body')};
  proxy_temp_path ${path.join(dir, 'proxy')};
  fastcgi_temp_path ${path.join(dir, 'fastcgi')};
  uwsgi_temp_path ${path.join(dir, 'uwsgi')};
  scgi_temp_path ${path.join(dir, 'scgi')};

  server {
    listen 127.0.0.1:${ports.http} backlog=4096;
${ports.extra.map((p) => `    listen 127.0.0.1:${p} backlog=4096;`).join('\n')}
    location = ${STATUS_PATH} {
      stub_status;
    }
${common}
  }

  # The same content written from nginx's own buffers (sendfile off), as a
  # dynamic server, a Node server or TLS without kTLS writes it: the bytes
  # are copied into the socket by the server, which changes how they arrive.
  server {
    listen 127.0.0.1:${ports.mem} backlog=4096;
    sendfile off;
${common}
  }

  server {
    listen 127.0.0.1:${ports.https} ssl backlog=4096;
${tlsFiles}
${common}
  }

  server {
    listen 127.0.0.1:${ports.h2} ssl http2 backlog=4096;
${tlsFiles}
${common}
  }
}
`
}

function waitForPort (port, deadline) {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const sock = net.connect(port, '127.0.0.1')
      sock.once('connect', () => { sock.destroy(); resolve() })
      sock.once('error', () => {
        sock.destroy()
        if (Date.now() > deadline) reject(new Error(`nothing listens on 127.0.0.1:${port}`))
        else setTimeout(attempt, 50)
      })
    }
    attempt()
  })
}

function waitForExit (child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const t = setTimeout(() => { child.kill('SIGKILL'); resolve() }, ms)
    child.once('exit', () => { clearTimeout(t); resolve() })
  })
}

async function startNginx (nginx, dir, ports, tls) {
  const conf = path.join(dir, 'nginx.conf')
  fs.writeFileSync(conf, nginxConfig({ dir, ports, tls }))
  // Run as root, nginx's worker drops to "nobody", which must be able to
  // read the docroot (mkdtemp makes the dir 0700).
  fs.chmodSync(dir, 0o755)
  const child = spawn(nginx, ['-p', dir, '-c', conf, '-e', path.join(dir, 'error.log')], {
    stdio: ['ignore', 'ignore', 'pipe']
  })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += d })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const deadline = Date.now() + 10000
  const ready = Promise.all(Object.values(ports).flat().map((p) => waitForPort(p, deadline)))
  const first = await Promise.race([ready.then(() => 'ready'), exited.then(() => 'exited')])
  if (first !== 'ready') {
    let log = ''
    try { log = fs.readFileSync(path.join(dir, 'error.log'), 'utf8') } catch {}
    throw new Error(`nginx failed to start:\n${stderr}${log}`)
  }
  return {
    kind: 'nginx',
    version: nginxVersion(nginx) || 'nginx',
    child,
    // SIGTERM is nginx's fast shutdown: the master stops its worker itself.
    stop: () => { child.kill('SIGTERM'); return waitForExit(child, 5000) }
  }
}

// `nginx -v` prints "nginx version: nginx/1.22.1" on stderr.
function nginxVersion (nginx) {
  const r = spawnSync(nginx, ['-v'], { encoding: 'utf8' })
  return ((r.stderr || '') + (r.stdout || '')).match(/nginx\/[\d.]+/)?.[0] || null
}

async function startNode (dir, ports, tls) {
  const child = fork(path.join(__dirname, 'node-server.js'), [JSON.stringify({
    ports, www: path.join(dir, 'www'), key: tls.key, cert: tls.cert, sinkPath: SINK_PATH, sinkReply: SINK_REPLY, statusPath: STATUS_PATH
  })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  await new Promise((resolve, reject) => {
    child.once('message', (m) => (m && m.ready ? resolve() : reject(new Error('node server: ' + JSON.stringify(m)))))
    child.once('exit', (code) => reject(new Error(`node server exited with ${code}`)))
  })
  return {
    kind: 'node',
    version: 'node ' + process.version,
    child,
    stop: () => { child.kill('SIGTERM'); return waitForExit(child, 5000) }
  }
}

// Starts the servers. `prefer` is 'nginx' (fall back to Node when nginx is
// not installed) or 'node'. Returns URLs, the CA, and stop()/stopSync().
async function startServers ({ prefer = 'nginx' } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-bench-'))
  let impl = null
  let note = null
  const cleanupDir = () => fs.rmSync(dir, { recursive: true, force: true })
  try {
    writeDocroot(path.join(dir, 'www'))
    const tls = makeCertificate(dir)
    const [http, https, h2, mem, ...extra] = await freePorts(4 + EXTRA_ORIGINS)
    const ports = { http, https, h2, mem, extra }
    const nginx = prefer === 'nginx' ? which('nginx') : null
    if (nginx) {
      impl = await startNginx(nginx, dir, ports, tls)
    } else {
      note = prefer === 'nginx'
        ? 'nginx not found: using the Node fallback server (run tools/install-bench-deps.sh); figures are not comparable with nginx runs'
        : 'Node server requested with --server node; figures are not comparable with nginx runs'
      impl = await startNode(dir, ports, tls)
    }
    let stopped = false
    return {
      kind: impl.kind,
      version: impl.version,
      note,
      dir,
      ca: tls.pem,
      pid: impl.child.pid,
      http: `http://127.0.0.1:${http}`,
      https: `https://127.0.0.1:${https}`,
      h2: `https://127.0.0.1:${h2}`,
      // plain HTTP, bodies written from the server's memory (sendfile off)
      mem: `http://127.0.0.1:${mem}`,
      // the main plain-HTTP origin first, then the extra ones
      origins: [http, ...extra].map((p) => `http://127.0.0.1:${p}`),
      async stop () {
        if (stopped) return
        stopped = true
        await impl.stop()
        cleanupDir()
      },
      // For process 'exit' handlers, where nothing async can run.
      stopSync () {
        if (stopped) return
        stopped = true
        try { impl.child.kill('SIGTERM') } catch {}
        cleanupDir()
      }
    }
  } catch (err) {
    if (impl) await impl.stop()
    cleanupDir()
    throw err
  }
}

// Connections the servers have accepted so far (all three ports), read over
// a fresh plain-HTTP connection that is itself counted: the number of
// connections a client opened between two calls is after - before - 1.
async function acceptedConnections (servers) {
  const undici = require('undici')
  const client = new undici.Client(servers.http, { pipelining: 0 })
  try {
    const res = await client.request({ path: STATUS_PATH, method: 'GET' })
    const text = await res.body.text()
    const m = /accepts handled requests\s+(\d+)/.exec(text)
    if (res.statusCode !== 200 || !m) throw new Error(`GET ${STATUS_PATH}: status ${res.statusCode}, ${JSON.stringify(text.slice(0, 80))}`)
    return Number(m[1])
  } finally {
    await client.close()
  }
}

// Checks that the servers answer what the scenarios expect, through undici
// (HTTP/1.1, HTTPS) and node:http2, before any figure is taken: every file
// with its exact size, and a 16 KiB POST to the sink followed by more
// requests on the same connection (the sink must read the body and keep the
// connection alive, or the POST scenario would measure reconnects).
async function verifyServers (servers) {
  const undici = require('undici')
  const http2 = require('node:http2')

  const client = new undici.Client(servers.http)
  let connects = 0
  client.on('connect', () => { connects++ })
  try {
    for (const [p, size] of Object.entries(FILES)) {
      const res = await client.request({ path: p, method: 'GET' })
      const got = (await res.body.arrayBuffer()).byteLength
      if (res.statusCode !== 200 || got !== size) throw new Error(`GET ${p}: status ${res.statusCode}, ${got} bytes, expected ${size}`)
    }
    for (const [method, size] of [['POST', 16 * 1024], ['POST', 16 * 1024], ['PUT', 1024 * 1024]]) {
      const res = await client.request({ path: SINK_PATH, method, body: Buffer.alloc(size, 'p') })
      const text = await res.body.text()
      if (res.statusCode !== 200 || text !== SINK_REPLY) throw new Error(`${method} ${SINK_PATH}: status ${res.statusCode}, body ${JSON.stringify(text)}`)
    }
    const res = await client.request({ path: '/12b', method: 'GET' })
    await res.body.arrayBuffer()
    if (connects !== 1) throw new Error(`keep-alive broken: ${connects} connections for ${Object.keys(FILES).length + 4} sequential requests (the sink closes connections?)`)
  } finally {
    await client.close()
  }
  const memClient = new undici.Client(servers.mem)
  try {
    const res = await memClient.request({ path: '/1m', method: 'GET' })
    const got = (await res.body.arrayBuffer()).byteLength
    if (res.statusCode !== 200 || got !== FILES['/1m']) throw new Error(`GET ${servers.mem}/1m: status ${res.statusCode}, ${got} bytes`)
  } finally {
    await memClient.close()
  }
  const a = await acceptedConnections(servers)
  const b = await acceptedConnections(servers)
  if (b - a !== 1) throw new Error(`${STATUS_PATH} counts ${b - a} connections for one request`)

  const tlsClient = new undici.Client(servers.https, { connect: { ca: servers.ca } })
  try {
    const res = await tlsClient.request({ path: '/12b', method: 'GET' })
    const got = (await res.body.arrayBuffer()).byteLength
    if (res.statusCode !== 200 || got !== 12) throw new Error(`HTTPS GET /12b: status ${res.statusCode}, ${got} bytes`)
  } finally {
    await tlsClient.close()
  }

  await new Promise((resolve, reject) => {
    const session = http2.connect(servers.h2, { ca: servers.ca })
    session.once('error', reject)
    const req = session.request({ ':path': '/12b' })
    let status = 0
    let bytes = 0
    req.on('response', (h) => { status = h[':status'] })
    req.on('data', (d) => { bytes += d.length })
    req.once('error', reject)
    req.on('end', () => {
      session.close()
      if (status === 200 && bytes === 12) resolve()
      else reject(new Error(`HTTP/2 GET /12b: status ${status}, ${bytes} bytes`))
    })
    req.end()
  })
}

module.exports = { startServers, verifyServers, acceptedConnections, FILES, SINK_PATH, SINK_REPLY, which }
