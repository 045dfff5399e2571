'use strict'

// lib/headers.js parses every response head on the JS thread in one pass
// (no split, no trim). These tests hold it to the line-by-line reading it
// replaced: split on CRLF, skip empty lines, an obs-fold line continues the
// previous value, a line without a colon (or starting with one) is
// malformed and skipped, values trimmed as String.prototype.trim does.

const assert = require('node:assert')
const { parseResponseHead, parseTrailers, fieldsToObject, fieldsToRaw } = require('../lib/headers')

function referenceParse (block) {
  const lines = block.split('\r\n')
  const statusLine = lines[0]
  const sp1 = statusLine.indexOf(' ')
  const sp2 = sp1 === -1 ? -1 : statusLine.indexOf(' ', sp1 + 1)
  const statusMessage = sp2 === -1 ? '' : statusLine.slice(sp2 + 1)
  const pairs = []
  let ok = true
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]
    if (line === '') continue
    if ((line[0] === ' ' || line[0] === '\t') && pairs.length) {
      pairs[pairs.length - 1] += ' ' + line.trim()
      continue
    }
    const colon = line.indexOf(':')
    if (colon <= 0) {
      ok = false
      continue
    }
    pairs.push(line.slice(0, colon), line.slice(colon + 1).trim())
  }
  return { statusLine, statusMessage, pairs, malformed: !ok }
}

const CASES = {
  'a plain head': 'HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 12\r\n\r\n',
  'no blank line': 'HTTP/1.1 204 No Content\r\nA: 1',
  'status line only': 'HTTP/1.1 200 OK',
  'status without message': 'HTTP/1.1 200\r\nA: b\r\n\r\n',
  'message with spaces': 'HTTP/1.1 404 Not  Found Here\r\n\r\n',
  'empty value': 'HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Spaces:   \r\n\r\n',
  'value padding of every kind': 'HTTP/1.1 200 OK\r\nX-A: \t v \t \r\nX-B:\u00a0nbsp\u00a0\r\nX-C:\x0bvt\x0c\r\n\r\n',
  'colons in the value': 'HTTP/1.1 200 OK\r\nLocation: http://a:1/b:c\r\n\r\n',
  'obs-fold': 'HTTP/1.1 200 OK\r\nX-Long: one\r\n  two\r\n\tthree \r\nX-Next: n\r\n\r\n',
  'fold before any field': 'HTTP/1.1 200 OK\r\n folded: yes\r\n\r\n',
  'lines without a colon': 'HTTP/1.1 200 OK\r\nnonsense\r\nA: 1\r\n:starts-with-colon\r\n\r\n',
  'lone CR and LF stay inside a line': 'HTTP/1.1 200 OK\r\nA: x\ry\r\nB: p\nq\r\n\r\n',
  'empty lines in between': 'HTTP/1.1 200 OK\r\n\r\nA: 1\r\n\r\n\r\nB: 2\r\n',
  'latin1 bytes': 'HTTP/1.1 200 OK\r\nX-Name: caf\u00e9 \u00ff\r\n\r\n',
  'repeated names': 'HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nSET-COOKIE: c=3\r\n\r\n'
}

describe('response head parsing (lib/headers.js)', function () {
  for (const [name, block] of Object.entries(CASES)) {
    it(name, function () {
      assert.deepStrictEqual(parseResponseHead(block), referenceParse(block))
    })
  }

  it('random heads read as the line-by-line reference reads them', function () {
    // a small alphabet rich in the characters the parser looks at
    const alphabet = ['a', 'B', '-', ':', ' ', '\t', '\r\n', '\r', '\n', '\u00a0', '\x0b', 'z', ':', '\r\n']
    let seed = 12345
    const rand = (n) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return seed % n
    }
    for (let i = 0; i < 3000; i++) {
      let block = 'HTTP/1.1 200 OK\r\n'
      const len = rand(60)
      for (let j = 0; j < len; j++) block += alphabet[rand(alphabet.length)]
      assert.deepStrictEqual(parseResponseHead(block), referenceParse(block), JSON.stringify(block))
    }
  })

  it('trailers: the same field reading, without a status line', function () {
    const block = 'X-Checksum: abc \r\nX-Fold: a\r\n b\r\nbad line\r\n'
    assert.deepStrictEqual(parseTrailers(block), referenceParse('S\r\n' + block).pairs)
    assert.deepStrictEqual(parseTrailers(''), [])
  })

  it('header objects lower-case names and gather repeats, however the names are spelt', function () {
    const { pairs } = parseResponseHead(CASES['repeated names'] + '')
    assert.deepStrictEqual(fieldsToObject(pairs), { 'set-cookie': ['a=1', 'b=2', 'c=3'] })
    // the same name in another spelling, from a fresh string each time
    for (const spelling of ['X-Mixed', 'x-mixed', 'X-MIXED']) {
      const name = `${spelling}`.slice(0)
      assert.deepStrictEqual(fieldsToObject([name, 'v']), { 'x-mixed': 'v' })
    }
    // more distinct names than the name cache holds
    const many = []
    for (let i = 0; i < 1500; i++) many.push(`X-Name-${i}`, String(i))
    const obj = fieldsToObject(many)
    assert.strictEqual(Object.keys(obj).length, 1500)
    assert.strictEqual(obj['x-name-1499'], '1499')
  })

  it('raw headers are the latin1 bytes of each name and value', function () {
    const { pairs } = parseResponseHead(CASES['latin1 bytes'])
    const raw = fieldsToRaw(pairs)
    assert.deepStrictEqual(raw.map((b) => b.toString('latin1')), pairs)
    assert.ok(raw.every((b) => Buffer.isBuffer(b)))
  })
})
