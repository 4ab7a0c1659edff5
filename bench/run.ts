// `npm run bench`: whether Sluice meets its throughput, first-byte, concurrency and memory targets,
// each as a ratio to PostgreSQL's own `COPY ... TO STDOUT` of the same rows measured in the same
// run. Every Sluice path runs right after its COPY baseline, round after round, so both see the
// same machine; the ratio is the median of those pairs. Reads the demo `orders` and "shaped"
// tables of 1M and 5M rows (built once, bench/datasets.ts); writes bench/results/<date>.json, .md
// and .svg. Runs against DATABASE_URL when set (`npm run seed` loads the demo data), else an
// embedded PostgreSQL kept in .data/bench. Never part of `npm test`. Exits 1 when a target fails.
//
//   npm run bench -- --quick          a smoke run: a 100k-row table, one round
//   npm run bench -- --soak 600       instead of all that: the soak (bench/soak.ts)
//   npm run bench -- --crowd          instead of all that: the crowd scenes (bench/crowd.ts)
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import { memoryOf, watchPeak } from '../harness/memory.js'
import { startServer, type ServerProcess } from '../harness/server.js'
import { defaultConfig } from '../src/config.js'
import { startEmbedded, type EmbeddedServer } from '../src/db/embedded.js'
import { migrateToLatest } from '../src/db/migrate.js'
import { seedDemo } from '../src/db/seed.js'
import { chart } from './chart.js'
import { SCENES, crowdChart, crowdTargets, renderCrowd, runScene, type SceneResult } from './crowd.js'
import { CLIENT, measuredDownload } from './curl.js'
import { ordersDataset, reportPath, shapedDataset, writeReports, type Dataset, type Strategy } from './datasets.js'
import { baselineFootprint, sluiceFootprint } from './footprint.js'
import { profileServer } from './profile.js'
import { copyRunner, digester, type CopyRunner, type Digest } from './psql.js'
import { fetchReport, streamEnded, type Fetched } from './sluice.js'
import { soak } from './soak.js'
import {
  BESIDE_CSV, COPY_CSV, COPY_JSON, machineLine, median, mib, perSecond, renderMarkdown, renderText, times,
  type Check, type CopyMeasurement, type Slope, type Format, type Measurement, type Results, type Target
} from './summary.js'

const USAGE = `npm run bench [-- options]
  --rounds N       rounds of alternated COPY / Sluice pairs (default 3, with --quick 1)
  --rows A,B       sizes of the shaped table (default 1000000,5000000)
  --quick          a smoke run: the shaped table at 100,000 rows only, one round
  --cpu-prof       also profile the server over one CSV and one NDJSON download and print
                   its 15 hottest functions (bench/results/prof-<date>/)
  --soak SECONDS   instead of the throughput run: 16 client loops for SECONDS against orders
                   and the shaped 1M table, whatever --rows and --quick say (bench/soak.ts)
  --crowd          instead of the throughput run: 64 and 256 concurrent downloads of the shaped
                   1M table at the defaults, a fresh server each (bench/crowd.ts); about 6 minutes`

const DEMO_ORDERS = 1_000_000
const DEFAULT_ROWS = [1_000_000, 5_000_000]
const QUICK_ROWS = 100_000
/** the shaped size the CSV options, compression, concurrency and memory runs use */
const REFERENCE_ROWS = 1_000_000
const DATA_DIR = fileURLToPath(new URL('../.data/bench', import.meta.url))
const RESULTS_DIR = fileURLToPath(new URL('./results', import.meta.url))
const POOL_MAX = 10
const SERVER_ENV = { LOG_LEVEL: 'info', POOL_MAX: String(POOL_MAX) }
const CONCURRENT = 32
// long enough that starting and ending 32 downloads is a small part of it
const CONCURRENT_SECONDS = 25
const QUICK_CONCURRENT_SECONDS = 3

