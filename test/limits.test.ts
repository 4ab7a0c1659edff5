// Operational limits (docs/http.md sections 2-4): POOL_MAX, MAX_STREAMS and LEASE_TIMEOUT_MS bound what
// the process takes and nothing queues without bound; STATEMENT_TIMEOUT_MS, STREAM_TIMEOUT_MS and
// STALL_TIMEOUT_MS end work that runs too long; clients that vanish at random points leave
// nothing behind; max_rows caps a response; and /metrics counts how streams ended.
// Real sockets and a real PostgreSQL throughout.
import http from 'node:http'
import net from 'node:net'
import t, { type Test } from 'tap'
import { copyOut } from '../harness/copy.js'
import type { Config } from '../src/config.js'
import { listenTestApp, type TestApp } from './helpers/app.js'
import { scratchTable } from './helpers/db.js'
import {
  busySessions, get, poolWhole, prng, reportsFolder, requestId, sameBytes, seedFromEnv, streamEnded, waitFor,
  type Download, type GetOptions
} from './helpers/http.js'

const ROWS = 150_000
const CAP = 5000
// pg_sleep far longer than any timeout here: a statement that finished it was never cancelled
const SLEEP_S = 4
const { client, table } = await scratchTable(t, 'limits')
await client.query(`
  create table ${table} (id bigint primary key, label text not null, amount numeric not null);
  insert into ${table}
  select g, md5(g::text), round((g * 37 % 100000) / 100.0, 2) from generate_series(1, ${ROWS}) g;
  analyze ${table};
  -- stable, so PostgreSQL still flattens the report into the page query (see disconnect.test.ts)
  create function ${table}_nap(id bigint, at bigint) returns text language plpgsql stable
    as $$ begin if id = at then perform pg_sleep(${SLEEP_S}); end if; return null; end $$;
`)

const header = (title: string, strategy: string, extra = ''): string => `/*\ntitle: ${title}\nkey: id\nstrategy: ${strategy}\n${extra}*/\n`
const capped = `max_rows: ${CAP}\nparams:\n  upto: { type: integer, default: ${ROWS} }\n`
const reportsDir = await reportsFolder(t, {
  'big.sql': `${header('Big', 'keyset')}select id, label, amount from ${table}\n`,
  'big_cursor.sql': `${header('Big, from a cursor', 'cursor')}select id, label, amount from ${table}\n`,
  'slow_first.sql': `${header('Slow first page', 'keyset')}select id, ${table}_nap(id, 1) as nap from ${table}\n`,
  'slow_first_cursor.sql': `${header('Slow first fetch', 'cursor')}select id, ${table}_nap(id, 1) as nap from ${table}\n`,
  'capped.sql': `${header('Capped', 'keyset', capped)}select id, label, amount from ${table} where id <= :upto\n`,
  'capped_cursor.sql': `${header('Capped, from a cursor', 'cursor', capped)}select id, label, amount from ${table} where id <= :upto\n`
})
const STRATEGIES = [['keyset', 'big'], ['cursor', 'big_cursor']] as const

// PostgreSQL's own rendering of the rows: the oracle every whole download is held to
const sorted = `select id, label, amount from ${table} order by id`
const expectedNdjson = Buffer.from((await client.query<{ body: string }>(
  `select string_agg(row_to_json(r)::text || E'\\n', '' order by id) as body from (${sorted}) r`)).rows[0]!.body)
const expectedCsv = await copyOut(client, `copy (${sorted}) to stdout with (format csv, header)`)

type ListeningApp = TestApp & { url: string, port: number }

// Every app lives until the end of the file, so the last test can read the metrics of them all.
const apps: Array<{ name: string, app: ListeningApp }> = []
async function serve (name: string, overrides: Partial<Config>): Promise<ListeningApp> {
  const app = await listenTestApp(t, { reportsDir, ...overrides })
  apps.push({ name, app })
  return app
}

