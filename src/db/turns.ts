import { ServiceUnavailable } from '../errors.js'

/**
 * What a connection is wanted for, which decides its place in line:
 * - `first`: a new request's first statement (a first page, a HEAD's EXPLAIN, a version query, a
 *   check). Goes first, and waits at most LEASE_TIMEOUT_MS: past it the request is refused with a
 *   503 before any byte was sent.
 * - `next`: a later page of a response that has begun. Waits its turn with no lease timeout: the
 *   stream is slowed, never cut, for waiting (only a database that gives no turn at all for
 *   STALL_TIMEOUT_MS cuts it).
 * - `hold`: a cursor, which keeps its connection for the whole response. Waits like `first`, and
 *   only while fewer cursors than the pool less its reserve for pages hold connections: a keyset
 *   crowd beside the cursors still gets its turns.
 */
export type TurnKind = 'first' | 'next' | 'hold'

export interface TurnSettings {
  /** POOL_MAX: the connections there are to take turns at */
  readonly poolMax: number
  readonly leaseTimeoutMs: number
  readonly stallTimeoutMs: number
}

/** Held connections: given back exactly once, by the lease that took it. */
export type GiveBack = () => void

interface Waiter {
  readonly kind: TurnKind
  readonly grant: (give: GiveBack) => void
}

/**
 * Turns at one server's pool, in front of pg-pool: pg-pool's own queue is one first-come line
 * with one timeout, in which a running stream's next page waits behind new requests and is cut
 * when the timeout strikes. Here a connection is taken only with a turn, so pg-pool never makes
 * anyone wait, and the line has two parts:
 *
 * - new requests (`first`, `hold`) in the order they came, served before pages: their first page
 *   is small (100 rows), and a request that is to be refused is refused before its first byte;
 * - running streams' pages (`next`) in the order they came. A stream asks for its next page only
 *   once its last one is in, so it joins the line behind every stream already waiting: the pages
 *   take turns in rotation, and the wait of each grows with the crowd, never past a turn each.
 */
export class Turns {
  readonly poolMax: number
  /** the most connections cursors may hold at once: the pool less a quarter (at least one) */
  readonly holdMax: number
  #settings: TurnSettings
  /** connections taken and not given back */
  #busy = 0
  #holding = 0
  #first: Waiter[] = []
  #next: Waiter[] = []
  #onWait: (kind: TurnKind, seconds: number) => void

  constructor (settings: TurnSettings, onWait: (kind: TurnKind, seconds: number) => void = () => {}) {
    this.#settings = settings
    this.poolMax = settings.poolMax
    this.holdMax = Math.max(1, settings.poolMax - Math.max(1, Math.floor(settings.poolMax / 4)))
    this.#onWait = onWait
  }

  /** Connections taken now (by turns) and held by cursors. */
  get busy (): number { return this.#busy }
  get holding (): number { return this.#holding }
  /** Waiting now: new requests (and cursors), and running streams' next pages. */
  get waitingFirst (): number { return this.#first.length }
  get waitingNext (): number { return this.#next.length }

  /**
   * Resolves once it is `kind`'s turn at a connection, with the function that gives it back; or
   * rejects: a 503 when a new request's wait outlasts LEASE_TIMEOUT_MS, an error when a page got
   * no turn for STALL_TIMEOUT_MS, the signal's reason when it aborts.
   */
  async take (kind: TurnKind, signal?: AbortSignal): Promise<GiveBack> {
    signal?.throwIfAborted()
    const since = performance.now()
    const line = kind === 'next' ? this.#next : this.#first
    return await new Promise<GiveBack>((resolve, reject) => {
      const leave = (error: unknown): void => {
        const at = line.indexOf(waiter)
        if (at < 0) return
        line.splice(at, 1)
        settle()
        reject(error)
      }
      const settle = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.#onWait(kind, (performance.now() - since) / 1000)
      }
      const onAbort = (): void => { leave(signal!.reason) }
      const waiter: Waiter = { kind, grant: (give) => { settle(); resolve(give) } }
      const { leaseTimeoutMs, stallTimeoutMs } = this.#settings
      const timer = kind === 'next'
        ? setTimeout(() => { leave(new Error(`no turn at a database connection within STALL_TIMEOUT_MS (${stallTimeoutMs} ms)`)) }, stallTimeoutMs)
        : setTimeout(() => { leave(this.#refusal(kind)) }, leaseTimeoutMs)
      signal?.addEventListener('abort', onAbort, { once: true })
      line.push(waiter)
      // served at once when a connection is free and nobody it must let go first is waiting
      this.#serve()
    })
  }

  #refusal (kind: TurnKind): ServiceUnavailable {
    const { leaseTimeoutMs } = this.#settings
    return kind === 'hold' && this.#holding >= this.holdMax
      ? new ServiceUnavailable(`all ${this.holdMax} connections cursor reports may hold are held, still after LEASE_TIMEOUT_MS (${leaseTimeoutMs} ms)`, leaseTimeoutMs)
      : new ServiceUnavailable(`no database connection free within LEASE_TIMEOUT_MS (${leaseTimeoutMs} ms)`, leaseTimeoutMs)
  }

  #free (kind: TurnKind): boolean {
    return this.#busy < this.poolMax && (kind !== 'hold' || this.#holding < this.holdMax)
  }

  #grant (kind: TurnKind): GiveBack {
    this.#busy++
    if (kind === 'hold') this.#holding++
    let given = false
    return () => {
      if (given) return
      given = true
      this.#busy--
      if (kind === 'hold') this.#holding--
      this.#serve()
    }
  }

  /** Hands free connections to the line: new requests first, then pages in rotation. */
  #serve (): void {
    while (this.#busy < this.poolMax) {
      const at = this.#first.findIndex((waiter) => this.#free(waiter.kind))
      const waiter = at >= 0 ? this.#first.splice(at, 1)[0] : this.#next.shift()
      if (waiter === undefined) return
      waiter.grant(this.#grant(waiter.kind))
    }
  }
}
