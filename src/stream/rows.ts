import type { RowSink } from '../db/rowtap.js'
import { RowCapExceeded } from '../errors.js'
import { Drive } from '../formats/drive.js'
import { int32 } from '../formats/out.js'
import type { KeyBound } from '../reports/compile.js'
import type { Report } from '../reports/report.js'
import { afterParam } from './keys.js'
import type { SourceOptions } from './types.js'

/**
 * Runs the query for up to `want` rows in key order following `bound`, the key of the last row
 * already sent (or the request's `after`, or null at the start), its DataRows going to `sink`;
 * resolves with the number of rows the query returned. Fewer than asked means the rows are done.
 */
export type FetchRows = (want: number, bound: readonly KeyBound[] | null, sink: RowSink) => Promise<number>

// The first batch is small, so the first byte leaves early and a report of very wide rows cannot
// fill memory before its width is known; later batches adapt to the row width (0006).
const FIRST_BATCH_ROWS = 100
// so that narrow rows do not make a page of millions (0006)
const MAX_BATCH_ROWS = 100_000

/**
 * What both strategies share: asks `fetch` for batches of rows and yields each encoded as one
 * chunk, the first with the format's head, the last with its tail. Applies `limit` (and the JSON
 * format's `next` link) and `max_rows`, asking one row past either to learn whether more exist.
 *
 * One batch is read ahead: the next is asked of the database as soon as the last is in, so the
 * database makes it while the socket takes the last. Memory stays two batches (and, for XLSX, the
 * XML of the one being deflated off the thread), and a keyset page
 * read ahead has given its connection back before it waits for the client.
 */
export async function * encodeRows (options: SourceOptions, bound: readonly KeyBound[] | null, fetch: FetchRows): AsyncGenerator<Buffer, void, undefined> {
  const { report, limit, progress } = options
  const drive = new Drive(options.encoder, options.spares)
  const cap = report.maxRows ?? Infinity
  // rows encoded so far, over all batches
  let rows = 0
  const begin = (bound: readonly KeyBound[] | null, want: number): Promise<Step> => {
    const remaining = limit === null ? Infinity : limit - rows
    const capRemaining = cap - rows
    const asked = Math.min(want, remaining + 1, capRemaining + 1)
    // the row past limit or max_rows, when asked for, only tells that there are more
    const batch = new Batch(drive, report.columns.length, asked === remaining + 1 || asked === capRemaining + 1 ? asked - 1 : asked)
    const done = fetch(asked, bound, batch).then((seen) => ({ batch, seen, asked, remaining, capRemaining }))
    // a batch read ahead may fail while the last one is still being sent: handled where awaited
    done.catch(() => {})
    return done
  }
  let next: Promise<Step> | undefined = begin(bound, FIRST_BATCH_ROWS)
  // the key of the last row sent, over all batches: a batch that only learns the limit was reached is empty
  let lastKey: string[] | undefined
  try {
    while (next !== undefined) {
      const { batch, seen, asked, remaining, capRemaining } = await next
      next = undefined
      rows += batch.encoded
      const full = seen === asked
      const endsAtLimit = full && asked === remaining + 1
      const endsAtCap = full && !endsAtLimit && asked === capRemaining + 1
      lastKey = batch.lastKey(report) ?? lastKey
      const key = lastKey
      // the `after` that resumes right behind the last row sent
      const resume = key === undefined ? null : afterParam(report.keyIndexes.map((index, i) => [report.columns[index]!, key[i]!]))
      // what the encoder took sizes the next batch, and the encoder takes the batch before the
      // next batch's rows can reach it
      const bytes = drive.size()
      const more = full && !endsAtLimit && !endsAtCap
      // the next batch comes out near the bytes this response's share of STREAM_MEMORY_MB allows
      // now (src/stream/budget.ts): 4 MiB alone, less in a crowd (docs/decisions/0006-batch-size.md)
      const want = more ? Math.max(1, Math.min(MAX_BATCH_ROWS, Math.round(options.memory.batchBytes() * batch.encoded / bytes))) : 0
      if (more && key === undefined) throw new Error('a full batch without a last key')
      // the encoder takes the batch now; one that finishes its chunk off the thread (XLSX's
      // deflate) does so while the next batch's rows come in
      const made = drive.chunkLater({
        final: endsAtLimit || !full,
        next: endsAtLimit && resume !== null ? options.nextLink(resume) : null,
        after: resume,
        sync: options.sync?.token ?? null
      }, more ? Math.ceil(bytes * 1.25 * want / Math.max(1, batch.encoded)) : bytes)
      if (more && key !== undefined) {
        const after = report.keyIndexes.map((index, i) => ({ value: key[i]!, castType: report.columns[index]!.castType }))
        next = begin(after, want)
      }
      const chunk = await made
      progress.sent(batch.encoded, chunk.length)
      yield chunk
      if (endsAtCap) throw new RowCapExceeded(cap)
    }
  } finally {
    // ended early (client gone, timeout): the read-ahead's query was cancelled through the
    // signal, its lease is given back once it has failed (one still waiting for a connection
    // gets it, or the 503, within LEASE_TIMEOUT_MS, and gives it back at once)
    await next?.catch(() => {})
  }
}

interface Step {
  readonly batch: Batch
  /** rows the query returned */
  readonly seen: number
  readonly asked: number
  readonly remaining: number
  readonly capRemaining: number
}

/** One batch's rows, handed to the encoder as they come off the socket. */
class Batch implements RowSink {
  /** rows given to the encoder */
  encoded = 0
  #drive: Drive
  #fields: number
  #take: number
  // the last row: in the socket's read buffer until `settle` copies it out
  #last: Buffer | undefined
  #lastStart = 0
  #lastEnd = 0
  #lastOwned = false

  constructor (drive: Drive, fields: number, take: number) {
    this.#drive = drive
    this.#fields = fields
    this.#take = take
  }

  row (data: Buffer, start: number, end: number): void {
    // the encoders read as many fields as the report had at start; a row of another shape
    // (checkShape says which, once the statement is over) must not be read past its end
    if (((data[start]! << 8) | data[start + 1]!) !== this.#fields) throw new Error(`a row of ${(data[start]! << 8) | data[start + 1]!} fields, not the report's ${this.#fields}`)
    if (this.encoded === this.#take) return
    this.#drive.row(data, start, end)
    this.encoded++
    this.#last = data
    this.#lastStart = start
    this.#lastEnd = end
    this.#lastOwned = false
  }

  settle (): void {
    if (this.#last === undefined || this.#lastOwned) return
    this.#last = Buffer.from(this.#last.subarray(this.#lastStart, this.#lastEnd))
    this.#lastStart = 0
    this.#lastEnd = this.#last.length
    this.#lastOwned = true
  }

  /** The key columns' texts of the last row written, if any. */
  lastKey (report: Report): string[] | undefined {
    return this.#last === undefined ? undefined : rowKey(report, this.#last, this.#lastStart)
  }
}

/** The key columns' texts of the DataRow at `data[start..]`. */
export function rowKey (report: Report, data: Buffer, start: number): string[] {
  const fields: Array<string | null> = []
  let p = start + 2
  const wanted = Math.max(...report.keyIndexes)
  for (let i = 0; i <= wanted; i++) {
    const length = int32(data, p)
    p += 4
    fields.push(length < 0 ? null : data.toString('utf8', p, p + length))
    if (length > 0) p += length
  }
  return report.keyIndexes.map((index, i) => {
    const value = fields[index]
    if (value === null || value === undefined) throw new Error(`key column "${report.key[i]}" is NULL: keys must never be NULL`)
    return value
  })
}
