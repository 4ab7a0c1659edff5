// `npm run bench -- --soak SECONDS`: 16 client loops for SECONDS mixing everything a crowd does
// (every format, both strategies, gzip / br / none, `after`, `limit`, CSV options, downloads
// aborted half-way, slow readers, HEADs), to show that nothing leaks: the server's RSS in the last
// minute is where it was in the first, no request failed that should not have, and once the
// clients are gone no session of the server is busy in the database. Not part of CI.
import { writeFile } from 'node:fs/promises'
import http from 'node:http'
import { setTimeout as delay } from 'node:timers/promises'
import type pg from 'pg'
import { download } from '../harness/download.js'
import { recordRss, type RssSample } from '../harness/memory.js'
import type { ServerProcess } from '../harness/server.js'
import { reportPath, type Dataset } from './datasets.js'
import { streamEnded } from './sluice.js'
import { mib, signedMib, textTable } from './summary.js'

export interface SoakOptions {
  readonly server: ServerProcess
  readonly datasets: readonly Dataset[]
  readonly seconds: number
  /** for pg_stat_activity, on the database the server reads */
  readonly db: pg.ClientBase
  /** what the server's pool sets (src/config.ts) */
  readonly applicationName: string
  readonly file: string
  readonly say: (line: string) => void
}

type Kind = 'get' | 'abort' | 'slow' | 'head'

interface Request {
  readonly kind: Kind
  readonly path: string
  readonly headers: Record<string, string>
  /** destroy the request once this many bytes came */
  readonly abortAfter?: number
  readonly bytesPerSecond?: number
}

interface Outcome {
  readonly kind: Kind
  readonly path: string
  readonly encoding: string
  /** when it ended, ms since the soak began */
  readonly endedMs: number
  readonly status: number
  readonly wireBytes: number
  readonly requestId: string | undefined
  readonly abortedByUs: boolean
  rows: number
  error: string | undefined
}

interface Window {
  readonly fromS: number
  readonly toS: number
  readonly requests: number
  readonly rows: number
  readonly wireBytes: number
  readonly errors: number
  readonly peakRss: number
}

const LOOPS = 16
// A cursor stream holds a connection for its whole life: with more of them at once than
// POOL_MAX (10), the rest wait LEASE_TIMEOUT_MS and get a 503, as designed (README, "Sizing").
// The soak counts every non-200 as an error, so only this many loops ever ask for a cursor.
const CURSOR_LOOPS = 6
const MiB = 1 << 20
// no request of the mix takes a minute even with 16 at once; past this one is hung
const REQUEST_TIMEOUT_MS = 120_000
const RSS_SAMPLE_MS = 100
const RSS_GROWTH_BUDGET = 8 * MiB
const IDLE_POLL_MS = 100
const IDLE_TIMEOUT_MS = 10_000
const LOG_TIMEOUT_MS = 10_000
const CSV_OPTIONS = ['delimiter=%3B', 'delimiter=%7C', 'delimiter=tab', 'header=0', 'bom=1']

