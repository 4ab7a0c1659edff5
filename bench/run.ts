// `npm run bench`: the `orders` report (1,000,000 rows) downloaded whole over HTTP in each format,
// side by side with PostgreSQL's own COPY of the same rows over one connection, the physical
// limit. Runs against DATABASE_URL when set (which must hold the demo data: `npm run seed`), else
// an embedded PostgreSQL kept in .data/bench, seeded on first use. Never part of `npm test`.
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import { startEmbedded, type EmbeddedServer } from '../src/db/embedded.js'
import { migrateToLatest } from '../src/db/migrate.js'
import { seedDemo } from '../src/db/seed.js'
import { copyOutStream } from './copy.js'
import { download } from './download.js'
import { watchPeak } from './memory.js'
import { startServer, type ServerProcess } from './server.js'

const DEMO_ORDERS = 1_000_000
// the best of three: the first round of each still pays for JIT and cold caches now and then
const ROUNDS = 3
const DATA_DIR = fileURLToPath(new URL('../.data/bench', import.meta.url))

interface Result {
  readonly rows: number
  /** the body as the format makes it (before any compression) */
  readonly bytes: number
  /** what crossed the wire, when compression made it differ */
  readonly wireBytes?: number
  readonly firstByteMs: number
  readonly totalMs: number
  /** the server's peak RSS during the download; COPY has no server of ours */
  readonly peakRss?: number
}

interface Measurement {
  readonly name: string
  /** the COPY this one is measured against */
  readonly versus?: string
  readonly run: () => Promise<Result>
  best?: Result
  maxPeakRss?: number
}

// Ctrl-C: leave through 'exit', whose hooks stop the server and the embedded PostgreSQL
process.once('SIGINT', () => process.exit(130))

let embedded: EmbeddedServer | undefined
let server: ServerProcess | undefined
let client: pg.Client | undefined
try {
  let connectionString = process.env.DATABASE_URL
  if (connectionString === undefined || connectionString === '') {
    say('starting the embedded PostgreSQL in .data/bench ...')
    embedded = await startEmbedded({ dataDir: DATA_DIR, database: 'sluice_bench' })
    connectionString = embedded.url
    await prepareDemo(connectionString)
  }
  const db = client = new pg.Client({ connectionString, application_name: 'sluice-bench' })
  await db.connect()
  // the session settings every Sluice session has, so COPY writes the same text
  await db.query("set timezone = 'UTC'; set datestyle = 'ISO'; set intervalstyle = 'postgres'")
  const { rows: [facts] } = await db.query<{ version: string, orders: string }>(
    "select current_setting('server_version') as version, (select count(*) from orders) as orders")
    .catch((error: { code?: string }) => {
      // a database the user named is never migrated or seeded behind their back (API.md section 1)
      throw error.code === '42P01' ? new Error('DATABASE_URL has no demo data: run `npm run seed` first') : error
    })
  const app = server = await startServer({ databaseUrl: connectionString, env: { LOG_LEVEL: 'info' } })
  const select = `select ${(await reportColumns(app.url, 'orders')).map((name) => db.escapeIdentifier(name)).join(', ')} from orders order by id`

  const http = (path: string, headers?: Record<string, string>) => () => fetchReport(app, path, headers)
  const measurements: Measurement[] = [
    { name: 'COPY csv', run: () => copy(db, `copy (${select}) to stdout with (format csv, header)`) },
    { name: 'COPY row_to_json', run: () => copy(db, `copy (select row_to_json(t) from (${select}) t) to stdout`) },
    { name: 'ndjson', versus: 'COPY row_to_json', run: http('/reports/orders.ndjson') },
    { name: 'json', versus: 'COPY row_to_json', run: http('/reports/orders.json') },
    { name: 'csv', versus: 'COPY csv', run: http('/reports/orders.csv') },
    { name: 'csv, gzip', versus: 'COPY csv', run: http('/reports/orders.csv', { 'accept-encoding': 'gzip' }) }
  ]

  say(`Sluice bench: node ${process.version}, PostgreSQL ${facts!.version}, ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'cpu'}`)
  say(`orders: ${Number(facts!.orders).toLocaleString('en')} rows; ${select}`)
  say(`each measurement ${ROUNDS} times in turn, the fastest kept; server peak RSS is the highest of the ${ROUNDS}`)
  // a short download of each format first, so no round pays for the server's JIT
  for (const format of ['ndjson', 'json', 'csv']) await fetchReport(app, `/reports/orders.${format}?limit=100000`)
  for (let round = 1; round <= ROUNDS; round++) {
    for (const measurement of measurements) {
      const result = await measurement.run()
      if (measurement.best === undefined || result.totalMs < measurement.best.totalMs) measurement.best = result
      if (result.peakRss !== undefined) measurement.maxPeakRss = Math.max(measurement.maxPeakRss ?? 0, result.peakRss)
    }
    process.stderr.write(`round ${round}/${ROUNDS} done\n`)
  }
  say('')
  say(table(measurements))
  say('')
  say('rows/s and MB/s: whole download, request to last byte; MB = 10^6 bytes of the body as the format makes it (before gzip);')
  say('vs COPY: rows/s against PostgreSQL writing the same rows itself (csv: COPY CSV HEADER; ndjson, json: COPY of row_to_json).')
} catch (error) {
  console.error(error)
  process.exitCode = 1
} finally {
  await client?.end().catch(() => {})
  await server?.stop()
  await embedded?.stop()
}

