import fp from 'fastify-plugin'
import type pg from 'pg'
import { Leases } from '../db/leases.js'
import { createPool } from '../db/pool.js'

declare module 'fastify' {
  interface FastifyInstance {
    pool: pg.Pool
    leases: Leases
  }
}

/** The database cannot be used at start; the message says why (never with a password). */
export class DatabaseUnusable extends Error {
  override name = 'DatabaseUnusable'
}

/** The pool, and the leases every database use goes through; closed with the app. */
export default fp(async (app, { connectionString }: { connectionString: string }) => {
  const pool = createPool(app.config, connectionString)
  const leases = new Leases(pool, app.config, (seconds) => app.metrics.leaseWait.observe(seconds))
  // one session first: a wrong URL or password is said as such, not as the first report that
  // failed to load against it
  try {
    const lease = await leases.acquire()
    try {
      await lease.begin()
      await lease.end()
    } finally {
      lease.destroy()
    }
  } catch (error) {
    await pool.end()
    throw new DatabaseUnusable(`cannot use the database: ${(error as Error).message}`)
  }
  app.decorate('pool', pool)
  app.decorate('leases', leases)
  app.addHook('onClose', async () => { await pool.end() })
}, { name: 'db', dependencies: ['config', 'metrics'] })
