import pg from 'pg'
import type { Config } from '../config.js'
import { perColumnFormats, socketMaker } from './pg-internals.js'
import { installRowTap, readingSocket } from './rowtap.js'

/**
 * The one pool of the process. Session settings are not set here: every use runs inside a
 * transaction that sets them with SET LOCAL (src/db/leases.ts), which also holds behind PgBouncer's
 * transaction pooling, where session state does not survive.
 */
export function createPool (config: Config, connectionString: string): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: config.poolMax,
    // how long a request may wait for a connection before it is refused (503)
    connectionTimeoutMillis: config.leaseTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: config.applicationName,
    // a connection whose peer vanished without a FIN (a host gone, a NAT entry dropped) is found
    // by TCP keepalive probes rather than by the next query, minutes later; the silent path
    // during a query is bounded by the lease (src/db/leases.ts)
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    // the pool's own hook rather than its 'connect' event: a tap that cannot be installed then
    // fails this checkout, where the event would throw inside pg's socket handler
    onConnect: (client) => {
      installRowTap(client)
      perColumnFormats(client)
    },
    // one read buffer per connection, not one per read (src/db/rowtap.ts)
    stream: socketMaker(readingSocket)
  })
  // An idle client whose backend dies emits 'error' on the pool; without a listener the process
  // would crash. The pool drops that client by itself.
  pool.on('error', () => {})
  return pool
}

/** Rows as the text PostgreSQL sent: no Date, no number, no JSON.parse (docs/design.md, "Raw text rows"). */
export const RAW_TYPES = { getTypeParser: () => (value: string) => value }
