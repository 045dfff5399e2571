#!/usr/bin/env node
'use strict'

// Prepares a machine to build and test curl-dispatcher, and is the
// package's install script (`npm install curl-dispatcher` runs it with
// --build-only):
//   1. what building the addon needs and the machine lacks: the tool chain
//      (python3, make, gcc, libc6-dev, pkg-config) and the libraries
//      (libcurl4-openssl-dev, liburcu-dev, libck-dev, and for the worker's
//      decoding zlib1g-dev, libbrotli-dev, libzstd-dev), installed with
//      apt-get as root, else named in one command to run as root,
//   2. the npm dev dependencies (unless --build-only),
//   3. the native addon, built with node-gyp against the headers of the Node
//      that runs this script (never a download, never a user's npmrc nodedir).
// Usage: node tools/setup.js [--build-only] [--debug] [--force]
//   env CURL_DISPATCHER_SANITIZE=address|thread builds an instrumented addon.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const args = new Set(process.argv.slice(2))
const buildOnly = args.has('--build-only')
const force = args.has('--force')

// What building the addon needs, each with the command or file that shows
// it is there and the Debian (and Ubuntu) package that brings it. Every
// source is C: `cc` links too (LINK below), so no C++ compiler is needed.
const BUILD_NEEDS = [
  { what: 'python3 (node-gyp)', have: () => onPath('python3') || Boolean(process.env.PYTHON), pkg: 'python3' },
  { what: 'make', have: () => onPath('make'), pkg: 'make' },
  { what: 'a C compiler', have: () => onPath('cc'), pkg: 'gcc' },
  { what: 'the C library headers', have: () => fs.existsSync('/usr/include/stdlib.h'), pkg: 'libc6-dev' },
  { what: 'pkg-config', have: () => onPath('pkg-config'), pkg: 'pkg-config' },
  { what: 'libcurl', have: () => hasModule('libcurl'), pkg: 'libcurl4-openssl-dev' },
  { what: 'liburcu', have: () => hasModule('liburcu-memb') && hasModule('liburcu-cds'), pkg: 'liburcu-dev' },
  { what: 'concurrencykit', have: () => hasModule('ck'), pkg: 'libck-dev' },
  // the decompress option's decoders (engine/cd_decode.c); the run-time
  // libraries come with libcurl4 anyway
  { what: 'zlib', have: () => hasModule('zlib'), pkg: 'zlib1g-dev' },
  { what: 'brotli', have: () => hasModule('libbrotlidec') && hasModule('libbrotlienc'), pkg: 'libbrotli-dev' },
  { what: 'zstd', have: () => hasModule('libzstd'), pkg: 'libzstd-dev' }
]
const APT_LISTS = '/var/lib/apt/lists'
const APT_ARCHIVES = '/var/cache/apt/archives'
const APT_CACHE = '/var/cache/apt'

function log (msg) {
  process.stderr.write(`[setup] ${msg}\n`)
}

function run (cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { stdio: 'inherit', cwd: root, ...opts })
  if (r.status !== 0) {
    throw new Error(`${cmd} ${argv.join(' ')} failed with ${r.status ?? r.signal}`)
  }
}

