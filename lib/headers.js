'use strict'

// HTTP header fields, both ways: the request's (validated and collected
// into the engine's "name: value\n" block; the HTTP/1.1 head JS writes
// itself) and the response's (the one parser of a raw response head, and
// the shapes handlers get: undici's headers object and raw Buffer pairs).

const { errors } = require('undici')

const { InvalidArgumentError, NotSupportedError } = errors

// RFC 9110 token characters.
const tokenRegExp = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
// field-vchar / obs-text / SP / HTAB: no CR, LF or NUL.
const headerValueRegExp = /[^\t\x20-\x7e\x80-\xff]/

// ---- request headers --------------------------------------------------

class HeaderCollector {
  constructor () {
    this.block = ''
    this.host = null
    this.contentLength = null
    this.contentType = null
    this.reset = null
    this.acceptEncoding = false // the request names its own (lib/decompress.js)
  }

  add (key, val) {
    if (typeof key !== 'string') key = `${key}`
    if (val && typeof val === 'object' && !Array.isArray(val)) {
      throw new InvalidArgumentError(`invalid ${key} header`)
    } else if (val === undefined) {
      return
    }
    const name = key.toLowerCase()
    if (!tokenRegExp.test(name)) throw new InvalidArgumentError('invalid header key')

    if (Array.isArray(val)) {
      const values = []
      for (const v of val) {
        if (v !== null && typeof v === 'object') throw new InvalidArgumentError(`invalid ${key} header`)
        const s = v === null ? '' : `${v}`
        if (headerValueRegExp.test(s)) throw new InvalidArgumentError(`invalid ${key} header`)
        values.push(s)
      }
      val = values
    } else {
      val = val === null ? '' : `${val}`
      if (headerValueRegExp.test(val)) throw new InvalidArgumentError(`invalid ${key} header`)
    }

    switch (name) {
      case 'host':
        if (this.host !== null) throw new InvalidArgumentError('duplicate host header')
        if (typeof val !== 'string') throw new InvalidArgumentError('invalid host header')
        this.host = val
        this.push(key, val)
        return
      case 'content-length':
        if (this.contentLength !== null) throw new InvalidArgumentError('duplicate content-length header')
        if (typeof val !== 'string' || !/^\d+$/.test(val)) throw new InvalidArgumentError('invalid content-length header')
        this.contentLength = parseInt(val, 10)
        return // sent by the engine as framing
      case 'transfer-encoding':
      case 'keep-alive':
      case 'upgrade':
        throw new InvalidArgumentError(`invalid ${name} header`)
      case 'expect':
        throw new NotSupportedError('expect header not supported')
      case 'connection': {
        if (typeof val !== 'string') throw new InvalidArgumentError('invalid connection header')
        for (const token of val.toLowerCase().split(',')) {
          const t = token.trim()
          if (!tokenRegExp.test(t)) throw new InvalidArgumentError('invalid connection header')
          if (t === 'close') this.reset = true
        }
        // As undici: validated, not sent; the agent writes its own
        // `connection: keep-alive` or `close` (lib/normalize.js).
        return
      }
      case 'content-type':
        if (this.contentType === null) this.contentType = val
        break
      case 'accept-encoding':
        this.acceptEncoding = true
        break
    }
    this.push(key, val)
  }

  push (key, val) {
    if (Array.isArray(val)) {
      for (const v of val) this.block += `${key}: ${v}\n`
    } else {
      this.block += `${key}: ${val}\n`
    }
  }

  // [name, value, ...] as undici's Request#headers (diagnostics only).
  toArray () {
    const out = []
    for (const line of this.block.split('\n')) {
      const colon = line.indexOf(':')
      if (colon > 0) out.push(line.slice(0, colon), line.slice(colon + 2))
    }
    return out
  }
}

