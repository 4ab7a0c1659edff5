// Memory bounded by backpressure (docs/design.md): at most one batch is read ahead of what the socket
// has taken, so the server's RSS must not grow with the size of the result. Measured on
// the real server process (`npm start`'s), never on the test process.
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { download } from '../harness/download.js'
import { memoryOf, watchPeak } from '../harness/memory.js'
import type { ServerProcess } from '../harness/server.js'
import { connect } from './helpers/db.js'
import { startTestServer } from './helpers/server.js'

const MiB = 1 << 20
const ROWS = 1_000_000
const SMALL = 100_000
// A twentieth of the ~100 MB/s the server makes this report at here: a pump that read ahead
// without bound would be done with the source within ~1 s and hold all the client had not taken.
const SLOW_BYTES_PER_SECOND = 5_000_000
// Peak RSS of the 1M download minus the 100k one, measured here (Node 20, 2 cores, the byte path,
// 4 MiB batches, one read ahead) in every case below: -8.4 to +8.4 MiB over two runs, the ends
// where V8's memory reducer shrank the heap between the two. A pump that read ahead without bound would hold
// what the slow client had not taken yet (tens of MiB within seconds at 5 MB/s), and a page that
// held the whole result took +700 MiB. 24 MiB keeps 10 MiB above the worst working run.
const GROWTH_BUDGET = 24 * MiB

// (What one download adds to the RSS it found is `npm run bench`'s to report: after V8's memory
// reducer shrank an idle heap, the next download grows it back to its working size whatever the
// rows, so that figure says more about the collector than about the stream.)

const options = { skip: process.platform === 'linux' ? false : 'reads the server memory from /proc' }

interface Case {
  readonly format: 'ndjson' | 'csv' | 'json' | 'xlsx' | 'parquet' | 'arrow'
  readonly strategy: 'keyset' | 'cursor'
  readonly encoding?: 'gzip' | 'br'
  readonly pace?: number
}

// Every format, both strategies, both compressions, and a slow reader of each strategy. XLSX holds
// a batch of sheet XML and its deflated copy: the same bound as CSV, only more bytes per row (an
// encoder that made a JS string per cell failed here: +32 MiB, the garbage growing V8's heap).
// Parquet and Arrow hold a batch as typed columns, then write it out (Parquet compressed).
const CASES: readonly Case[] = [
  { format: 'ndjson', strategy: 'keyset' },
  { format: 'csv', strategy: 'cursor' },
  { format: 'json', strategy: 'keyset', encoding: 'gzip' },
  { format: 'csv', strategy: 'cursor', encoding: 'br' },
  { format: 'ndjson', strategy: 'keyset', pace: SLOW_BYTES_PER_SECOND },
  { format: 'csv', strategy: 'cursor', pace: SLOW_BYTES_PER_SECOND },
  { format: 'xlsx', strategy: 'keyset' },
  { format: 'parquet', strategy: 'keyset' },
  { format: 'arrow', strategy: 'cursor' }
]

t.test('the server RSS stays within a fixed budget whatever the size of the result', options, async (t) => {
  const table = await rowsTable(t)
  const reportsDir = await mkdtemp(path.join(os.tmpdir(), 'sluice-memory-'))
  t.teardown(() => rm(reportsDir, { recursive: true, force: true }))
  for (const strategy of ['keyset', 'cursor']) {
    await writeFile(path.join(reportsDir, `rows_${strategy}.sql`), `/*
title: Memory test rows
key: [id]
strategy: ${strategy}
*/
select id, account, amount, label, created_at from ${table}
`)
  }
  const server = await startTestServer(t, { reportsDir })

  // The first downloads grow V8's heap to its working size; from a cold start the small download
  // would look smaller than it is. A 100k download is short next to the garbage collector's
  // cycle, so one may end before RSS reaches the top of its sawtooth: the worst of three is its peak.
  await measure(t, server, CASES[0]!, ROWS)
  for (const test of CASES) {
    const name = describe(test)
    // each case's two sizes back to back, so they compare under the same heap sizing
    const small = await worstOf(3, () => measure(t, server, test, SMALL))
    // On Node 24, on a machine busy with other work, a 1M download's peak moved by up to ~30 MiB
    // from one run to the next (where V8's collector caught the heap); a cost per row shows in
    // every run, so over the budget once, the 1M download runs again and the lower peak counts
    let large = await measure(t, server, test, ROWS)
    if (large.peak - small.peak >= GROWTH_BUDGET) {
      const again = await measure(t, server, test, ROWS)
      t.comment(`${name}: ${mib(large.peak - small.peak)} over the 100k peak; again: ${mib(again.peak - small.peak)}`)
      if (again.peak < large.peak) large = again
    }
    const growth = large.peak - small.peak
    t.comment(`${name}: peak RSS ${mib(small.peak)} for ${SMALL} rows, ${mib(large.peak)} for ${ROWS} rows (${growth >= 0 ? '+' : ''}${mib(growth)}); the 1M download raised RSS by ${mib(large.rise)}`)
    t.ok(growth < GROWTH_BUDGET, `${name}: ten times the rows cost less than ${mib(GROWTH_BUDGET)} more RSS`)
  }
})

