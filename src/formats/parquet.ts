// A Parquet file written as its rows come (https://parquet.apache.org/docs/file-format/): "PAR1",
// then one row group per batch of rows, each column chunk one data page (v1: repetition and
// definition levels in the RLE/bit-packed hybrid, then PLAIN values, the page compressed), then,
// once the last row is in, the footer (FileMetaData: the schema, every row group's column
// metadata, the key-value metadata) and "PAR1". A cut download has no footer, so no reader takes
// it for a whole file. Memory: one batch's columns and the footer's few bytes per row group.
//
// No Parquet writer for Node streams: the libraries build a row group from JS objects per row, or
// the whole file (see the README). This one reads the DataRows' bytes (src/formats/columnar.ts).
import { binaryFormats, BOOL, BYTES, BINARY, ColumnData, Columns, copyBytes, DECIMAL, LIST } from './columnar.js'
import { ZSTD, type Codec } from './codec.js'
import { Out } from './out.js'
import { ThriftWriter } from './thrift.js'
import type { Column, ColumnsContext, Encoder, EncoderOptions, Format, ValueType } from './types.js'

export const contentType = 'application/vnd.apache.parquet'

const MAGIC = Buffer.from('PAR1')

// parquet.thrift's enums, the values used here
const T_BOOLEAN = 0
const T_INT32 = 1
const T_INT64 = 2
const T_FLOAT = 4
const T_DOUBLE = 5
const T_BYTE_ARRAY = 6
const T_FIXED = 7
const OPTIONAL = 1
const REPEATED = 2
const C_UTF8 = 0
const C_LIST = 3
const C_DECIMAL = 5
const C_DATE = 6
const C_TIMESTAMP_MICROS = 10
const C_INT_32 = 17
const C_INT_64 = 18
const C_JSON = 19
const E_PLAIN = 0
const E_RLE = 3
const DATA_PAGE = 0

/** One leaf column of the schema: where its values come from and how they are stored. */
interface Leaf {
  readonly path: string[]
  readonly physical: number
  readonly maxDefinition: number
  readonly maxRepetition: number
  /** the top-level column it belongs to */
  readonly column: number
  /** decimal: bytes per stored value (4, 8 or 16) */
  readonly decimalWidth: number
}

interface SchemaElement {
  readonly name: string
  readonly type?: number
  readonly typeLength?: number
  readonly repetition?: number
  readonly children?: number
  readonly converted?: number
  readonly scale?: number
  readonly precision?: number
  /** LogicalType: the union's field id and its struct's fields */
  readonly logical?: readonly [id: number, body?: (w: ThriftWriter) => void]
}

