/** Bytes a row format's first batch starts in (its 100 rows; an Out grows as it must). */
export const FIRST_ROOM = 64 * 1024

/**
 * The bytes of one chunk, written in place: encoders read `buf` and `pos` into locals, write, and
 * store `pos` back. `ensure` first, for the most a write can take.
 */
export class Out {
  buf: Buffer
  pos = 0

  constructor (size: number) {
    this.buf = Buffer.allocUnsafe(size)
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

/** An int32 of a DataRow (big-endian), read without Buffer's bounds checks. */
export function int32 (data: Uint8Array, at: number): number {
  return (data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!
}
