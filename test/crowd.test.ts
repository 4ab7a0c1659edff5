// Crowds (docs/http.md sections 2 and 3): many downloads at once through a small pool and a small
// memory budget. Every response that got a 200 runs to its end, whole, however long its later
// pages wait for their turn; new requests beyond what the budget can take are refused before
// their first byte; and the turns and the budget show in /metrics. Real sockets, a real
// PostgreSQL, and real readers for the binary formats.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import http from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { brotliDecompressSync, gunzipSync, zstdDecompressSync } from 'node:zlib'
import { DuckDBInstance } from '@duckdb/node-api'
import { tableFromIPC } from 'apache-arrow'
import t, { type Test } from 'tap'
import { ALLOCATOR, NODE_FLAGS } from '../harness/server.js'
import { listenTestApp, type TestApp } from './helpers/app.js'
import { rowsTable } from './helpers/db.js'
import { get, poolWhole, reportsFolder, sameBytes, waitFor, type Download } from './helpers/http.js'
import { readZip } from './helpers/xlsx.js'

const ROWS = 40_000
const FORMATS = ['csv', 'ndjson', 'json', 'xlsx', 'parquet', 'arrow'] as const
type Format = typeof FORMATS[number]
const CROWD = 24
// a quarter of the crowd reads at this rate
const SLOW_BYTES_PER_S = 1 << 20
// a bucket of sluice_lease_wait_seconds, so /metrics tells whether a page waited longer
const LEASE_MS = 250

const { table } = await rowsTable(t, 'crowd', ROWS)
const reportsDir = await reportsFolder(t, {
  'crowd.sql': `/*\ntitle: Crowd\nkey: id\nstrategy: keyset\n*/\nselect id, label, amount, at, flag from ${table}\n`,
  // more than the kernel's socket buffers hold, so a paused client keeps its cursor open
  // distinct bytes in every row, more of them than the kernel's socket buffers hold, plain or compressed
  'hashes.sql': '/*\ntitle: Hashes, from a cursor\nkey: id\nstrategy: cursor\n*/\nselect g as id, md5(g::text) as a, md5((g * 7)::text) as b from generate_series(1, 300000) g\n',
  'wide_cursor.sql': '/*\ntitle: Wide, from a cursor\nkey: id\nstrategy: cursor\n*/\nselect g as id, repeat(\'x\', 100) as pad from generate_series(1, 200000) g\n'
})
const work = await mkdtemp(path.join(tmpdir(), 'sluice-crowd-'))
t.teardown(() => rm(work, { recursive: true, force: true }))
const duck = await (await DuckDBInstance.create(':memory:')).connect()

/**
 * What a reader of the format finds in a body: the bytes for the row formats; for XLSX every zip
 * entry inflated, for Parquet the rows DuckDB reads, for Arrow the rows apache-arrow reads (where
 * a crowd moves batch boundaries, and so the container's bytes, but never a value).
 */
async function contents (format: Format, body: Buffer): Promise<Buffer> {
  switch (format) {
    case 'xlsx': {
      const entries = readZip(body)
      return Buffer.concat([...entries.keys()].sort().flatMap((name) => [Buffer.from(`${name}\n`), entries.get(name)!]))
    }
    case 'parquet': {
      const file = path.join(work, `${Math.random().toString(36).slice(2)}.parquet`)
      await writeFile(file, body)
      const rows = (await duck.runAndReadAll(`select * from read_parquet('${file}')`)).getRows()
      return Buffer.from(rows.map((row) => row.map((value) => value === null ? '' : String(value)).join('\t')).join('\n'))
    }
    case 'arrow': {
      const table = tableFromIPC(body)
      return Buffer.from(table.toArray().map((row: { toJSON (): object }) => JSON.stringify(row.toJSON(), (_key, value: unknown) => typeof value === 'bigint' ? value.toString() : value)).join('\n'))
    }
    default: return body
  }
}