function onPath (cmd) {
  return (process.env.PATH || '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir, cmd), fs.constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

function hasModule (name) {
  if (!onPath('pkg-config')) return false
  return spawnSync('pkg-config', ['--exists', name], { stdio: 'ignore' }).status === 0
}

function entries (dir) {
  try {
    return fs.readdirSync(dir)
  } catch {
    return []
  }
}

// apt-get, quiet: its output is kept and shown only if it fails.
function apt (argv) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  const r = spawnSync('apt-get', ['-q', '-y', '-o', 'Dpkg::Use-Pty=0', ...argv], { env, encoding: 'utf8' })
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}` }
}

function aptCommand (pkgs) {
  return `apt-get update && apt-get install -y --no-install-recommends ${pkgs.join(' ')} && rm -rf ${APT_LISTS}/*`
}

// As root with apt-get: installs what is missing (no recommends), quietly,
// and removes again the package lists and downloaded packages it added
// (a slim image's layer keeps only the installed files). Otherwise: one
// message naming every missing package in one command, and exit.
function ensureSystemPackages () {
  const missing = BUILD_NEEDS.filter((need) => !need.have())
  if (missing.length === 0) return
  const pkgs = [...new Set(missing.map((need) => need.pkg))]
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
  if (!isRoot || !onPath('apt-get')) {
    const cmd = aptCommand(pkgs)
    const how = !onPath('apt-get')
      ? `Install them with your system's package manager (Debian and Ubuntu names: ${pkgs.join(' ')}), then run the install again.`
      : onPath('sudo')
        ? `Run, then install again:\n\n  sudo sh -c '${cmd}'\n`
        : `Run as root (in a Dockerfile, a RUN line before USER), then install again:\n\n  ${cmd}\n`
    log(`curl-dispatcher builds its native addon and needs ${missing.map((n) => n.what).join(', ')}: ` +
      `the packages ${pkgs.join(' ')} are missing. ${how}`)
    process.exit(1)
  }
  log(`installing ${pkgs.join(' ')} (apt-get)`)
  const listsBefore = new Set(entries(APT_LISTS))
  const archivesBefore = new Set(entries(APT_ARCHIVES))
  const cacheBefore = new Set(entries(APT_CACHE))
  let result = { ok: false, output: '' }
  try {
    // a slim image has no package lists: install straight away only if it has some
    const hasLists = [...listsBefore].some((f) => f.endsWith('_Packages') || f.includes('_Packages.'))
    if (hasLists) result = apt(['install', '--no-install-recommends', ...pkgs])
    if (!result.ok) {
      const update = apt(['update'])
      result = update.ok ? apt(['install', '--no-install-recommends', ...pkgs]) : update
    }
  } finally {
    for (const f of entries(APT_LISTS)) {
      if (!listsBefore.has(f) && f !== 'lock' && f !== 'partial') fs.rmSync(path.join(APT_LISTS, f), { recursive: true, force: true })
    }
    for (const f of entries(APT_ARCHIVES)) {
      if (!archivesBefore.has(f) && f.endsWith('.deb')) fs.rmSync(path.join(APT_ARCHIVES, f), { force: true })
    }
    for (const f of entries(APT_CACHE)) {
      if (!cacheBefore.has(f) && f.endsWith('.bin')) fs.rmSync(path.join(APT_CACHE, f), { force: true })
    }
  }
  if (!result.ok) {
    process.stderr.write(result.output.split('\n').slice(-15).join('\n') + '\n')
    throw new Error(`apt-get could not install ${pkgs.join(' ')}; as root: ${aptCommand(pkgs)}`)
  }
  const still = BUILD_NEEDS.filter((need) => !need.have())
  if (still.length > 0) throw new Error(`still missing after apt-get: ${still.map((n) => n.what).join(', ')}`)
}

function ensureNpmDependencies () {
  const { devDependencies = {} } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
  const missing = Object.keys(devDependencies)
    .filter((name) => !fs.existsSync(path.join(root, 'node_modules', name, 'package.json')))
  if (!force && missing.length === 0) return
  log('installing npm dependencies')
  // --ignore-scripts: our own install script would call back into this file.
  run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts'])
}

// The headers of the running Node: <prefix>/include/node/node_api.h.
function nodeDir () {
  const prefix = path.resolve(path.dirname(process.execPath), '..')
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) return prefix
  throw new Error(`no Node headers under ${prefix}/include/node; install the headers of this Node (Debian: libnode-dev or nodejs with headers)`)
}

function nodeGypScript () {
  const candidates = [
    path.join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')
  ]
  for (const c of candidates) if (c && fs.existsSync(c)) return c
  throw new Error('node-gyp not found: run npm install first')
}

function sourcesNewerThan (file) {
  if (!fs.existsSync(file)) return true
  const built = fs.statSync(file).mtimeMs
  for (const dir of ['engine', 'napi']) {
    for (const f of fs.readdirSync(path.join(root, dir))) {
      if (fs.statSync(path.join(root, dir, f)).mtimeMs > built) return true
    }
  }
  return fs.statSync(path.join(root, 'binding.gyp')).mtimeMs > built
}

function buildAddon () {
  const debug = args.has('--debug')
  const sanitize = process.env.CURL_DISPATCHER_SANITIZE || ''
  const out = path.join(root, 'build', debug ? 'Debug' : 'Release', 'curl_dispatcher.node')
  const stamp = path.join(root, 'build', 'config-stamp')
  const want = JSON.stringify({ debug, sanitize, node: process.version })
  const have = fs.existsSync(stamp) ? fs.readFileSync(stamp, 'utf8') : ''
  if (!force && have === want && !sourcesNewerThan(out)) return
  log(`building the addon${sanitize ? ` with ${sanitize} sanitizer` : ''}`)
  const env = { ...process.env, npm_config_nodedir: undefined }
  delete env.npm_config_nodedir
  // every source is C: cc links, so no C++ compiler is needed (gyp's
  // Makefiles link with $(CXX) unless LINK is set)
  if (!env.LINK) env.LINK = 'cc'
  const argv = [nodeGypScript(), 'rebuild', `--nodedir=${nodeDir()}`, `-j`, 'max']
  if (debug) argv.push('--debug')
  if (sanitize) argv.push(`--sanitize=${sanitize}`)
  run(process.execPath, argv, { env })
  fs.writeFileSync(stamp, want)
}

try {
  ensureSystemPackages()
  if (!buildOnly) ensureNpmDependencies()
  buildAddon()
} catch (err) {
  log(err.message)
  process.exit(1)
}