t.test('POOL_MAX=2: six concurrent keyset downloads share two connections page by page and all complete', async (t) => {
  const { app, url, applicationName } = await serve('pool of two', { poolMax: 2 })
  let mostConnections = 0
  let leases = 0
  const onAcquire = (): void => {
    leases++
    mostConnections = Math.max(mostConnections, app.pool.totalCount)
  }
  app.pool.on('acquire', onAcquire)
  t.teardown(() => app.pool.off('acquire', onAcquire))

  // what the server shows, as the database sees it, all the while the downloads run
  let running = true
  let mostSessions = 0
  let samples = 0
  const sampler = (async () => {
    while (running) {
      const { rows } = await client.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where application_name = $1', [applicationName])
      mostSessions = Math.max(mostSessions, rows[0]!.n)
      samples++
    }
  })()
  const firstBytes: number[] = []
  const ends: number[] = []
  const downloads = await Promise.all(Array.from({ length: 6 }, async () => {
    let first = true
    const res = await get(`${url}/reports/big.ndjson`, {
      onChunk: () => {
        if (first) firstBytes.push(performance.now())
        first = false
        return false
      }
    })
    ends.push(performance.now())
    return res
  }))
  running = false
  await sampler

  downloads.forEach((res, i) => {
    t.equal(res.status, 200, `download ${i + 1}: 200`)
    t.ok(res.complete, `download ${i + 1}: complete`)
    sameBytes(t, res.body, expectedNdjson, `download ${i + 1}: every row, as row_to_json has it`)
  })
  t.ok(Math.max(...firstBytes) < Math.min(...ends), 'all six were streaming at once: every one had begun before any ended')
  t.ok(leases > 12, `the pages of six downloads came through two connections (${leases} leases)`)
  t.ok(mostConnections <= 2, `the pool never held more than 2 connections (most: ${mostConnections})`)
  t.ok(samples > 5, `pg_stat_activity sampled while they ran (${samples} times)`)
  t.ok(mostSessions >= 1 && mostSessions <= 2, `pg_stat_activity never showed more than 2 sessions of the app (most: ${mostSessions})`)
})

t.test('POOL_MAX=2: a cursor holds one connection, the next cursor downloads are refused with 503 within the lease timeout, and keyset downloads beside them still get their turns', async (t) => {
  const LEASE_MS = 300
  const { app, url, port, applicationName } = await serve('pool of two, short lease', { poolMax: 2, leaseTimeoutMs: LEASE_MS })
  t.equal(app.leases.turns.holdMax, 1, 'of two connections, cursors may hold one: the other is kept for pages')
  const held = await hold(t, port, '/reports/big_cursor.ndjson')
  await waitFor(async () => (await busySessions(client, applicationName)).filter((s) => s.state === 'idle in transaction').length === 1, {
    timeout: 5000, what: 'the cursor session idle in transaction'
  })

  // several at once: each waits its own lease timeout, none waits longer; a keyset download
  // beside them goes through the connection cursors may not take
  const started = performance.now()
  const [keyset, ...refused] = await Promise.all([
    get(`${url}/reports/big.ndjson`),
    ...[1, 2, 3].map(async () => {
      // a guard, not a wait: without a lease timeout the request would hang
      const res = await get(`${url}/reports/big_cursor.ndjson`, { until: timer(LEASE_MS * 20) })
      return { res, ms: performance.now() - started }
    })
  ])
  for (const [i, { res, ms }] of refused.entries()) {
    t.equal(res.status, 503, `cursor request ${i + 1}: 503`)
    t.match(res.headers['retry-after'], /^[1-9]\d*$/, `cursor request ${i + 1}: Retry-After in whole seconds`)
    t.match(res.headers['content-type'], /^application\/json/)
    t.match(json(res), { statusCode: 503, error: 'Service Unavailable', message: /connections cursor reports may hold.*LEASE_TIMEOUT_MS/ })
    t.ok(ms >= LEASE_MS && ms < LEASE_MS * 5, `cursor request ${i + 1}: refused after ${Math.round(ms)} ms: no sooner than the lease timeout, well before 5x it`)
  }
  t.equal(keyset.status, 200, 'the keyset download beside them: 200')
  t.ok(keyset.complete, 'and complete')
  sameBytes(t, keyset.body, expectedNdjson, 'and whole')
  t.equal(app.leases.turns.waitingFirst + app.leases.turns.waitingNext, 0, 'nobody is left waiting for a connection')
  t.equal(app.leases.turns.holding, 1, 'the paused cursor still holds its connection')

  // the gauges see the same: one in use, and a request waiting while it waits
  t.match(poolGauges(await scrape(url)), { in_use: 1, waiting: 0 }, '/metrics: one connection in use, nobody waiting')
  const waiting = get(`${url}/reports/big_cursor.ndjson`, { until: timer(LEASE_MS * 20) })
  const gauges = await waitFor(async () => {
    const now = poolGauges(await scrape(url))
    return now.waiting === 1 ? now : undefined
  }, { timeout: LEASE_MS, what: '/metrics showing a request waiting for a connection' })
  t.match(gauges, { in_use: 1, waiting: 1 }, '/metrics: one connection in use, one request waiting')
  t.equal((await waiting).status, 503)

  held.socket.destroy()
  await waitFor(() => poolWhole(app) && app.streaming.streams.active === 0, { timeout: 1000, what: 'the held connection back' })
  const after = await get(`${url}/reports/big_cursor.ndjson`)
  t.ok(after.complete, 'once it is back, a cursor download is served')
  sameBytes(t, after.body, expectedNdjson, 'and is whole')
})

