'use strict'

// Engine errors (a CURLcode or one of the engine's own codes, the OS errno,
// the TLS verify result) turned into the errors undici's Agent raises, built
// from the user's undici so that `instanceof` works. By code only: the
// libcurl failures that only libcurl's message tells apart come classed by
// the engine (engine/cd_errclass.c), their CURLcode beside the class.

const { errors } = require('undici')
const os = require('node:os')
const util = require('node:util')
const { decodeError } = require('./decompress')

const {
  ERR_HEADERS_TIMEOUT, ERR_BODY_TIMEOUT, ERR_HEADERS_OVERFLOW, ERR_AMBIGUOUS_LENGTH, ERR_CONNECTION_LOST,
  ERR_BAD_CHUNK, ERR_TLS_HOSTNAME, ERR_DECODE, ERRF_CONNECTED, ERRF_CONNECT_STATUS_SHIFT, ERRF_CONNECT_STATUS_MASK,
  ERRF_CURL_CODE_SHIFT, HEAD_KEEPS_ALIVE, HEAD_CHUNKED, HEAD_HAS_LENGTH
} = require('./constants')

// CURLcode values used below (curl/curl.h)
const CURLE = {
  UNSUPPORTED_PROTOCOL: 1,
  COULDNT_RESOLVE_HOST: 6,
  COULDNT_CONNECT: 7,
  WEIRD_SERVER_REPLY: 8,
  PARTIAL_FILE: 18,
  OUT_OF_MEMORY: 27,
  OPERATION_TIMEDOUT: 28,
  SSL_CONNECT_ERROR: 35,
  GOT_NOTHING: 52,
  SEND_ERROR: 55,
  RECV_ERROR: 56,
  PEER_FAILED_VERIFICATION: 60,
  BAD_CONTENT_ENCODING: 61,
  SSL_CACERT_BADFILE: 77
}

// OpenSSL X509_V_ERR_* -> the code Node's TLS gives the same failure.
const X509_CODES = {
  2: ['UNABLE_TO_GET_ISSUER_CERT', 'unable to get issuer certificate'],
  9: ['CERT_NOT_YET_VALID', 'certificate is not yet valid'],
  10: ['CERT_HAS_EXPIRED', 'certificate has expired'],
  18: ['DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'],
  19: ['SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain'],
  20: ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'unable to get local issuer certificate'],
  21: ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'],
  23: ['CERT_REVOKED', 'certificate revoked'],
  62: ['ERR_TLS_CERT_ALTNAME_INVALID', 'Hostname/IP does not match certificate\'s altnames']
}

function systemError (syscall, errno, host, port) {
  const code = util.getSystemErrorName(-errno)
  const where = port ? `${host}:${port}` : host
  const err = new Error(`${syscall} ${code}${where ? ' ' + where : ''}`)
  err.errno = -errno
  err.code = code
  err.syscall = syscall
  if (host) err.address = host
  if (port) err.port = Number(port)
  return err
}

function tag (err, curlCode, message) {
  Object.defineProperty(err, 'curlCode', { value: curlCode, enumerable: false, configurable: true })
  if (message && err.message !== message) {
    Object.defineProperty(err, 'curlMessage', { value: message, enumerable: false, configurable: true })
  }
  return err
}

// The CURLcode libcurl failed the request with, from an EV_ERROR's flags;
// 0 for the engine's own errors.
function curlCodeOf (flags) {
  return flags >> ERRF_CURL_CODE_SHIFT
}

/**
 * @param {number} code CURLcode (>= 0) or ERR_* (< 0)
 * @param {number} osErrno
 * @param {number} verify TLS verify result (X509_V_ERR_*)
 * @param {number} flags ERRF_* | proxy CONNECT status << ERRF_CONNECT_STATUS_SHIFT
 *   | libcurl's CURLcode << ERRF_CURL_CODE_SHIFT
 * @param {string} message libcurl's message
 * @param {{hostname: string, port: string, connectTimeout: number}} target
 * @param {number | null} facts the final response head's HEAD_* facts
 *   (EV_HEADERS), when one came
 */
