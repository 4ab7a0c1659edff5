// Thrift's compact protocol, the little of it Parquet's page headers and footer need: structs of
// integer, boolean, binary, struct and list fields, written as they are built.
// https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md
import { Out } from './out.js'

export const BOOL_TRUE = 1
export const BOOL_FALSE = 2
export const BYTE = 3
export const I32 = 5
export const I64 = 6
export const BINARY = 8
export const LIST = 9
export const STRUCT = 12

export class ThriftWriter {
  readonly out = new Out(256)
  #last: number[] = [0]

  #field (id: number, type: number): void {
    const last = this.#last[this.#last.length - 1]!
    const delta = id - last
    if (delta > 0 && delta <= 15) this.#byte((delta << 4) | type)
    else {
      this.#byte(type)
      this.#varint(zigzag(id))
    }
    this.#last[this.#last.length - 1] = id
  }

  #byte (b: number): void {
    this.out.ensure(1)[this.out.pos++] = b
  }

  #varint (n: number): void {
    const b = this.out.ensure(10)
    let o = this.out.pos
    while (n >= 128) {
      b[o++] = (n % 128) | 128
      n = Math.floor(n / 128)
    }
    b[o++] = n
    this.out.pos = o
  }

  /** An i8: one byte, two's complement (the compact protocol does not zigzag bytes). */
  i8 (id: number, n: number): this {
    this.#field(id, BYTE)
    this.#byte(n & 255)
    return this
  }

  i32 (id: number, n: number): this {
    this.#field(id, I32)
    this.#varint(zigzag(n))
    return this
  }

  /** An i64 of magnitude below 2^52 (sizes, offsets, counts). */
  i64 (id: number, n: number): this {
    this.#field(id, I64)
    this.#varint(zigzag(n))
    return this
  }

  bool (id: number, value: boolean): this {
    this.#field(id, value ? BOOL_TRUE : BOOL_FALSE)
    return this
  }

  binary (id: number, bytes: Uint8Array | string): this {
    this.#field(id, BINARY)
    this.#bytes(bytes)
    return this
  }

  #bytes (bytes: Uint8Array | string): void {
    const buffer = typeof bytes === 'string' ? Buffer.from(bytes) : bytes
    this.#varint(buffer.length)
    this.out.write(buffer)
  }

  /** A struct field; `body` writes its fields. */
  struct (id: number, body: (w: this) => void): this {
    this.#field(id, STRUCT)
    this.#nested(body)
    return this
  }

  #nested (body: (w: this) => void): void {
    this.#last.push(0)
    body(this)
    this.#byte(0)
    this.#last.pop()
  }

  #listHeader (id: number, size: number, type: number): void {
    this.#field(id, LIST)
    if (size < 15) this.#byte((size << 4) | type)
    else {
      this.#byte(0xf0 | type)
      this.#varint(size)
    }
  }

  /** A list of structs, each written by `body`. */
  structs<T> (id: number, items: readonly T[], body: (w: this, item: T) => void): this {
    this.#listHeader(id, items.length, STRUCT)
    for (const item of items) this.#nested((w) => { body(w, item) })
    return this
  }

  i32s (id: number, items: readonly number[]): this {
    this.#listHeader(id, items.length, I32)
    for (const item of items) this.#varint(zigzag(item))
    return this
  }

  strings (id: number, items: readonly string[]): this {
    this.#listHeader(id, items.length, BINARY)
    for (const item of items) this.#bytes(item)
    return this
  }

  /** Bytes already encoded as a list's elements (`count` structs), appended as they are. */
  encodedStructs (id: number, count: number, encoded: Uint8Array): this {
    this.#listHeader(id, count, STRUCT)
    this.out.write(encoded)
    return this
  }

  /** Ends the top-level struct and returns its bytes (a view until the next write). */
  end (): Buffer {
    this.#byte(0)
    return this.out.bytes()
  }
}

function zigzag (n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1
}