/** `options.codec`: another page codec, for the codec benchmark (bench/parquet-codec.ts) */
export function createParquetEncoder (columns: ReadonlyArray<Column>, context: ColumnsContext, options: EncoderOptions & { codec?: Codec } = {}): Encoder {
  const codec = options.codec ?? ZSTD
  const batch = new Columns(columns, options.binary === true ? binaryFormats(columns, context.keyIndexes) : null)
  const schema: SchemaElement[] = [{ name: 'schema', children: columns.length }]
  const leaves: Leaf[] = []
  columns.forEach((column, i) => { describe(column.name, column.value, i, [], 0, 0, schema, leaves) })
  const schemaBytes = encodeSchema(schema)
  const sorting = context.keyIndexes.map((index) => leaves.findIndex((leaf) => leaf.column === index && leaf.maxRepetition === 0))
  const keys = new Set(context.keyIndexes)
  const rowGroups: Buffer[] = []
  const page = new Out(64 * 1024)
  const levels = new Levels()
  let rows = 0
  // bytes of the file in the chunks flushed before; `at`: where in `out` this chunk starts
  let written = 0
  let at = 0
  let headed = false
  // the `after` of the last batch with rows, for the footer
  let after: string | null = null

  const writeRowGroup = (out: Out): void => {
    const chunks = new ThriftWriter()
    let uncompressedTotal = 0
    let compressedTotal = 0
    const start = written + out.pos - at
    const metas: Buffer[] = []
    for (const leaf of leaves) {
      const column = batch.columns[leaf.column]!
      page.pos = 0
      const values = writeLevels(page, column, leaf, levels)
      writeValues(page, leafData(column), leaf)
      const raw = page.bytes()
      const compressed = codec.compress(raw)
      const header = new ThriftWriter()
        .i32(1, DATA_PAGE).i32(2, raw.length).i32(3, compressed.length)
        .struct(5, (w) => w.i32(1, values).i32(2, E_PLAIN).i32(3, E_RLE).i32(4, E_RLE))
        .end()
      const offset = written + out.pos - at
      out.write(header)
      out.write(compressed)
      uncompressedTotal += header.length + raw.length
      compressedTotal += header.length + compressed.length
      metas.push(Buffer.from(new ThriftWriter()
        .i64(2, offset)
        .struct(3, (w) => w
          .i32(1, leaf.physical)
          .i32s(2, [E_PLAIN, E_RLE])
          .strings(3, leaf.path)
          .i32(4, codec.id)
          .i64(5, values)
          .i64(6, header.length + raw.length)
          .i64(7, header.length + compressed.length)
          .i64(9, offset)
          .struct(12, (w) => { statistics(w, column, leaf, keys.has(leaf.column)) }))
        .end()))
    }
    chunks.encodedStructs(1, metas.length, Buffer.concat(metas))
      .i64(2, uncompressedTotal)
      .i64(3, batch.rows)
    if (sorting.every((index) => index >= 0)) {
      chunks.structs(4, sorting, (w, index) => w.i32(1, index).bool(2, false).bool(3, false))
    }
    chunks.i64(5, start).i64(6, compressedTotal)
    rowGroups.push(Buffer.from(chunks.end()))
    rows += batch.rows
  }

  const footer = (next: string | null, sync: string | null): Buffer => {
    const metadata: Array<readonly [string, string]> = [
      ['sluice.report', context.report],
      ['sluice.key', JSON.stringify(context.key)]
    ]
    if (after !== null) metadata.push(['sluice.after', after])
    if (next !== null) metadata.push(['sluice.next', next])
    if (sync !== null) metadata.push(['sluice.sync_token', sync])
    const bytes = new ThriftWriter()
      .i32(1, 1)
      .encodedStructs(2, schema.length, schemaBytes)
      .i64(3, rows)
      .encodedStructs(4, rowGroups.length, Buffer.concat(rowGroups))
      .structs(5, metadata, (w, [key, value]) => w.binary(1, key).binary(2, value))
      .binary(6, 'Sluice')
      // every leaf's min and max compare as its type says (signed for integers)
      .structs(7, leaves, (w) => w.struct(1, () => {}))
      .end()
    const length = Buffer.alloc(4)
    length.writeUInt32LE(bytes.length)
    return Buffer.concat([bytes, length, MAGIC])
  }

  return {
    formats: batch.formats,
    row (data, start) {
      batch.row(data, start)
    },
    size: () => (headed ? 0 : MAGIC.length) + batch.size(),
    flush (out, { final, next, after: resume, sync }) {
      at = out.pos
      if (!headed) out.write(MAGIC)
      headed = true
      if (batch.rows > 0) writeRowGroup(out)
      batch.reset()
      if (resume !== null) after = resume
      if (final) out.write(footer(next, sync))
      written += out.pos - at
    }
  }
}

/**
 * A column chunk's statistics: for a column that is not a list, its null count, and the least and
 * greatest value of integer-stored types (int2/4/8, date, timestamps, decimals up to 18 digits)
 * and of a key's byte arrays (text, JSON, bytea), which lets readers skip row groups by them; other
 * types go without. A byte array's bounds take a comparison per value, a tenth of the encoder's
 * time per column (bench/encoders.ts), and pay only where row groups hold ranges of the column:
 * the key's, by which the rows are sorted.
 */