// the targets
const CSV_RATIO = 1.0
const JSON_RATIO = 2.0
const COMPRESSED_RATIO = 0.6
// zstd level 1 is the fastest of the three (docs/decisions/0002-zstd-on-the-wire.md)
const ZSTD_RATIO = 0.9
const STRATEGY_SPREAD = 0.15
const FIRST_BYTE_MS = 50
const IDLE_RSS_MIB = 80
// a lone download of any size, format or strategy (the crowds issue's target)
const RISE_MIB = 16
const SLOPE_MIB = 8
const SLOPE_SMALL_ROWS = 100_000
const MiB = 1 << 20
// An idle server gives back what start-up or its last responses left 10 s after they ended
// (src/stream/trim.ts, docs/decisions/0009): idle is the lowest RSS over 20 s.
const SETTLE_MS = 20_000
const CONCURRENT_RATIO = 0.8
// a pull of a few changes against a full download of the same report (the sync tokens issue)
const PULL_RATIO = 0.05
const PULL_CHANGES = 10

const BOM = Buffer.from([0xef, 0xbb, 0xbf])
/** CSV options as the query string has them, beside the COPY options that write the same */
const CSV_VARIANTS = [
  { variant: 'delimiter=;', query: 'delimiter=%3B', copyName: `${COPY_CSV} delimiter ';'`, copyOptions: ", header, delimiter ';'" },
  { variant: 'delimiter=|', query: 'delimiter=%7C', copyName: `${COPY_CSV} delimiter '|'`, copyOptions: ", header, delimiter '|'" },
  { variant: 'delimiter=tab', query: 'delimiter=tab', copyName: `${COPY_CSV} delimiter tab`, copyOptions: ", header, delimiter E'\\t'" },
  { variant: 'header=0', query: 'header=0', copyName: `${COPY_CSV}, no header`, copyOptions: '' },
  // COPY writes no BOM: the baseline is plain CSV, the check adds the BOM to its hash
  { variant: 'bom=1', query: 'bom=1', copyName: COPY_CSV, copyOptions: ', header', bom: true }
] as const
const COMPRESSIONS = ['zstd', 'gzip', 'br'] as const

interface Copy {
  readonly name: string
  readonly sql: string
}

/** One Sluice path and the COPY it is measured against. */
interface Path {
  readonly dataset: Dataset
  readonly format: Format
  readonly strategy: Strategy
  readonly variant: string
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly copy: Copy
  readonly bom?: boolean
  readonly rounds: Array<{ copyMs: number, fetched: Fetched }>
}