interface Peak {
  /** the server's peak RSS during the download */
  readonly peak: number
  /** that peak over the RSS just before the download */
  readonly rise: number
}

/**
 * Downloads `rows` rows, checks every one arrived and the server logged the stream as complete,
 * and returns the server's peak RSS meanwhile.
 */
async function measure (t: Test, server: ServerProcess, test: Case, rows: number): Promise<Peak> {
  const url = `${server.url}/reports/rows_${test.strategy}.${test.format}${rows === ROWS ? '' : `?limit=${rows}`}`
  let lines = 0
  // a binary format's last bytes: XLSX's end of central directory, Parquet's magic, Arrow's end of stream
  let last = Buffer.alloc(0)
  const binary = test.format === 'xlsx' || test.format === 'parquet' || test.format === 'arrow'
  const before = memoryOf(server.pid).rss
  const watch = watchPeak(server.pid)
  const result = await download(url, {
    bytesPerSecond: test.pace,
    headers: test.encoding === undefined ? {} : { 'accept-encoding': test.encoding },
    onChunk: (chunk) => {
      if (binary) last = Buffer.concat([last, chunk]).subarray(-22)
      if (binary) return
      for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines++
    }
  }).finally(() => watch.stop())
  const peak = watch.peak()
  const what = `${describe(test)}, ${rows} rows`
  t.equal(result.status, 200, `${what}: 200`)
  t.ok(result.complete, `${what}: the response ended with its final chunk`)
  if (test.format === 'xlsx') {
    t.equal(last.readUInt32LE(0), 0x06054b50, `${what}: the zip ends with its central directory`)
  } else if (test.format === 'parquet') {
    t.equal(last.subarray(-4).toString('latin1'), 'PAR1', `${what}: the file ends with its footer`)
  } else if (test.format === 'arrow') {
    t.equal(last.subarray(-8).toString('hex'), 'ffffffff00000000', `${what}: the stream ends with its end-of-stream marker`)
  } else if (test.encoding === undefined) {
    // CSV has a header line; JSON's rows are joined by ",\n"
    t.equal(lines, test.format === 'json' ? rows - 1 : rows + (test.format === 'csv' ? 1 : 0), `${what}: every row arrived`)
  } else {
    t.equal(result.headers['content-encoding'], test.encoding, `${what}: compressed`)
  }
  const logged = await server.waitForLog((line) => line.reqId === result.headers['x-request-id'] && line.msg === 'stream ended')
  t.match(logged, { outcome: 'complete', rows }, `${what}: the server logged a complete stream`)
  t.comment(`${what}: ${mib(result.bytes)} in ${(result.totalMs / 1000).toFixed(1)} s, server RSS ${mib(before)} before, peak ${mib(peak)}`)
  return { peak, rise: peak - before }
}

function describe (test: Case): string {
  return [test.format, test.strategy, test.encoding ?? 'identity', test.pace === undefined ? 'fast reader' : 'slow reader'].join(', ')
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

async function worstOf (times: number, measured: () => Promise<Peak>): Promise<Peak> {
  let worst: Peak = { peak: 0, rise: 0 }
  for (let i = 0; i < times; i++) {
    const next = await measured()
    if (next.peak > worst.peak) worst = next
  }
  return worst
}

function mib (bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`
}
