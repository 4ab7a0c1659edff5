// Memory bounded by backpressure (DESIGN.md): the next page is fetched only once the socket has
// taken the last chunk, so the server's RSS must not grow with the size of the result. Measured on
// the real server process (`npm start`'s), never on the test process.
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { connect } from './helpers/db.js'
import { download, memoryOf, startTestServer, watchPeak, type ServerProcess } from './helpers/server.js'

const MiB = 1 << 20
const ROWS = 1_000_000
const SMALL = 100_000
// Well below the 40-50 MB/s the server makes this report at here. A pump that read ahead would be
// done with the source within ~3 s and hold all the client had not taken yet: at 5 MB/s ~85 MiB of
// the 103, enough to stand out of the garbage collector's sawtooth (at 10 MB/s: as little as +26 MiB).
const SLOW_BYTES_PER_SECOND = 5_000_000
// Peak RSS of the 1M download minus the 100k one, measured here (Node 20, 2 cores, ~1 MiB pages)
// over a dozen runs each: -33 to +17 MiB as the code stands (V8's collector, not the result; the
// fast reader has the higher end); +34 to +68 MiB, all but one above +48, for a pump that reads
// ahead of the slow client; +700 MiB for a page that holds the whole result. 28 MiB keeps 11 MiB
// above the worst working run; the read-ahead margin is thinner because what it can hold is
// capped by the 103 MiB the result weighs.
const GROWTH_BUDGET = 28 * MiB
// The idle server is ~130 MiB (node, tsx, fastify, pg) and one stream's working set, V8's young
// generation included, ~120 more: 1M peaks measured 207-250 MiB. 320 MiB leaves room for other
// Node versions and machines, and is far below the 1.7 GiB a page holding the whole result took.
const CEILING = 320 * MiB

const options = { skip: process.platform === 'linux' ? false : 'reads the server memory from /proc' }

t.test('the server RSS stays within a fixed budget whatever the size of the result', options, async (t) => {
  const table = await rowsTable(t)
  const reportsDir = await mkdtemp(path.join(os.tmpdir(), 'sluice-memory-'))
  t.teardown(() => rm(reportsDir, { recursive: true, force: true }))
  await writeFile(path.join(reportsDir, 'rows.sql'), `/*
title: Memory test rows
key: [id]
*/
select id, account, amount, label, created_at from ${table}
`)
  const server = await startTestServer(t, { reportsDir })

  // The first downloads grow V8's heap to its working size; from a cold start the small download
  // would look smaller than it is. A 100k download is short next to the garbage collector's
  // cycle, so one may end before RSS reaches the top of its sawtooth: the worst of five is its peak.
  await measure(t, server, ROWS, undefined)
  const small = { fast: 0, slow: 0 }
  const large = { fast: 0, slow: 0 }
  // each reader's two sizes back to back, so they compare under the same heap sizing
  for (const [reader, pace] of [['fast', undefined], ['slow', SLOW_BYTES_PER_SECOND]] as const) {
    small[reader] = await worstOf(5, () => measure(t, server, SMALL, pace))
    large[reader] = await measure(t, server, ROWS, pace)
  }
  for (const reader of ['fast', 'slow'] as const) {
    const growth = large[reader] - small[reader]
    t.comment(`${reader} reader: peak RSS ${mib(small[reader])} for ${SMALL} rows, ${mib(large[reader])} for ${ROWS} rows (${growth >= 0 ? '+' : ''}${mib(growth)})`)
    t.ok(growth < GROWTH_BUDGET, `${reader} reader: ten times the rows cost less than ${mib(GROWTH_BUDGET)} more RSS`)
  }
  t.ok(large.slow < CEILING, `a slow reader of ${ROWS} rows keeps the server under ${mib(CEILING)}`)
})

/**
 * Downloads `rows` rows as NDJSON, checks every one arrived and the server logged the stream as
 * complete, and returns the server's peak RSS meanwhile.
 */
async function measure (t: Test, server: ServerProcess, rows: number, bytesPerSecond: number | undefined): Promise<number> {
  const url = `${server.url}/reports/rows.ndjson${rows === ROWS ? '' : `?limit=${rows}`}`
  let lines = 0
  let tail: Buffer = Buffer.alloc(0)
  const before = memoryOf(server.pid).rss
  const watch = watchPeak(server.pid)
  const result = await download(url, {
    bytesPerSecond,
    onChunk: (chunk) => {
      for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines++
      tail = chunk.length >= 256 ? chunk : Buffer.concat([tail, chunk])
    }
  }).finally(() => watch.stop())
  const peak = watch.peak()
  const what = `${rows} rows, ${bytesPerSecond === undefined ? 'fast' : 'slow'} reader`
  t.equal(result.status, 200, `${what}: 200`)
  t.ok(result.complete, `${what}: the response ended with its final chunk`)
  t.equal(lines, rows, `${what}: every row arrived`)
  const last = JSON.parse(tail.toString().trimEnd().split('\n').pop() ?? 'null') as { id?: number } | null
  t.equal(last?.id, rows, `${what}: the last row is the last by key`)
  const logged = await server.waitForLog((line) => line.reqId === result.headers['x-request-id'] && line.msg === 'stream ended')
  t.match(logged, { outcome: 'complete', rows }, `${what}: the server logged a complete stream`)
  t.comment(`${what}: ${mib(result.bytes)} in ${(result.totalMs / 1000).toFixed(1)} s, server RSS ${mib(before)} before, peak ${mib(peak)}`)
  return peak
}

/** `ROWS` rows of ~107 bytes of NDJSON each, in a table of this test's own, dropped afterwards. */
async function rowsTable (t: Test): Promise<string> {
  const table = `memory_rows_${randomBytes(4).toString('hex')}`
  const client = await connect()
  t.teardown(async () => {
    await client.query(`drop table if exists ${table}`)
    await client.end()
  })
  // unlogged (nothing to recover: it lives for one test) and keyed once after the load, not row by row
  await client.query(`create unlogged table ${table} as
    select g::bigint as id, (g % 10000)::int as account, ((g % 100000) / 100.0)::numeric(12, 2) as amount,
      'item ' || g as label, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second' as created_at
    from generate_series(1, ${ROWS}) g`)
  await client.query(`alter table ${table} add primary key (id)`)
  await client.query(`analyze ${table}`)
  return table
}

async function worstOf (times: number, peak: () => Promise<number>): Promise<number> {
  let worst = 0
  for (let i = 0; i < times; i++) worst = Math.max(worst, await peak())
  return worst
}

function mib (bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`
}
