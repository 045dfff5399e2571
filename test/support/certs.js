'use strict'

// A CA, a server certificate (CN localhost, SAN DNS:localhost, IP:127.0.0.1,
// IP:::1), a server certificate for DNS:localhost only and a client
// certificate, all made at test time with the openssl
// command line in a temporary directory, read into memory, and the directory
// removed. Memoized: generated once per process.

const { execFileSync } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

let cached = null

function openssl (args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] })
}

function serial () {
  return '0x' + crypto.randomBytes(8).toString('hex')
}

function makeCerts () {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-test-certs-'))
  try {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

    openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3',
      '-subj', '/CN=curl-dispatcher test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir)

    fs.writeFileSync(path.join(dir, 'server.ext'), [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
      ''
    ].join('\n'))
    openssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'], dir)
    openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key',
      '-set_serial', serial(), '-days', '3', '-out', 'server.crt', '-extfile', 'server.ext'], dir)

    // A second server certificate naming only DNS:localhost (no IP), to show
    // that connect.servername is what the certificate is checked against.
    fs.writeFileSync(path.join(dir, 'name.ext'), [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=DNS:localhost',
      ''
    ].join('\n'))
    openssl(['req', ...ec, '-keyout', 'name.key', '-out', 'name.csr', '-subj', '/CN=localhost'], dir)
    openssl(['x509', '-req', '-in', 'name.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key',
      '-set_serial', serial(), '-days', '3', '-out', 'name.crt', '-extfile', 'name.ext'], dir)

    fs.writeFileSync(path.join(dir, 'client.ext'), [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=clientAuth',
      ''
    ].join('\n'))
    openssl(['req', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=curl-dispatcher test client'], dir)
    openssl(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key',
      '-set_serial', serial(), '-days', '3', '-out', 'client.crt', '-extfile', 'client.ext'], dir)

    const read = (name) => fs.readFileSync(path.join(dir, name), 'utf8')
    return {
      ca: read('ca.crt'),
      serverKey: read('server.key'),
      serverCert: read('server.crt'),
      nameOnlyKey: read('name.key'),
      nameOnlyCert: read('name.crt'),
      clientKey: read('client.key'),
      clientCert: read('client.crt')
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

function getCerts () {
  if (!cached) cached = makeCerts()
  return cached
}

module.exports = { getCerts }