// A headers object that is an iterable of pairs (Headers, Map), not a
// plain object that happens to inherit an iterator.
function hasSafeIterator (obj) {
  const proto = Object.getPrototypeOf(obj)
  return Object.prototype.hasOwnProperty.call(obj, Symbol.iterator) ||
    (proto != null && proto !== Object.prototype && typeof obj[Symbol.iterator] === 'function')
}

function collectHeaders (headers) {
  const c = new HeaderCollector()
  if (headers == null) return c
  if (Array.isArray(headers)) {
    if (headers.length % 2 !== 0) throw new InvalidArgumentError('headers array must be even')
    for (let i = 0; i < headers.length; i += 2) c.add(headers[i], headers[i + 1])
  } else if (typeof headers === 'object') {
    if (hasSafeIterator(headers)) {
      for (const pair of headers) {
        if (!Array.isArray(pair) || pair.length !== 2) {
          throw new InvalidArgumentError('headers must be in key-value pair format')
        }
        c.add(pair[0], pair[1])
      }
    } else {
      for (const key of Object.keys(headers)) c.add(key, headers[key])
    }
  } else {
    throw new InvalidArgumentError('headers must be an object or an array')
  }
  return c
}

/**
 * The request's header block for the engine and the diagnostics messages
 * ("name: value\n" lines): the connection header, the user's fields as
 * they are when asked (an undici:request:create subscriber may add to
 * them, lib/diagnostics.js), the accept-encoding the decompress option
 * asks with when the request has none (lib/decompress.js), and expect
 * last.
 */
function headerBlock (norm) {
  let block = norm.collector.block
  if (norm.connection !== null) block = `connection: ${norm.connection}\n${block}`
  if (norm.acceptEncoding !== null && !norm.collector.acceptEncoding) block += `accept-encoding: ${norm.acceptEncoding}\n`
  if (norm.expectContinue) block += 'expect: 100-continue\n'
  return block
}

/**
 * The HTTP/1.1 request head, as undici's client writes it: for the
 * diagnostics `sendHeaders` message, and (with the upgrade lines) as the
 * bytes an upgrade or CONNECT writes into its raw connection.
 */
function requestHead (norm, upgrade = null) {
  let head = `${norm.method} ${norm.path} HTTP/1.1\r\nhost: ${norm.hostHeader ?? norm.target.host}\r\n`
  if (upgrade) head += `connection: upgrade\r\nupgrade: ${upgrade}\r\n`
  return head + headerBlock(norm).replace(/\n/g, '\r\n') + '\r\n'
}

/**
 * The same request as undici's HTTP/2 client lists it in `sendHeaders`:
 * the fields (Host becomes :authority), then the pseudo-headers.
 */
function requestHeadH2 (norm) {
  let head = ''
  let authority = norm.hostHeader ?? norm.target.host
  for (const line of headerBlock(norm).split('\n')) {
    if (line === '') continue
    if (line.slice(0, 5).toLowerCase() === 'host:') {
      authority = line.slice(5).trim()
      continue
    }
    head += line + '\r\n'
  }
  const scheme = norm.target.protocol === 'https:' ? 'https' : 'http'
  return `${head}:authority: ${authority}\r\n:method: ${norm.method}\r\n:path: ${norm.path}\r\n:scheme: ${scheme}\r\n`
}

// ---- response headers --------------------------------------------------

/**
 * Splits a raw response head ("HTTP/1.1 200 OK\r\nName: value\r\n...",
 * the blank line optional) into the status line, the status message and
 * the [name, value, ...] field list. `malformed` is true when a line is
 * neither a field nor an obs-fold continuation: the engine's heads were
 * checked by libcurl, the raw exchange (lib/upgrade.js) checks its own.
 */
function parseResponseHead (block) {
  let eol = block.indexOf('\r\n')
  if (eol === -1) eol = block.length
  const statusLine = block.slice(0, eol)
  const sp1 = statusLine.indexOf(' ')
  const sp2 = sp1 === -1 ? -1 : statusLine.indexOf(' ', sp1 + 1)
  const statusMessage = sp2 === -1 ? '' : statusLine.slice(sp2 + 1)
  const pairs = []
  const malformed = !addFields(block, eol + 2, pairs)
  return { statusLine, statusMessage, pairs, malformed }
}

