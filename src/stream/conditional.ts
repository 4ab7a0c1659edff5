import { createHash } from 'node:crypto'
import zlib from 'node:zlib'
import negotiate from '@fastify/accept-negotiator'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Lease, LeaseSource } from '../db/leases.js'
import { RAW_TYPES } from '../db/pool.js'
import type { FormatName } from '../formats/index.js'
import { builder, compileQuery } from '../reports/compile.js'
import type { ParamValues, Report } from '../reports/report.js'
import type { Sync } from './sync.js'

/**
 * The content types @fastify/compress compresses (src/app.ts gives it this as `customTypes`): its
 * default regex, which does not count application/x-ndjson, plus x-ndjson, plus the Arrow stream,
 * whose buffers are not compressed (it is as large as the CSV). XLSX and Parquet are compressed
 * inside, so they go as they are.
 */
export const COMPRESSIBLE_TYPES = /^text\/(?!event-stream)|(?:\+|\/)json(?:;|$)|\/x-ndjson(?:;|$)|\/vnd\.apache\.arrow\.stream(?:;|$)/

/** Everything a response's bytes depend on besides the rows: what its strong ETag is made of. */
export interface Representation {
  readonly report: Report
  readonly params: ParamValues
  readonly format: FormatName
  readonly contentType: string
  /** the request's options, as they shape the body and its headers (limit, after, CSV's, download, JSON's next link) */
  readonly options: Readonly<Record<string, unknown>>
}

/** What a versioned report answers: its validators, and whether the client's copy is current. */
export interface Revalidation {
  /** ETag, Cache-Control, Last-Modified when the version is a date or timestamp, Vary */
  readonly headers: Readonly<Record<string, string>>
  /** If-None-Match or If-Modified-Since says the client has this representation: 304 */
  readonly notModified: boolean
}

/**
 * A GET of a versioned report: the version query on a lease of its own, given back at once for a
 * keyset report; for a cursor report in the REPEATABLE READ transaction the cursor goes on in
 * (`snapshot`), unless the answer is a 304.
 */
export async function versionFirst (leases: LeaseSource, signal: AbortSignal, request: FastifyRequest, representation: Representation, idleTimeoutMs: number, sync?: Sync): Promise<{ revalidation: Revalidation, snapshot: Lease | undefined }> {
  const cursor = representation.report.strategy === 'cursor'
  // a cursor report's transaction goes on as the cursor's, so its connection is held from here;
  // with a sync, on the primary, where the snapshot that is its token is taken (src/stream/sync.ts)
  const lease = await leases.acquire(signal, { turn: cursor ? 'hold' : 'first', primary: cursor && sync !== undefined })
  let snapshot: Lease | undefined
  try {
    if (cursor) {
      await lease.begin('repeatable read', idleTimeoutMs)
      await sync?.read(lease)
    } else {
      await lease.begin()
    }
    const revalidation = await revalidate(lease, request, representation)
    if (cursor && !revalidation.notModified) snapshot = lease
    else await lease.end()
    return { revalidation, snapshot }
  } finally {
    if (snapshot === undefined) lease.destroy()
  }
}

/**
 * Runs the report's version query on `lease`, in the transaction begun on it (for a cursor report
 * the first statement of its REPEATABLE READ transaction, so the version and the rows come from
 * one snapshot), and weighs the request's preconditions against it (RFC 9110 section 13).
 */
export async function revalidate (lease: Lease, request: FastifyRequest, representation: Representation): Promise<Revalidation> {
  const { report, params } = representation
  if (report.version === undefined) throw new Error(`report "${report.name}" has no version`)
  const query = builder.selectFrom(report.version(builder, params).as('v')).selectAll().limit(2).compile()
  const { rows } = await lease.query<[string | null]>({ text: query.sql, values: [...query.parameters], rowMode: 'array', types: RAW_TYPES })
  if (rows.length > 1) throw new Error(`the version query of report "${report.name}" returned more than one row`)
  // no row at all (a version of something not there) is a value too: the same as NULL
  const version = rows[0]?.[0] ?? null
  return weigh(request, representation, version)
}

/** Answers 304 Not Modified: no body, the validators, none of the body's own headers. */
export function notModified (reply: FastifyReply, revalidation: Revalidation): void {
  reply.removeHeader('content-type')
  reply.removeHeader('content-disposition')
  reply.headers(revalidation.headers).code(304)
}

