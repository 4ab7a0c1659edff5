/** The most a batch's output may come to, with memory to spare (docs/decisions/0006-batch-size.md). */
export const MAX_BATCH_BYTES = 4 << 20
/** The least: below it a keyset page's round trips and plan cost more than its rows. */
export const MIN_BATCH_BYTES = 64 << 10
/**
 * What a running response holds for each byte of its batch's output: the chunk being sent, the
 * next batch being written (its buffer set aside at 1.25 times the last one's size), and what a
 * columnar encoder keeps of its columns or a compressor of its window. Measured by the crowd
 * bench (docs/decisions/0008-stream-memory.md).
 */
export const HELD_PER_BATCH_BYTE = 3

/**
 * STREAM_MEMORY_MB: what all running responses hold together, shared out batch by batch.
 *
 * Each response is a member from admission to its end. At every batch it asks how large the
 * batch may be: an equal share of the budget among the members, and no more than what the others
 * have not reserved, so batches shrink as streams are added and grow back, at their next batch,
 * as streams leave. A new request that would leave a share below the smallest batch is refused
 * (src/stream/admission.ts): past that the budget cannot take more.
 *
 * While a crowd gathers, the members that came first hold their larger batches until their next
 * one; a newcomer meanwhile gets the smallest batch, so what is reserved can pass the budget by at
 * most one smallest batch per member, for one batch's time.
 */
export class MemoryBudget {
  /** STREAM_MEMORY_MB in bytes */
  readonly bytes: number
  #members = 0
  #reserved = 0

  constructor (bytes: number) {
    this.bytes = bytes
  }

  /** Responses sharing the budget now. */
  get members (): number { return this.#members }
  /** Bytes the members' batches have reserved now: what /metrics calls the budget in use. */
  get reserved (): number { return this.#reserved }

  /** The most that can be reserved at once: the budget, and the smallest batch of every member while a crowd gathers. */
  get ceiling (): number { return this.bytes + this.#members * HELD_PER_BATCH_BYTE * MIN_BATCH_BYTES }

  /** Whether one more member would still get the smallest batch. */
  admits (): boolean {
    return this.bytes / (this.#members + 1) >= HELD_PER_BATCH_BYTE * MIN_BATCH_BYTES
  }

  /** A new member's share; `leave()` once the response is over. */
  join (): StreamMemory {
    this.#members++
    let reserved = 0
    let left = false
    return {
      batchBytes: () => {
        if (left) return MIN_BATCH_BYTES
        const fair = this.bytes / this.#members
        const free = this.bytes - this.#reserved + reserved
        const allowance = Math.floor(Math.max(HELD_PER_BATCH_BYTE * MIN_BATCH_BYTES, Math.min(fair, free, HELD_PER_BATCH_BYTE * MAX_BATCH_BYTES)))
        this.#reserved += allowance - reserved
        reserved = allowance
        return Math.floor(allowance / HELD_PER_BATCH_BYTE)
      },
      leave: () => {
        if (left) return
        left = true
        this.#members--
        this.#reserved -= reserved
        reserved = 0
      }
    }
  }
}

/** One response's share of the budget. */
export interface StreamMemory {
  /** How many bytes of output the next batch may come to; reserves what it holds until the next call. */
  batchBytes (): number
  /** Gives the share back; again does nothing. */
  leave (): void
}