const { values: args } = (() => {
  try {
    return parseArgs({
      options: {
        rounds: { type: 'string' },
        rows: { type: 'string' },
        quick: { type: 'boolean', default: false },
        'cpu-prof': { type: 'boolean', default: false },
        soak: { type: 'string' },
        crowd: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false }
      }
    })
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`)
    process.exit(2)
  }
})()
if (args.help) {
  console.log(USAGE)
  process.exit(0)
}
const quick = args.quick
const rounds = args.rounds === undefined ? (quick ? 1 : 3) : whole('--rounds', args.rounds)
const shapedRows = quick ? [QUICK_ROWS] : args.rows === undefined ? DEFAULT_ROWS : args.rows.split(',').map((size) => whole('--rows', size))
const soakSeconds = args.soak === undefined ? undefined : whole('--soak', args.soak)
const date = new Date().toISOString().slice(0, 10)
const stamp = quick ? `${date}-quick` : date

// Ctrl-C: leave through 'exit', whose hooks stop the server and the embedded PostgreSQL
process.once('SIGINT', () => process.exit(130))

let embedded: EmbeddedServer | undefined
let server: ServerProcess | undefined
let client: pg.Client | undefined
let copies: CopyRunner | undefined
let reportsDir: string | undefined
try {
  const needsOrders = soakSeconds !== undefined || (!quick && !args.crowd)
  let connectionString = process.env.DATABASE_URL
  if (connectionString === undefined || connectionString === '') {
    say('starting the embedded PostgreSQL in .data/bench ...')
    embedded = await startEmbedded({ dataDir: DATA_DIR, database: 'sluice_bench' })
    connectionString = embedded.url
    if (needsOrders) await prepareDemo(connectionString)
  }
  const db = client = new pg.Client({ connectionString, application_name: 'sluice-bench' })
  await db.connect()
  const tables: Dataset[] = needsOrders ? [await ordersDataset(db)] : []
  for (const rows of soakSeconds === undefined && !args.crowd ? shapedRows : [REFERENCE_ROWS]) tables.push(await shapedDataset(db, rows, say))
  reportsDir = await writeReports(tables)
  await mkdir(RESULTS_DIR, { recursive: true })
  const app = server = await startServer({ databaseUrl: connectionString, reportsDir, env: SERVER_ENV })

  if (args.crowd) {
    const reference = tables.find((table) => table.rows === REFERENCE_ROWS) ?? tables[tables.length - 1]!
    const scenes: SceneResult[] = []
    for (const scene of SCENES) scenes.push(await runScene(scene, connectionString, reportsDir, reference, say))
    const targets = crowdTargets(scenes)
    const base = path.join(RESULTS_DIR, `crowd-${date}`)
    await writeFile(`${base}.json`, JSON.stringify(scenes, null, 2) + '\n')
    await writeFile(`${base}.svg`, crowdChart(scenes))
    await writeFile(`${base}.md`, `# Sluice crowd bench ${date}\n\nnode ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'unknown cpu'}, ${os.type()} ${os.release()}\n\n![RSS over time](crowd-${date}.svg)\n\n| target | measured | target | result |\n| --- | --- | --- | --- |\n` +
      targets.map((t) => `| ${t.name} | ${t.measured} | ${t.target} | ${t.pass ? 'PASS' : 'FAIL'} |`).join('\n') + '\n\n' + renderCrowd(scenes))
    for (const t of targets) say(`${t.pass ? 'PASS' : 'FAIL'}  ${t.name}: ${t.measured} (target ${t.target})`)
    say(`results: ${path.relative(process.cwd(), base)}.json, .md, .svg`)
    if (targets.some((t) => !t.pass)) process.exitCode = 1
  } else if (soakSeconds !== undefined) {
    const pass = await soak({
      server: app,
      datasets: tables,
      seconds: soakSeconds,
      db,
      applicationName: defaultConfig().applicationName,
      file: path.join(RESULTS_DIR, `soak-${date}.json`),
      say
    })
    if (!pass) process.exitCode = 1
  } else {
    copies = await copyRunner(connectionString)
    const results = await throughput(app, db, connectionString, reportsDir, tables, copies)
    const base = path.join(RESULTS_DIR, stamp)
    await writeFile(`${base}.json`, JSON.stringify(results, null, 2) + '\n')
    const svg = chart(results, results.footprint.dataset)
    await writeFile(`${base}.svg`, svg)
    // the README's chart is a full run's, never a smoke run's
    if (!quick) await copyFile(`${base}.svg`, path.join(RESULTS_DIR, 'latest.svg'))
    await writeFile(`${base}.md`, renderMarkdown(results, `${stamp}.svg`))
    say(renderText(results))
    const failed = results.targets.filter((t) => !t.pass).length
    say('')
    say(`${results.targets.length - failed} of ${results.targets.length} targets PASS${failed === 0 ? '' : `, ${failed} FAIL`}`)
    say(`results: ${path.relative(process.cwd(), base)}.json, .md, .svg${quick ? '' : ' (and latest.svg)'}`)
    if (failed > 0) process.exitCode = 1
  }
} catch (error) {
  console.error(error)
  process.exitCode = 1
} finally {
  await copies?.close().catch(() => {})
  await client?.end().catch(() => {})
  await server?.stop()
  await embedded?.stop()
  if (reportsDir !== undefined) await rm(reportsDir, { recursive: true, force: true })
}

