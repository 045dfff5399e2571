'use strict'

// The command's human output: the progress line (on a TTY, once per
// second) and the summary tables, shaped like autocannon's.

function table (rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)))
  const line = (l, m, r) => l + widths.map((w) => '─'.repeat(w + 2)).join(m) + r
  const row = (r) => '│' + r.map((c, i) => ` ${String(c).padEnd(widths[i])} `).join('│') + '│'
  return [line('┌', '┬', '┐'), row(rows[0]), line('├', '┼', '┤'), ...rows.slice(1).map(row), line('└', '┴', '┘')].join('\n')
}

function num (n) {
  return Math.round(n).toLocaleString('en-US')
}

function ms (v) {
  return `${Math.round(v * 100) / 100} ms`
}

function bytes (n) {
  const units = ['B', 'kB', 'MB', 'GB', 'TB']
  let i = 0
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000
    i++
  }
  return `${i === 0 ? Math.round(n) : n.toFixed(n >= 100 ? 0 : n >= 10 ? 1 : 2)} ${units[i]}`
}

function short (n) {
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`
  if (n >= 1e4) return `${Math.round(n / 1e3)}k`
  return `${Math.round(n)}`
}

function progressLine (p) {
  return `  ${p.elapsed.toFixed(0)}s  ${num(p.requests)} req/s  ${bytes(p.bytes)}/s  p99 ${ms(p.p99)}  ` +
    `errors ${num(p.errors)}${p.timeouts ? ` (timeouts ${num(p.timeouts)})` : ''}`
}

function header (r, durationText) {
  const what = r.amount != null ? `${num(r.amount)} requests` : `${durationText} test`
  const rate = r.rate != null ? `, ${num(r.rate)} req/s offered` : ''
  return `Running ${what} @ ${r.url}${r.socketPath ? ` (socket ${r.socketPath})` : ''}\n` +
    `${r.connections} connection${r.connections === 1 ? '' : 's'}` +
    `${r.pipelining > 1 ? ` x ${r.pipelining} streams` : ''}, ${r.threads} thread${r.threads === 1 ? '' : 's'}, ` +
    `HTTP/${r.http}${rate}\n`
}

function summary (r) {
  const out = []
  const l = r.latency
  out.push(table([
    ['Stat', '2.5%', '50%', '97.5%', '99%', 'Avg', 'Stdev', 'Max'],
    ['Latency', ms(l.p2_5), ms(l.p50), ms(l.p97_5), ms(l.p99), ms(l.average), ms(l.stddev), ms(l.max)]
  ]))
  const q = r.requests
  const t = r.throughput
  out.push(table([
    ['Stat', '1%', '2.5%', '50%', '97.5%', 'Avg', 'Stdev', 'Min'],
    ['Req/Sec', num(q.p1), num(q.p2_5), num(q.p50), num(q.p97_5), num(q.average), num(q.stddev), num(q.min)],
    ['Bytes/Sec', bytes(t.p1), bytes(t.p2_5), bytes(t.p50), bytes(t.p97_5), bytes(t.average), bytes(t.stddev), bytes(t.min)]
  ]))
  const codes = Object.entries(r.statusCodeStats)
  if (codes.length) out.push(table([['Code', 'Count'], ...codes.map(([c, s]) => [c, num(s.count)])]))
  const kinds = Object.entries(r.errorsByKind).filter(([, n]) => n > 0)
  if (kinds.length) out.push(table([['Error', 'Count'], ...kinds.map(([k, n]) => [k, num(n)])]))
  out.push('')
  out.push(`Req/Bytes counts sampled once per second.\n# of samples: ${r.samples}`)
  if (r.corrected) {
    out.push('Latency is measured from each request\'s intended start at the offered rate ' +
      '(corrected for coordinated omission).')
  }
  out.push('')
  out.push(`${short(r.requests.total)} requests in ${r.duration}s, ${bytes(r.throughput.total)} read`)
  if (r.non2xx) out.push(`${num(r.non2xx)} non 2xx responses`)
  if (r.errors) out.push(`${num(r.errors)} errors (${num(r.timeouts)} timeouts)`)
  return out.join('\n') + '\n'
}

module.exports = { table, progressLine, header, summary, bytes }