// What String.prototype.trim takes off a latin1 string: TAB, LF, VT, FF,
// CR, SP and NBSP (a head is latin1: one char per byte).
function isTrimmed (code) {
  return code === 32 || (code >= 9 && code <= 13) || code === 160
}

// The field of block[start..end) (one line) as name, value, appended to
// `pairs`, the value trimmed as String.prototype.trim would; an obs-fold
// line continues the previous value. Returns false when the line is
// neither (it is skipped). One pass, no intermediate strings: a response
// head is parsed once per response, on the JS thread.
function addLine (block, start, end, pairs) {
  const first = block.charCodeAt(start)
  if ((first === 32 || first === 9) && pairs.length) {
    // obs-fold: continuation of the previous value
    pairs[pairs.length - 1] += ' ' + trimmedSlice(block, start, end)
    return true
  }
  const colon = block.indexOf(':', start)
  if (colon <= start || colon >= end) return false
  pairs.push(block.slice(start, colon), trimmedSlice(block, colon + 1, end))
  return true
}

function trimmedSlice (block, start, end) {
  while (start < end && isTrimmed(block.charCodeAt(start))) start++
  while (end > start && isTrimmed(block.charCodeAt(end - 1))) end--
  return block.slice(start, end)
}

// Appends the fields of the CRLF-separated lines of block[from..] to
// `pairs` as name, value, ... (strings). Returns false when some line was
// neither a field nor an obs-fold continuation (it is skipped).
function addFields (block, from, pairs) {
  let ok = true
  let start = from
  while (start < block.length) {
    let end = block.indexOf('\r\n', start)
    if (end === -1) end = block.length
    if (end > start && !addLine(block, start, end, pairs)) ok = false
    start = end + 2
  }
  return ok
}

// The raw trailer lines of CD_EV_END -> [name, value, ...].
function parseTrailers (block) {
  const pairs = []
  if (block.length) addFields(block, 0, pairs)
  return pairs
}

// Lower-cased field names by the name as received: a response's names are
// new strings each time, and lowering each one cost more than the rest of
// the header object (toLowerCase allocates, and the new key has to be
// looked up in V8's string table). Bounded, since names come from servers.
const lowerNames = new Map()
const LOWER_NAMES_MAX = 512

function lowerName (name) {
  let lower = lowerNames.get(name)
  if (lower === undefined) {
    lower = name.toLowerCase()
    if (lowerNames.size >= LOWER_NAMES_MAX) lowerNames.clear()
    lowerNames.set(name, lower)
  }
  return lower
}

function fieldsToObject (pairs) {
  const obj = {}
  for (let i = 0; i < pairs.length; i += 2) {
    const key = lowerName(pairs[i])
    const val = pairs[i + 1]
    const cur = obj[key]
    if (cur === undefined) {
      obj[key] = val
    } else if (Array.isArray(cur)) {
      cur.push(val)
    } else {
      obj[key] = [cur, val]
    }
  }
  return obj
}

// One latin1 encode for the whole list, then a view per field: cheaper
// than a Buffer.from per field.
function fieldsToRaw (pairs) {
  const raw = new Array(pairs.length)
  if (pairs.length === 0) return raw
  const all = Buffer.from(pairs.join(''), 'latin1')
  let offset = 0
  for (let i = 0; i < pairs.length; i++) {
    const end = offset + pairs[i].length
    raw[i] = all.subarray(offset, end)
    offset = end
  }
  return raw
}

module.exports = {
  tokenRegExp,
  headerValueRegExp,
  collectHeaders,
  headerBlock,
  requestHead,
  requestHeadH2,
  parseResponseHead,
  parseTrailers,
  fieldsToObject,
  fieldsToRaw
}