t.test('MAX_STREAMS=2: a third report request is refused at once, /health still answers, and slots come back', async (t) => {
  const LEASE_MS = 5000
  const { app, url, port } = await serve('two streams', { maxStreams: 2, leaseTimeoutMs: LEASE_MS })
  const held = [await hold(t, port, '/reports/big.ndjson'), await hold(t, port, '/reports/big_cursor.ndjson')]
  t.equal(app.streaming.streams.active, 2, 'two streams running, their clients paused')
  const leasesBefore = app.pool.totalCount

  for (const report of ['big', 'big_cursor']) {
    const started = performance.now()
    const res = await get(`${url}/reports/${report}.ndjson`, { until: timer(LEASE_MS * 2) })
    const ms = performance.now() - started
    t.equal(res.status, 503, `${report}: 503`)
    t.match(res.headers['retry-after'], /^[1-9]\d*$/, `${report}: Retry-After`)
    t.match(json(res), { statusCode: 503, error: 'Service Unavailable', message: /MAX_STREAMS/ })
    t.ok(ms < LEASE_MS / 5, `${report}: refused in ${Math.round(ms)} ms, without waiting out the ${LEASE_MS} ms lease timeout`)
  }
  t.equal(app.leases.turns.waitingFirst, 0, 'the refused requests never queued for a connection')
  t.equal(app.pool.totalCount, leasesBefore, 'nor took one')
  const health = await get(`${url}/health`)
  t.equal(health.status, 200, '/health answers while the slots are full')
  t.same(json(health), { status: 'ok' })

  for (const { socket } of held) socket.destroy()
  await waitFor(() => app.streaming.streams.active === 0 && poolWhole(app), { timeout: 1000, what: 'both slots free' })
  for (const [, report] of STRATEGIES) {
    const res = await get(`${url}/reports/${report}.ndjson?limit=100`)
    t.equal(res.status, 200, `${report}: admitted again once the slots are free`)
    t.ok(res.complete)
  }
})

