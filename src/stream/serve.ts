import type { FastifyReply, FastifyRequest } from 'fastify'
import { MAX_TIMER_MS, type Config } from '../config.js'
import type { Lease, LeaseSource } from '../db/leases.js'
import { ClientGone, NotAcceptable, ServiceUnavailable, TooManyStreams } from '../errors.js'
import { createEncoder, contentTypes } from '../formats/index.js'
import { FORMATS, negotiate } from '../formats/negotiate.js'
import type { FormatName } from '../formats/types.js'
import { compileQuery } from '../reports/compile.js'
import type { ParamValues, Report } from '../reports/report.js'
import type { Metrics } from '../plugins/metrics.js'
import { notModified, revalidate, versionFirst, type Representation, type Revalidation } from './conditional.js'
import { parseAfter, type AfterValue } from './keys.js'
import { pump, type RunningStreams } from './pump.js'
import { startBound } from './checks.js'
import { openSource } from './source.js'

/** What serving a report needs from the app. */
export interface Streaming {
  readonly config: Config
  readonly leases: LeaseSource
  readonly streams: RunningStreams
  readonly metrics: Metrics
  readonly keyStreams: KeyStreams
}

/** Streams running per API key, for keys with max_streams. */
export class KeyStreams {
  #active = new Map<string, number>()

  take (id: string, max: number): boolean {
    const active = this.#active.get(id) ?? 0
    if (active >= max) return false
    this.#active.set(id, active + 1)
    return true
  }