/** The embedded cluster's first use: the demo schema and 1,000,000 orders (well under a minute). */
async function prepareDemo (connectionString: string): Promise<void> {
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString, max: 1 }) }) })
  try {
    await migrateToLatest(db)
    const started = performance.now()
    say('seeding the demo data if absent ...')
    const { seeded } = await seedDemo(db, { orders: DEMO_ORDERS })
    if (seeded) say(`demo data loaded in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  } finally {
    await db.destroy()
  }
}

/** The report's result columns, as the server learnt them from the database. */
async function reportColumns (url: string, report: string): Promise<string[]> {
  const response = await fetch(`${url}/reports`)
  const { reports } = await response.json() as { reports: Array<{ name: string, columns: Array<{ name: string }> }> }
  const found = reports.find((r) => r.name === report)
  if (found === undefined) throw new Error(`the server has no report "${report}"`)
  return found.columns.map((column) => column.name)
}

/** One whole download, checked complete on both ends; rows and body size as the server logged them. */
async function fetchReport (server: ServerProcess, path: string, headers?: Record<string, string>): Promise<Result> {
  const watch = watchPeak(server.pid)
  const result = await download(server.url + path, { headers }).finally(() => watch.stop())
  const peakRss = watch.peak()
  if (result.status !== 200 || !result.complete) throw new Error(`GET ${path}: ${result.status}, ${result.complete ? 'complete' : 'cut short'}`)
  const logged = await server.waitForLog((line) => line.reqId === result.headers['x-request-id'] && line.msg === 'stream ended')
  if (logged.outcome !== 'complete') throw new Error(`GET ${path}: the server logged ${String(logged.outcome)}`)
  const bytes = Number(logged.bytes)
  return {
    rows: Number(logged.rows),
    bytes,
    ...(result.bytes === bytes ? {} : { wireBytes: result.bytes }),
    firstByteMs: result.firstByteMs,
    totalMs: result.totalMs,
    peakRss
  }
}

async function copy (client: pg.Client, sql: string): Promise<Result> {
  const started = performance.now()
  let bytes = 0
  let firstByteMs = NaN
  const { rows } = await copyOutStream(client, sql, (chunk) => {
    if (bytes === 0) firstByteMs = performance.now() - started
    bytes += chunk.length
  })
  return { rows, bytes, firstByteMs, totalMs: performance.now() - started }
}

function table (measurements: Measurement[]): string {
  const byName = new Map(measurements.map((m) => [m.name, m]))
  const head = ['', 'rows', 'MB', 'wire MB', 'first byte', 'total', 'rows/s', 'MB/s', 'server peak RSS', 'vs COPY']
  const lines = measurements.map(({ name, versus, best, maxPeakRss }) => {
    const r = best!
    const rowsPerSecond = r.rows / (r.totalMs / 1000)
    const base = versus === undefined ? undefined : byName.get(versus)?.best
    return [
      name,
      r.rows.toLocaleString('en'),
      (r.bytes / 1e6).toFixed(1),
      r.wireBytes === undefined ? '' : (r.wireBytes / 1e6).toFixed(1),
      `${r.firstByteMs.toFixed(1)} ms`,
      `${(r.totalMs / 1000).toFixed(2)} s`,
      Math.round(rowsPerSecond).toLocaleString('en'),
      (r.bytes / 1e6 / (r.totalMs / 1000)).toFixed(1),
      maxPeakRss === undefined ? '' : `${(maxPeakRss / (1 << 20)).toFixed(0)} MiB`,
      base === undefined ? '' : `${(rowsPerSecond / (base.rows / (base.totalMs / 1000))).toFixed(2)}x ${versus}`
    ]
  })
  const widths = head.map((_, i) => Math.max(...[head, ...lines].map((line) => line[i]!.length)))
  return [head, ...lines]
    .map((line) => line.map((cell, i) => (i === 0 || i === line.length - 1 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd())
    .join('\n')
}

function say (line: string): void {
  process.stdout.write(line + '\n')
}