t.test('STATEMENT_TIMEOUT_MS: a slow first page is a 504 before the first byte, and its connection comes back', async (t) => {
  const STATEMENT_MS = 300
  const { app, url, applicationName } = await serve('short statements', { statementTimeoutMs: STATEMENT_MS })
  for (const report of ['slow_first', 'slow_first_cursor']) {
    const started = performance.now()
    const res = await get(`${url}/reports/${report}.ndjson`, { until: timer(SLEEP_S * 2000) })
    const ms = performance.now() - started
    t.equal(res.status, 504, `${report}: 504`)
    t.ok(res.complete, `${report}: a whole JSON error, not a cut stream`)
    t.match(res.headers['content-type'], /^application\/json/)
    t.match(json(res), { statusCode: 504, error: 'Gateway Timeout', message: /statement timeout/ })
    t.ok(ms >= STATEMENT_MS && ms < SLEEP_S * 500, `${report}: after ${Math.round(ms)} ms: the statement was cut, it did not sleep its ${SLEEP_S} s out`)
    await waitFor(async () => poolWhole(app) && app.streaming.streams.active === 0 && (await busySessions(client, applicationName)).length === 0, {
      timeout: 1000, what: `${report}: the connection back and nothing running`
    })
    t.pass(`${report}: within a second the connection is back and nothing of the app runs`)
  }
  const res = await get(`${url}/reports/big_cursor.ndjson?limit=10`)
  t.ok(res.complete, 'the app serves on')
})

t.test('STREAM_TIMEOUT_MS: a slow but reading client is cut once the response has run its time', async (t) => {
  const STREAM_MS = 500
  const { app, url, applicationName, logs } = await serve('short streams', { streamTimeoutMs: STREAM_MS })
  for (const [strategy, report] of STRATEGIES) {
    const reqId = requestId()
    // what the server had put in flight still arrives before the cut: once it is logged, the
    // client takes the rest at full speed rather than over half a minute
    const ended = streamEnded(logs, reqId, STREAM_MS * 10)
    const res = await readSlowly(`${url}/reports/${report}.ndjson`, { headers: { 'x-request-id': reqId }, hurry: ended, until: timer(STREAM_MS * 20) })
    const line = await ended
    t.equal(line.outcome, 'timed_out', `${strategy}: logged as timed_out`)
    t.match(line.reason, /STREAM_TIMEOUT_MS/)
    t.ok(Number(line.ms) >= STREAM_MS && Number(line.ms) < STREAM_MS * 3, `${strategy}: cut ${String(line.ms)} ms after it began`)
    t.equal(res.status, 200, `${strategy}: the response had begun`)
    t.equal(res.complete, false, `${strategy}: the client sees it aborted, without the final chunk`)
    t.ok(res.body.length > 0 && res.body.length < expectedNdjson.length && expectedNdjson.subarray(0, res.body.length).equals(res.body),
      `${strategy}: ${res.body.length} bytes arrived, the start of the report`)
    await waitFor(async () => poolWhole(app) && (await busySessions(client, applicationName)).length === 0, {
      timeout: 1000, what: `${strategy}: nothing of the app busy`
    })
    t.pass(`${strategy}: within a second nothing of the app is busy and the pool is whole`)
  }
})

t.test('STALL_TIMEOUT_MS: a client that stops reading is cut off and what it held is released', async (t) => {
  const STALL_MS = 300
  const { app, port, applicationName, logs } = await serve('short stalls', { stallTimeoutMs: STALL_MS })
  for (const [strategy, report] of STRATEGIES) {
    const reqId = requestId()
    const paused = await hold(t, port, `/reports/${report}.ndjson`, reqId)
    // the server first fills the socket's buffers, then waits out the stall timeout
    const line = await streamEnded(logs, reqId, 10_000)
    t.equal(line.outcome, 'stalled', `${strategy}: logged as stalled`)
    t.match(line.reason, /STALL_TIMEOUT_MS/)
    await waitFor(async () => poolWhole(app) && (await busySessions(client, applicationName)).length === 0, {
      timeout: 1000, what: `${strategy}: the connection released`
    })
    t.pass(`${strategy}: within a second of the stall, no session idle in transaction, the pool whole`)
    // reading again finds what was in flight, then the end the server made: no final chunk
    paused.socket.resume()
    await waitFor(() => paused.closed, { timeout: 5000, what: `${strategy}: the server to close the socket` })
    const res = parseChunked(paused.received())
    t.equal(res.status, 200, `${strategy}: the response had begun`)
    t.equal(res.complete, false, `${strategy}: the server closed the socket without the final chunk`)
    t.ok(res.body.length < expectedNdjson.length, `${strategy}: ${res.body.length} of ${expectedNdjson.length} bytes`)
  }
})

