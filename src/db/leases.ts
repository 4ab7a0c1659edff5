import net from 'node:net'
import type pg from 'pg'
import { ServiceUnavailable } from '../errors.js'
import { cancelKey, socketOf } from './pg-internals.js'
import { rowTapOf, type RowSink } from './rowtap.js'
import { Turns, type GiveBack, type TurnKind } from './turns.js'
import { ConnectionGivenUp, serverGone } from './unavailable.js'

export interface LeaseSettings {
  /** PostgreSQL's statement_timeout for every statement run under the lease */
  readonly statementTimeoutMs: number
  /** how long to wait for a connection before the request is refused */
  readonly leaseTimeoutMs: number
  /** STALL_TIMEOUT_MS: bounds the grace a silent database gets past statement_timeout */
  readonly stallTimeoutMs: number
  /** POOL_MAX: connections at most (src/db/turns.ts takes turns at them) */
  readonly poolMax: number
}

export interface AcquireOptions {
  /** what the connection is for, which decides its place in line (src/db/turns.ts); `first` unless said */
  readonly turn?: TurnKind
  /** servers this owner already saw fail, to be used only when nothing else is left */
  readonly avoid?: ReadonlySet<string>
  /** the primary only, never a replica (where a sync token's snapshot is taken: src/stream/sync.ts) */
  readonly primary?: boolean
}

// statement_timeout is enforced by the server, so it cannot end a statement whose answer never
// arrives: a network path gone silent (a dead NAT entry, a firewall dropping packets, a host
// frozen) leaves the socket waiting for as long as the kernel retransmits, minutes. Past the
// statement timeout and this much more (the server's cancel and its error on their way back),
// the connection is given up from our side.
const MAX_ANSWER_GRACE_MS = 5000
// How long a destroyed lease waits for its cancelled statement to end before it closes the
// connection anyway (a cancel that cannot arrive must not hold the connection).
const CANCEL_WAIT_MS = 1000

/**
 * A connection checked out for one owner (a request, or one page of it). One release path:
 * `end()` returns a connection in a known state to the pool; anything else (an error, an abort,
 * a query still running) destroys it, after cancelling whatever it was running.
 */
export class Lease {
  readonly client: pg.PoolClient
  /** the server it is a connection to: `primary`, `replica1`, ... */
  readonly server: string
  #settings: LeaseSettings
  #signal: AbortSignal | undefined
  #busy = false
  #ended = false
  #silence: Error | undefined
  /** the statement running now, if any */
  #running: Promise<unknown> | undefined
  #onAbort = (): void => { this.destroy(new Error('request aborted')) }
  #onError = (): void => { this.destroy() }
  #onGone: (error: unknown) => void
  #giveTurn: GiveBack