function mapEngineError (code, osErrno, verify, flags, message, target, facts = null) {
  let curlCode = curlCodeOf(flags)
  if (curlCode === 0) {
    // the engine's own errors (ERR_HEADERS_OVERFLOW here is maxHeaderSize)
    switch (code) {
      case ERR_HEADERS_TIMEOUT:
        return new errors.HeadersTimeoutError()
      case ERR_BODY_TIMEOUT:
        return new errors.BodyTimeoutError()
      case ERR_HEADERS_OVERFLOW:
        return new errors.HeadersOverflowError()
      case ERR_AMBIGUOUS_LENGTH:
        // undici refuses the same responses with this error
        return new errors.ResponseContentLengthMismatchError()
      case ERR_CONNECTION_LOST:
        // a non-idempotent request whose connection died under it, or
        // (HTTP/2) went away with GOAWAY or refused its stream: the
        // engine's message says which may have happened, as undici's
        // SocketError does
        return new errors.SocketError(message || 'other side closed')
      case ERR_DECODE:
        // the decompress option: what the interceptor would have raised
        return decodeError(message)
    }
    curlCode = code // ERR_NO_MEMORY, tagged with its own code
  }
  const connectStatus = (flags >> ERRF_CONNECT_STATUS_SHIFT) & ERRF_CONNECT_STATUS_MASK
  if (connectStatus !== 0 && connectStatus !== 200) {
    // The proxy refused the CONNECT tunnel (407, 403, 502...): undici's
    // ProxyAgent fails such requests with this error and message.
    return tag(new errors.RequestAbortedError(`Proxy response (${connectStatus}) !== 200 when HTTP Tunneling`), curlCode, message)
  }
  const { hostname, port } = target
  let err
  switch (code) {
    case CURLE.COULDNT_RESOLVE_HOST: {
      err = new Error(`getaddrinfo ENOTFOUND ${hostname}`)
      err.errno = os.constants.errno.ENOTFOUND ?? -3008
      err.code = 'ENOTFOUND'
      err.syscall = 'getaddrinfo'
      err.hostname = hostname
      break
    }
    case CURLE.COULDNT_CONNECT:
      err = osErrno ? systemError('connect', osErrno, hostname, port) : new errors.SocketError(message)
      break
    case CURLE.OPERATION_TIMEDOUT:
      err = (flags & ERRF_CONNECTED)
        ? new errors.SocketError(message)
        : new errors.ConnectTimeoutError(`Connect Timeout Error (attempted address: ${hostname}:${port}, timeout: ${target.connectTimeout}ms)`)
      break
    case CURLE.GOT_NOTHING:
      err = new errors.SocketError('other side closed')
      break
    case CURLE.PARTIAL_FILE:
      // The connection ended inside a body of known length, or inside a
      // chunked one. As undici's parser: on a keep-alive response the close
      // itself is the fault; a response that closes its connection anyway
      // ends with its framing unfinished.
      if (facts === null || (facts & HEAD_KEEPS_ALIVE) !== 0) {
        err = new errors.SocketError('other side closed')
      } else if ((facts & HEAD_CHUNKED) !== 0) {
        // the close came inside a chunked body: llhttp's finish() fails so
        err = new errors.HTTPParserError('Response does not match the HTTP/1.1 protocol (Invalid EOF state)', 'INVALID_EOF_STATE')
      } else {
        err = (facts & HEAD_HAS_LENGTH) !== 0 ? new errors.ResponseContentLengthMismatchError() : new errors.SocketError('other side closed')
      }
      break
    case ERR_HEADERS_OVERFLOW:
      // one of libcurl's own limits on a response's headers (on a header
      // line, the header count, the whole block), above a larger
      // maxHeaderSize
      err = new errors.HeadersOverflowError()
      break
    case ERR_BAD_CHUNK:
      // libcurl's chunked decoder failed: the server sent bad framing
      err = new errors.HTTPParserError(message, 'INVALID_CHUNK_SIZE')
      break
    case CURLE.SEND_ERROR:
    case CURLE.RECV_ERROR:
      err = osErrno === os.constants.errno.ECONNRESET || osErrno === os.constants.errno.EPIPE
        ? systemError(code === CURLE.SEND_ERROR ? 'write' : 'read', osErrno)
        : new errors.SocketError('other side closed')
      break
    case CURLE.UNSUPPORTED_PROTOCOL:
    case CURLE.WEIRD_SERVER_REPLY:
      err = new errors.HTTPParserError(message, 'INVALID_CONSTANT')
      break
    case CURLE.OUT_OF_MEMORY:
      err = new Error(message)
      break
    case ERR_TLS_HOSTNAME:
    case CURLE.PEER_FAILED_VERIFICATION: {
      // a host name that does not match: libcurl's own check, which leaves
      // no verify result of its own, unless OpenSSL gave one
      const known = X509_CODES[verify] ?? (code === ERR_TLS_HOSTNAME ? X509_CODES[62] : null)
      err = new Error(known ? known[1] : message)
      err.code = known ? known[0] : 'ERR_TLS_CERT_VERIFY'
      break
    }
    case CURLE.SSL_CONNECT_ERROR:
    case CURLE.SSL_CACERT_BADFILE:
      err = new errors.SocketError(message)
      break
    default:
      err = new errors.SocketError(message)
  }
  return tag(err, curlCode, message)
}

module.exports = { mapEngineError, curlCodeOf, errors }