async function throughput (app: ServerProcess, db: pg.Client, connectionString: string, reportsDir: string, datasets: readonly Dataset[], copies: CopyRunner): Promise<Results> {
  const reference = datasets.find((d) => d.rows === REFERENCE_ROWS && d.name !== 'orders') ?? datasets.find((d) => d.name !== 'orders')!
  const { rows: [facts] } = await db.query<{ version: string }>("select current_setting('server_version') as version")
  const machine = {
    node: process.version,
    postgres: facts!.version,
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown cpu',
    cores: os.cpus().length,
    os: `${os.type()} ${os.release()}`,
    copy: copies.label,
    client: CLIENT
  }
  say(`Sluice bench ${stamp}: ${machineLine(machine)}`)
  say(`data sets: ${datasets.map((d) => `${d.label} (${d.table}, ${d.rows.toLocaleString('en')} rows)`).join(', ')}; ${rounds} round${rounds === 1 ? '' : 's'}`)
  const paths = datasets.flatMap((dataset) => pathsOf(dataset, dataset === reference))

  const afterStart = await settledRss(app.pid)
  // a short download per format and strategy, so no measurement pays for the server's JIT
  for (const format of ['ndjson', 'json', 'csv', 'xlsx', 'parquet', 'arrow'] as const) {
    for (const strategy of ['keyset', 'cursor'] as const) await fetchReport(app, `${reportPath(reference, strategy, format)}?limit=${Math.min(100_000, reference.rows / 10)}`)
  }
  const afterWarmUp = await settledRss(app.pid)
  say(`server idle RSS: ${mib(afterStart)} after start, ${mib(afterWarmUp)} after the warm-up (each the lowest over ${SETTLE_MS / 1000} s idle)`)

  const { checks, copyBytes } = await check(app, datasets, paths, copies)

  for (let round = 1; round <= rounds; round++) {
    for (const p of paths) {
      const copyMs = await copies.time(p.copy.sql)
      const fetched = await fetchReport(app, p.url, { headers: p.headers })
      p.rounds.push({ copyMs, fetched })
      progress(`round ${round}/${rounds}  ${p.dataset.label}  ${pathName(p).padEnd(24)} ${p.copy.name} ${(copyMs / 1000).toFixed(2)} s, Sluice ${(fetched.ms / 1000).toFixed(2)} s: ${times(copyMs / fetched.ms)}`)
    }
  }
  const measurements = paths.map((p) => measurement(p))
  const copyMeasurements = copyMedians(paths, copyBytes)
  const strategies = datasets.flatMap((dataset) => (['csv', 'ndjson', 'json'] as const).map((format) => {
    const [keyset, cursor] = (['keyset', 'cursor'] as const).map((strategy) => paths.find((p) => p.dataset === dataset && p.format === format && p.strategy === strategy && p.variant === '')!)
    return { dataset: dataset.label, format, ratio: median(keyset!.rounds.map((r, i) => cursor!.rounds[i]!.fetched.ms / r.fetched.ms)) }
  }))

  const slope = await memorySlope(app, datasets, measurements)
  const pull = await pulls(app, db, datasets)

  // before the crowd, whose 32 streams at once leave V8 a larger heap than one stream needs
  const sluice = await sluiceFootprint(app, reportPath(reference, 'keyset', 'ndjson'))
  const baseline = await baselineFootprint(connectionString, `${reference.select} order by id`, reference.rows)
  progress(`memory over one NDJSON download: Sluice peak ${mib(sluice.peakRss)}, load-everything baseline peak ${mib(baseline.peakRss)}`)

  const single = measurements.find((m) => m.dataset === reference.label && m.path === 'csv keyset')!
  const concurrency = await concurrent(app, reference, single.rowsPerSecond)
  progress(`${CONCURRENT} concurrent downloads: ${concurrency.complete} complete, ${perSecond(concurrency.rowsPerSecond)} rows/s, one alone ${perSecond(concurrency.singleRowsPerSecond)}`)

  const profile = args['cpu-prof']
    ? await profileServer({ databaseUrl: connectionString, reportsDir, env: SERVER_ENV, dataset: reference, dir: path.join(RESULTS_DIR, `prof-${stamp}`) })
    : undefined

  const partial = { date, quick, rounds, machine, idleRss: { afterStart, afterWarmUp }, slope, checks, copies: copyMeasurements, measurements, strategies, concurrency, footprint: { dataset: reference.label, sluice, baseline }, ...(pull === undefined ? {} : { pull }), ...(profile === undefined ? {} : { profile }) }
  return { ...partial, targets: targets(partial) }
}

