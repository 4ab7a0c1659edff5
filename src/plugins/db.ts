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

/** The pool, and the leases every database use goes through; closed with the app. */
export default fp(async (app, { connectionString }: { connectionString: string }) => {
  const pool = createPool(app.config, connectionString)
  app.decorate('pool', pool)
  app.decorate('leases', new Leases(pool, app.config, (seconds) => app.metrics.leaseWait.observe(seconds)))
  app.addHook('onClose', async () => { await pool.end() })
}, { name: 'db', dependencies: ['config', 'metrics'] })