/** Runs the soak and writes its JSON; true when it passed. */
export async function soak (options: SoakOptions): Promise<boolean> {
  const { server, seconds, say } = options
  // minutes; a soak under two minutes is cut in halves, so there is a first and a last to compare
  const windowCount = Math.max(2, Math.floor(seconds / 60))
  const windowMs = (seconds * 1000) / windowCount
  say(`soak: ${LOOPS} client loops (${CURSOR_LOOPS} may use cursors) for ${seconds} s against ${options.datasets.map((d) => d.label).join(' and ')}`)
  const started = performance.now()
  const deadline = started + seconds * 1000
  const recording = recordRss(server.pid, RSS_SAMPLE_MS)
  const outcomes: Outcome[] = []
  const progress = setInterval(() => {
    const done = outcomes.length
    const errors = outcomes.filter((o) => o.error !== undefined).length
    process.stderr.write(`soak: ${Math.round((performance.now() - started) / 1000)} s, ${done} requests, ${errors} errors so far\n`)
  }, windowMs)
  let samples: RssSample[] = []
  let busy: { busy: number, waitedMs: number }
  try {
    await Promise.all(Array.from({ length: LOOPS }, async (_, index) => {
      while (performance.now() < deadline) outcomes.push(await perform(server, pick(index, options.datasets), started))
    }))
    await matchServerLog(server, outcomes)
    busy = await busySessions(options.db, options.applicationName)
  } finally {
    clearInterval(progress)
    samples = recording.stop()
  }

  const windows: Window[] = Array.from({ length: windowCount }, (_, i) => {
    const inWindow = (ms: number): boolean => Math.min(windowCount - 1, Math.floor(ms / windowMs)) === i
    const ended = outcomes.filter((o) => inWindow(o.endedMs))
    return {
      fromS: Math.round((i * windowMs) / 1000),
      toS: Math.round(((i + 1) * windowMs) / 1000),
      requests: ended.length,
      rows: ended.reduce((sum, o) => sum + o.rows, 0),
      wireBytes: ended.reduce((sum, o) => sum + o.wireBytes, 0),
      errors: ended.filter((o) => o.error !== undefined).length,
      peakRss: Math.max(0, ...samples.filter((s) => inWindow(s.ms)).map((s) => s.rss))
    }
  })
  const errors = outcomes.filter((o) => o.error !== undefined)
  const growth = windows[windows.length - 1]!.peakRss - windows[0]!.peakRss
  const checks = [
    { name: `peak RSS of the last window within ${mib(RSS_GROWTH_BUDGET)} of the first's`, measured: signedMib(growth), pass: growth <= RSS_GROWTH_BUDGET },
    { name: 'unexpected errors', measured: String(errors.length), pass: errors.length === 0 },
    { name: `sessions of "${options.applicationName}" not idle once the clients are done`, measured: `${busy.busy} (after ${Math.round(busy.waitedMs)} ms)`, pass: busy.busy === 0 }
  ]
  const pass = checks.every((check) => check.pass)
  const kinds = (['get', 'abort', 'slow', 'head'] as const).map((kind) => [kind, outcomes.filter((o) => o.kind === kind).length] as const)

  say('')
  say(textTable(
    ['seconds', 'requests', 'rows', 'wire MB', 'errors', 'peak RSS'],
    windows.map((w) => [`${w.fromS}-${w.toS}`, String(w.requests), w.rows.toLocaleString('en'), (w.wireBytes / 1e6).toFixed(1), String(w.errors), mib(w.peakRss)])
  ))
  say('')
  say(`requests: ${kinds.map(([kind, count]) => `${count} ${kind}`).join(', ')}; rows ${outcomes.reduce((sum, o) => sum + o.rows, 0).toLocaleString('en')}`)
  for (const error of errors.slice(0, 10)) say(`  error: ${error.kind} ${error.path} (${error.encoding || 'identity'}): ${error.error}`)
  say('')
  say(textTable(['check', 'measured', 'result'], checks.map((check) => [check.name, check.measured, check.pass ? 'PASS' : 'FAIL'])))
  say(`soak ${pass ? 'PASS' : 'FAIL'}; ${options.file}`)
  await writeFile(options.file, JSON.stringify({
    seconds,
    loops: LOOPS,
    cursorLoops: CURSOR_LOOPS,
    datasets: options.datasets.map((d) => ({ label: d.label, rows: d.rows })),
    requests: Object.fromEntries(kinds),
    rows: outcomes.reduce((sum, o) => sum + o.rows, 0),
    wireBytes: outcomes.reduce((sum, o) => sum + o.wireBytes, 0),
    windows,
    busyAtEnd: busy,
    errors: errors.map(({ kind, path, encoding, status, error }) => ({ kind, path, encoding, status, error })),
    checks,
    pass
  }, null, 2) + '\n')
  return pass
}

/** One request of the mix, at random. */
function pick (loop: number, datasets: readonly Dataset[]): Request {
  const dataset = choice(datasets)
  const strategy = loop < CURSOR_LOOPS && Math.random() < 0.5 ? 'cursor' : 'keyset'
  const format = choice(['ndjson', 'csv', 'json'] as const)
  const encoding = choice(['', 'zstd', 'gzip', 'br'])
  const roll = Math.random()
  const kind: Kind = roll < 0.5 ? 'get' : roll < 0.7 ? 'abort' : roll < 0.8 ? 'slow' : 'head'
  const query: string[] = []
  if (Math.random() < 0.5) query.push(`after=${between(1, dataset.rows)}`)
  // slow readers get a small limit, so that they end: at 256 KiB/s, 5,000 rows is a few seconds
  if (kind === 'slow') query.push(`limit=${between(200, 5000)}`)
  // a tenth of the plain downloads run to the end of the table (from `after`, when there is one)
  else if (kind !== 'abort' && Math.random() < 0.9) query.push(`limit=${Math.ceil(Math.exp(Math.random() * Math.log(100_000)))}`)
  if (format === 'csv' && Math.random() < 0.4) query.push(choice(CSV_OPTIONS))
  return {
    kind,
    path: reportPath(dataset, strategy, format) + (query.length === 0 ? '' : `?${query.join('&')}`),
    headers: encoding === '' ? {} : { 'accept-encoding': encoding },
    ...(kind === 'abort' ? { abortAfter: between(1, 4 * MiB) } : {}),
    ...(kind === 'slow' ? { bytesPerSecond: between(256 * 1024, 2 * MiB) } : {})
  }
}

