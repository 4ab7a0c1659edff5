import type { FastifyBaseLogger } from 'fastify'
import pg from 'pg'
import type { Config } from '../config.js'
import { Leases, type AcquireOptions, type Lease, type LeaseSource } from './leases.js'
import { createPool } from './pool.js'
import type { TurnKind } from './turns.js'
import { serverGone } from './unavailable.js'

// How often each replica is checked, in the background: a request never waits for a check.
const CHECK_EVERY_MS = 1000
// A check that has no answer by then counts as a failed one (a replica that hangs is not usable).
const CHECK_TIMEOUT_MS = 2000

// Where a replica stands: in recovery (a standby at all), and how far its replay is behind what
// it received. Received and replayed the same: nothing to catch up, lag 0 however long ago the
// last change was. Otherwise the age of the last transaction it replayed, which grows while
// replay is behind (or paused) and new WAL arrives; it is NULL when the standby replayed no
// transaction since it started, which is why the checks also keep their own measure (below).
const CHECK_SQL = `select pg_is_in_recovery() as recovery,
  coalesce(case when pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() then 0
    else extract(epoch from now() - pg_last_xact_replay_timestamp()) * 1000 end, 0)::float8 as lag,
  pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '0/0')::float8 as received,
  pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::float8 as replayed`
// samples of WAL received and not yet replayed kept at most (one a check while behind)
const MAX_SAMPLES = 100

interface CheckRow { recovery: boolean, lag: number, received: number | null, replayed: number | null }

/** One read replica: its leases, and its state as the last check (or the last failure) left it. */
export class Replica {
  readonly leases: Leases
  healthy = false
  /** milliseconds behind, as last measured */
  lagMs = 0
  /** why it is not healthy, for the log */
  reason = 'not checked yet'
  #checks: pg.Pool
  #maxLagMs: number
  #log: FastifyBaseLogger
  #timer: NodeJS.Timeout | undefined
  #checking: Promise<void> | undefined
  /** when a check saw WAL up to `lsn` received, that replay had not reached by the last check */
  #behind: Array<{ at: number, lsn: number }> = []

  constructor (name: string, connectionString: string, config: Config, log: FastifyBaseLogger, onWait: (turn: TurnKind, seconds: number) => void) {
    this.#maxLagMs = config.replicaMaxLagMs
    this.#log = log
    const pool = createPool(config, connectionString)
    this.leases = new Leases(pool, config, onWait, name, (error) => { this.#down(`a query failed: ${(error as Error).message}`) })
    // the checks have a connection of their own, so a pool busy with reports never makes a
    // replica look down
    this.#checks = new pg.Pool({
      connectionString,
      max: 1,
      connectionTimeoutMillis: CHECK_TIMEOUT_MS,
      query_timeout: CHECK_TIMEOUT_MS,
      idleTimeoutMillis: 10_000,
      application_name: config.applicationName
    })
    this.#checks.on('error', () => {})
  }

  get name (): string { return this.leases.name }

  /** In use, plus waiting: how loaded its pool is. */
  get load (): number {
    const { turns } = this.leases
    return turns.busy + turns.waitingFirst + turns.waitingNext
  }

  /** The first check (awaited at start), then one every second. */
  async start (): Promise<void> {
    await this.check()
    this.#timer = setInterval(() => { void this.check() }, CHECK_EVERY_MS)
    this.#timer.unref()
  }

  /** One check at a time: a slow one is not piled on. */
  async check (): Promise<void> {
    this.#checking ??= this.#check().finally(() => { this.#checking = undefined })
    await this.#checking
  }

  async #check (): Promise<void> {
    let row: CheckRow | undefined
    try {
      row = (await this.#checks.query<CheckRow>(CHECK_SQL)).rows[0]
    } catch (error) {
      this.#down(`check failed: ${(error as Error).message}`)
      return
    }
    if (row === undefined) return this.#down('check returned nothing')
    this.lagMs = Math.max(0, row.lag, this.#ownLag(row))
    if (!row.recovery) return this.#down('not in recovery: not a standby')
    if (this.lagMs > this.#maxLagMs) return this.#down(`${Math.round(this.lagMs)} ms behind, past REPLICA_MAX_LAG_MS (${this.#maxLagMs} ms)`)
    if (!this.healthy) this.#log.info({ server: this.name, lagMs: Math.round(this.lagMs) }, 'replica usable')
    this.healthy = true
    this.reason = ''
  }

  /**
   * At least how long the replica has held WAL it did not replay: since the first check that saw
   * it received. Holds where the server's own measure has no replayed transaction to go by.
   */
  #ownLag ({ received, replayed }: CheckRow): number {
    if (received === null || replayed === null) return 0
    const now = Date.now()
    this.#behind = this.#behind.filter((sample) => sample.lsn > replayed)
    if (received > replayed) {
      this.#behind.push({ at: now, lsn: received })
      // the oldest sample is the measure: thin out the others
      if (this.#behind.length > MAX_SAMPLES) this.#behind.splice(1, 1)
    }
    return this.#behind.length === 0 ? 0 : now - this.#behind[0]!.at
  }

  #down (reason: string): void {
    if (this.healthy || this.reason !== reason) {
      this.#log.warn({ server: this.name, reason }, 'replica not usable: no new work until it is healthy again')
    }
    this.healthy = false
    this.reason = reason
  }

  async close (): Promise<void> {
    clearInterval(this.#timer)
    await this.#checking
    await Promise.all([this.leases.pool.end(), this.#checks.end()])
  }
}

/**
 * Where report queries go: to a healthy replica (the one with the fewest connections in use, in
 * turn when level), to the primary only while none is. A server that cannot be reached at
 * checkout is marked and the next one tried, so a replica gone between two checks costs a
 * request nothing.
 */
export class ReadServers implements LeaseSource {
  readonly primary: Leases
  readonly replicas: readonly Replica[]
  #turn = 0

  get servers (): number { return 1 + this.replicas.length }

  constructor (primary: Leases, replicas: readonly Replica[]) {
    this.primary = primary
    this.replicas = replicas
  }

  /** Some server can take work: a healthy replica, or else the primary (which /ready checks). */
  get usableReplicas (): number {
    return this.replicas.filter((replica) => replica.healthy).length
  }

  async acquire (signal?: AbortSignal, options: AcquireOptions = {}): Promise<Lease> {
    const tried = new Set(options.avoid)
    for (;;) {
      const replica = options.primary === true ? undefined : this.#pick(tried)
      if (replica === undefined) return await this.primary.acquire(signal, options)
      try {
        return await replica.leases.acquire(signal, options)
      } catch (error) {
        // marked down by its Leases already; anything else (the lease timeout, an abort) is the
        // request's answer
        if (!serverGone(error)) throw error
        tried.add(replica.name)
      }
    }
  }

  #pick (avoid: ReadonlySet<string>): Replica | undefined {
    const usable = this.replicas.filter((replica) => replica.healthy && !avoid.has(replica.name))
    if (usable.length === 0) return undefined
    const least = Math.min(...usable.map((replica) => replica.load))
    const level = usable.filter((replica) => replica.load === least)
    this.#turn = (this.#turn + 1) % 1_000_000
    return level[this.#turn % level.length]
  }

  async close (): Promise<void> {
    await Promise.all(this.replicas.map((replica) => replica.close()))
  }
}
