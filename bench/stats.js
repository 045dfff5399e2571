'use strict'

// Small statistics helpers shared by the client child and the report.

// Growable store of latency samples (ms). A typed array keeps a few hundred
// thousand samples cheap to record and to sort.
class Samples {
  constructor (capacity = 1 << 16) {
    this.data = new Float64Array(capacity)
    this.length = 0
  }

  push (v) {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2)
      bigger.set(this.data)
      this.data = bigger
    }
    this.data[this.length++] = v
  }

  sorted () {
    return this.data.subarray(0, this.length).sort()
  }
}

// Percentile of an ascending array, linear interpolation between ranks.
function percentile (sorted, p) {
  const n = sorted.length
  if (n === 0) return null
  const rank = (p / 100) * (n - 1)
  const lo = Math.floor(rank)
  const hi = Math.min(lo + 1, n - 1)
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo)
}

function median (values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x))
  if (v.length === 0) return null
  return percentile(Float64Array.from(v).sort(), 50)
}

// Spread of the rounds around their median, in percent: how much to trust a
// difference between two rows.
function spreadPct (values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x))
  const m = median(v)
  if (v.length < 2 || !m) return null
  return ((Math.max(...v) - Math.min(...v)) / m) * 100
}

// Medians over rounds of every numeric figure a round reports.
const FIGURES = ['rps', 'p50', 'p99', 'cpuPerReqUs', 'jsPerReqUs', 'otherPerReqUs', 'workerPerReqUs', 'jsCeilingRps', 'reqPerCpuSec', 'maxRssMB', 'conns']

function summarize (rounds) {
  const out = {}
  for (const f of FIGURES) out[f] = median(rounds.map((r) => r[f]))
  out.rpsSpreadPct = spreadPct(rounds.map((r) => r.rps))
  out.errors = rounds.reduce((a, r) => a + (r.errors || 0), 0)
  return out
}

module.exports = { Samples, percentile, median, spreadPct, summarize, FIGURES }