// The pump sees a client's progress when the kernel takes bytes from the socket, and Linux wakes
// a full socket only once a third of its send buffer (up to ~1.4 MB here) has drained: a client
// reading 640 KiB/s shows progress every ~2 s (nginx's send_timeout has the same grain). So the
// stall timeout here is well above that.
t.test('STALL_TIMEOUT_MS: a slow client that keeps reading is not taken for stalled', async (t) => {
  // Even the kernel's own send queue (/proc/net/tcp tx_queue) moves here only per ~200 KB the
  // client reads, as the client's TCP stack batches its window updates: no server can see a
  // 16 KiB-per-100 ms reader progress within a second. 64 KiB per 100 ms shows it every ~0.35 s.
  const SLICE = 64 * 1024
  const STALL_MS = 4000
  const SLOW_MS = STALL_MS * 2
  const { url, logs } = await serve('steady reader', { stallTimeoutMs: STALL_MS })
  // both at once: the slow phase is most of this test's time
  await Promise.all(STRATEGIES.map(async ([strategy, report]) => {
    const reqId = requestId()
    // slow for two stall timeouts, then the rest at full speed: all of it at this pace would
    // take most of the file's time
    let endedWhileSlow: Record<string, unknown> | undefined
    const hurry = timer(SLOW_MS).then(() => {
      endedWhileSlow = logs.find((line) => line.reqId === reqId && line.msg === 'stream ended')
    })
    const res = await readSlowly(`${url}/reports/${report}.ndjson`, { slice: SLICE, headers: { 'x-request-id': reqId }, hurry, until: timer(SLOW_MS * 3) })
    // the report is several times what the socket buffers hold: all along the server had bytes
    // the client had not taken yet, and waited on it
    t.equal(endedWhileSlow?.outcome, undefined, `${strategy}: after ${SLOW_MS} ms of slow reading the server was still sending, not cut as stalled`)
    t.ok(res.complete, `${strategy}: complete`)
    t.ok(res.body.equals(expectedNdjson), `${strategy}: every row (${res.body.length} of ${expectedNdjson.length} bytes)`)
    t.equal((await streamEnded(logs, reqId)).outcome, 'complete', `${strategy}: logged as complete`)
  }))
})

t.test('clients that vanish at random points leave nothing behind, and a pool of one serves on', async (t) => {
  const { app, url, applicationName, logs } = await serve('pool of one', { poolMax: 1, leaseTimeoutMs: 3000 })
  const seed = seedFromEnv()
  t.comment(`seed ${seed} (SEED=${seed} replays this run)`)
  const random = prng(seed)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!
  const cases = Array.from({ length: 40 }, (_, i) => {
    const [, report] = STRATEGIES[i % 2]!
    const gzip = random() < 0.25
    const byClock = random() < 0.2
    return {
      path: `/reports/${report}.${pick(['ndjson', 'csv', 'json'])}`,
      gzip,
      // some leave by the clock, maybe before the first byte, maybe while the first page runs;
      // the rest after some bytes, fewer than the smallest body (gzip's) holds
      cut: byClock ? { by: 'ms', at: Math.floor(random() * 40) } as const : { by: 'bytes', at: 1 + Math.floor(random() * (gzip ? 1_000_000 : 4_000_000)) } as const,
      close: pick(['reset', 'destroy'] as const)
    }
  })
  // four at a time: the pool of one is fought over as well
  const queue = [...cases.entries()]
  const results: Array<{ what: string, res: Download, reqId: string, byBytes: boolean }> = []
  await Promise.all(Array.from({ length: 4 }, async () => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const [i, { path, gzip, cut, close }] = next
      const reqId = requestId()
      const headers: Record<string, string> = { 'x-request-id': reqId, ...(gzip ? { 'accept-encoding': 'gzip' } : {}) }
      const what = `#${i} ${path}${gzip ? ' gzip' : ''} ${close} after ${cut.at} ${cut.by}`
      const options: GetOptions = cut.by === 'ms' ? { until: timer(cut.at), close, headers } : { stopAfter: cut.at, close, headers }
      results.push({ what, res: await get(`${url}${path}`, options), reqId, byBytes: cut.by === 'bytes' })
    }
  }))
  for (const { what, res, reqId, byBytes } of results) {
    if (byBytes) t.equal(res.status, 200, `${what}: the response had begun`)
    else t.ok(res.status === 0 || res.status === 200, `${what}: ${res.status === 0 ? 'left before the response' : 'left mid-body'}`)
    t.equal(res.complete, false, `${what}: cut short`)
    if (res.status === 200) t.equal((await streamEnded(logs, reqId)).outcome, 'client_closed', `${what}: logged as client_closed`)
  }
  try {
    await waitFor(async () => poolWhole(app) && app.streaming.streams.active === 0 && (await busySessions(client, applicationName)).length === 0, {
      timeout: 2000, what: 'everything back'
    })
  } catch {
    // fall through to the assertions, which say what was left
  }
  t.same(await busySessions(client, applicationName), [], 'pg_stat_activity: nothing of the app active or idle in transaction')
  t.ok(poolWhole(app) && app.pool.totalCount <= 1, 'the one connection is back in the pool')
  t.equal(app.streaming.streams.active, 0, 'every stream slot is free')

  for (const [strategy, report] of STRATEGIES) {
    const ndjson = await get(`${url}/reports/${report}.ndjson`)
    t.ok(ndjson.complete, `${strategy}: the next download is complete`)
    sameBytes(t, ndjson.body, expectedNdjson, `${strategy}: NDJSON, every row as row_to_json has it`)
    const csv = await get(`${url}/reports/${report}.csv`)
    t.ok(csv.complete)
    sameBytes(t, csv.body, expectedCsv, `${strategy}: CSV, byte for byte what COPY writes`)
  }
})

