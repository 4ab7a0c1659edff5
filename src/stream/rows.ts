import { RowCapExceeded } from '../errors.js'
import type { Row } from '../formats/types.js'
import type { KeyBound } from '../reports/compile.js'
import { afterParam } from './keys.js'
import type { SourceOptions } from './source.js'

/**
 * Fetches up to `want` rows in key order following `bound`, the key of the last row already sent
 * (or the request's `after`, or null at the start). A short answer means the rows are done.
 */
export type FetchRows = (want: number, bound: readonly KeyBound[] | null) => Promise<Row[]>

// A batch is sized to come out near this many characters of output: small enough that memory
// stays flat whatever the row width, large enough that per-batch round trips vanish.
const BATCH_CHARS = 1 << 20
// The first batch is small, so the first byte leaves early and a report of very wide rows cannot
// fill memory before its width is known; later batches adapt to the row width.
const FIRST_BATCH_ROWS = 100
const MAX_BATCH_ROWS = 50_000

/**
 * What both strategies share: asks `fetch` for batches of rows and yields each encoded as one
 * chunk, the first with the format's head, the last with its tail. Applies `limit` (and the JSON
 * format's `next` link) and `max_rows`, asking one row past either to learn whether more exist.
 */
export async function * encodeRows (options: SourceOptions, bound: readonly KeyBound[] | null, fetch: FetchRows): AsyncGenerator<Buffer, void, undefined> {
  const { report, limit, encoder, progress } = options
  const cap = report.maxRows ?? Infinity
  let want = FIRST_BATCH_ROWS
  let prefix = encoder.head()
  // the last row sent, over all batches: a batch that only learns the limit was reached is empty
  let last: Row | undefined
  for (;;) {
    const remaining = limit === null ? Infinity : limit - progress.rows
    const capRemaining = cap - progress.rows
    const asked = Math.min(want, remaining + 1, capRemaining + 1)
    const rows = await fetch(asked, bound)
    const full = rows.length === asked
    const endsAtLimit = full && asked === remaining + 1
    const endsAtCap = full && !endsAtLimit && asked === capRemaining + 1
    const batch = endsAtLimit || endsAtCap ? rows.slice(0, asked - 1) : rows
    let text = prefix + encoder.rows(batch)
    prefix = ''
    last = batch[batch.length - 1] ?? last
    if (endsAtLimit) {
      const row = last
      text += encoder.tail(row === undefined ? null : options.nextLink(afterParam(report.keyIndexes.map((index) => [report.columns[index]!, row[index] ?? null]))))
    } else if (!full) {
      text += encoder.tail(null)
    }
    const chunk = Buffer.from(text)
    progress.sent(batch.length, chunk.length)
    yield chunk
    if (endsAtCap) throw new RowCapExceeded(cap)
    if (endsAtLimit || !full || last === undefined) return
    const row = last
    bound = report.keyIndexes.map((index, i) => {
      const value = row[index]
      if (value === null || value === undefined) throw new Error(`key column "${report.key[i]}" is NULL: keys must never be NULL`)
      return { value, castType: report.columns[index]!.castType }
    })
    want = Math.max(1, Math.min(MAX_BATCH_ROWS, Math.round(BATCH_CHARS * batch.length / text.length)))
  }
}