function statistics (w: ThriftWriter, column: ColumnData, leaf: Leaf, key: boolean): void {
  if (leaf.maxRepetition > 0) return
  w.i64(3, column.nulls)
  if (column.nulls === column.length) return
  const stored = leaf.physical
  if (stored === T_BYTE_ARRAY) {
    if (key) byteArrayBounds(w, column)
    return
  }
  if (stored !== T_INT32 && stored !== T_INT64) return
  const values = column.values
  // the values as int32 words (a fresh Buffer.alloc starts its own ArrayBuffer: aligned), a slot
  // every `step` words; int64s compare by the high word (signed), then the low word (unsigned)
  const words = new Int32Array(values.buffer, values.byteOffset, values.length >> 2)
  const step = column.kind === DECIMAL ? 4 : stored === T_INT32 ? 1 : 2
  const wide = stored === T_INT64
  const valid = column.valid
  let min = -1
  let max = -1
  for (let i = 0; i < column.length; i++) {
    if (((valid[i >> 3]! >> (i & 7)) & 1) === 0) continue
    const at = i * step
    if (min < 0) {
      min = max = at
      continue
    }
    if (wide) {
      const high = words[at + 1]!
      const low = words[at]! >>> 0
      const minHigh = words[min + 1]!
      const maxHigh = words[max + 1]!
      if (high < minHigh || (high === minHigh && low < words[min]! >>> 0)) min = at
      else if (high > maxHigh || (high === maxHigh && low > words[max]! >>> 0)) max = at
    } else {
      const value = words[at]!
      if (value < words[min]!) min = at
      else if (value > words[max]!) max = at
    }
  }
  const width = wide ? 8 : 4
  w.binary(5, values.subarray(max * 4, max * 4 + width)).binary(6, values.subarray(min * 4, min * 4 + width))
}

// The longest least or greatest byte array written as a statistic: a chunk's footer entry stays
// small whatever its values are; a chunk with a longer one goes without
const MAX_BOUND_BYTES = 64

/**
 * The least and greatest of a byte array chunk's values, in the order its type defines for them
 * (unsigned bytes, shorter first on a tie: UTF-8 text then sorts by code point, as a "C" collation
 * does). Compared here, byte by byte, not by a native call per value: most values differ from the
 * bounds in their first byte or two.
 */
function byteArrayBounds (w: ThriftWriter, column: ColumnData): void {
  const { data, valid } = column
  // a fresh Buffer.alloc starts its own ArrayBuffer: aligned for int32s
  const offsets = new Int32Array(column.offsets.buffer, column.offsets.byteOffset, column.length + 1)
  let minStart = -1
  let minEnd = -1
  let maxStart = -1
  let maxEnd = -1
  // the bounds' first bytes (-1: empty): a value whose first byte lies strictly between them moves
  // neither, which settles most values without a comparison
  let minFirst = 0
  let maxFirst = 0
  for (let i = 0; i < column.length; i++) {
    if (((valid[i >> 3]! >> (i & 7)) & 1) === 0) continue
    const start = offsets[i]!
    const end = offsets[i + 1]!
    const first = start < end ? data[start]! : -1
    if (minStart < 0) {
      minStart = maxStart = start
      minEnd = maxEnd = end
      minFirst = maxFirst = first
      continue
    }
    if (first > minFirst && first < maxFirst) continue
    if (compareBytes(data, start, end, minStart, minEnd) < 0) {
      minStart = start
      minEnd = end
      minFirst = first
    } else if (compareBytes(data, start, end, maxStart, maxEnd) > 0) {
      maxStart = start
      maxEnd = end
      maxFirst = first
    }
  }
  if (minEnd - minStart > MAX_BOUND_BYTES || maxEnd - maxStart > MAX_BOUND_BYTES) return
  w.binary(5, data.subarray(maxStart, maxEnd)).binary(6, data.subarray(minStart, minEnd))
}