t.test('max_rows: limit above it is a 400, a response past it is aborted, up to it is whole', async (t) => {
  const { url, logs } = await serve('max_rows', {})
  for (const strategy of ['keyset', 'cursor'] as const) {
    const report = strategy === 'keyset' ? 'capped' : 'capped_cursor'
    const over = await get(`${url}/reports/${report}?limit=${CAP + 1}`)
    t.equal(over.status, 400, `${strategy}: limit=${CAP + 1} is a 400`)
    t.match(json(over), { statusCode: 400, message: /"limit"/ }, `${strategy}: the message names limit`)

    for (const upto of [CAP + 1, ROWS]) {
      for (const format of ['ndjson', 'csv'] as const) {
        const what = `${strategy}.${format}, ${upto} rows and no limit`
        const reqId = requestId()
        const res = await get(`${url}/reports/${report}.${format}?upto=${upto}`, { headers: { 'x-request-id': reqId } })
        t.equal(res.status, 200, `${what}: the response had begun`)
        t.equal(res.complete, false, `${what}: aborted, never cut short silently`)
        const line = await streamEnded(logs, reqId)
        t.equal(line.outcome, 'row_cap', `${what}: logged as row_cap`)
        t.equal(line.rows, CAP, `${what}: no row past the cap was sent`)
        const expected = format === 'ndjson' ? expectedNdjson : expectedCsv
        const lines = format === 'ndjson' ? CAP : CAP + 1
        t.ok(expected.subarray(0, res.body.length).equals(res.body) && res.body.length <= nthLineEnd(expected, lines), `${what}: what arrived is the first rows, none past the cap`)
      }
    }

    const reqId = requestId()
    const exact = await get(`${url}/reports/${report}?upto=${CAP}`, { headers: { 'x-request-id': reqId } })
    t.ok(exact.complete, `${strategy}: exactly max_rows rows without limit is complete`)
    sameBytes(t, exact.body, expectedNdjson.subarray(0, nthLineEnd(expectedNdjson, CAP)), `${strategy}: all ${CAP} of them`)
    t.equal((await streamEnded(logs, reqId)).outcome, 'complete')

    const atCap = await get(`${url}/reports/${report}?limit=${CAP}`)
    t.ok(atCap.complete, `${strategy}: limit=max_rows over a longer report is complete`)
    sameBytes(t, atCap.body, expectedNdjson.subarray(0, nthLineEnd(expectedNdjson, CAP)), `${strategy}: the first ${CAP} rows`)

    // limit under the cap, paging on with the JSON format's next link
    const rows: Array<{ id: number }> = []
    const pages: number[] = []
    let next: string | null = `${url}/reports/${report}.json?upto=${CAP}&limit=2000`
    while (next !== null && pages.length < 5) {
      const page = await get(next)
      t.equal(page.status, 200)
      t.ok(page.complete)
      const body = JSON.parse(page.body.toString()) as { rows: Array<{ id: number }>, next: string | null }
      pages.push(body.rows.length)
      rows.push(...body.rows)
      next = body.next
      if (next !== null) t.match(next, /^http:\/\/127\.0\.0\.1:\d+\/reports\/capped(_cursor)?\.json\?.*after=\d+/, `${strategy}: next is a link to the following page`)
    }
    t.same(pages, [2000, 2000, 1000], `${strategy}: pages of limit rows, then the rest, then next is null`)
    t.same(rows.map((row) => row.id), Array.from({ length: CAP }, (_, i) => i + 1), `${strategy}: the pages join up to every row once, in order`)
  }
})

