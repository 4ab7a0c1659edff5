import type pg from 'pg'
import { acquire, type Lease, type LeaseSettings } from '../db/leases.js'
import { RAW_TYPES } from '../db/pool.js'
import { BadRequest, RowCapExceeded } from '../errors.js'
import type { Encoder, Row } from '../formats/types.js'
import { compileQuery, type KeyBound } from '../reports/compile.js'
import type { ParamValues, Report } from '../reports/report.js'
import { afterParam, type AfterValue } from './keys.js'

export interface SourceOptions {
  readonly pool: pg.Pool
  readonly lease: LeaseSettings
  readonly report: Report
  readonly params: ParamValues
  /** resume after this key (the `after` parameter, parsed) */
  readonly after: readonly AfterValue[] | null
  readonly limit: number | null
  readonly encoder: Encoder
  /** aborts the page in flight (client gone, timeout, shutdown) */
  readonly signal: AbortSignal
  /** the URL of the page after `after`, for the JSON format's `next` */
  readonly nextLink: (after: string) => string
  readonly stats: { rows: number, bytes: number }
}

// A page is sized to come out near this many characters of output: small enough that memory
// stays flat whatever the row width, large enough that per-page round trips vanish.
const PAGE_CHARS = 1 << 20
// The first page is small so the first byte leaves early; later pages adapt to the row width.
const FIRST_PAGE_ROWS = 1000
const MAX_PAGE_ROWS = 50_000

/**
 * The keyset strategy: `WHERE (key) > (last key) ORDER BY key LIMIT n`, each page on a connection
 * leased for that page only, so a paused client holds nothing in the database. Yields one encoded
 * chunk per page; the first chunk carries the format's head, the last its tail.
 */
export async function * keysetSource (options: SourceOptions): AsyncGenerator<Buffer, void, undefined> {
  const { report, limit, encoder, stats } = options
  const cap = report.maxRows ?? Infinity
  let bound: KeyBound[] | null = options.after === null ? null : bounds(report, options.after)
  let pageRows = FIRST_PAGE_ROWS
  let prefix = encoder.head()
  let checkAfter = bound !== null
  for (;;) {
    const remaining = limit === null ? Infinity : limit - stats.rows
    const capRemaining = cap - stats.rows
    // one row past whichever bound ends the response tells whether more rows exist
    const want = Math.min(pageRows, remaining + 1, capRemaining + 1)
    const rows = await fetchPage(options, bound, want, checkAfter)
    checkAfter = false
    const full = rows.length === want
    const endsAtLimit = full && want === remaining + 1
    const endsAtCap = full && !endsAtLimit && want === capRemaining + 1
    const batch = endsAtLimit || endsAtCap ? rows.slice(0, want - 1) : rows
    let text = prefix + encoder.rows(batch)
    prefix = ''
    stats.rows += batch.length
    const last = batch[batch.length - 1]
    if (endsAtLimit && last !== undefined) {
      text += encoder.tail(options.nextLink(afterParam(report.keyIndexes.map((index) => [report.columns[index]!, last[index] ?? null]))))
    } else if (!full) {
      text += encoder.tail(null)
    }
    const chunk = Buffer.from(text)
    stats.bytes += chunk.length
    yield chunk
    if (endsAtCap) throw new RowCapExceeded(cap)
    if (endsAtLimit || !full || last === undefined) return
    bound = report.keyIndexes.map((index, i) => {
      const value = last[index]
      if (value === null || value === undefined) throw new Error(`key column "${report.key[i]}" is NULL: keys must never be NULL`)
      return { value, castType: report.columns[index]!.castType }
    })
    pageRows = Math.max(1, Math.min(MAX_PAGE_ROWS, Math.round(PAGE_CHARS * batch.length / text.length)))
  }
}

async function fetchPage (options: SourceOptions, bound: KeyBound[] | null, limit: number, checkAfter: boolean): Promise<Row[]> {
  const lease = await acquire(options.pool, options.lease, options.signal)
  try {
    await lease.begin()
    if (checkAfter && bound !== null) await checkBounds(lease, bound)
    const query = compileQuery(options.report, options.params, { after: bound, limit })
    const result = await lease.query({ text: query.sql, values: [...query.parameters], rowMode: 'array', types: RAW_TYPES })
    await lease.end()
    return result.rows as Row[]
  } finally {
    lease.destroy()
  }
}

/** An `after` PostgreSQL cannot read as the key's types is the client's mistake: 400, naming it. */
async function checkBounds (lease: Lease, bound: KeyBound[]): Promise<void> {
  const casts = bound.map((b, i) => `cast($${i + 1}::text as ${b.castType})`).join(', ')
  try {
    await lease.query({ text: `select ${casts}`, values: bound.map((b) => b.value) })
  } catch (error) {
    if (typeof (error as { code?: unknown }).code === 'string' && (error as { code: string }).code.startsWith('22')) {
      throw new BadRequest(`after: ${(error as Error).message}`)
    }
    throw error
  }
}

function bounds (report: Report, after: readonly AfterValue[]): KeyBound[] {
  return after.map((value, i) => ({ value, castType: report.columns[report.keyIndexes[i]!]!.castType }))
}
