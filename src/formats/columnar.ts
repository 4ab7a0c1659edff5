// One batch of rows as typed columns, the shape both columnar formats are written from: the
// field texts of PostgreSQL's DataRows parsed straight from their bytes into Arrow's layout (a
// validity bit per slot; fixed-width values, or offsets into bytes; lists as offsets into a child
// column). Arrow (src/formats/arrow.ts) sends these buffers as they are; Parquet
// (src/formats/parquet.ts) turns them into levels and plain values. The buffers are kept from
// batch to batch, so memory is one batch's values, never the result.
//
// Where the binary form maps (binaryFormats), the service asks PostgreSQL for a column in binary
// (Bind's result format codes, src/db/pg-internals.ts), and its values are read by a byte swap or
// an epoch shift (appendBinary): PostgreSQL then formats no text and Sluice parses none. Key
// columns stay text, as the `after` of a page is read from them; so do lists and everything else.
//
// Texts are what a session with timezone UTC and datestyle ISO prints (src/db/leases.ts). What has
// no faithful form in the target type (docs/http.md section 3): infinite dates and timestamps become
// the type's largest and smallest values, which DuckDB reads as ±infinity; a numeric NaN in a
// decimal column becomes null; a multi-dimensional array value ends the download with an error,
// since a list of the element type cannot hold it; an array's lower bound is dropped.
import { NotAcceptable } from '../errors.js'
import { DOT, MINUS, NINE, PLUS, ZERO } from './chars.js'
import { ARRAY_CLOSE, ARRAY_END, ARRAY_ITEM, ARRAY_NULL, ArrayText, bytea, dateDays, FieldWalk, integer, isTrue, readTimestamp, TimestampText } from './pgtext.js'
import type { Column, ValueType } from './types.js'

// Value kinds, as small integers the row loop switches on
export const BOOL = 0
export const INT32 = 1
export const INT64 = 2
export const FLOAT32 = 3
export const FLOAT64 = 4
export const DECIMAL = 5
export const DATE = 6
export const TIMESTAMP = 7
export const BYTES = 8 // strings, JSON: the text's bytes as they are
export const BINARY = 9 // bytea: the bytes its hex (or escape) text stands for
export const LIST = 10

/** Bytes per slot of each fixed-width kind (0: variable or bits). */
const WIDTH = [0, 4, 8, 4, 8, 16, 4, 8, 0, 0, 0]

/** The largest and smallest values, written for infinity and -infinity (what DuckDB reads as them). */
export const DATE_INFINITY = 2147483647
export const TIMESTAMP_INFINITY = 0x7fffffffffffffffn

export class ColumnData {
  readonly kind: number
  readonly value: ValueType
  /** bytes per slot, for fixed-width kinds */
  readonly width: number
  readonly child: ColumnData | undefined
  /** a list's element delimiter */
  readonly delimiter: number
  /** the column's name, for errors */
  readonly name: string
  /** its values come in PostgreSQL's binary form (appendBinary), not as text */
  readonly binary: boolean
  /** slots in this batch */
  length = 0
  nulls = 0
  /** a bit per slot, 1 = a value */
  valid: Buffer = Buffer.alloc(64)
  /** fixed-width values, or a bool's bits */
  values: Buffer
  /** variable kinds and lists: length + 1 int32 offsets (little-endian) */
  offsets: Buffer
  /** variable kinds: the values' bytes */
  data: Buffer
  dataLength = 0
  /** scratch for reading a timestamp's text, and a list's walker */
  readonly #timestamp = new TimestampText()
  readonly #array: ArrayText | undefined

  constructor (name: string, value: ValueType, binary = false) {
    this.name = name
    this.value = value
    this.kind = kindOf(value)
    this.binary = binary
    this.width = WIDTH[this.kind]!
    this.child = value.type === 'list' ? new ColumnData(name, value.element) : undefined
    this.delimiter = value.type === 'list' ? value.delimiter.charCodeAt(0) : 0
    this.values = Buffer.alloc(this.width === 0 ? 64 : 64 * this.width)
    this.offsets = Buffer.alloc(this.kind === BYTES || this.kind === BINARY || this.kind === LIST ? 256 : 0)
    this.data = Buffer.alloc(this.kind === BYTES || this.kind === BINARY ? 1024 : 0)
    this.#array = this.kind === LIST ? new ArrayText() : undefined
  }