t.test('/metrics counts every stream by how it ended, and shows the pool', async (t) => {
  const seen = new Map<string, number>()
  for (const { name, app: { app, url, logs } } of apps) {
    await waitFor(() => app.streaming.streams.active === 0, { timeout: 1000, what: `${name}: no stream running` })
    const text = await scrape(url)
    const counted = endedByOutcome(text)
    const logged: Record<string, number> = {}
    for (const line of logs) {
      if (line.msg === 'stream ended') logged[String(line.outcome)] = (logged[String(line.outcome)] ?? 0) + 1
    }
    t.same(counted, logged, `${name}: sluice_streams_ended_total by outcome is what the log says (${JSON.stringify(counted)})`)
    for (const [outcome, n] of Object.entries(counted)) seen.set(outcome, (seen.get(outcome) ?? 0) + n)
    const gauges = poolGauges(text)
    t.same(gauges, { in_use: 0, idle: app.pool.idleCount, waiting: 0 }, `${name}: sluice_pool_connections in use, idle, waiting`)
  }
  for (const outcome of ['complete', 'client_closed', 'timed_out', 'stalled', 'row_cap']) {
    t.ok((seen.get(outcome) ?? 0) > 0, `streams ended ${outcome}: ${seen.get(outcome) ?? 0}`)
  }
})

/** A report request whose client takes the first bytes and then reads nothing, its socket paused. */
interface Held {
  readonly socket: net.Socket
  /** every byte read so far, headers and chunk framing included */
  received (): Buffer
  /** the socket has closed */
  readonly closed: boolean
}

