'use strict'

// connect.lookup: an origin's name resolved on the JS thread, as
// net.connect would (all addresses unless autoSelectFamily is off), bounded
// by the connect timeout. lib/request.js hands libcurl the addresses as a
// CURLOPT_RESOLVE entry, so the URL, Host, SNI and certificate checks keep
// the name.

const dns = require('node:dns')
const { isIP } = require('node:net')
const { errors } = require('undici')
const { clearTimeout, setTimeout } = require('./timers')

const { ConnectTimeoutError } = errors

/**
 * Calls `callback(err, addresses)` once: the IP addresses the agent's
 * lookup gave for the target's name (IPv6 ones in brackets), or the
 * lookup's error, ENOTFOUND for an answer with no address, or
 * ConnectTimeoutError after the agent's connect timeout.
 */
function lookupTarget (settings, target, callback) {
  const { hostname, port } = target
  const timeout = settings.connectTimeout
  let settled = false
  let timer = null
  const done = (err, addresses) => {
    if (settled) return
    settled = true
    if (timer !== null) clearTimeout(timer)
    if (err != null) return callback(err, null)
    const list = []
    for (const a of Array.isArray(addresses) ? addresses : []) {
      const address = typeof a === 'string' ? a : a?.address
      const family = isIP(address)
      if (family !== 0) list.push(family === 6 ? `[${address}]` : address)
    }
    if (list.length === 0) {
      return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`),
        { code: 'ENOTFOUND', errno: -3008, syscall: 'getaddrinfo', hostname }), null)
    }
    callback(null, list)
  }
  if (timeout > 0) {
    timer = setTimeout(() => done(new ConnectTimeoutError(
      `Connect Timeout Error (attempted address: ${hostname}:${port}, timeout: ${timeout}ms)`)), timeout)
  }
  try {
    settings.lookup(hostname, { family: 0, hints: dns.ADDRCONFIG, all: settings.lookupAll }, (err, address, family) => {
      done(err, Array.isArray(address) ? address : [{ address, family }])
    })
  } catch (err) {
    done(err)
  }
}

module.exports = { lookupTarget }