function weigh (request: FastifyRequest, representation: Representation, version: string | null): Revalidation {
  const coding = responseCoding(request, representation.contentType)
  const tag = `${entityTag(representation, version)}${coding === undefined ? '' : `-${coding}`}`
  const modified = representation.report.versionColumn?.json.kind === 'date' || representation.report.versionColumn?.json.kind === 'timestamp'
    ? lastModified(version)
    : undefined
  const headers: Record<string, string> = { etag: `"${tag}"`, 'cache-control': 'private, no-cache' }
  if (modified !== undefined) headers['last-modified'] = new Date(modified).toUTCString()
  // the tag names the content-coding, so the response varies by Accept-Encoding even when it is
  // not compressed; @fastify/compress adds nothing when it finds this
  if (COMPRESSIBLE_TYPES.test(representation.contentType)) headers.vary = 'accept-encoding'
  const ifNoneMatch = request.headers['if-none-match']
  const ifModifiedSince = request.headers['if-modified-since']
  let current = false
  if (ifNoneMatch !== undefined) {
    current = matches(ifNoneMatch, tag)
  } else if (ifModifiedSince !== undefined && modified !== undefined) {
    const since = Date.parse(ifModifiedSince)
    // a date later than now is invalid and ignored (RFC 9110 section 13.1.3)
    current = Number.isFinite(since) && since <= Date.now() && since >= modified
  }
  return { headers, notModified: current }
}

/**
 * A strong tag: the same bytes for the same tag, so everything the bytes depend on goes in. The
 * report's SQL and columns too: a report edited and the server restarted must not match a tag
 * of its old output just because the version query says the same.
 */
function entityTag (representation: Representation, version: string | null): string {
  const { report, params, format, options } = representation
  const sql = compileQuery(report, params, { after: null, limit: null }).sql
  const columns = report.columns.map((column) => [column.name, column.type])
  const hash = createHash('sha256').update(JSON.stringify([report.name, sql, columns, params, format, options, version]))
  // 128 bits: a collision would hand someone a stale copy, and this is far past that. Hex, so
  // that the coding's `-gzip` is the only dash in a tag
  return hash.digest('hex').slice(0, 32)
}

/**
 * If-None-Match against the current tag, by the weak comparison RFC 9110 section 13.1.2 asks
 * for: `W/` does not count, and `*` matches any representation there is.
 */
function matches (header: string, tag: string): boolean {
  if (header.trim() === '*') return true
  for (const [, opaque] of header.matchAll(/(?:W\/)?"([\x21\x23-\x7e\x80-\xff]*)"/g)) {
    if (opaque === tag) return true
  }
  return false
}

// @fastify/compress's own list, in its order of preference: zstd where zlib has it
const CODINGS = [...(typeof (zlib as { createZstdCompress?: unknown }).createZstdCompress === 'function' ? ['zstd'] : []), 'br', 'gzip', 'deflate', 'identity']

/**
 * The content-coding @fastify/compress will give this response, by its own rules and its own
 * negotiator: a gzip body is another representation, so its strong tag must differ (`-gzip`, as
 * Apache's mod_deflate does), and a HEAD must name the tag its GET would carry.
 */
export function responseCoding (request: FastifyRequest, contentType: string): string | undefined {
  if (request.headers['x-no-compression'] !== undefined || !COMPRESSIBLE_TYPES.test(contentType)) return undefined
  const accept = request.headers['accept-encoding']
  if (accept === undefined) return undefined
  const coding = negotiate(accept.toLowerCase().replace(/\*|x-gzip/gu, 'gzip'), CODINGS)
  return coding === null || coding === 'identity' ? undefined : coding
}

/**
 * A date or timestamp version as milliseconds, to the second (HTTP dates hold no more), never
 * later than now (RFC 9110 section 8.8.2.1); undefined for NULL, infinity and BC.
 * PostgreSQL writes it in ISO style and UTC: the lease sets both.
 */
function lastModified (version: string | null): number | undefined {
  if (version === null) return undefined
  const match = /^(\d{4,})-(\d\d)-(\d\d)(?: (\d\d):(\d\d):(\d\d)(?:\.\d+)?)?(?:([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?)?$/.exec(version)
  // years below 100 Date.UTC would read as 19xx; nothing polled was last changed then
  if (match === null || Number(match[1]) < 100) return undefined
  const [, year, month, day, hours = '0', minutes = '0', seconds = '0', sign, offsetHours = '0', offsetMinutes = '0', offsetSeconds = '0'] = match
  const offset = (sign === '-' ? -1 : 1) * (Number(offsetHours) * 3600 + Number(offsetMinutes) * 60 + Number(offsetSeconds)) * 1000
  const at = Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hours), Number(minutes), Number(seconds)) - offset
  if (!Number.isFinite(at)) return undefined
  return Math.min(at, Math.floor(Date.now() / 1000) * 1000)
}