async function hold (t: Test, port: number, path: string, reqId = requestId()): Promise<Held> {
  const socket = net.connect(port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  const chunks: Buffer[] = []
  let closed = false
  socket.on('error', () => {})
  socket.on('close', () => { closed = true })
  const first = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      // in the same tick as the first bytes, so no later ones are read
      if (chunks.length === 1) {
        socket.pause()
        resolve()
      }
    })
    socket.once('close', () => reject(new Error(`${path}: closed before any byte`)))
  })
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: ${reqId}\r\nConnection: close\r\n\r\n`)
  await first
  return {
    socket,
    received: () => Buffer.concat(chunks),
    get closed () { return closed }
  }
}

/** A raw HTTP/1.1 chunked response: its status, body, and whether the final chunk came. */
function parseChunked (raw: Buffer): { status: number, body: Buffer, complete: boolean } {
  const headEnd = raw.indexOf('\r\n\r\n')
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw.subarray(0, headEnd).toString())?.[1] ?? 0)
  const parts: Buffer[] = []
  let at = headEnd + 4
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', at)
    if (lineEnd === -1) break
    const size = parseInt(raw.subarray(at, lineEnd).toString(), 16)
    if (size === 0) return { status, body: Buffer.concat(parts), complete: true }
    parts.push(raw.subarray(lineEnd + 2, Math.min(raw.length, lineEnd + 2 + size)))
    at = lineEnd + 2 + size + 2
    if (at > raw.length) break
  }
  return { status, body: Buffer.concat(parts), complete: false }
}

/**
 * A slow client that keeps reading: a slice (16 KiB: 160 KiB/s) every 100 ms, however much the
 * server has ready, until `hurry` resolves; then it reads the rest as fast as it comes.
 */
async function readSlowly (url: string, options: { slice?: number, headers?: Record<string, string>, hurry?: Promise<unknown>, until?: Promise<unknown> } = {}): Promise<Download> {
  const { slice = 16 * 1024 } = options
  return await new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: options.headers })
    let res: http.IncomingMessage | undefined
    let timer: NodeJS.Timeout | undefined
    let settled = false
    let aborted = false
    let hurried = false
    const chunks: Buffer[] = []
    const finish = (complete: boolean): void => {
      if (settled) return
      settled = true
      clearInterval(timer)
      resolve({ status: res?.statusCode ?? 0, headers: res?.headers ?? {}, body: Buffer.concat(chunks), complete })
    }
    const hurry = (): void => {
      hurried = true
      clearInterval(timer)
      res?.on('data', (chunk: Buffer) => chunks.push(chunk))
      res?.resume()
    }
    options.hurry?.then(hurry, () => {})
    options.until?.then(() => {
      finish(false)
      req.destroy()
    }, () => {})
    req.on('error', (error) => {
      // a reset after the response began is how a cut stream ends: an incomplete download
      if (res !== undefined) {
        finish(false)
        return
      }
      if (settled) return
      settled = true
      clearInterval(timer)
      reject(error)
    })
    req.on('response', (response) => {
      res = response
      response.on('aborted', () => { aborted = true })
      response.on('error', () => { aborted = true; finish(false) })
      response.on('end', () => finish(response.complete && !aborted))
      response.on('close', () => finish(response.complete && !aborted))
      if (hurried) {
        hurry()
        return
      }
      response.pause()
      timer = setInterval(() => {
        // null until a whole slice is there, or the end
        const chunk = response.read(slice) as Buffer | null
        if (chunk !== null) chunks.push(chunk)
      }, 100)
    })
  })
}

/** The body as JSON, or its text when it is not: a wrong answer fails an assertion, not the test. */
function json (res: Download): unknown {
  try {
    return JSON.parse(res.body.toString())
  } catch {
    return res.body.toString().slice(0, 200)
  }
}

/** Resolves after `ms`: a deadline for a request, so a broken limit fails the test instead of hanging it. */
async function timer (ms: number): Promise<void> {
  // unref: a deadline left over once its request ended must not keep the process alive
  await new Promise((resolve) => setTimeout(resolve, ms).unref())
}

/** Where the `n`th line of `body` ends (just past its newline). */
function nthLineEnd (body: Buffer, n: number): number {
  let at = -1
  for (let i = 0; i < n; i++) {
    at = body.indexOf(10, at + 1)
    if (at === -1) throw new Error(`fewer than ${n} lines`)
  }
  return at + 1
}

async function scrape (url: string): Promise<string> {
  const res = await get(`${url}/metrics`)
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`)
  return res.body.toString()
}

/** sluice_streams_ended_total summed by outcome. */
function endedByOutcome (text: string): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const [, labels, value] of text.matchAll(/^sluice_streams_ended_total\{([^}]*)\} (\S+)$/gm)) {
    const outcome = /outcome="([^"]*)"/.exec(labels!)?.[1] ?? ''
    counts[outcome] = (counts[outcome] ?? 0) + Number(value)
  }
  return counts
}

function poolGauges (text: string): Record<string, number> {
  const gauges: Record<string, number> = {}
  for (const [, state, value] of text.matchAll(/^sluice_pool_connections\{server="primary",state="([^"]+)"\} (\S+)$/gm)) gauges[state!] = Number(value)
  return gauges
}
