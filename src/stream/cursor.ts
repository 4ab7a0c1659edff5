import { compileQuery } from '../reports/compile.js'
import { checkBound, checkShape, startBound } from './checks.js'
import { encodeRows } from './rows.js'
import type { SourceOptions } from './types.js'

/**
 * The cursor strategy: one read-only REPEATABLE READ transaction, one snapshot, one connection
 * for the whole response, and a server-side cursor read batch by batch.
 *
 * DECLARE + FETCH rather than a protocol-level portal (pg-query-stream): each FETCH is a statement
 * of its own, so statement_timeout bounds each batch (the first one carries the sort: a timeout
 * there is a 504), and between batches the session is idle in transaction, where
 * idle_in_transaction_session_timeout can end it. A suspended portal stays "active" for as long
 * as the client reads, so statement_timeout would cap the whole download and the idle timeout
 * would never fire.
 */
export async function * cursorSource (options: SourceOptions): AsyncGenerator<Buffer, void, undefined> {
  const { leases, report, params, signal, limit, sync } = options
  // a versioned report's transaction comes begun, its snapshot taken (and, with a sync, read); a
  // sync's cursor reads in the snapshot that is its token, taken on the primary (src/stream/sync.ts)
  const lease = options.snapshot ?? await leases.acquire(signal, { turn: 'hold', primary: sync !== undefined })
  try {
    if (options.snapshot === undefined) {
      await lease.begin('repeatable read', options.idleTimeoutMs)
      await sync?.read(lease)
    }
    const bound = startBound(report, options.after)
    if (bound !== null) await checkBound(lease, bound)
    // one row past limit or max_rows, as the batches ask: PostgreSQL can then sort top-N only
    const most = Math.min(limit ?? Infinity, report.maxRows ?? Infinity) + 1
    const changes = sync === undefined ? undefined : { column: sync.column, since: sync.since, within: null }
    const query = compileQuery(report, params, { after: bound, limit: Number.isFinite(most) ? most : null, changes })
    await lease.query({ text: `declare sluice_rows no scroll cursor for ${query.sql}`, values: [...query.parameters] })
    yield * encodeRows(options, bound, async (want, _bound, sink) => {
      const { fields, rows } = await lease.queryInto(`fetch ${want} from sluice_rows`, sink, options.encoder.formats ?? null)
      checkShape(report, fields)
      return rows
    })
    await lease.end()
  } finally {
    lease.destroy()
  }
}
