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

  /** What was written: a view, valid for as long as nobody writes past it. */
  bytes (): Buffer {
    return this.buf.subarray(0, this.pos)
  }
}

/** An int32 of a DataRow (big-endian), read without Buffer's bounds checks. */
export function int32 (data: Uint8Array, at: number): number {
  return (data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!
}
