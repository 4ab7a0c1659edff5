import fp from 'fastify-plugin'
import type pg from 'pg'
import { createPool } from '../db/pool.js'

declare module 'fastify' {
  interface FastifyInstance {
    pool: pg.Pool
  }
}

/** The pool every database use goes through (by way of a lease); closed with the app. */
export default fp(async (app, { connectionString }: { connectionString: string }) => {
  const pool = createPool(app.config, connectionString)
  app.decorate('pool', pool)
  app.addHook('onClose', async () => { await pool.end() })
}, { name: 'db', dependencies: ['config'] })