/** A client that reads at `bytesPerSecond`: it pauses the response as a slow network would. */
async function slowGet (url: string, bytesPerSecond: number, headers: Readonly<Record<string, string>> = {}): Promise<Download> {
  return await new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers })
    req.on('error', reject)
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      const started = performance.now()
      let length = 0
      let aborted = false
      res.on('aborted', () => { aborted = true })
      res.on('error', () => { aborted = true })
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk)
        length += chunk.length
        const due = started + (length / bytesPerSecond) * 1000
        const ahead = due - performance.now()
        if (ahead > 0) {
          res.pause()
          setTimeout(() => res.resume(), ahead)
        }
      })
      res.on('close', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete && !aborted }) })
    })
  })
}

t.test(`POOL_MAX=2, LEASE_TIMEOUT_MS=${LEASE_MS}: ${CROWD} concurrent keyset downloads in all six formats, a quarter read slowly, all whole`, async (t) => {
  const { app, url } = await listenTestApp(t, { reportsDir, poolMax: 2, leaseTimeoutMs: LEASE_MS, streamMemoryMb: 32 })
  await openAll(app, 2)
  // each format alone first: what every crowded download must hold
  const alone = new Map<Format, Buffer>()
  for (const format of FORMATS) {
    const res = await get(`${url}/reports/crowd.${format}`)
    t.equal(res.status, 200, `${format} alone: 200`)
    t.ok(res.complete, `${format} alone: complete`)
    alone.set(format, await contents(format, res.body))
  }

  let mostWaitingNext = 0
  let mostReserved = 0
  let mostCeiling = 0
  const { turns } = app.leases
  const { memory } = app.streaming.streams
  let running = true
  // what the process shows while the crowd runs: pages waiting their turn, the budget in use
  const sampler = (async () => {
    while (running) {
      mostWaitingNext = Math.max(mostWaitingNext, turns.waitingNext)
      if (memory.reserved > mostReserved) {
        mostReserved = memory.reserved
        mostCeiling = memory.ceiling
      }
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
  })()
  const crowd = await Promise.all(Array.from({ length: CROWD }, async (_, i) => {
    const format = FORMATS[i % FORMATS.length]!
    const slow = i % 4 === 3
    const res = slow ? await slowGet(`${url}/reports/crowd.${format}`, SLOW_BYTES_PER_S) : await get(`${url}/reports/crowd.${format}`)
    return { format, slow, res }
  }))
  running = false
  await sampler

  for (const [i, { format, slow, res }] of crowd.entries()) {
    const what = `download ${i + 1} (${format}${slow ? ', read slowly' : ''})`
    t.equal(res.status, 200, `${what}: 200, none refused`)
    t.ok(res.complete, `${what}: complete, none cut`)
    sameBytes(t, await contents(format, res.body), alone.get(format)!, `${what}: the same ${format === 'xlsx' || format === 'parquet' || format === 'arrow' ? 'values' : 'bytes'} as the download alone`)
  }
  t.ok(mostWaitingNext > 0, `later pages waited their turn at the two connections (at most ${mostWaitingNext} at once)`)
  const metrics = (await get(`${url}/metrics`)).body.toString()
  const waits = Number(/^sluice_lease_wait_seconds_count\{turn="next"\} (\d+)$/m.exec(metrics)?.[1])
  const withinLease = Number(/^sluice_lease_wait_seconds_bucket\{le="0.25",turn="next"\} (\d+)$/m.exec(metrics)?.[1])
  t.ok(waits - withinLease > 0, `${waits - withinLease} of ${waits} later pages waited longer than LEASE_TIMEOUT_MS for their turn, and no download was cut for it`)
  t.ok(mostReserved > 0 && mostReserved <= mostCeiling, `the batches never reserved more than STREAM_MEMORY_MB and the smallest batch of each stream (${mostReserved} of ${mostCeiling} bytes at most; the budget ${memory.bytes})`)
  t.ok(buffers(metrics).reused > 0, `batches were written into the buffers of chunks already sent (${buffers(metrics).reused} reused, ${buffers(metrics).new} new)`)
  await waitFor(() => poolWhole(app) && app.streaming.streams.active === 0 && memory.reserved === 0, { timeout: 2000, what: 'every connection, turn and byte of the budget back' })
})

t.test('a batch is written into the buffer of a chunk sent before only once the socket, or the compressor, is done with that chunk', async (t) => {
  // a small budget makes many batches; slow readers keep the socket and the compressor holding
  // chunks while the next batches are written: a buffer taken back too early shows as wrong bytes
  const { url } = await listenTestApp(t, { reportsDir, streamMemoryMb: 1 })
  const alone = await get(`${url}/reports/hashes.csv`)
  t.ok(alone.complete, 'the CSV alone: complete')
  const before = buffers((await get(`${url}/metrics`)).body.toString())
  const reads = await Promise.all([
    slowGet(`${url}/reports/hashes.csv`, 8 * SLOW_BYTES_PER_S),
    slowGet(`${url}/reports/hashes.csv`, 4 * SLOW_BYTES_PER_S, { 'accept-encoding': 'gzip' }),
    slowGet(`${url}/reports/hashes.csv`, 4 * SLOW_BYTES_PER_S, { 'accept-encoding': 'zstd' }),
    get(`${url}/reports/hashes.csv`, { headers: { 'accept-encoding': 'br' } })
  ])
  for (const [i, res] of reads.entries()) {
    const coding = res.headers['content-encoding'] ?? 'identity'
    t.ok(res.status === 200 && res.complete, `download ${i + 1} (${coding}): 200 and complete`)
    const body = coding === 'gzip' ? gunzipSync(res.body) : coding === 'zstd' ? zstdDecompressSync(res.body) : coding === 'br' ? brotliDecompressSync(res.body) : res.body
    sameBytes(t, body, alone.body, `download ${i + 1} (${coding}): the same bytes as the download alone`)
  }
  const after = buffers((await get(`${url}/metrics`)).body.toString())
  const reused = after.reused - before.reused
  const fresh = after.new - before.new
  t.ok(reused > fresh, `most of their batches went into buffers already used (${reused} reused, ${fresh} new)`)
})

/** sluice_batch_buffers_total in a /metrics text */
function buffers (metrics: string): { reused: number, new: number } {
  const count = (source: string): number => Number(new RegExp(`^sluice_batch_buffers_total\\{source="${source}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0)
  return { reused: count('reused'), new: count('new') }
}

t.test('cursors beside keyset downloads: cursors the pool cannot hold are refused before their first byte, the keyset downloads get their turns', async (t) => {
  const { app, url, port } = await listenTestApp(t, { reportsDir, poolMax: 4, leaseTimeoutMs: 300, streamMemoryMb: 8 })
  const { turns } = app.leases
  t.equal(turns.holdMax, 3, 'of four connections, cursors may hold three')
  await openAll(app, 4)
  // three cursor downloads whose clients read a little and pause: each holds its connection
  const held = await Promise.all(Array.from({ length: 3 }, async () => await pausedDownload(t, port, '/reports/wide_cursor.csv')))
  t.equal(turns.holding, 3, 'three cursors hold three connections')
  const expected = (await get(`${url}/reports/crowd.csv`)).body
  const started = performance.now()
  const [refused, keyset] = await Promise.all([
    Promise.all(Array.from({ length: 3 }, async () => await get(`${url}/reports/wide_cursor.csv`))),
    Promise.all(Array.from({ length: 6 }, async () => await get(`${url}/reports/crowd.csv`)))
  ])
  for (const res of refused) {
    t.equal(res.status, 503, 'a cursor download the pool cannot hold: 503, before any byte')
    t.match(res.headers['retry-after'], /^[1-9]\d*$/, 'with Retry-After')
    t.match(JSON.parse(res.body.toString()), { message: /connections cursor reports may hold/ }, 'saying the cursors\' share of the pool is held')
  }
  t.ok(performance.now() - started >= 300, 'refused once LEASE_TIMEOUT_MS had passed')
  for (const res of keyset) {
    t.equal(res.status, 200, 'a keyset download beside the cursors: 200')
    t.ok(res.complete, 'complete')
    sameBytes(t, res.body, expected, 'and whole')
  }
  for (const socket of held) socket.destroy()
  await waitFor(() => poolWhole(app) && app.streaming.streams.active === 0, { timeout: 2000, what: 'every connection back' })
})

t.test('STREAM_MEMORY_MB=1: the budget admits five streams of the smallest batch, refuses the sixth with 503 naming it, and shows in /metrics', async (t) => {
  const { app, url, port } = await listenTestApp(t, { reportsDir, streamMemoryMb: 1 })
  const { memory } = app.streaming.streams
  // five paused downloads: each admitted, each holding its share
  const held = await Promise.all(Array.from({ length: 5 }, async () => await pausedDownload(t, port, '/reports/wide_cursor.csv')))
  t.equal(memory.members, 5, 'five responses share the budget')
  const refused = await get(`${url}/reports/crowd.csv`)
  t.equal(refused.status, 503, 'the sixth: 503')
  t.match(refused.headers['retry-after'], /^[1-9]\d*$/, 'with Retry-After')
  t.match(JSON.parse(refused.body.toString()), { statusCode: 503, message: /STREAM_MEMORY_MB/ }, 'naming STREAM_MEMORY_MB')

  const during = (await get(`${url}/metrics`)).body.toString()
  t.match(during, /^sluice_stream_memory_bytes\{state="budget"\} 1048576$/m, '/metrics: the budget')
  const reserved = Number(/^sluice_stream_memory_bytes\{state="reserved"\} (\d+)$/m.exec(during)?.[1])
  t.ok(reserved > 0 && reserved <= 1 << 20, `/metrics: what the five reserved of it (${reserved} bytes)`)

  for (const socket of held) socket.destroy()
  await waitFor(() => memory.members === 0 && memory.reserved === 0 && poolWhole(app), { timeout: 2000, what: 'the budget given back' })
  const after = await get(`${url}/reports/crowd.csv`)
  t.ok(after.complete, 'once they are gone, a download is served again')
  const metrics = (await get(`${url}/metrics`)).body.toString()
  t.match(metrics, /^sluice_turns_waiting\{server="primary",turn="next"\} 0$/m, '/metrics: pages waiting their turn, none now')
  t.match(metrics, /^sluice_lease_wait_seconds_count\{turn="next"\} [1-9]\d*$/m, '/metrics: how long the download\'s later pages waited for their turn')
})

t.test('the allocator and V8 settings the crowd bench measured are what `npm start` and the Dockerfile give the server', async (t) => {
  const start = (JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }).scripts.start!
  const dockerfile = await readFile(new URL('../Dockerfile', import.meta.url), 'utf8')
  for (const [name, value] of Object.entries(ALLOCATOR)) {
    t.ok(start.includes(`${name}=${value} `), `npm start sets ${name}=${value}`)
    t.match(dockerfile, new RegExp(`^ENV .*\\b${name}=${value}\\b`, 'm'), `the Dockerfile sets ${name}=${value}`)
  }
  t.ok(start.includes(`node ${NODE_FLAGS.join(' ')} dist/src/server.js`), `npm start runs node ${NODE_FLAGS.join(' ')}`)
  t.match(dockerfile, new RegExp(`^CMD \\["node", ${NODE_FLAGS.map((flag) => `"${flag}"`).join(', ')}, "dist/src/server.js"\\]$`, 'm'), `the Dockerfile runs node ${NODE_FLAGS.join(' ')}`)
})

/**
 * Opens the pool's `n` connections before a test whose lease timeout is short: opening one is
 * bounded by LEASE_TIMEOUT_MS too, and a loaded machine (CI runs test files side by side) may take
 * longer than that to start a session, which would refuse a request for a reason not under test.
 */
async function openAll (app: TestApp['app'], n: number): Promise<void> {
  await waitFor(async () => {
    const leases = await Promise.all(Array.from({ length: n }, async () => await app.leases.acquire().catch(() => undefined)))
    for (const lease of leases) {
      if (lease === undefined) continue
      await lease.begin()
      await lease.end()
    }
    return app.pool.totalCount === n
  }, { timeout: 10_000, what: `the pool's ${n} connections open` })
}

/** A download whose client reads its first bytes and then nothing: the response runs, paused. */
async function pausedDownload (t: Test, port: number, path: string): Promise<import('node:net').Socket> {
  return await new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false })
    t.teardown(() => req.destroy())
    req.on('error', reject)
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`status ${res.statusCode}`))
        return
      }
      res.once('data', () => {
        res.pause()
        resolve(req.socket!)
      })
    })
  })
}