  give (id: string): void {
    const active = (this.#active.get(id) ?? 1) - 1
    if (active === 0) this.#active.delete(id)
    else this.#active.set(id, active)
  }
}

/** The query string of a report request, after its schema validated and coerced it. */
export interface ReportQuery {
  format?: string
  limit?: number
  after?: string
  download?: number
  header?: number
  bom?: number
  delimiter?: string
  [param: string]: unknown
}

// How long past STREAM_TIMEOUT_MS the server itself ends a cursor session idle in our transaction:
// the net under our own timers, should this process freeze. Not the stall timeout: the next FETCH
// waits until the client has drained the last batch, which a slow reader takes its time over.
const IDLE_MARGIN_MS = 5000

const DELIMITERS: Readonly<Record<string, string>> = { ',': ',', ';': ';', '|': '|', tab: '\t' }

/** GET /reports/{name}[.ext]: negotiates, admits, and streams one report (API.md section 3). */
export async function serveReport (streaming: Streaming, report: Report, request: FastifyRequest, reply: FastifyReply, suffix: string | undefined): Promise<void> {
  const { format, after, params, disposition } = readRequest(report, request, reply, suffix)
  const query = request.query as ReportQuery
  const { config, leases, streams, metrics } = streaming
  const key = request.apiKey
  if (key?.maxStreams !== undefined && !streaming.keyStreams.take(key.id, key.maxStreams)) {
    throw new TooManyStreams(`this API key already runs its max_streams (${key.maxStreams}) streams`)
  }
  if (!streams.take()) {
    if (key?.maxStreams !== undefined) streaming.keyStreams.give(key.id)
    throw new ServiceUnavailable(`all ${streams.max} stream slots are busy (MAX_STREAMS)`, config.leaseTimeoutMs)
  }
  const started = process.hrtime.bigint()
  const labels = { report: report.name, format }
  const progress = {
    rows: 0,
    bytes: 0,
    sent (rows: number, bytes: number) {
      this.rows += rows
      this.bytes += bytes
      metrics.rows.inc(labels, rows)
      metrics.bytes.inc(labels, bytes)
    }
  }
  const controller = new AbortController()
  // a versioned report: its version first, on a short lease, or for a cursor in the snapshot the
  // cursor then reads (API.md section 3)
  let validators: Readonly<Record<string, string>> = {}
  let snapshot: Lease | undefined
  if (report.version !== undefined) {
    let checked: { revalidation: Revalidation, snapshot: Lease | undefined }
    try {
      const signal = AbortSignal.any([controller.signal, request.signal])
      checked = await versionFirst(leases, signal, request, representationOf(report, request, format, after, params), idleTimeoutMs(config))
    } catch (error) {
      giveSlots(streaming, key)
      // the client left while the version was read: nobody to answer, nothing went wrong
      throw request.signal.aborted ? new ClientGone() : error
    }
    const { revalidation } = checked
    snapshot = checked.snapshot
    if (revalidation.notModified) {
      giveSlots(streaming, key)
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      const streamLabels = { ...labels, strategy: report.strategy, outcome: 'not_modified' }
      metrics.ended.inc(streamLabels)
      metrics.duration.observe(streamLabels, seconds)
      request.log.info({ report: report.name, format, strategy: report.strategy, ms: Math.round(seconds * 1000), outcome: 'not_modified' }, 'not modified')
      notModified(reply, revalidation)
      await reply.send()
      return
    }
    validators = revalidation.headers
  }
  const source = openSource({
    leases,
    idleTimeoutMs: idleTimeoutMs(config),
    snapshot,
    report,
    params,
    after,
    limit: query.limit ?? null,
    encoder: createEncoder(format, report.columns, {
      header: query.header !== 0,
      bom: query.bom === 1,
      delimiter: DELIMITERS[query.delimiter ?? ','] ?? ','
    }, { report: report.name, key: report.key, keyIndexes: report.keyIndexes }),
    signal: controller.signal,
    nextLink: (next) => nextLink(request, next),
    progress,
    onRetry: (retry) => { request.log.warn({ report: report.name, ...retry }, 'keyset page taken up on another server') }
  })
  let given = false
  const give = (): void => {
    if (given) return
    given = true
    giveSlots(streaming, key)
  }
  try {
    await pump(reply, source, {
      controller,
      streamTimeoutMs: config.streamTimeoutMs,
      stallTimeoutMs: config.stallTimeoutMs,
      streams,
      headers: { ...disposition, ...validators },
      onEnd: (outcome, error) => {
        give()
        const seconds = Number(process.hrtime.bigint() - started) / 1e9
        const streamLabels = { ...labels, strategy: report.strategy, outcome }
        metrics.ended.inc(streamLabels)
        metrics.duration.observe(streamLabels, seconds)
        request.log[outcome === 'complete' || outcome === 'client_closed' ? 'info' : 'warn']({
          report: report.name,
          format,
          strategy: report.strategy,
          rows: progress.rows,
          bytes: progress.bytes,
          ms: Math.round(seconds * 1000),
          outcome,
          ...(error === undefined || outcome === 'client_closed' ? {} : { reason: error.message })
        }, 'stream ended')
      }
    })
  } catch (error) {
    give()
    // a snapshot the source never started on is still ours to give up (a no-op once it has)
    snapshot?.destroy()
    throw error
  }
}

function giveSlots (streaming: Streaming, key: FastifyRequest['apiKey']): void {
  streaming.streams.give()
  if (key?.maxStreams !== undefined) streaming.keyStreams.give(key.id)
}

function idleTimeoutMs (config: Config): number {
  return Math.min(config.streamTimeoutMs + IDLE_MARGIN_MS, MAX_TIMER_MS)
}

/**
 * HEAD /reports/{name}[.ext]: the headers a GET would get, and the planner's row estimate for
 * these parameters. Runs nothing but EXPLAIN.
 */
export async function headReport (streaming: Streaming, report: Report, request: FastifyRequest, reply: FastifyReply, suffix: string | undefined): Promise<void> {
  const { format, after, params, disposition } = readRequest(report, request, reply, suffix)
  reply.headers(disposition)
  const limit = (request.query as ReportQuery).limit ?? null
  const query = compileQuery(report, params, { after: startBound(report, after), limit })
  // a stream slot too: HEADs use the pool, so they must not crowd it past MAX_STREAMS
  const { streams } = streaming
  if (!streams.take()) throw new ServiceUnavailable(`all ${streams.max} stream slots are busy (MAX_STREAMS)`, streaming.config.leaseTimeoutMs)
  try {
    const lease = await streaming.leases.acquire()
    try {
      await lease.begin()
      if (report.version !== undefined) {
        const revalidation = await revalidate(lease, request, representationOf(report, request, format, after, params))
        if (revalidation.notModified) {
          await lease.end()
          notModified(reply, revalidation)
          return
        }
        reply.headers(revalidation.headers)
      }
      const result = await lease.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>({ text: `explain (format json) ${query.sql}`, values: [...query.parameters] })
      await lease.end()
      reply.header('x-estimated-rows', String(result.rows[0]?.['QUERY PLAN'][0].Plan['Plan Rows'] ?? 0))
    } finally {
      lease.destroy()
    }
  } finally {
    streams.give()
  }
}

/** What the bytes of this response depend on besides the rows (src/stream/conditional.ts). */
function representationOf (report: Report, request: FastifyRequest, format: FormatName, after: AfterValue[] | null, params: ParamValues): Representation {
  const query = request.query as ReportQuery
  return {
    report,
    params,
    format,
    contentType: contentTypes[format],
    options: {
      limit: query.limit ?? null,
      after,
      header: query.header !== 0,
      bom: query.bom === 1,
      delimiter: DELIMITERS[query.delimiter ?? ','] ?? ',',
      download: query.download === 1,
      // the JSON format's `next`, when a limit may make one, is this URL's, host and query as sent
      next: format === 'json' && query.limit !== undefined ? nextLink(request, '') : null
    }
  }
}

/**
 * Format, `after` and report parameters of a request; sets the headers they decide, but for
 * Content-Disposition, which only a streamed body gets: an error body is no file.
 */
function readRequest (report: Report, request: FastifyRequest, reply: FastifyReply, suffix: string | undefined): { format: FormatName, after: AfterValue[] | null, params: ParamValues, disposition: Record<string, string> } {
  const query = request.query as ReportQuery
  const format = negotiate(suffix, query.format, request.headers.accept)
  if (format === undefined) throw notAcceptable(suffix ?? query.format, request.headers.accept)
  const after = query.after === undefined ? null : parseAfter(query.after, report.key.length)
  const params: Record<string, unknown> = {}
  for (const name of Object.keys(report.params)) params[name] = query[name]
  reply.headers({ 'content-type': contentTypes[format], 'cache-control': 'no-store' })
  const disposition: Record<string, string> = format === 'csv' || format === 'xlsx' || format === 'parquet' || format === 'arrow' || query.download === 1
    ? { 'content-disposition': `attachment; filename="${report.name}.${format}"` }
    : {}
  return { format, after, params, disposition }
}

function notAcceptable (asked: string | undefined, accept: string | undefined): NotAcceptable {
  const served = FORMATS.join(', ')
  if (asked !== undefined) return new NotAcceptable(`format "${asked}" is not served; formats: ${served}`)
  return new NotAcceptable(`none of the types in Accept (${accept ?? ''}) is served: ${Object.values(contentTypes).map((type) => type.split(';')[0]).join(', ')}`)
}

/** The same request, resuming after `next`: the JSON format's link to the following page. */
function nextLink (request: FastifyRequest, next: string): string {
  const [path, query = ''] = request.url.split('?', 2) as [string, string?]
  const params = new URLSearchParams(query)
  params.set('after', next)
  // absolute when the Host header makes one; a client that sent none or garbage gets a path
  const origin = /^[A-Za-z0-9.-]+(:\d+)?$|^\[[0-9A-Fa-f:.]+\](:\d+)?$/.test(request.host) ? `${request.protocol}://${request.host}` : ''
  return `${origin}${path}?${params.toString()}`
}
