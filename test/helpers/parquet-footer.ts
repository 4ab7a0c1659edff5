// A Parquet file's footer read straight from its bytes (the Thrift compact protocol), for what a
// reader library does not show: each row group's sorting_columns and the raw bytes of its
// statistics. Written from the Parquet format's parquet.thrift, apart from the server's writer.

/** A Thrift struct: field id -> value (lists as arrays, structs as nested Fields). */
export type Fields = Map<number, unknown>

export interface SortingColumn { readonly column: number, readonly descending: boolean, readonly nullsFirst: boolean }
export interface ColumnStats { readonly path: string, readonly nullCount?: bigint, readonly min?: Buffer, readonly max?: Buffer }
export interface RowGroup { readonly rows: bigint, readonly sorting: SortingColumn[] | undefined, readonly columns: ColumnStats[] }
export interface Footer { readonly rows: bigint, readonly rowGroups: RowGroup[], readonly keyValues: Map<string, string> }

/** The FileMetaData at the end of a whole file: throws when the file has no footer. */
export function readFooter (file: Buffer): Footer {
  if (file.length < 12 || file.subarray(0, 4).toString('latin1') !== 'PAR1' || file.subarray(-4).toString('latin1') !== 'PAR1') {
    throw new Error('not a whole Parquet file: no PAR1 at both ends')
  }
  const length = file.readUInt32LE(file.length - 8)
  const reader = new CompactReader(file.subarray(file.length - 8 - length, file.length - 8))
  const meta = reader.struct()
  const rowGroups = ((meta.get(4) ?? []) as Fields[]).map((group): RowGroup => ({
    rows: group.get(3) as bigint,
    sorting: (group.get(4) as Fields[] | undefined)?.map((s) => ({ column: s.get(1) as number, descending: s.get(2) as boolean, nullsFirst: s.get(3) as boolean })),
    columns: (group.get(1) as Fields[]).map((chunk) => {
      const data = chunk.get(3) as Fields
      const stats = data.get(12) as Fields | undefined
      return { path: (data.get(3) as Buffer[]).map((part) => part.toString('utf8')).join('.'), nullCount: stats?.get(3) as bigint | undefined, min: stats?.get(6) as Buffer | undefined, max: stats?.get(5) as Buffer | undefined }
    })
  }))
  const keyValues = new Map(((meta.get(5) ?? []) as Fields[]).map((kv) => [(kv.get(1) as Buffer).toString('utf8'), (kv.get(2) as Buffer | undefined)?.toString('utf8') ?? '']))
  return { rows: meta.get(3) as bigint, rowGroups, keyValues }
}

class CompactReader {
  #at = 0
  constructor (private readonly bytes: Buffer) {}

  struct (): Fields {
    const fields: Fields = new Map()
    let id = 0
    for (;;) {
      const head = this.byte()
      if (head === 0) return fields
      const delta = head >> 4
      id = delta === 0 ? Number(this.zigzag()) : id + delta
      fields.set(id, this.value(head & 0x0f))
    }
  }

  value (type: number): unknown {
    switch (type) {
      case 1: return true
      case 2: return false
      case 3: return (this.byte() << 24) >> 24
      case 4: case 5: return Number(this.zigzag())
      case 6: return this.zigzag()
      case 7: { const v = this.bytes.readDoubleLE(this.#at); this.#at += 8; return v }
      case 8: { const n = Number(this.varint()); const v = this.bytes.subarray(this.#at, this.#at + n); this.#at += n; return Buffer.from(v) }
      case 9: case 10: {
        const head = this.byte()
        const size = (head >> 4) === 15 ? Number(this.varint()) : head >> 4
        const element = head & 0x0f
        const items: unknown[] = []
        // in a list a bool is a byte of its own: 1 true, anything else false
        for (let i = 0; i < size; i++) items.push(element === 1 || element === 2 ? this.byte() === 1 : this.value(element))
        return items
      }
      case 11: {
        const size = Number(this.varint())
        const map = new Map<unknown, unknown>()
        if (size === 0) return map
        const types = this.byte()
        for (let i = 0; i < size; i++) map.set(this.value(types >> 4), this.value(types & 0x0f))
        return map
      }
      case 12: return this.struct()
      default: throw new Error(`Thrift compact type ${type} at byte ${this.#at}`)
    }
  }

  byte (): number {
    if (this.#at >= this.bytes.length) throw new Error('the footer ends early')
    return this.bytes[this.#at++]!
  }

  varint (): bigint {
    let value = 0n
    for (let shift = 0n; ; shift += 7n) {
      const b = this.byte()
      value |= BigInt(b & 0x7f) << shift
      if ((b & 0x80) === 0) return value
    }
  }

  zigzag (): bigint {
    const n = this.varint()
    return (n >> 1n) ^ -(n & 1n)
  }
}