/** `data[a..aEnd]` against `data[b..bEnd]`, unsigned bytes: negative, 0 or positive. */
function compareBytes (data: Buffer, a: number, aEnd: number, b: number, bEnd: number): number {
  const n = Math.min(aEnd - a, bEnd - b)
  for (let i = 0; i < n; i++) {
    const difference = data[a + i]! - data[b + i]!
    if (difference !== 0) return difference
  }
  return (aEnd - a) - (bEnd - b)
}

/** Adds a column's schema elements (a list: its group, the repeated group, the element) and leaves. */
function describe (name: string, value: ValueType, column: number, path: string[], definition: number, repetition: number, schema: SchemaElement[], leaves: Leaf[]): void {
  const here = [...path, name]
  if (value.type === 'list') {
    schema.push({ name, repetition: OPTIONAL, children: 1, converted: C_LIST, logical: [3] })
    schema.push({ name: 'list', repetition: REPEATED, children: 1 })
    describe('element', value.element, column, [...here, 'list'], definition + 2, repetition + 1, schema, leaves)
    return
  }
  const [element, decimalWidth] = leafElement(name, value)
  schema.push(element)
  leaves.push({ path: here, physical: element.type!, maxDefinition: definition + 1, maxRepetition: repetition, column, decimalWidth })
}

function leafElement (name: string, value: ValueType): [SchemaElement, number] {
  const base = { name, repetition: OPTIONAL }
  switch (value.type) {
    case 'bool': return [{ ...base, type: T_BOOLEAN }, 0]
    case 'int32': return [{ ...base, type: T_INT32, converted: C_INT_32, logical: [10, (w) => { intType(w, 32) }] }, 0]
    case 'int64': return [{ ...base, type: T_INT64, converted: C_INT_64, logical: [10, (w) => { intType(w, 64) }] }, 0]
    case 'float32': return [{ ...base, type: T_FLOAT }, 0]
    case 'float64': return [{ ...base, type: T_DOUBLE }, 0]
    case 'decimal': {
      const { precision, scale } = value
      const width = precision <= 9 ? 4 : precision <= 18 ? 8 : 16
      const type = width === 4 ? T_INT32 : width === 8 ? T_INT64 : T_FIXED
      return [{
        ...base,
        type,
        ...(width === 16 ? { typeLength: 16 } : {}),
        converted: C_DECIMAL,
        scale,
        precision,
        logical: [5, (w) => w.i32(1, scale).i32(2, precision)]
      }, width]
    }
    case 'date': return [{ ...base, type: T_INT32, converted: C_DATE, logical: [6] }, 0]
    // TIMESTAMP(isAdjustedToUTC, MICROS); the converted type means adjusted to UTC, so only timestamptz has it
    case 'timestamp': return [{ ...base, type: T_INT64, logical: [8, (w) => { timestampType(w, false) }] }, 0]
    case 'timestamptz': return [{ ...base, type: T_INT64, converted: C_TIMESTAMP_MICROS, logical: [8, (w) => { timestampType(w, true) }] }, 0]
    case 'json': return [{ ...base, type: T_BYTE_ARRAY, converted: C_JSON, logical: [12] }, 0]
    case 'binary': return [{ ...base, type: T_BYTE_ARRAY }, 0]
    case 'string':
    case 'list': return [{ ...base, type: T_BYTE_ARRAY, converted: C_UTF8, logical: [1] }, 0]
  }
}

function intType (w: ThriftWriter, bits: number): void {
  w.i8(1, bits).bool(2, true)
}

function timestampType (w: ThriftWriter, utc: boolean): void {
  w.bool(1, utc).struct(2, (unit) => unit.struct(2, () => {}))
}