  reset (): void {
    this.length = 0
    this.nulls = 0
    this.dataLength = 0
    this.child?.reset()
  }

  /** Bytes this batch holds so far, over the column and its children. */
  size (): number {
    return (this.length >> 3) + this.length * (this.width + (this.offsets.length > 0 ? 4 : 0)) + this.dataLength + (this.child?.size() ?? 0)
  }

  /** Makes room for slot `length` (one more), clearing its bits; offsets get their next entry. */
  #grow (): void {
    const i = this.length
    if ((i >> 3) >= this.valid.length) this.valid = grown(this.valid, this.valid.length * 2)
    if ((i & 7) === 0) {
      this.valid[i >> 3] = 0
      if (this.kind === BOOL) {
        if ((i >> 3) >= this.values.length) this.values = grown(this.values, this.values.length * 2)
        this.values[i >> 3] = 0
      }
    }
    if (this.width > 0 && (i + 1) * this.width > this.values.length) this.values = grown(this.values, this.values.length * 2)
    if (this.offsets.length > 0) {
      if ((i + 2) * 4 > this.offsets.length) this.offsets = grown(this.offsets, this.offsets.length * 2)
      if (i === 0) this.offsets.writeInt32LE(0, 0)
    }
  }

  /** Appends a NULL. */
  null (): void {
    this.#grow()
    const i = this.length
    if (this.width > 0) this.values.fill(0, i * this.width, (i + 1) * this.width)
    if (this.offsets.length > 0) this.offsets.writeInt32LE(this.kind === LIST ? this.child!.length : this.dataLength, (i + 1) * 4)
    this.nulls++
    this.length = i + 1
  }

  /** Appends the value whose text is `data[p..q)`. */
  append (data: Buffer, p: number, q: number): void {
    this.#grow()
    const i = this.length
    switch (this.kind) {
      case BOOL:
        if (isTrue(data[p]!)) this.values[i >> 3]! |= 1 << (i & 7)
        break
      case INT32:
        this.values.writeInt32LE(integer(data, p, q), i * 4)
        break
      case INT64:
        if (q - p <= 15) writeInt64(this.values, i * 8, integer(data, p, q))
        else this.values.writeBigInt64LE(BigInt(data.toString('latin1', p, q)), i * 8)
        break
      case FLOAT32:
        this.values.writeFloatLE(Number(data.toString('latin1', p, q)), i * 4)
        break
      case FLOAT64:
        this.values.writeDoubleLE(Number(data.toString('latin1', p, q)), i * 8)
        break
      case DECIMAL:
        if (!writeDecimal(this.values, i * 16, data, p, q, (this.value as { scale: number }).scale)) {
          this.length = i
          this.null()
          return
        }
        break
      case DATE: {
        const days = dateDays(data, p, q)
        this.values.writeInt32LE(days === Infinity ? DATE_INFINITY : days === -Infinity ? -DATE_INFINITY : days, i * 4)
        break
      }
      case TIMESTAMP:
        writeTimestamp(this.values, i * 8, data, p, q, this.#timestamp)
        break
      case BYTES:
        this.#bytes(data, p, q)
        break
      case BINARY:
        this.#binary(data, p, q)
        break
      case LIST:
        this.#list(data, p, q)
        break
    }
    this.valid[i >> 3]! |= 1 << (i & 7)
    this.length = i + 1
  }

  /**
   * Appends the value whose binary form (what the type's send function writes, big-endian) is
   * `data[p..q)`. Each kind holds what `append` would of the same value's text, to the bit.
   */
  appendBinary (data: Buffer, p: number, q: number): void {
    this.#grow()
    const i = this.length
    const values = this.values
    switch (this.kind) {
      case BOOL:
        if (data[p] !== 0) values[i >> 3]! |= 1 << (i & 7)
        break
      case INT32:
        // int2 or int4, by its width
        values.writeInt32LE(q - p === 2 ? data.readInt16BE(p) : data.readInt32BE(p), i * 4)
        break
      case INT64:
        values.writeInt32LE(data.readInt32BE(p + 4), i * 8)
        values.writeInt32LE(data.readInt32BE(p), i * 8 + 4)
        break
      case FLOAT32: {
        const v = data.readFloatBE(p)
        // NaN as the text path writes it, whatever payload and sign the database's had
        values.writeFloatLE(v === v ? v : NaN, i * 4)
        break
      }
      case FLOAT64: {
        const v = data.readDoubleBE(p)
        values.writeDoubleLE(v === v ? v : NaN, i * 8)
        break
      }
      case DECIMAL:
        if (!readDecimal(values, i * 16, data, p, (this.value as { scale: number }).scale)) {
          this.length = i
          this.null()
          return
        }
        break
      case DATE: {
        // days since 2000-01-01; the infinities as int32's extremes
        const days = data.readInt32BE(p)
        values.writeInt32LE(days === 0x7fffffff ? DATE_INFINITY : days === -0x80000000 ? -DATE_INFINITY : days + DAYS_1970_TO_2000, i * 4)
        break
      }
      case TIMESTAMP:
        readTimestampBinary(values, i * 8, data, p)
        break
      case BINARY:
        // bytea's binary form is its bytes
        this.#bytes(data, p, q)
        break
      default:
        throw new Error(`column "${this.name}" has no binary form here`)
    }
    this.valid[i >> 3]! |= 1 << (i & 7)
    this.length = i + 1
  }

  #room (n: number): Buffer {
    if (this.dataLength + n > this.data.length) this.data = grown(this.data, Math.max(this.data.length * 2, this.dataLength + n))
    return this.data
  }

  #bytes (data: Buffer, p: number, q: number): void {
    const into = this.#room(q - p)
    this.dataLength = copyBytes(data, p, q, into, this.dataLength)
    this.offsets.writeInt32LE(this.dataLength, (this.length + 1) * 4)
  }

  #binary (data: Buffer, p: number, q: number): void {
    this.dataLength = bytea(data, p, q, this.#room(q - p), this.dataLength)
    this.offsets.writeInt32LE(this.dataLength, (this.length + 1) * 4)
  }

  // one dimension only: a list of the element type cannot hold more. A list element (an array of
  // a domain over an array) is walked by its own column's walker, whose scratch is its own.
  #list (data: Buffer, p: number, q: number): void {
    const child = this.child!
    const array = this.#array!
    // a literal's first token is its '{'; a second '{' is a second dimension
    if (!array.begin(data, p, q, this.delimiter)) throw new MultiDimensional(this.name)
    array.next()
    for (let token = array.next(); token !== ARRAY_CLOSE && token !== ARRAY_END; token = array.next()) {
      if (token === ARRAY_ITEM) child.append(array.data, array.start, array.end)
      else if (token === ARRAY_NULL) child.null()
      else throw new MultiDimensional(this.name)
    }
    this.offsets.writeInt32LE(child.length, (this.length + 1) * 4)
  }
}

