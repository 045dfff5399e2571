'use strict'

// Chunked transfer coding, decoded, for the answers lib/upgrade.js reads
// from a raw connection itself (libcurl decodes the engine's responses).

const chunkSizeRegExp = /^([0-9a-fA-F]+)[ \t]*(?:;.*)?$/

/**
 * Chunked transfer coding, decoded (RFC 9112 §7.1): onData(bytes) for the
 * chunks' data, onEnd() after the last chunk and its trailer section.
 * push() returns an error message for a malformed stream, else null.
 */
class ChunkedDecoder {
  constructor (onData, onEnd) {
    this.onData = onData
    this.onEnd = onEnd
    this.state = 'size'   // size | data | data-end | trailer | done
    this.left = 0
    this.line = ''
  }

  push (chunk) {
    let i = 0
    while (i < chunk.length && this.state !== 'done') {
      if (this.state === 'data') {
        const n = Math.min(this.left, chunk.length - i)
        this.onData(chunk.subarray(i, i + n))
        i += n
        this.left -= n
        if (this.left === 0) this.state = 'data-end'
        continue
      }
      const nl = chunk.indexOf(10, i)
      const end = nl < 0 ? chunk.length : nl
      this.line += chunk.toString('latin1', i, end)
      if (this.line.length > 8192) return 'chunk line too long'
      i = nl < 0 ? chunk.length : nl + 1
      if (nl < 0) break
      const line = this.line.endsWith('\r') ? this.line.slice(0, -1) : this.line
      this.line = ''
      if (this.state === 'data-end') {
        if (line !== '') return 'no CRLF after chunk data'
        this.state = 'size'
      } else if (this.state === 'size') {
        const m = chunkSizeRegExp.exec(line)
        if (m === null) return 'invalid chunk size'
        this.left = parseInt(m[1], 16)
        this.state = this.left === 0 ? 'trailer' : 'data'
      } else if (line === '') { // the trailer section's end
        this.state = 'done'
        this.onEnd()
      }
    }
    return null
  }
}

module.exports = { ChunkedDecoder }
