'use strict'

// CPU time split by thread: the JS thread against every other thread of the
// process (our Agent's libcurl workers, V8's GC helpers, libuv's pool). On
// the many-core machines our users run the other threads find cores of
// their own; the JS thread is the one that does not scale, so its CPU per
// request sets the ceiling one Node process can reach (1e6 / JS µs).
//
// Linux only: reads utime + stime of /proc/self/task/<tid>/stat (clock ticks,
// 10 ms each at USER_HZ 100, so a 2 s window is good to about 1 %). The JS
// thread is the one whose tid is the pid; our Agent's libcurl workers are
// the threads named cd-worker-N (engine/cd_loop.c), so "worker" is theirs
// alone and the rest of "other" is V8's and libuv's. Elsewhere sample()
// returns null and the columns stay empty.

const fs = require('node:fs')

const TICK_US = 1e6 / 100 // USER_HZ is 100 on every Linux ABI Node runs on

const WORKER_NAME = /^cd-worker-\d+$/

// -> { ticks, worker } of one thread, or null.
function threadTicks (tid) {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'latin1')
    // The command name is in parentheses and may hold spaces: count fields
    // from the last ')'. utime and stime are fields 14 and 15.
    const close = stat.lastIndexOf(')')
    const fields = stat.slice(close + 2).split(' ')
    const name = stat.slice(stat.indexOf('(') + 1, close)
    return { ticks: Number(fields[11]) + Number(fields[12]), worker: WORKER_NAME.test(name) }
  } catch {
    return null // the thread ended between readdir and read
  }
}

// -> { jsUs, workerUs, allUs } so far, or null when /proc cannot tell.
function sample () {
  let tids
  try {
    tids = fs.readdirSync('/proc/self/task')
  } catch {
    return null
  }
  let all = 0
  let workers = 0
  let js = null
  for (const tid of tids) {
    const t = threadTicks(tid)
    if (t === null) continue
    all += t.ticks
    if (t.worker) workers += t.ticks
    if (Number(tid) === process.pid) js = t.ticks
  }
  if (js === null) return null
  return { jsUs: js * TICK_US, workerUs: workers * TICK_US, allUs: all * TICK_US }
}

// CPU between two samples, split: { jsUs, otherUs, workerUs } (workerUs is
// part of otherUs), or null.
function between (a, b) {
  if (!a || !b) return null
  const jsUs = b.jsUs - a.jsUs
  return {
    jsUs,
    otherUs: Math.max(0, (b.allUs - a.allUs) - jsUs),
    workerUs: Math.max(0, b.workerUs - a.workerUs)
  }
}

module.exports = { sample, between }
