import type { Lease, LeaseSource } from '../db/leases.js'
import { BadRequest } from '../errors.js'
import type { Encoder } from '../formats/types.js'
import type { KeyBound } from '../reports/compile.js'
import type { ParamValues, Report } from '../reports/report.js'
import { cursorSource } from './cursor.js'
import type { AfterValue } from './keys.js'
import { keysetSource } from './keyset.js'

export interface SourceOptions {
  readonly leases: LeaseSource
  /** the cursor's server-side net: idle_in_transaction_session_timeout */
  readonly idleTimeoutMs: number
  /**
   * the cursor strategy's transaction, already begun (REPEATABLE READ) and its snapshot taken by
   * the report's version query: the cursor reads the rows of that snapshot
   */
  readonly snapshot?: Lease | undefined
  readonly report: Report
  readonly params: ParamValues
  /** resume after this key (the `after` parameter, parsed) */
  readonly after: readonly AfterValue[] | null
  readonly limit: number | null
  readonly encoder: Encoder
  /** aborts the database work in flight (client gone, timeout, shutdown) */
  readonly signal: AbortSignal
  /** the URL of the page after `after`, for the JSON format's `next` */
  readonly nextLink: (after: string) => string
  /** told of every chunk: rows and bytes sent so far */
  readonly progress: Progress
  /** told when a keyset page is taken up on another server: which one failed, how, and the rows it had given */
  readonly onRetry?: ((retry: { server: string, rowsKept: number, reason: string }) => void) | undefined
}

export interface Progress {
  sent (rows: number, bytes: number): void
}

/** A report's rows as encoded chunks, by the report's strategy. */
export function openSource (options: SourceOptions): AsyncGenerator<Buffer, void, undefined> {
  return options.report.strategy === 'cursor' ? cursorSource(options) : keysetSource(options)
}

/** The request's `after` as key bounds typed like the key columns. */
export function startBound (report: Report, after: readonly AfterValue[] | null): KeyBound[] | null {
  return after === null ? null : after.map((value, i) => ({ value, castType: report.columns[report.keyIndexes[i]!]!.castType }))
}

/**
 * The columns a batch came back with must be those learnt at start, which the encoders were made
 * for: a table altered under a running server (`select *`) would otherwise be encoded as the old
 * shape. Not the client's doing, so not a 4xx.
 */
export function checkShape (report: Report, fields: ReadonlyArray<{ name: string, dataTypeID: number }>): void {
  const same = fields.length === report.columns.length && fields.every((field, i) => field.dataTypeID === report.columns[i]!.oid && field.name === report.columns[i]!.name)
  if (!same) {
    throw new Error(`report "${report.name}" now returns columns (${fields.map((f) => f.name).join(', ')}) other than those learnt at start: restart Sluice to serve its new shape`)
  }
}

/** An `after` PostgreSQL cannot read as the key's types is the client's mistake: 400, naming it. */
export async function checkBound (lease: Lease, bound: readonly KeyBound[]): Promise<void> {
  const casts = bound.map((b, i) => `cast($${i + 1}::text as ${b.castType})`).join(', ')
  try {
    await lease.query({ text: `select ${casts}`, values: bound.map((b) => b.value) })
  } catch (error) {
    const code = (error as { code?: unknown }).code
    if (typeof code === 'string' && code.startsWith('22')) throw new BadRequest(`after: ${(error as Error).message}`)
    throw error
  }
}