function encodeSchema (schema: readonly SchemaElement[]): Buffer {
  const parts = schema.map((element) => {
    const w = new ThriftWriter()
    if (element.type !== undefined) w.i32(1, element.type)
    if (element.typeLength !== undefined) w.i32(2, element.typeLength)
    if (element.repetition !== undefined) w.i32(3, element.repetition)
    w.binary(4, element.name)
    if (element.children !== undefined) w.i32(5, element.children)
    if (element.converted !== undefined) w.i32(6, element.converted)
    if (element.scale !== undefined) w.i32(7, element.scale)
    if (element.precision !== undefined) w.i32(8, element.precision)
    const logical = element.logical
    if (logical !== undefined) w.struct(10, (union) => union.struct(logical[0], (body) => { logical[1]?.(body) }))
    return Buffer.from(w.end())
  })
  return Buffer.concat(parts)
}

/** The column holding a leaf's values: the innermost element of a list. */
function leafData (column: ColumnData): ColumnData {
  let data = column
  while (data.kind === LIST) data = data.child!
  return data
}

function bitWidth (max: number): number {
  return max === 0 ? 0 : 32 - Math.clz32(max)
}

/** A page's repetition and definition levels, one encoder's, grown as needed and kept from page to page. */
class Levels {
  definitions = new Uint8Array(1024)
  repetitions = new Uint8Array(1024)
  count = 0

  push (definition: number, repetition: number): void {
    if (this.count === this.definitions.length) {
      const d = new Uint8Array(this.count * 2)
      d.set(this.definitions)
      this.definitions = d
      const r = new Uint8Array(this.count * 2)
      r.set(this.repetitions)
      this.repetitions = r
    }
    this.definitions[this.count] = definition
    this.repetitions[this.count++] = repetition
  }

  /** The levels of slot `i` of `column`, nested `depth` lists deep, its definition counted from `base`. */
  walk (column: ColumnData, i: number, base: number, repetition: number, depth: number): void {
    const valid = (column.valid[i >> 3]! >> (i & 7)) & 1
    if (column.kind !== LIST) {
      this.push(base + valid, repetition)
      return
    }
    if (valid === 0) {
      this.push(base, repetition)
      return
    }
    const start = column.offsets.readInt32LE(i * 4)
    const end = column.offsets.readInt32LE(i * 4 + 4)
    if (start === end) {
      this.push(base + 1, repetition)
      return
    }
    for (let j = start; j < end; j++) this.walk(column.child!, j, base + 2, j === start ? repetition : depth + 1, depth + 1)
  }
}

/**
 * Writes the page's repetition and definition levels (each a 4-byte length, then the hybrid
 * encoding), made in `levels`, and returns how many values (levels) the page holds.
 */
function writeLevels (page: Out, column: ColumnData, leaf: Leaf, levels: Levels): number {
  const n = column.length
  if (leaf.maxRepetition === 0) {
    // one optional value a row: the definition levels are the validity bits themselves
    if (column.nulls === 0) writeRun(page, n, 1, 1)
    else writeBitmap(page, column.valid, n)
    return n
  }
  levels.count = 0
  for (let i = 0; i < n; i++) levels.walk(column, i, 0, 0, 0)
  writeHybrid(page, levels.repetitions, levels.count, bitWidth(leaf.maxRepetition))
  writeHybrid(page, levels.definitions, levels.count, bitWidth(leaf.maxDefinition))
  return levels.count
}

function varint (b: Buffer, o: number, n: number): number {
  while (n >= 128) {
    b[o++] = (n & 127) | 128
    n >>>= 7
  }
  b[o++] = n
  return o
}

/** `count` levels of one value, as one RLE run. */
function writeRun (page: Out, count: number, value: number, width: number): void {
  const b = page.ensure(4 + 5 + 4)
  let o = varint(b, page.pos + 4, count * 2)
  const bytes = (width + 7) >> 3
  for (let k = 0; k < bytes; k++) b[o++] = (value >> (8 * k)) & 255
  b.writeInt32LE(o - page.pos - 4, page.pos)
  page.pos = o
}

/** One-bit levels that are already bit-packed (the validity bitmap): one bit-packed run. */
function writeBitmap (page: Out, bits: Buffer, count: number): void {
  const groups = (count + 7) >> 3
  const b = page.ensure(4 + 5 + groups)
  let o = varint(b, page.pos + 4, (groups << 1) | 1)
  bits.copy(b, o, 0, groups)
  o += groups
  b.writeInt32LE(o - page.pos - 4, page.pos)
  page.pos = o
}