/** Every path of a data set; the CSV options and compressions on the reference one only. */
function pathsOf (dataset: Dataset, reference: boolean): Path[] {
  const ordered = `${dataset.select} order by id`
  const csv = (name: string, options: string): Copy => ({ name, sql: `copy (${ordered}) to stdout (format csv${options})` })
  const json: Copy = { name: COPY_JSON, sql: `copy (select row_to_json(t) from (${ordered}) t) to stdout` }
  const path = (format: Format, strategy: Strategy, copy: Copy, variant = '', query = '', headers: Record<string, string> = {}, bom = false): Path => ({
    dataset, format, strategy, variant, copy, headers, rounds: [], ...(bom ? { bom } : {}),
    url: reportPath(dataset, strategy, format) + (query === '' ? '' : `?${query}`)
  })
  const out: Path[] = []
  for (const strategy of ['keyset', 'cursor'] as const) {
    out.push(path('csv', strategy, csv(COPY_CSV, ', header')), path('ndjson', strategy, json), path('json', strategy, json))
  }
  if (!reference) return out
  // XLSX, Parquet and Arrow beside CSV, on the reference data set only: rows/s and bytes, the
  // same COPY as CSV's for scale (they are no CSV: no byte check, no target)
  for (const format of BESIDE_CSV) out.push(path(format, 'keyset', csv(COPY_CSV, ', header')))
  out.push(path('arrow', 'cursor', csv(COPY_CSV, ', header')))
  for (const v of CSV_VARIANTS) out.push(path('csv', 'keyset', csv(v.copyName, v.copyOptions), v.variant, v.query, {}, 'bom' in v))
  for (const encoding of COMPRESSIONS) out.push(path('csv', 'keyset', csv(COPY_CSV, ', header'), encoding, '', { 'accept-encoding': encoding }))
  return out
}

/**
 * Before measuring: Sluice's CSV is the COPY's byte for byte (sha256 of both), with each CSV
 * option beside the COPY options that mean the same, and its NDJSON has the COPY's row count. Not
 * the test suite's proof of correctness: a guard that the pairs compare like with like.
 */
async function check (app: ServerProcess, datasets: readonly Dataset[], paths: readonly Path[], copies: CopyRunner): Promise<{ checks: Check[], copyBytes: Map<string, number> }> {
  const checks: Check[] = []
  const copyBytes = new Map<string, number>()
  // keyset and cursor paths share their COPY: each runs once
  const digests = new Map<string, Digest>()
  for (const dataset of datasets) {
    const checked = paths.filter((p) => p.dataset === dataset && p.format !== 'json' && !BESIDE_CSV.includes(p.format) && p.headers['accept-encoding'] === undefined)
    for (const p of checked) {
      const prefix = p.bom === true ? BOM : undefined
      const key = `${p.copy.sql}\n${prefix === undefined ? '' : 'bom'}`
      const copy = digests.get(key) ?? await copies.digest(p.copy.sql, prefix)
      digests.set(key, copy)
      copyBytes.set(`${dataset.label}\n${p.copy.name}`, copy.bytes - (p.bom === true ? BOM.length : 0))
      const digest = digester()
      await fetchReport(app, p.url, { onChunk: digest.update })
      const sluice = digest.result()
      const check: Check = p.format === 'csv'
        ? { dataset: dataset.label, path: pathName(p), compared: 'sha256', sluice: sluice.sha256.slice(0, 16), copy: copy.sha256.slice(0, 16), bytes: sluice.bytes, ok: sluice.sha256 === copy.sha256 }
        : { dataset: dataset.label, path: pathName(p), compared: 'rows', sluice: String(sluice.lines), copy: String(copy.lines), bytes: sluice.bytes, ok: sluice.lines === copy.lines }
      checks.push(check)
      progress(`check  ${dataset.label}  ${check.path.padEnd(24)} ${check.compared}: Sluice ${check.sluice}, ${p.copy.name} ${check.copy}: ${check.ok ? 'same' : 'DIFFERENT'}`)
    }
  }
  const bad = checks.filter((c) => !c.ok)
  if (bad.length > 0) throw new Error(`Sluice and COPY differ (${bad.map((c) => `${c.dataset} ${c.path}`).join(', ')}): the ratios would compare unlike things`)
  return { checks, copyBytes }
}

