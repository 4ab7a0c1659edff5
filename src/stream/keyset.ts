import { compileQuery } from '../reports/compile.js'
import { encodeRows } from './rows.js'
import { checkBound, checkShape, startBound, type SourceOptions } from './source.js'

/**
 * The keyset strategy: `WHERE (key) > (last key) ORDER BY key LIMIT n`, each page on a connection
 * leased for that page only, so a paused client holds nothing in the database, and each page a
 * short statement of its own.
 */
export function keysetSource (options: SourceOptions): AsyncGenerator<Buffer, void, undefined> {
  const { leases, report, params, signal } = options
  let first = true
  return encodeRows(options, startBound(report, options.after), async (want, bound, sink) => {
    const lease = await leases.acquire(signal)
    try {
      await lease.begin()
      if (first && bound !== null) await checkBound(lease, bound)
      first = false
      const page = compileQuery(report, params, { after: bound, limit: want })
      const { fields, rows } = await lease.queryInto({ text: page.sql, values: [...page.parameters] }, sink)
      checkShape(report, fields)
      await lease.end()
      return rows
    } finally {
      lease.destroy()
    }
  })
}
