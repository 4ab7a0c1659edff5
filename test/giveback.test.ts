// Memory comes back after a crowd (docs/decisions/0009). Once no response runs the server gives
// back what a crowd left: a full collection (an idle process allocates nothing, so V8 would never
// free the Buffers the crowd dropped), then malloc_trim (the pages glibc's free() keeps). First the
// collection, in this process where it can be watched; then the server process as `npm start` runs
// it, after a crowd of concurrent downloads in every format, its RSS read from /proc.
import { PerformanceObserver } from 'node:perf_hooks'
import t from 'tap'
import { download } from '../harness/download.js'
import { memoryOf, watchPeak } from '../harness/memory.js'
import type { ServerProcess } from '../harness/server.js'
import { rowsTable } from './helpers/db.js'
import { reportsFolder, waitFor } from './helpers/http.js'
import { startTestServer } from './helpers/server.js'
import { GiveBack, loadCollect } from '../src/stream/trim.js'

const MiB = 1 << 20
const ROWS = 100_000
const CROWD = 64
const FORMATS = ['csv', 'ndjson', 'json', 'xlsx', 'parquet', 'arrow'] as const
// What the crowd may leave behind once the server has given back. A minute after a crowd, within
// 32 MiB is the operator's promise (docs/decisions/0009). "Before" here is the idle server after
// its own give-back, lower than the bench's; from it this crowd left +32 to +33 MiB when the
// trims gave nothing back and +15 to +16 MiB when they did, so the test holds the middle.
const LEFT_BEHIND = 24 * MiB
// the server trims every 10 s, six times, once no response runs (src/stream/trim.ts)
const TRIMS_WITHIN_MS = 75_000

const options = { skip: process.platform === 'linux' ? false : 'reads the server memory from /proc' }

// An idle process allocates nothing, so V8 never looks for the Buffers a crowd dropped; the
// give-back's collection is what frees them. Here in the test's own process: 128 MiB of Buffers,
// alive through the collection their allocation sets off, then dropped, stay counted until a
// collection runs, and the give-back's is the one that comes.
t.test('the give-back\'s collection frees dropped Buffers that no allocation would', async (t) => {
  const collect = loadCollect()
  t.equal((globalThis as { gc?: unknown }).gc, undefined, 'no global gc is left behind')
  let collections = 0
  const observer = new PerformanceObserver((list) => { collections += list.getEntries().length })
  observer.observe({ entryTypes: ['gc'] })
  t.teardown(() => observer.disconnect())

  const holder: { buffers?: Buffer[] } = { buffers: Array.from({ length: 128 }, () => Buffer.allocUnsafeSlow(MiB).fill(7)) }
  // V8 starts a collection when external memory grows by some 64 MiB; it finds them alive
  await waitFor(() => collections > 0, { timeout: 5000, what: 'the collection the allocation sets off' })
  const held = process.memoryUsage().arrayBuffers
  t.equal(holder.buffers?.length, 128)
  delete holder.buffers
  // what the server does once idle, without the trim (the test below has the server's)
  new GiveBack(collect, undefined, () => false, () => {}).now()
  // V8 frees the ArrayBuffers a collection found dead on a helper thread, just after it
  const left = await waitFor(() => {
    const now = process.memoryUsage().arrayBuffers
    return held - now > 120 * MiB ? now : false
  }, { timeout: 5000, what: 'the dropped Buffers freed' })
  t.ok(held - left > 120 * MiB, `freed ${mib(held - left)}`)
})

t.test(`a minute after ${CROWD} concurrent downloads in every format, RSS is back within ${LEFT_BEHIND / MiB} MiB of where it was before them`, options, async (t) => {
  const { table } = await rowsTable(t, 'giveback', ROWS)
  const reportsDir = await reportsFolder(t, {
    'rows.sql': `/*\ntitle: Rows\nkey: id\nstrategy: keyset\n*/\nselect id, label, amount, at, flag from ${table}\n`
  })
  const server = await startTestServer(t, { reportsDir, env: { LOG_LEVEL: 'debug' } })
  t.notOk(server.logs.some((line) => typeof line.msg === 'string' && line.msg.startsWith('freed memory is given back to the kernel only in part')), 'the server loaded its malloc_trim addon')

  // one download of each format first: the heap at its working size, as the crowd bench does
  for (const format of FORMATS) t.equal((await download(`${server.url}/reports/rows.${format}?limit=1000`)).status, 200, `${format}: a first download`)
  await trimmed(server, trimCount(server) + 1)
  const before = memoryOf(server.pid).rss

  const watch = watchPeak(server.pid)
  const crowd = await Promise.all(Array.from({ length: CROWD }, async (_, i) => {
    const format = FORMATS[i % FORMATS.length]!
    const headers: Record<string, string> = i % 5 === 0 ? { 'accept-encoding': 'gzip' } : i % 5 === 1 ? { 'accept-encoding': 'zstd' } : {}
    return await download(`${server.url}/reports/rows.${format}`, { headers })
  })).finally(() => watch.stop())
  const whole = crowd.filter((res) => res.status === 200 && res.complete).length
  t.equal(whole, CROWD, `all ${CROWD} downloads whole`)
  const peak = watch.peak()

  // after each trim, is RSS back? V8 frees a response's buffers only once a collection finds them
  const deadline = performance.now() + TRIMS_WITHIN_MS
  let after = memoryOf(server.pid).rss
  let trims = trimCount(server)
  while (after - before >= LEFT_BEHIND && performance.now() < deadline) {
    // once the server has made its last trim, no further one comes: RSS is what it stays at
    const next = await trimmed(server, trims + 1).catch(() => undefined)
    after = memoryOf(server.pid).rss
    if (next === undefined) break
    trims = next
  }
  t.comment(`RSS before ${mib(before)}, peak ${mib(peak)}, after ${mib(after)} (${trims} trims)`)
  t.ok(peak - before > LEFT_BEHIND, `the crowd raised RSS by more than ${mib(LEFT_BEHIND)} (${mib(peak - before)}), so coming back is something to show`)
  t.ok(after - before < LEFT_BEHIND, `RSS came back to within ${mib(LEFT_BEHIND)} of before: ${mib(after)} against ${mib(before)}`)
  const released = Number(/^sluice_heap_trims_total\{released="true"\} (\d+)$/m.exec(await metrics(server))?.[1] ?? 0)
  t.ok(released > 0, `/metrics counts trims that gave memory back (${released})`)
})

function mib (bytes: number): string {
  return `${(bytes / MiB).toFixed(0)} MiB`
}

async function metrics (server: ServerProcess): Promise<string> {
  const res = await fetch(`${server.url}/metrics`)
  return await res.text()
}

/**
 * The trims the server has logged. Counted from its log rather than from /metrics: a request,
 * even one for /metrics, makes the server allocate, and allocating makes V8 collect, which is
 * the very thing the server's own give-back must do when nothing comes.
 */
function trimCount (server: ServerProcess): number {
  return server.logs.filter((line) => line.msg === 'heap trimmed').length
}

/** Waits until the server has trimmed `count` times in all (it trims every 10 s once idle). */
async function trimmed (server: ServerProcess, count: number): Promise<number> {
  return await waitFor(() => {
    const now = trimCount(server)
    return now >= count ? now : false
  }, { timeout: 15_000, what: `trim number ${count}` })
}
