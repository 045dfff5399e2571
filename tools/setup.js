#!/usr/bin/env node
'use strict'

// Prepares a machine to build and test curl-dispatcher:
//   1. the Debian development packages the addon links against,
//   2. the npm dev dependencies (unless --build-only),
//   3. the native addon, built with node-gyp against the headers of the Node
//      that runs this script (never a download, never a user's npmrc nodedir).
// Usage: node tools/setup.js [--build-only] [--debug] [--force]
//   env CURL_DISPATCHER_SANITIZE=address|thread builds an instrumented addon.

const { execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const args = new Set(process.argv.slice(2))
const buildOnly = args.has('--build-only')
const force = args.has('--force')

const SYSTEM_PACKAGES = ['libcurl4-openssl-dev', 'liburcu-dev', 'libck-dev', 'pkg-config']
const PKG_CONFIG_MODULES = ['libcurl', 'liburcu-memb', 'liburcu-cds', 'ck']

function log (msg) {
  process.stderr.write(`[setup] ${msg}\n`)
}

function run (cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { stdio: 'inherit', cwd: root, ...opts })
  if (r.status !== 0) {
    throw new Error(`${cmd} ${argv.join(' ')} failed with ${r.status ?? r.signal}`)
  }
}

function havePkgConfigModules () {
  try {
    execFileSync('pkg-config', ['--exists', ...PKG_CONFIG_MODULES], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function ensureSystemPackages () {
  if (havePkgConfigModules()) return
  const missing = SYSTEM_PACKAGES.filter((name) => {
    const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' })
    return r.status !== 0 || !/install ok installed/.test(r.stdout)
  })
  const cmd = `apt-get update && apt-get install -y ${missing.join(' ')}`
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    log('missing system packages: ' + missing.join(' '))
    log(`run as root:  sudo sh -c '${cmd}'`)
    process.exit(1)
  }
  log('installing ' + missing.join(' '))
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  run('apt-get', ['update', '-qq'], { env })
  run('apt-get', ['install', '-y', '-qq', ...missing], { env })
  if (!havePkgConfigModules()) {
    throw new Error('pkg-config still cannot find ' + PKG_CONFIG_MODULES.join(' '))
  }
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
