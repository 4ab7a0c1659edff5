import type { FastifyReply, FastifyRequest } from 'fastify'
import { MAX_TIMER_MS, type Config } from '../config.js'
import type { Lease, LeaseSource } from '../db/leases.js'
import { ClientGone } from '../errors.js'
import { createEncoder, contentTypes } from '../formats/index.js'
import { Spares } from '../formats/out.js'
import type { Report } from '../reports/report.js'
import type { Metrics } from '../plugins/metrics.js'
import type { Admission } from './admission.js'
import { notModified, versionFirst, type Representation, type Revalidation } from './conditional.js'
import { pump, type Outcome } from './pump.js'
import { readRequest, type ReportRequest } from './request.js'
import { openSource } from './source.js'
import { Sync } from './sync.js'
import type { Progress } from './types.js'

/** What serving a report needs from the app. */
export interface Streaming {
  readonly config: Config
  readonly leases: LeaseSource
  /** every cap on report responses, and the responses running (src/stream/admission.ts) */
  readonly streams: Admission
  readonly metrics: Metrics
}

// How long past STREAM_TIMEOUT_MS the server itself ends a cursor session idle in our transaction:
// the net under our own timers, should this process freeze. Not the stall timeout: the next FETCH
// waits until the client has drained the last batch, which a slow reader takes its time over.
const IDLE_MARGIN_MS = 5000

/** GET /reports/{name}[.ext]: reads, admits, and streams one report (docs/http.md section 3). */
export async function serveReport (streaming: Streaming, report: Report, request: FastifyRequest, reply: FastifyReply, suffix: string | undefined): Promise<void> {
  const asked = readAndDescribe(report, request, reply, suffix)
  const { config, leases, streams } = streaming
  const ticket = streams.take(request.apiKey)
  const record = recorder(streaming.metrics, request, report, asked)
  const controller = new AbortController()
  // headers only a response that streams gets (pump sends them with the first chunk): the
  // disposition, a versioned report's validators, and a sync token, known once the first page read
  const streamed: Record<string, string> = { ...asked.disposition }
  const sync = report.sync === undefined ? undefined : new Sync(report, asked.changedSince?.snapshot ?? null, (token) => { streamed['sluice-sync-token'] = token })
  let snapshot: Lease | undefined
  try {
    // a versioned report: its version first, on a short lease, or for a cursor in the snapshot the
    // cursor then reads (docs/http.md section 3)
    if (report.version !== undefined) {
      let checked: { revalidation: Revalidation, snapshot: Lease | undefined }
      try {
        const signal = AbortSignal.any([controller.signal, request.signal])
        checked = await versionFirst(leases, signal, request, representationOf(report, request, asked), idleTimeoutMs(config), sync)
      } catch (error) {
        // the client left while the version was read: nobody to answer, nothing went wrong
        throw request.signal.aborted ? new ClientGone() : error
      }
      const { revalidation } = checked
      snapshot = checked.snapshot
      if (revalidation.notModified) {
        streams.give(ticket)
        record.ended('not_modified')
        notModified(reply, revalidation)
        await reply.send()
        return
      }
      Object.assign(streamed, revalidation.headers)
    }
    const spares = new Spares((reused) => { streaming.metrics.buffers.inc({ source: reused ? 'reused' : 'new' }) })
    const source = openSource({
      leases,
      idleTimeoutMs: idleTimeoutMs(config),
      snapshot,
      report,
      params: asked.params,
      after: asked.after,
      limit: asked.limit,
      encoder: createEncoder(asked.format, report.columns, asked.csv, { report: report.name, key: report.key, keyIndexes: report.keyIndexes }, { offThread: true, binary: true }),
      signal: controller.signal,
      nextLink: (next) => nextLink(request, next),
      memory: ticket.memory,
      spares,
      progress: record.progress,
      sync,
      onRetry: (retry) => { request.log.warn({ report: report.name, ...retry }, 'keyset page taken up on another server') }
    })
    await pump(reply, source, {
      controller,
      streamTimeoutMs: config.streamTimeoutMs,
      stallTimeoutMs: config.stallTimeoutMs,
      streams,
      headers: streamed,
      spares,
      onEnd: (outcome, error) => {
        streams.give(ticket)
        record.ended(outcome, error)
      }
    })
  } catch (error) {
    streams.give(ticket)
    // a snapshot the source never started on is still ours to give up (a no-op once it has)
    snapshot?.destroy()
    throw error
  }
}

/**
 * Reads the request (src/stream/request.ts) and sets the headers it decides, but for
 * Content-Disposition, which only a streamed body gets: an error body is no file.
 */
export function readAndDescribe (report: Report, request: FastifyRequest, reply: FastifyReply, suffix: string | undefined): ReportRequest {
  const asked = readRequest(report, request, suffix)
  reply.headers({ 'content-type': contentTypes[asked.format], 'cache-control': 'no-store' })
  return asked
}

/** One response's metrics and its log line: rows and bytes as they go, and how it ended. */
function recorder (metrics: Metrics, request: FastifyRequest, report: Report, { format }: ReportRequest): { progress: Progress, ended (outcome: Outcome | 'not_modified', error?: Error): void } {
  const started = process.hrtime.bigint()
  const labels = { report: report.name, format }
  let rows = 0
  let bytes = 0
  return {
    progress: {
      sent (batchRows: number, batchBytes: number) {
        rows += batchRows
        bytes += batchBytes
        metrics.rows.inc(labels, batchRows)
        metrics.bytes.inc(labels, batchBytes)
      }
    },
    ended (outcome, error) {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      const streamLabels = { ...labels, strategy: report.strategy, outcome }
      metrics.ended.inc(streamLabels)
      metrics.duration.observe(streamLabels, seconds)
      const ms = Math.round(seconds * 1000)
      const about = { report: report.name, format, strategy: report.strategy }
      if (outcome === 'not_modified') {
        request.log.info({ ...about, ms, outcome }, 'not modified')
        return
      }
      const reason = error === undefined || outcome === 'client_closed' ? {} : { reason: error.message }
      request.log[outcome === 'complete' || outcome === 'client_closed' ? 'info' : 'warn']({ ...about, rows, bytes, ms, outcome, ...reason }, 'stream ended')
    }
  }
}

function idleTimeoutMs (config: Config): number {
  return Math.min(config.streamTimeoutMs + IDLE_MARGIN_MS, MAX_TIMER_MS)
}

/** What the bytes of this response depend on besides the rows (src/stream/conditional.ts). */
export function representationOf (report: Report, request: FastifyRequest, asked: ReportRequest): Representation {
  const { format, csv } = asked
  return {
    report,
    params: asked.params,
    format,
    contentType: contentTypes[format],
    // in this order: the tag hashes it
    options: {
      limit: asked.limit,
      after: asked.after,
      header: csv.header,
      bom: csv.bom,
      delimiter: csv.delimiter,
      download: asked.download,
      // only when asked: the tags of every other request stay what they were
      ...(asked.changedSince === null ? {} : { changed_since: asked.changedSince.token }),
      // the JSON format's `next`, when a limit may make one, is this URL's, host and query as sent
      next: format === 'json' && asked.limit !== null ? nextLink(request, '') : null
    }
  }
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