function measurement (p: Path): Measurement {
  const last = p.rounds[p.rounds.length - 1]!.fetched
  const medianMs = median(p.rounds.map((r) => r.fetched.ms))
  const rows = last.rows
  return {
    dataset: p.dataset.label,
    path: pathName(p),
    format: p.format,
    strategy: p.strategy,
    variant: p.variant,
    baseline: p.copy.name,
    rows,
    bytes: last.bytes,
    wireBytes: last.wireBytes,
    firstByteMs: median(p.rounds.map((r) => r.fetched.firstByteMs)),
    medianMs,
    rowsPerSecond: rows / (medianMs / 1000),
    mbPerSecond: last.bytes / 1e6 / (medianMs / 1000),
    // the COPY wrote the same rows, so the ratio of rates is the inverse ratio of times
    ratio: median(p.rounds.map((r) => r.copyMs / r.fetched.ms)),
    baselineMedianMs: median(p.rounds.map((r) => r.copyMs)),
    peakRss: Math.max(...p.rounds.map((r) => r.fetched.peakRss)),
    rssRise: Math.max(...p.rounds.map((r) => r.fetched.rssRise)),
    rounds: p.rounds.map((r) => ({
      ms: r.fetched.ms,
      firstByteMs: r.fetched.firstByteMs,
      peakRss: r.fetched.peakRss,
      rssRise: r.fetched.rssRise,
      baselineMs: r.copyMs,
      ratio: r.copyMs / r.fetched.ms
    }))
  }
}

/** Each data set's COPYs over every run of them, whichever path it preceded. */
function copyMedians (paths: readonly Path[], copyBytes: ReadonlyMap<string, number>): CopyMeasurement[] {
  const groups = new Map<string, { dataset: Dataset, name: string, ms: number[] }>()
  for (const p of paths) {
    const key = `${p.dataset.label}\n${p.copy.name}`
    const group = groups.get(key) ?? { dataset: p.dataset, name: p.copy.name, ms: [] }
    group.ms.push(...p.rounds.map((r) => r.copyMs))
    groups.set(key, group)
  }
  return [...groups.entries()].map(([key, { dataset, name, ms }]) => {
    const medianMs = median(ms)
    const bytes = copyBytes.get(key) ?? 0
    return { dataset: dataset.label, name, rows: dataset.rows, bytes, runs: ms.length, medianMs, rowsPerSecond: dataset.rows / (medianMs / 1000), mbPerSecond: bytes / 1e6 / (medianMs / 1000) }
  })
}

/**
 * CONCURRENT downloads at once of the same CSV, `limit` sized from one download's rate so that
 * the crowd takes about CONCURRENT_SECONDS; the same URL downloaded alone just before is the
 * rate it is held to. Each must end whole, and the server must log each as complete.
 */
async function concurrent (app: ServerProcess, dataset: Dataset, rowsPerSecond: number): Promise<Results['concurrency']> {
  const seconds = quick ? QUICK_CONCURRENT_SECONDS : CONCURRENT_SECONDS
  const limit = Math.min(dataset.rows, Math.max(1000, Math.round((rowsPerSecond * seconds) / CONCURRENT)))
  const url = `${reportPath(dataset, 'keyset', 'csv')}?limit=${limit}`
  const alone = await fetchReport(app, url)
  const before = memoryOf(app.pid).rss
  const watch = watchPeak(app.pid)
  const started = performance.now()
  const settled = await Promise.allSettled(Array.from({ length: CONCURRENT }, () => measuredDownload(app.url + url))).finally(() => watch.stop())
  const ms = performance.now() - started
  const peakRss = watch.peak()
  let complete = 0
  let rows = 0
  for (const result of settled) {
    if (result.status !== 'fulfilled' || result.value.status !== 200) continue
    const logged = await streamEnded(app, result.value.headers['x-request-id']).catch(() => undefined)
    rows += Number(logged?.rows ?? 0)
    if (result.value.complete && logged?.outcome === 'complete' && Number(logged.rows) === limit) complete++
  }
  const singleRowsPerSecond = alone.rows / (alone.ms / 1000)
  const aggregate = rows / (ms / 1000)
  return {
    dataset: dataset.label,
    downloads: CONCURRENT,
    poolMax: POOL_MAX,
    limit,
    complete,
    ms,
    rows,
    rowsPerSecond: aggregate,
    singleRowsPerSecond,
    ratio: aggregate / singleRowsPerSecond,
    peakRss,
    rssRise: peakRss - before
  }
}

