import { ServiceUnavailable, TooManyStreams } from '../errors.js'
import { MemoryBudget, type StreamMemory } from './budget.js'

/** Whom a response runs for: the request's API key, when keys are on (src/auth/keys.ts). */
export interface StreamOwner {
  readonly id: string
  /** that key's own cap on its running responses, if it has one */
  readonly maxStreams: number | undefined
}

/** One admitted response's hold on the caps, until it is given back. */
export interface Ticket {
  /** the key whose max_streams it counts against, if any */
  readonly key: string | undefined
  /** its share of STREAM_MEMORY_MB (src/stream/budget.ts) */
  readonly memory: StreamMemory
}

/**
 * Every cap on report responses, GET and HEAD alike, and the responses running under them: a
 * request takes a ticket before it touches the database and gives it back once it is over.
 *
 * - MAX_STREAMS for the process: past it, 503 with Retry-After, at once (no queue). HEADs count,
 *   since they lease from the same pool.
 * - an API key's max_streams: past it, 429, checked first, so a key at its own cap is told so
 *   whatever the rest of the process is doing; other keys are not affected.
 * - STREAM_MEMORY_MB: a response that would leave each one less than the smallest batch is
 *   refused with 503, at once; the admitted share the budget batch by batch.
 *
 * Graceful shutdown waits here for the running responses (`idle`) and stops the streamed ones
 * that outlast its deadline (`stopAll`; src/app.ts).
 */
export class Admission {
  /** MAX_STREAMS */
  readonly max: number
  /** STREAM_MEMORY_MB, shared among the admitted */
  readonly memory: MemoryBudget
  #retryAfterMs: number
  /** tickets taken and not given back */
  #held = new Set<Ticket>()
  /** per API key with max_streams: its tickets held */
  #perKey = new Map<string, number>()
  #idle: Array<() => void> = []
  #stops = new Set<() => void>()
  #whenIdle: (() => void) | undefined

  /**
   * `retryAfterMs`: what the 503 of a full process tells the client to wait (LEASE_TIMEOUT_MS);
   * `memoryBytes`: STREAM_MEMORY_MB in bytes; `whenIdle`: told each time the last running
   * response is over
   */
  constructor (max: number, retryAfterMs: number, memoryBytes: number, whenIdle?: () => void) {
    this.max = max
    this.#whenIdle = whenIdle
    this.memory = new MemoryBudget(memoryBytes)
    this.#retryAfterMs = retryAfterMs
  }

  /** Responses admitted and not yet over. */
  get active (): number { return this.#held.size }

  /** Admits one response for `owner`, or throws the 429 or 503 that refuses it. */
  take (owner: StreamOwner | undefined): Ticket {
    const cap = owner?.maxStreams
    const key = cap === undefined ? undefined : owner?.id
    const keyActive = key === undefined ? 0 : this.#perKey.get(key) ?? 0
    if (cap !== undefined && keyActive >= cap) {
      throw new TooManyStreams(`this API key already runs its max_streams (${cap}) streams`)
    }
    if (this.#held.size >= this.max) {
      throw new ServiceUnavailable(`all ${this.max} stream slots are busy (MAX_STREAMS)`, this.#retryAfterMs)
    }
    if (!this.memory.admits()) {
      throw new ServiceUnavailable(`the memory running streams may hold (STREAM_MEMORY_MB, ${Math.round(this.memory.bytes / 2 ** 20)} MiB) cannot take another stream`, this.#retryAfterMs)
    }
    const ticket: Ticket = Object.freeze({ key, memory: this.memory.join() })
    this.#held.add(ticket)
    if (key !== undefined) this.#perKey.set(key, keyActive + 1)
    return ticket
  }

  /** Gives a ticket back; giving it again does nothing, so every way out of a response may. */
  give (ticket: Ticket): void {
    if (!this.#held.delete(ticket)) return
    ticket.memory.leave()
    if (ticket.key !== undefined) {
      const left = (this.#perKey.get(ticket.key) ?? 1) - 1
      if (left === 0) this.#perKey.delete(ticket.key)
      else this.#perKey.set(ticket.key, left)
    }
    if (this.#held.size === 0) {
      for (const resolve of this.#idle.splice(0)) resolve()
      this.#whenIdle?.()
    }
  }

  /** Resolves once no response is running. */
  async idle (): Promise<void> {
    if (this.#held.size === 0) return
    await new Promise<void>((resolve) => this.#idle.push(resolve))
  }

  /** Stops every streamed response running (graceful shutdown's deadline). */
  stopAll (): void {
    for (const stop of this.#stops) stop()
  }

  /** A streamed response's way to be stopped by `stopAll`; returns what forgets it again. */
  track (stop: () => void): () => void {
    this.#stops.add(stop)
    return () => this.#stops.delete(stop)
  }
}