  constructor (client: pg.PoolClient, settings: LeaseSettings, signal: AbortSignal | undefined, server = 'primary', onGone: (error: unknown) => void = () => {}, giveTurn: GiveBack = () => {}) {
    this.client = client
    this.#giveTurn = giveTurn
    this.server = server
    this.#onGone = onGone
    this.#settings = settings
    this.#signal = signal
    // pg-pool takes its own 'error' listener off a checked-out client: without ours, a backend
    // killed mid-stream throws an unhandled 'error' and takes the process down (node-postgres #2187).
    client.on('error', this.#onError)
    signal?.addEventListener('abort', this.#onAbort, { once: true })
  }

  /**
   * Starts the read-only transaction every report statement runs in. SET LOCAL rather than
   * session settings: they end with the transaction and survive transaction pooling.
   */
  async begin (isolation: 'read committed' | 'repeatable read' = 'read committed', idleTimeoutMs?: number): Promise<void> {
    await this.query(
      `begin isolation level ${isolation} read only;` +
      `set local statement_timeout = ${this.#settings.statementTimeoutMs};` +
      (idleTimeoutMs === undefined ? '' : `set local idle_in_transaction_session_timeout = ${idleTimeoutMs};`) +
      "set local timezone = 'UTC'; set local datestyle = 'ISO'; set local intervalstyle = 'postgres'"
    )
  }

  /** Runs one statement; an abort of the owner while it runs cancels it on the server. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow> (config: string | pg.QueryConfig | pg.QueryArrayConfig): Promise<pg.QueryResult<R>> {
    if (this.#ended) throw this.#silence ?? new Error('lease already ended')
    this.#busy = true
    const { statementTimeoutMs, stallTimeoutMs } = this.#settings
    const answerMs = statementTimeoutMs + Math.min(stallTimeoutMs, MAX_ANSWER_GRACE_MS)
    const timer = setTimeout(() => { this.#silent(answerMs) }, answerMs)
    try {
      const running = this.client.query(config as pg.QueryConfig) as Promise<pg.QueryResult<R>>
      this.#running = running
      return await running
    } catch (error) {
      const failure = this.#silence ?? error
      if (serverGone(failure)) this.#onGone(failure)
      throw failure
    } finally {
      clearTimeout(timer)
      this.#busy = false
    }
  }

  /**
   * The database said nothing for longer than any statement may run: the path to it is gone.
   * Destroying pg's socket fails the pending query at once (with the reason recorded here)
   * instead of when the kernel gives up retransmitting.
   */
  #silent (answerMs: number): void {
    this.#silence = new ConnectionGivenUp(`the database did not answer within ${answerMs} ms (STATEMENT_TIMEOUT_MS and a grace): connection given up`)
    // no cancel can reach a server that does not answer: the socket goes at once
    this.#busy = false
    this.destroy(this.#silence)
    socketOf(this.client).destroy()
  }

  /**
   * Runs one statement whose rows go to `sink` as the bytes PostgreSQL sent (src/db/rowtap.ts),
   * never through pg's parser; resolves once the statement is complete, with its columns and the
   * number of rows the sink took. `formats`: a format code per result column (0 text, 1
   * binary), where the sink reads some in binary; null, all text.
   */
  async queryInto (config: string | pg.QueryConfig, sink: RowSink, formats: readonly number[] | null = null): Promise<{ fields: pg.FieldDef[], rows: number }> {
    const tap = rowTapOf(this.client)
    tap.capture(sink)
    let result: pg.QueryResult
    try {
      result = await this.query(formats === null ? config : withFormats(config, formats))
    } catch (error) {
      // a statement that failed says why itself, whatever the sink did
      tap.release(true)
      throw error
    }
    // a sink that threw fails the statement
    tap.release()
    // rows that reached pg's parser instead would be missing from the response, silently
    if (result.rows.length !== 0 || (result.rowCount !== null && result.rowCount !== tap.captured)) {
      throw new Error(`the row tap took ${tap.captured} of the statement's ${result.rowCount ?? '?'} rows`)
    }
    return { fields: result.fields, rows: tap.captured }
  }

  /** Commits (a read-only transaction: nothing to write) and returns the connection to the pool. */
  async end (): Promise<void> {
    if (this.#ended) return
    try {
      await this.query('commit')
    } catch (error) {
      this.destroy(error as Error)
      return
    }
    this.#finish()
    this.#release()
  }

  /**
   * Gives the connection up for good. A statement still running is cancelled first: closing the
   * socket alone leaves a backend that is sorting or scanning at work until it next writes.
   */
  destroy (error: Error = new Error('lease destroyed')): void {
    if (this.#ended) return
    const running = this.#busy ? this.#running : undefined
    this.#finish()
    if (running === undefined) {
      this.#release(error)
      return
    }
    // The connection closes once the cancel has been delivered (the server closed the cancel's
    // socket) or the statement has ended, not at once: behind PgBouncer a cancel finds its
    // statement only while this client is still connected (the pooler forgets a client's cancel
    // key when it leaves, and a closed client leaves the server at work until it next writes).
    const delivered = cancelBackend(this.client)
    let released = false
    const release = (): void => {
      if (released) return
      released = true
      clearTimeout(timer)
      this.#release(error)
    }
    const timer = setTimeout(release, CANCEL_WAIT_MS)
    running.then(release, release)
    delivered.then(release, release)
  }

  #finish (): void {
    this.#ended = true
    this.#signal?.removeEventListener('abort', this.#onAbort)
  }

  #release (error?: Error): void {
    // release() puts the pool's own idle listener back in the same tick
    this.client.removeListener('error', this.#onError)
    this.client.release(error)
    this.#giveTurn()
  }
}

/** What code that runs report queries leases from: one server's Leases, or the read router (src/db/servers.ts). */
export interface LeaseSource {
  /** how many servers it leases from: the most a failed keyset page is tried on */
  readonly servers: number
  acquire (signal?: AbortSignal, options?: AcquireOptions): Promise<Lease>
}

/**
 * A statement a retry on another server can cure: its server went away (src/db/unavailable.ts),
 * or, on a hot standby, cancelled it because replaying the primary's changes needed what it read
 * (a recovery conflict, 40001; PostgreSQL reports a conflict over a lock or buffer pin as 40P01).
 */
export function retriable (error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return serverGone(error) || code === '40001' || code === '40P01'
}

/**
 * The one way code gets a connection. Waits for its turn (src/db/turns.ts: a new request at most
 * LEASE_TIMEOUT_MS, then 503; a running stream's next page in rotation with the others), then
 * checks one out of pg-pool, which never has to queue: turns are never more than its connections.
 */
export class Leases implements LeaseSource {
  readonly pool: pg.Pool
  readonly settings: LeaseSettings
  /** the server's name in logs and metrics: `primary`, `replica1`, ... (never its URL) */
  readonly name: string
  readonly servers = 1
  readonly turns: Turns
  #onGone: (error: unknown) => void

  constructor (pool: pg.Pool, settings: LeaseSettings, onWait: (turn: TurnKind, seconds: number) => void = () => {}, name = 'primary', onGone: (error: unknown) => void = () => {}) {
    this.pool = pool
    this.settings = settings
    this.turns = new Turns(settings, onWait)
    this.name = name
    this.#onGone = onGone
  }

  async acquire (signal?: AbortSignal, options: AcquireOptions = {}): Promise<Lease> {
    const give = await this.turns.take(options.turn ?? 'first', signal)
    let client: pg.PoolClient
    try {
      client = await this.pool.connect()
    } catch (error) {
      give()
      // pg-pool's connectionTimeoutMillis (LEASE_TIMEOUT_MS) bounds a new connection's start
      if ((error as Error).message.includes('timeout exceeded when trying to connect')) {
        throw new ServiceUnavailable(`no database connection could be opened within LEASE_TIMEOUT_MS (${this.settings.leaseTimeoutMs} ms)`, this.settings.leaseTimeoutMs)
      }
      if (serverGone(error)) this.#onGone(error)
      throw error
    }
    if (signal?.aborted === true) {
      client.release()
      give()
      signal.throwIfAborted()
    }
    return new Lease(client, this.settings, signal, this.name, this.#onGone, give)
  }
}

/**
 * Sends PostgreSQL's CancelRequest for the statement `client` is running, over a new connection
 * (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-CANCELING-REQUESTS).
 * Resolves once the server closed the socket, its answer; a cancel that arrives late finds the
 * backend idle or gone, which is harmless. Settles at once where there is no cancel key to send
 * (the server sent none, or a pg that no longer keeps it: src/db/pg-internals.ts rejects).
 */
async function cancelBackend (client: pg.PoolClient): Promise<void> {
  const key = cancelKey(client)
  if (key === null) return
  const { host, port, processID, secretKey } = key
  const packet = Buffer.alloc(16)
  packet.writeInt32BE(16, 0)
  packet.writeInt32BE(80877102, 4)
  packet.writeInt32BE(processID, 8)
  packet.writeInt32BE(secretKey, 12)
  const socket = host.startsWith('/')
    ? net.connect(`${host}/.s.PGSQL.${port}`)
    : net.connect(port, host)
  socket.on('error', () => {})
  socket.setTimeout(5000, () => socket.destroy())
  // the server closes the connection once it has the request; closing our side first, as
  // end() would, makes PgBouncer drop the request as an unexpected EOF (libpq waits too)
  socket.on('end', () => socket.destroy())
  // flowing, or 'end' never comes: the server sends nothing but its close
  socket.resume()
  socket.write(packet)
  await new Promise<void>((resolve) => socket.on('close', () => resolve()))
}

/**
 * A query that asks each result column in the format `formats` gives (0 text, 1 binary), through
 * the connection's per-column Bind (perColumnFormats in src/db/pg-internals.ts): in the extended
 * protocol, whether or not it has parameters (a FETCH has none).
 */
function withFormats (config: string | pg.QueryConfig, formats: readonly number[]): pg.QueryConfig {
  const query = typeof config === 'string' ? { text: config } : config
  // pg's typings know neither queryMode nor an array for binary
  return { ...query, queryMode: 'extended', binary: formats } as unknown as pg.QueryConfig
}