function targets (results: Omit<Results, 'targets'>): Target[] {
  const out: Target[] = []
  const atLeast = (name: string, value: number, target: number): void => {
    // three decimals: a 0.998 must not read as the 1.00 it fails
    out.push({ name, measured: `${value.toFixed(3)}x`, target: `>= ${times(target)}`, pass: value >= target })
  }
  for (const m of results.measurements) {
    if (BESIDE_CSV.includes(m.format)) continue
    const target = m.format !== 'csv' ? JSON_RATIO : m.variant === 'zstd' ? ZSTD_RATIO : COMPRESSIONS.some((c) => c === m.variant) ? COMPRESSED_RATIO : CSV_RATIO
    atLeast(`${m.dataset} ${m.path} vs ${m.baseline}`, m.ratio, target)
  }
  for (const s of results.strategies) {
    const spread = Math.min(s.ratio, 1 / s.ratio)
    out.push({ name: `${s.dataset} ${s.format}: keyset / cursor rows/s`, measured: times(s.ratio), target: `within ${STRATEGY_SPREAD * 100}%`, pass: spread >= 1 - STRATEGY_SPREAD })
  }
  const slowest = results.measurements.reduce((worst, m) => (m.firstByteMs > worst.firstByteMs ? m : worst))
  out.push({ name: `first byte, the slowest path's median (${slowest.dataset} ${slowest.path})`, measured: `${slowest.firstByteMs.toFixed(1)} ms`, target: `< ${FIRST_BYTE_MS} ms`, pass: slowest.firstByteMs < FIRST_BYTE_MS })
  out.push({ name: 'server idle RSS, after start', measured: mib(results.idleRss.afterStart), target: `< ${IDLE_RSS_MIB} MiB`, pass: results.idleRss.afterStart < IDLE_RSS_MIB * MiB })
  out.push({ name: 'server idle RSS, after a first download of each format and strategy', measured: mib(results.idleRss.afterWarmUp), target: `< ${IDLE_RSS_MIB} MiB`, pass: results.idleRss.afterWarmUp < IDLE_RSS_MIB * MiB })
  const steepest = results.measurements.reduce((worst, m) => (m.rssRise > worst.rssRise ? m : worst))
  out.push({ name: `RSS rise of one download, the largest (${steepest.dataset} ${steepest.path})`, measured: mib(steepest.rssRise), target: `< ${RISE_MIB} MiB`, pass: steepest.rssRise < RISE_MIB * MiB })
  for (const s of results.slope) {
    const growth = s.largePeak - s.smallPeak
    out.push({ name: `peak RSS, ${s.dataset} ${s.path}: ${s.largeRows.toLocaleString('en')} rows over ${s.smallRows.toLocaleString('en')}`, measured: mib(growth), target: `< ${SLOPE_MIB} MiB`, pass: growth < SLOPE_MIB * MiB })
  }
  if (results.pull !== undefined) {
    const p = results.pull
    out.push({ name: `a pull of ${p.changed} changed rows in ${p.dataset} (${p.rows.toLocaleString('en')} rows) vs its full CSV download, time`, measured: `${(p.ratio * 100).toFixed(2)}%`, target: `< ${PULL_RATIO * 100}%`, pass: p.ratio < PULL_RATIO && p.pulledRows === p.changed })
  }
  const c = results.concurrency
  out.push({ name: `${c.downloads} concurrent downloads, POOL_MAX=${c.poolMax}: whole and logged complete`, measured: `${c.complete} of ${c.downloads}`, target: `${c.downloads} of ${c.downloads}`, pass: c.complete === c.downloads })
  atLeast(`${c.downloads} concurrent downloads: aggregate rows/s vs one download's`, c.ratio, CONCURRENT_RATIO)
  return out
}

/**
 * A sync: a full CSV download of the data set that declares `changes:` (the demo orders), then
 * PULL_CHANGES rows updated across its id range, then the pull with the download's token; round
 * after round, the pull's time over the full download's.
 */
