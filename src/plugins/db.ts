import fp from 'fastify-plugin'
import type pg from 'pg'
import { Leases } from '../db/leases.js'
import { createPool } from '../db/pool.js'
import { ReadServers, Replica } from '../db/servers.js'
import type { TurnKind } from '../db/turns.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** the primary's pool (DATABASE_URL) */
    pool: pg.Pool
    /** the primary's leases: start-up checks and report loading */
    leases: Leases
    /** where report queries go: the replicas (REPLICA_URLS), the primary while none is usable */
    reads: ReadServers
  }
}

/** The database cannot be used at start; the message says why (never with a password). */
export class DatabaseUnusable extends Error {
  override name = 'DatabaseUnusable'
}

/**
 * A pool per server, and the leases every database use goes through; closed with the app.
 * POOL_MAX is per server. Replicas need not be up at start: one that is not gets no work until
 * its background check finds it healthy.
 */
export default fp(async (app, { connectionString }: { connectionString: string }) => {
  const pool = createPool(app.config, connectionString)
  const onWait = (turn: TurnKind, seconds: number): void => { app.metrics.leaseWait.observe({ turn }, seconds) }
  const leases = new Leases(pool, app.config, onWait)
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
  const replicas = app.config.replicaUrls.map((url, i) => new Replica(`replica${i + 1}`, url, app.config, app.log, onWait))
  const reads = new ReadServers(leases, replicas)
  app.addHook('onClose', async () => { await Promise.all([pool.end(), reads.close()]) })
  await Promise.all(replicas.map((replica) => replica.start()))
  app.decorate('pool', pool)
  app.decorate('leases', leases)
  app.decorate('reads', reads)
}, { name: 'db', dependencies: ['config', 'metrics'] })