/** A batch's columns, one per result column. */
export class Columns {
  readonly columns: ColumnData[]
  /** rows in this batch */
  rows = 0
  readonly #fields = new FieldWalk()

  /** the result format code per column the rows come in (0 text, 1 binary); null: all text */
  readonly formats: readonly number[] | null

  /** `formats`: binaryFormats' codes, when the rows are asked for so; null, all text */
  constructor (columns: ReadonlyArray<Column>, formats: readonly number[] | null = null) {
    this.columns = columns.map((column, i) => new ColumnData(column.name, column.value, formats?.[i] === 1))
    this.formats = formats
  }

  /** Appends one DataRow (its layout: see RowSink in src/db/rowtap.ts). */
  row (data: Buffer, start: number): void {
    const columns = this.columns
    const fields = this.#fields
    fields.begin(data, start)
    for (let i = 0; i < columns.length; i++) {
      const length = fields.next()
      const column = columns[i]!
      if (length < 0) column.null()
      else if (column.binary) column.appendBinary(data, fields.at, fields.at + length)
      else column.append(data, fields.at, fields.at + length)
    }
    this.rows++
  }

  reset (): void {
    this.rows = 0
    for (const column of this.columns) column.reset()
  }

  size (): number {
    let size = 0
    for (const column of this.columns) size += column.size()
    return size
  }
}

/**
 * A value the columnar formats cannot hold: a 406 when it comes before the first byte (the
 * report can be had in another format), else the download is cut.
 */
export class MultiDimensional extends NotAcceptable {
  constructor (column: string) {
    super(`column "${column}" holds a multi-dimensional array, which Parquet and Arrow, typing it as a list of its element type, cannot hold: ask for another format, or have the report select array_to_json(${column}) or ${column}::text`)
  }
}