async function perform (server: ServerProcess, request: Request, soakStarted: number): Promise<Outcome> {
  const url = server.url + request.path
  const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS)
  const outcome = (fields: { status: number, wireBytes?: number, requestId?: string | undefined, abortedByUs?: boolean, error?: string | undefined }): Outcome => ({
    kind: request.kind,
    path: request.path,
    encoding: request.headers['accept-encoding'] ?? '',
    endedMs: performance.now() - soakStarted,
    wireBytes: 0,
    requestId: undefined,
    abortedByUs: false,
    rows: 0,
    error: undefined,
    ...fields
  })
  try {
    if (request.kind === 'head') {
      const response = await head(url, request.headers, timeout)
      const ok = response.status === 200 && response.headers['x-estimated-rows'] !== undefined
      return outcome({ status: response.status, error: ok ? undefined : `HEAD answered ${response.status}${response.status === 200 ? ' without X-Estimated-Rows' : ''}` })
    }
    const ours = new AbortController()
    let received = 0
    const result = await download(url, {
      headers: request.headers,
      bytesPerSecond: request.bytesPerSecond,
      signal: AbortSignal.any([ours.signal, timeout]),
      onChunk: (chunk) => {
        received += chunk.length
        if (request.abortAfter !== undefined && received >= request.abortAfter) ours.abort()
      }
    })
    const requestId = result.headers['x-request-id']
    const abortedByUs = ours.signal.aborted
    let error: string | undefined
    if (result.status !== 200) error = `answered ${result.status}`
    else if (!result.complete && timeout.aborted) error = `no end within ${REQUEST_TIMEOUT_MS} ms`
    else if (!result.complete && !abortedByUs) error = 'cut short by the server'
    return outcome({ status: result.status, wireBytes: result.bytes, requestId: typeof requestId === 'string' ? requestId : undefined, abortedByUs, error })
  } catch (error) {
    return outcome({ status: 0, error: timeout.aborted ? `no answer within ${REQUEST_TIMEOUT_MS} ms` : (error as Error).message })
  }
}

/**
 * Every streamed GET's "stream ended" line: its rows, and an error unless the outcome is
 * `complete` (or `client_closed` for those we aborted). One pass over the log, then a wait only
 * for lines still on their way.
 */
async function matchServerLog (server: ServerProcess, outcomes: readonly Outcome[]): Promise<void> {
  const ended = new Map<string, Record<string, unknown>>()
  for (const line of server.logs) if (line.msg === 'stream ended' && typeof line.reqId === 'string') ended.set(line.reqId, line)
  for (const outcome of outcomes) {
    if (outcome.kind === 'head' || outcome.status !== 200) continue
    const line = ended.get(outcome.requestId ?? '') ?? await streamEnded(server, outcome.requestId, LOG_TIMEOUT_MS).catch(() => undefined)
    if (line === undefined) {
      outcome.error ??= 'the server logged no end of the stream'
      continue
    }
    outcome.rows = Number(line.rows)
    const expected = outcome.abortedByUs ? ['complete', 'client_closed'] : ['complete']
    if (!expected.includes(String(line.outcome))) outcome.error ??= `the server logged ${String(line.outcome)}: ${typeof line.reason === 'string' ? line.reason : ''}`
  }
}

/**
 * Sessions of the server that are not idle: none should be once every client is gone (a cancelled
 * query or a cursor's transaction left behind would show here). A bounded poll: an aborted
 * download's cancel takes the server a moment, and the database has no event to wait on.
 */
async function busySessions (db: pg.ClientBase, applicationName: string): Promise<{ busy: number, waitedMs: number }> {
  const started = performance.now()
  for (;;) {
    const { rows: [row] } = await db.query<{ busy: string }>(
      "select count(*) as busy from pg_stat_activity where application_name = $1 and datname = current_database() and state <> 'idle'",
      [applicationName])
    const busy = Number(row!.busy)
    const waitedMs = performance.now() - started
    if (busy === 0 || waitedMs > IDLE_TIMEOUT_MS) return { busy, waitedMs }
    await delay(IDLE_POLL_MS)
  }
}

async function head (url: string, headers: Record<string, string>, signal: AbortSignal): Promise<{ status: number, headers: http.IncomingHttpHeaders }> {
  return await new Promise((resolve, reject) => {
    const request = http.request(url, { method: 'HEAD', headers, agent: false, signal }, (response) => {
      response.resume()
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers }))
    })
    request.on('error', reject)
    request.end()
  })
}

function choice<T> (values: readonly T[]): T {
  return values[Math.floor(Math.random() * values.length)]!
}

/** a whole number from `min` to `max`, both included */
function between (min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1))
}
