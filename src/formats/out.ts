/** Bytes a row format's first batch starts in (its 100 rows; an Out grows as it must). */
export const FIRST_ROOM = 64 * 1024

/**
 * The bytes of one chunk, written in place: encoders read `buf` and `pos` into locals, write, and
 * store `pos` back. `ensure` first, for the most a write can take.
 */
export class Out {
  buf: Buffer
  pos = 0

  /** `spare`: a buffer of at least `size` bytes to write into instead of a new one */
  constructor (size: number, spare?: Buffer) {
    this.buf = spare ?? Buffer.allocUnsafe(size)
  }

  /** Room for `n` more bytes; returns the (possibly new) buffer. */
  ensure (n: number): Buffer {
    const need = this.pos + n
    if (need > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2))
      this.buf.copy(grown, 0, 0, this.pos)
      this.buf = grown
    }
    return this.buf
  }

  write (bytes: Uint8Array): void {
    this.ensure(bytes.length).set(bytes, this.pos)
    this.pos += bytes.length
  }

  /**
   * Moves what `from` holds to the end of this Out and leaves `from` empty. Into an empty Out
   * nothing is copied: the two exchange buffers, and `from` goes on in this one's.
   */
  take (from: Out): void {
    if (this.pos === 0) {
      const buf = this.buf
      this.buf = from.buf
      this.pos = from.pos
      from.buf = buf
    } else {
      this.write(from.bytes())
    }
    from.pos = 0
  }

  /** What was written: a view, valid for as long as nobody writes past it. */
  bytes (): Buffer {
    return this.buf.subarray(0, this.pos)
  }
}

// Buffers smaller than this are not kept for reuse: Node may cut them out of its shared pool.
const SPARE_MIN = 64 * 1024
// Spares kept at once: between two batches a response frees the chunk before the one being sent
// (that one is still in the socket), so one is enough; an older one would only be held.
const SPARES_KEPT = 1

/**
 * The buffers of a response's chunks once the socket (or the compressor) is done with them, for
 * the next batches to be written into instead of new ones. A batch's buffer is megabytes, and a
 * new one per batch leaves megabytes of garbage per batch: V8 frees an ArrayBuffer only when a
 * collection finds it dead, and with the byte path making almost no JS objects the collection
 * that does is the one its external-memory limit forces, tens of MB later
 * (docs/decisions/0008-stream-memory.md).
 */
export class Spares {
  #free: Buffer[] = []
  readonly #taken: ((reused: boolean) => void) | undefined

  /** `taken`: told of every take, whether a spare was there to reuse */
  constructor (taken?: (reused: boolean) => void) {
    this.#taken = taken
  }

  /**
   * Called before a spare is taken: gives back every chunk released by now (the pump sets it,
   * src/stream/pump.ts, since only it knows what the socket has taken).
   */
  poll: () => void = () => {}

  /** A chunk nobody reads any more: its whole buffer may be written again. */
  give (chunk: Buffer): void {
    // a view into a larger buffer (a shared pool, or an encoder's own) is not ours to give
    if (chunk.byteOffset !== 0 || chunk.buffer.byteLength < SPARE_MIN || chunk.buffer instanceof SharedArrayBuffer) return
    this.#free.push(Buffer.from(chunk.buffer))
    if (this.#free.length > SPARES_KEPT) this.#free.shift()
  }

  /**
   * A spare of at least `size` bytes and no more than twice that (a larger one, from before the
   * budget's shares shrank, is dropped rather than held), or undefined.
   */
  take (size: number): Buffer | undefined {
    this.poll()
    let best = -1
    for (let i = 0; i < this.#free.length; i++) {
      const length = this.#free[i]!.length
      if (length >= size && (best === -1 || length < this.#free[best]!.length)) best = i
    }
    const spare = best === -1 ? undefined : this.#free.splice(best, 1)[0]!
    const fits = spare !== undefined && spare.length <= 2 * size
    this.#taken?.(fits)
    return fits ? spare : undefined
  }
}

/** An int32 of a DataRow (big-endian), read without Buffer's bounds checks. */
export function int32 (data: Uint8Array, at: number): number {
  return (data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!
}