async function pulls (app: ServerProcess, db: pg.Client, datasets: readonly Dataset[]): Promise<Results['pull']> {
  const dataset = datasets.find((d) => d.changes !== undefined)
  if (dataset === undefined) return undefined
  const url = reportPath(dataset, 'keyset', 'csv')
  const stride = Math.max(1, Math.floor(dataset.rows / PULL_CHANGES))
  const fulls: number[] = []
  const pulled: number[] = []
  let rows = 0
  let bytes = 0
  for (let round = 1; round <= rounds; round++) {
    const full = await fetchReport(app, url)
    if (full.syncToken === undefined) throw new Error(`GET ${url}: no Sluice-Sync-Token`)
    // whatever an update sets the column to, its trigger stamps the writing transaction's id
    await db.query(`update ${dataset.table} set ${dataset.changes!} = null where id in (select 1 + g * ${stride} from generate_series(0, ${PULL_CHANGES - 1}) g)`)
    const pull = await fetchReport(app, `${url}?changed_since=${full.syncToken}`)
    fulls.push(full.ms)
    pulled.push(pull.ms)
    rows = pull.rows
    bytes = pull.bytes
    progress(`round ${round}/${rounds}  ${dataset.label}  pull of ${PULL_CHANGES} changes: ${pull.rows} rows in ${pull.ms.toFixed(1)} ms, the full download ${(full.ms / 1000).toFixed(2)} s`)
  }
  const ratio = median(pulled.map((ms, i) => ms / fulls[i]!))
  return { dataset: dataset.label, rows: dataset.rows, changed: PULL_CHANGES, pulledRows: rows, pulledBytes: bytes, fullMs: median(fulls), pullMs: median(pulled), ratio }
}

function pathName (p: Path): string {
  return `${p.format} ${p.strategy}${p.variant === '' ? '' : ` ${p.variant}`}`
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

function whole (option: string, text: string): number {
  const value = Number(text)
  if (!/^\d+$/.test(text.trim()) || value < 1) {
    console.error(`${option} takes a whole number above 0, got ${JSON.stringify(text)}\n${USAGE}`)
    process.exit(2)
  }
  return value
}

function say (line: string): void {
  process.stdout.write(line + '\n')
}

/** what is under way, on stderr: the summary on stdout stays the results alone */
function progress (line: string): void {
  process.stderr.write(line + '\n')
}


/** The lowest RSS of an idle process over SETTLE_MS, sampled every second. */
async function settledRss (pid: number): Promise<number> {
  let lowest = memoryOf(pid).rss
  for (let waited = 0; waited < SETTLE_MS; waited += 1000) {
    await new Promise((resolve) => setTimeout(resolve, 1000))
    lowest = Math.min(lowest, memoryOf(pid).rss)
  }
  return lowest
}

/**
 * The largest data set's plain paths again at SLOPE_SMALL_ROWS rows (`limit`), the worst of three
 * each, beside the whole download's peak from the rounds: the peak must not grow with the rows.
 */
async function memorySlope (app: ServerProcess, datasets: readonly Dataset[], measurements: readonly Measurement[]): Promise<Slope[]> {
  const largest = datasets.reduce((big, d) => (d.rows > big.rows ? d : big))
  if (largest.rows <= SLOPE_SMALL_ROWS) return []
  const out: Slope[] = []
  for (const m of measurements) {
    if (m.dataset !== largest.label || m.variant !== '') continue
    let smallPeak = 0
    for (let i = 0; i < 3; i++) {
      const fetched = await fetchReport(app, `${reportPath(largest, m.strategy, m.format)}?limit=${SLOPE_SMALL_ROWS}`)
      smallPeak = Math.max(smallPeak, fetched.peakRss)
    }
    out.push({ dataset: m.dataset, path: m.path, smallRows: SLOPE_SMALL_ROWS, smallPeak, largeRows: m.rows, largePeak: m.peakRss })
    progress(`memory slope ${m.dataset} ${m.path}: ${mib(smallPeak)} at ${SLOPE_SMALL_ROWS} rows, ${mib(m.peakRss)} at ${m.rows}`)
  }
  return out
}
