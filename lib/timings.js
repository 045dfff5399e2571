'use strict'

// Per-request timings (README, "Timings"): the engine measures a request's
// phases only when it is submitted with REQ_TIMINGS, which it is when the
// dispatch options say `timings: true` or the
// curl-dispatcher:request:timings channel has subscribers; it then sends
// EV_TIMINGS (a struct cd_timings, engine/engine.h) just before the
// terminal event. Here: the option, the flag, decoding the struct, and
// handing the result on, once per request, as controller.timings and on
// the channel, before the handler's terminal callback (or, for a request
// the JS side ended first, such as controller.abort(), when the engine's
// answer comes).

const { performance } = require('node:perf_hooks')
const { endianness } = require('node:os')
const { errors } = require('undici')
const {
  REQ_TIMINGS, TIMING_QUEUED, TIMING_DNS, TIMING_CONNECT, TIMING_TLS, TIMING_SENT, TIMING_FIRST_BYTE,
  TIMING_TOTAL, TIMINGS_ADDRESS_MAX, TIMINGS_OFFSET_AT, TIMINGS_OFFSET_SUBMIT_US, TIMINGS_OFFSET_REUSED,
  TIMINGS_OFFSET_REMOTE_PORT, TIMINGS_OFFSET_HTTP_VERSION, TIMINGS_OFFSET_REMOTE_ADDRESS
} = require('./constants')
const { channels } = require('./diagnostics')

const TIMINGS_CHANNEL = channels.timings.name
const LITTLE_ENDIAN = endianness() === 'LE' // the struct is in the engine's byte order

// The engine's clock is CLOCK_MONOTONIC, as libuv's uv_hrtime, which both
// process.hrtime and performance.now count on: the difference between the
// two is fixed, so the submit instant maps onto performance.now()'s line.
const perfMinusHrtimeMs = performance.now() - Number(process.hrtime.bigint()) / 1e6

// enum cd_http_version's x10 numbers, as OpenTelemetry's network.protocol.version
const HTTP_VERSIONS = { 10: '1.0', 11: '1.1', 20: '2', 30: '3' }

// The request flag for a CurlRequest about to be submitted (after its
// DiagnosticsRequest was made, which subscribers to the channel cause).
// Raw exchanges (upgrade, CONNECT) are not measured.
function timingsFlag (req) {
  const { norm } = req
  if (norm.raw) return 0
  return norm.timings === true || (req.diag !== null && channels.timings.hasSubscribers) ? REQ_TIMINGS : 0
}

function decodeTimings (buf) {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  const ms = (i) => {
    const us = Number(view.getBigInt64(TIMINGS_OFFSET_AT + i * 8, LITTLE_ENDIAN))
    return us < 0 ? null : us / 1000
  }
  const submitUs = Number(view.getBigInt64(TIMINGS_OFFSET_SUBMIT_US, LITTLE_ENDIAN))
  const port = view.getInt32(TIMINGS_OFFSET_REMOTE_PORT, LITTLE_ENDIAN)
  const addressEnd = buf.indexOf(0, TIMINGS_OFFSET_REMOTE_ADDRESS)
  const address = buf.latin1Slice(TIMINGS_OFFSET_REMOTE_ADDRESS,
    addressEnd < 0 ? TIMINGS_OFFSET_REMOTE_ADDRESS + TIMINGS_ADDRESS_MAX : addressEnd)
  return {
    queued: ms(TIMING_QUEUED),
    dns: ms(TIMING_DNS),
    connect: ms(TIMING_CONNECT),
    tls: ms(TIMING_TLS),
    sent: ms(TIMING_SENT),
    firstByte: ms(TIMING_FIRST_BYTE),
    total: ms(TIMING_TOTAL),
    reused: view.getInt32(TIMINGS_OFFSET_REUSED, LITTLE_ENDIAN) !== 0,
    remoteAddress: address || null,
    remotePort: port > 0 ? port : null,
    httpVersion: HTTP_VERSIONS[view.getInt32(TIMINGS_OFFSET_HTTP_VERSION, LITTLE_ENDIAN)] ?? null,
    startTime: Math.round((submitUs / 1000 + perfMinusHrtimeMs) * 1000) / 1000
  }
}

// EV_TIMINGS: the terminal event follows; a request the JS side already
// ended gets its timings handed on now.
function receiveTimings (req, payload) {
  req.timings = decodeTimings(payload)
  if (req.ended()) publishTimings(req)
}

// Once per request, before the handler's terminal callback when the
// figures are there by then.
function publishTimings (req) {
  const { timings, controller } = req
  if (timings === null || controller.timings === timings) return
  controller.timings = timings
  if (req.diag !== null && channels.timings.hasSubscribers) {
    channels.timings.publish({ request: req.diag, timings })
  }
}

module.exports = { TIMINGS_CHANNEL, timingsFlag, decodeTimings, receiveTimings, publishTimings }
