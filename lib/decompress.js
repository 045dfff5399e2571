'use strict'

// The `decompress` option (the Agent's, and a dispatch option that
// overrides it): responses with a Content-Encoding are decoded in the
// worker (engine/cd_decode.c), with the semantics of undici 8's
// interceptors.decompress(): gzip, x-gzip, deflate, br and zstd, stacked
// up to five; an unknown coding passes through as it came (compress and
// x-compress too: LZW, which undici 7 wrongly inflated); 1xx, 204 and 304
// (skipStatusCodes) and by default error statuses (skipErrorResponses) are
// not touched; HEAD responses neither. What the handler then sees of a
// decoded response: no content-encoding and no content-length field
// (unless preserveHeaders), and the decoded bytes, at most maxSize of them.

const { errors } = require('undici')

const { InvalidArgumentError, ResponseExceededMaxSizeError } = errors

const DEFAULT_SKIP_STATUS_CODES = Object.freeze([204, 304])

// What a request asks for when it has no accept-encoding field of its own.
const ACCEPT_ENCODING = 'gzip, deflate, br, zstd'

/**
 * The option, checked: null (off) or a frozen
 * { skipStatusCodes, skipErrorResponses, preserveHeaders, maxSize, skipList },
 * skipList being the codes as the engine takes them ("204,304").
 */
function decompressOption (value, name = 'decompress') {
  if (value == null || value === false) return null
  if (value === true) value = {}
  if (typeof value !== 'object') throw new InvalidArgumentError(`${name} must be a boolean or an object`)
  const { skipStatusCodes = DEFAULT_SKIP_STATUS_CODES, skipErrorResponses = true, preserveHeaders = false, maxSize = 0 } = value
  if (!Array.isArray(skipStatusCodes) || skipStatusCodes.length > 16 ||
      !skipStatusCodes.every((c) => Number.isInteger(c) && c >= 100 && c <= 999)) {
    throw new InvalidArgumentError(`${name}.skipStatusCodes must be an array of HTTP status codes`)
  }
  if (typeof skipErrorResponses !== 'boolean') throw new InvalidArgumentError(`${name}.skipErrorResponses must be a boolean`)
  if (typeof preserveHeaders !== 'boolean') throw new InvalidArgumentError(`${name}.preserveHeaders must be a boolean`)
  if (!Number.isSafeInteger(maxSize) || maxSize < 0) throw new InvalidArgumentError('maxSize must be a non-negative integer')
  return Object.freeze({
    skipStatusCodes: Object.freeze([...skipStatusCodes]),
    skipErrorResponses,
    preserveHeaders,
    maxSize,
    skipList: skipStatusCodes.join(',')
  })
}

// A decoded response's fields, as the interceptor leaves them: without
// content-encoding and content-length. `pairs`: [name, value, ...].
function withoutCodingFields (pairs) {
  const out = []
  for (let i = 0; i < pairs.length; i += 2) {
    const lower = pairs[i].toLowerCase()
    if (lower === 'content-encoding' || lower === 'content-length') continue
    out.push(pairs[i], pairs[i + 1])
  }
  return out
}

// The interceptor's error once decoded bytes pass maxSize (the chunk that
// passes it is not delivered).
function maxSizeError (size, maxSize) {
  return new ResponseExceededMaxSizeError(`Decompressed response size (${size}) exceeded maxSize (${maxSize})`)
}

// A decoding failure reported by the engine (ERR_DECODE): the error Node's
// zlib stream gives for the same bytes, which is what the interceptor
// reports; or the interceptor's own for too many codings, which has no
// code. The payload is "<code> <errno> <message>" ("-" and 0: none).
function decodeError (payload) {
  const m = /^(\S+) (-?\d+) ([\s\S]*)$/.exec(payload)
  if (m === null) return new Error(payload)
  const err = new Error(m[3])
  if (m[1] !== '-') {
    err.errno = Number(m[2])
    err.code = m[1]
  }
  return err
}

module.exports = { decompressOption, withoutCodingFields, maxSizeError, decodeError, ACCEPT_ENCODING }
