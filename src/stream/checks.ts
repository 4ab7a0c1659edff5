import type { Lease } from '../db/leases.js'
import { BadRequest } from '../errors.js'
import type { KeyBound } from '../reports/compile.js'
import type { Report } from '../reports/report.js'
import type { AfterValue } from './keys.js'

// What both strategies (cursor.ts, keyset.ts) do around their statements: the request's `after`
// as a bound, checked by PostgreSQL, and the shape of the rows checked against the report's.

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