/** Kinds whose binary form appendBinary reads. */
const BINARY_KINDS = new Set([BOOL, INT32, INT64, FLOAT32, FLOAT64, DECIMAL, DATE, TIMESTAMP, BINARY])

/**
 * The result format code per column for the columnar formats: binary (1) where appendBinary reads
 * the type's binary form, text (0) for the rest and for the key columns, whose text a page's
 * `after` is made of. Null when every column stays text.
 */
export function binaryFormats (columns: ReadonlyArray<Column>, keyIndexes: readonly number[]): number[] | null {
  const keys = new Set(keyIndexes)
  const formats = columns.map((column, i) => !keys.has(i) && BINARY_KINDS.has(kindOf(column.value)) ? 1 : 0)
  return formats.includes(1) ? formats : null
}

function kindOf (value: ValueType): number {
  switch (value.type) {
    case 'bool': return BOOL
    case 'int32': return INT32
    case 'int64': return INT64
    case 'float32': return FLOAT32
    case 'float64': return FLOAT64
    case 'decimal': return DECIMAL
    case 'date': return DATE
    case 'timestamp':
    case 'timestamptz': return TIMESTAMP
    case 'binary': return BINARY
    case 'list': return LIST
    default: return BYTES
  }
}

/**
 * Copies `from[p..q)` to `into` at `at` and returns where it ends: short values byte by byte, since
 * Buffer#copy makes an object per call and most values are a few bytes.
 */
export function copyBytes (from: Buffer, p: number, q: number, into: Buffer, at: number): number {
  if (q - p > 48) return at + from.copy(into, at, p, q)
  for (let k = p; k < q; k++) into[at++] = from[k]!
  return at
}

function grown (buffer: Buffer, size: number): Buffer {
  const next = Buffer.alloc(size)
  buffer.copy(next)
  return next
}

const TWO32 = 4294967296

/** An integer of magnitude below 2^53, as an int64 (little-endian). */
function writeInt64 (into: Buffer, at: number, n: number): void {
  const high = Math.floor(n / TWO32)
  into.writeUInt32LE(n - high * TWO32, at)
  into.writeInt32LE(high, at + 4)
}

/**
 * numeric's text (digits, an optional fraction of at most `scale` digits, or NaN) as a 128-bit
 * two's complement integer of unscaled units, little-endian. False for NaN (and the infinities,
 * which a typed numeric cannot hold). The digits go through a double while they fit in 15.
 */
function writeDecimal (into: Buffer, at: number, data: Buffer, p: number, q: number, scale: number): boolean {
  let k = p
  const negative = data[k] === MINUS
  if (negative || data[k] === PLUS) k++
  const c = data[k]!
  if (c < ZERO || c > NINE) return false
  let digits = 0
  let n = 0
  let big: bigint | undefined
  let fraction = -1
  for (; k < q; k++) {
    const d = data[k]!
    if (d === DOT) {
      fraction = 0
      continue
    }
    if (fraction >= 0) fraction++
    if (big !== undefined) big = big * 10n + BigInt(d - ZERO)
    else if (++digits > 15) big = BigInt(n) * 10n + BigInt(d - ZERO)
    else n = n * 10 + (d - ZERO)
  }
  for (let f = Math.max(fraction, 0); f < scale; f++) {
    if (big !== undefined) big *= 10n
    else if (++digits > 15) big = BigInt(n) * 10n
    else n *= 10
  }
  if (big === undefined) {
    if (negative) n = -n
    writeInt64(into, at, n)
    into.fill(n < 0 ? 0xff : 0, at + 8, at + 16)
  } else {
    if (negative) big = -big
    into.writeBigUInt64LE(BigInt.asUintN(64, big), at)
    into.writeBigInt64LE(BigInt.asIntN(64, big >> 64n), at + 8)
  }
  return true
}

/**
 * A timestamp's text as microseconds since 1970-01-01 00:00 UTC (an int64, little-endian): the UTC
 * instant for timestamptz, the wall clock read as UTC for timestamp (which has no zone); the
 * infinities as the extremes. Exact: past 2255 the sum goes through BigInt.
 */
function writeTimestamp (into: Buffer, at: number, data: Buffer, p: number, q: number, text: TimestampText): void {
  readTimestamp(data, p, q, text)
  if (text.infinite !== 0) {
    into.writeBigInt64LE(text.infinite > 0 ? TIMESTAMP_INFINITY : -TIMESTAMP_INFINITY, at)
    return
  }
  const seconds = text.days * 86400 + text.seconds
  if (Math.abs(seconds) < 9e9) writeInt64(into, at, seconds * 1e6 + text.micros)
  else into.writeBigInt64LE(BigInt(seconds) * 1000000n + BigInt(text.micros), at)
}

/** Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch for dates and timestamps. */
const DAYS_1970_TO_2000 = 10957
/** The same in microseconds, as the high and low 32 bits of an int64. */
const MICROS_1970_TO_2000_HIGH = 0x35d01 // 946684800000000 = 0x35d01_3b37e000
const MICROS_1970_TO_2000_LOW = 0x3b37e000

/**
 * A timestamp's binary form, int64 microseconds since 2000-01-01 (big-endian), as microseconds
 * since 1970-01-01 (little-endian); the infinities (int64's extremes) as the text path writes them.
 * A timestamp within 30,000 years of the end of PostgreSQL's range overflows int64 there, as it
 * does on the text path, with the same RangeError.
 */
function readTimestampBinary (into: Buffer, at: number, data: Buffer, p: number): void {
  const high = data.readInt32BE(p)
  const low = data.readUInt32BE(p + 4)
  if (high === 0x7fffffff && low === 0xffffffff) {
    into.writeBigInt64LE(TIMESTAMP_INFINITY, at)
    return
  }
  if (high === -0x80000000 && low === 0) {
    into.writeBigInt64LE(-TIMESTAMP_INFINITY, at)
    return
  }
  let sumLow = low + MICROS_1970_TO_2000_LOW
  let sumHigh = high + MICROS_1970_TO_2000_HIGH
  if (sumLow >= TWO32) {
    sumLow -= TWO32
    sumHigh++
  }
  if (sumHigh > 0x7fffffff) {
    into.writeBigInt64LE((BigInt(high) << 32n) + BigInt(low) + 946684800000000n, at)
    return
  }
  into.writeUInt32LE(sumLow, at)
  into.writeInt32LE(sumHigh, at + 4)
}

const NUMERIC_NEGATIVE = 0x4000
const POWERS_OF_TEN = Array.from({ length: 23 }, (_, k) => 10 ** k)

/**
 * numeric's binary form (int16 digit count, weight, sign, display scale, then base-10000 digits,
 * the first worth 10000^weight) as a 128-bit two's complement integer of units of 10^-scale, as
 * writeDecimal makes of its text. False for NaN and the infinities. The column's modifier rounds
 * every value to `scale`, so digits past it are zeros. Through a double while exact (below 2^53).
 */
function readDecimal (into: Buffer, at: number, data: Buffer, p: number, scale: number): boolean {
  const count = data.readInt16BE(p)
  const weight = data.readInt16BE(p + 2)
  const sign = data.readUInt16BE(p + 4)
  if (sign !== 0 && sign !== NUMERIC_NEGATIVE) return false
  let n = 0
  let big: bigint | undefined
  for (let k = 0, d = p + 8; k < count; k++, d += 2) {
    const digit = data.readUInt16BE(d)
    if (big !== undefined) big = big * 10000n + BigInt(digit)
    else if (n < 900719925474) n = n * 10000 + digit
    else big = BigInt(n) * 10000n + BigInt(digit)
  }
  // the power of ten the last digit is worth, in units of 10^-scale
  const exponent = 4 * (weight - count + 1) + scale
  if (big === undefined && exponent >= 0) {
    const scaled = exponent < POWERS_OF_TEN.length ? n * POWERS_OF_TEN[exponent]! : Infinity
    if (scaled < 9007199254740992) n = scaled
    else big = BigInt(n) * 10n ** BigInt(exponent)
  } else if (big === undefined && exponent >= -22) {
    n = n / POWERS_OF_TEN[-exponent]!
  } else {
    big ??= BigInt(n)
    big = exponent >= 0 ? big * 10n ** BigInt(exponent) : big / 10n ** BigInt(-exponent)
  }
  if (big === undefined) {
    if (sign === NUMERIC_NEGATIVE) n = -n
    writeInt64(into, at, n)
    into.fill(n < 0 ? 0xff : 0, at + 8, at + 16)
  } else {
    if (sign === NUMERIC_NEGATIVE) big = -big
    into.writeBigUInt64LE(BigInt.asUintN(64, big), at)
    into.writeBigInt64LE(BigInt.asIntN(64, big >> 64n), at + 8)
  }
  return true
}