/** Levels of `width` bits: one RLE run when they are all the same, else one bit-packed run. */
function writeHybrid (page: Out, levels: Uint8Array, count: number, width: number): void {
  let same = true
  for (let i = 1; i < count && same; i++) same = levels[i] === levels[0]
  if (same) {
    writeRun(page, count, count === 0 ? 0 : levels[0]!, width)
    return
  }
  const groups = (count + 7) >> 3
  const b = page.ensure(4 + 5 + groups * width)
  let o = varint(b, page.pos + 4, (groups << 1) | 1)
  let accumulator = 0
  let bits = 0
  for (let i = 0; i < groups * 8; i++) {
    accumulator |= (i < count ? levels[i]! : 0) << bits
    bits += width
    while (bits >= 8) {
      b[o++] = accumulator & 255
      accumulator >>>= 8
      bits -= 8
    }
  }
  b.writeInt32LE(o - page.pos - 4, page.pos)
  page.pos = o
}

/** PLAIN values of the non-null slots of `column`. */
function writeValues (page: Out, column: ColumnData, leaf: Leaf): void {
  const n = column.length
  const all = column.nulls === 0
  const valid = column.valid
  switch (column.kind) {
    case BOOL: {
      if (all) {
        page.write(column.values.subarray(0, (n + 7) >> 3))
        return
      }
      const b = page.ensure((n + 7) >> 3)
      const o = page.pos
      let k = 0
      for (let i = 0; i < n; i++) {
        if (((valid[i >> 3]! >> (i & 7)) & 1) === 0) continue
        if ((k & 7) === 0) b[o + (k >> 3)] = 0
        b[o + (k >> 3)]! |= ((column.values[i >> 3]! >> (i & 7)) & 1) << (k & 7)
        k++
      }
      page.pos = o + ((k + 7) >> 3)
      return
    }
    case BYTES:
    case BINARY: {
      const offsets = column.offsets
      const b = page.ensure(column.dataLength + 4 * n)
      let o = page.pos
      let from = offsets.readInt32LE(0)
      for (let i = 0; i < n; i++) {
        const to = offsets.readInt32LE(i * 4 + 4)
        if (((valid[i >> 3]! >> (i & 7)) & 1) !== 0) {
          b.writeInt32LE(to - from, o)
          o = copyBytes(column.data, from, to, b, o + 4)
        }
        from = to
      }
      page.pos = o
      return
    }
    case DECIMAL: {
      // 16-byte little-endian slots: INT32 and INT64 keep the low bytes; FIXED_LEN_BYTE_ARRAY is big-endian
      const width = leaf.decimalWidth
      const b = page.ensure(n * width)
      let o = page.pos
      const values = column.values
      for (let i = 0; i < n; i++) {
        if (((valid[i >> 3]! >> (i & 7)) & 1) === 0) continue
        const at = i * 16
        if (width === 16) for (let k = 0; k < 16; k++) b[o + k] = values[at + 15 - k]!
        else values.copy(b, o, at, at + width)
        o += width
      }
      page.pos = o
      return
    }
    default: {
      const width = column.width
      if (all) {
        page.write(column.values.subarray(0, n * width))
        return
      }
      const b = page.ensure(n * width)
      let o = page.pos
      for (let i = 0; i < n; i++) {
        if (((valid[i >> 3]! >> (i & 7)) & 1) === 0) continue
        column.values.copy(b, o, i * width, (i + 1) * width)
        o += width
      }
      page.pos = o
    }
  }
}

/** Parquet, as src/formats/index.ts lists it. */
export const parquetFormat: Format<'parquet'> = {
  name: 'parquet',
  contentType,
  attachment: true,
  schema: { type: 'string', format: 'binary' },
  create: (columns, _csv, context, options) => createParquetEncoder(columns, context, options)
}
