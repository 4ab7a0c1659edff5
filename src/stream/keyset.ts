import { retriable, type Lease } from '../db/leases.js'
import type { RowSink } from '../db/rowtap.js'
import { compileQuery, type KeyBound } from '../reports/compile.js'
import { checkBound, checkShape, startBound } from './checks.js'
import { encodeRows, rowKey } from './rows.js'
import { leaseInSync } from './sync.js'
import type { SourceOptions } from './types.js'

/**
 * The keyset strategy: `WHERE (key) > (last key) ORDER BY key LIMIT n`, each page on a connection
 * leased for that page only, so a paused client holds nothing in the database, and each page a
 * short statement of its own.
 *
 * A page whose server goes away, or cancels it (a replica's recovery conflict), is taken up on
 * another server, at most once per server: the rows it already gave stay in the batch, which the
 * encoder has taken once and for all, and the page goes on after the last of them, asking for
 * the rest. `WHERE key > last` makes that exact: no row twice, none left out.
 *
 * A report with `changes:` reads its first page in REPEATABLE READ on the primary and keeps that
 * page's snapshot as the response's (its sync token); every later page reads only rows committed
 * in it, on a server that has replayed it, so a row written while the download runs is left to
 * the next pull, never sent by both.
 */
export function keysetSource (options: SourceOptions): AsyncGenerator<Buffer, void, undefined> {
  const { leases, report, params, signal, sync } = options
  let first = true
  return encodeRows(options, startBound(report, options.after), async (want, bound, sink) => {
    // rows this page handed to the batch, over every server it was tried on, and the last one
    let taken = 0
    let lastData: Buffer | undefined
    let lastStart = 0
    let lastEnd = 0
    let lastOwned = false
    const counted: RowSink = {
      row (data, start, end) {
        sink.row(data, start, end)
        taken++
        lastData = data
        lastStart = start
        lastEnd = end
        lastOwned = false
      },
      // the last row, for a retry on another server to resume behind, copied out of the read buffer
      settle () {
        sink.settle?.()
        if (lastData === undefined || lastOwned) return
        lastData = Buffer.from(lastData.subarray(lastStart, lastEnd))
        lastStart = 0
        lastEnd = lastData.length
        lastOwned = true
      }
    }
    const failed = new Set<string>()
    for (;;) {
      // a server lost after the page's last row came: nothing more to ask
      if (taken === want) return taken
      const after: readonly KeyBound[] | null = lastData === undefined
        ? bound
        : rowKey(report, lastData, lastStart).map((value, i) => ({ value, castType: report.columns[report.keyIndexes[i]!]!.castType }))
      // the first page is a new request's, bounded by LEASE_TIMEOUT_MS; later ones take their turn
      const turn = first ? 'first' : 'next'
      // a sync: the page that takes the response's snapshot reads in it (REPEATABLE READ), on the
      // primary; every other page, a retry of that one too, reads only rows committed in it
      const within = sync?.within ?? null
      const lease = sync === undefined
        ? await leases.acquire(signal, { avoid: failed, turn })
        : await leaseInSync(leases, sync, signal, { avoid: failed, turn }, (lease) => lease.begin(sync.taken ? 'read committed' : 'repeatable read'))
      try {
        await page(lease, after, want - taken, counted, within)
        return taken
      } catch (error) {
        if (signal.aborted || !retriable(error)) throw error
        failed.add(lease.server)
        if (failed.size >= leases.servers) throw error
        options.onRetry?.({ server: lease.server, rowsKept: taken, reason: (error as Error).message })
      } finally {
        lease.destroy()
      }
    }
  })

  async function page (lease: Lease, after: readonly KeyBound[] | null, want: number, sink: RowSink, within: string | null): Promise<void> {
    if (sync === undefined) await lease.begin()
    if (first && after !== null) await checkBound(lease, after)
    const changes = sync === undefined ? undefined : { column: sync.column, since: sync.since, within }
    first = false
    const query = compileQuery(report, params, { after, limit: want, changes })
    const { fields } = await lease.queryInto({ text: query.sql, values: [...query.parameters] }, sink, options.encoder.formats ?? null)
    checkShape(report, fields)
    await lease.end()
  }
}
