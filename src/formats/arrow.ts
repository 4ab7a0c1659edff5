// An Arrow IPC stream (https://arrow.apache.org/docs/format/Columnar.html#ipc-streaming-format):
// the schema message, then one record batch message per batch of rows, then the end-of-stream
// marker once the last row is in. Each message is 0xFFFFFFFF, the length of its flatbuffer
// header, the header (Message.fbs, built with the flatbuffers library), then its body: the
// batch's buffers as src/formats/columnar.ts built them, each padded to 8 bytes. A cut download
// has no end-of-stream marker.
import { Builder } from 'flatbuffers'
import { binaryFormats, ColumnData, Columns, LIST } from './columnar.js'
import type { Out } from './out.js'
import type { Column, ColumnsContext, Encoder, EncoderOptions, Format, ValueType } from './types.js'

export const contentType = 'application/vnd.apache.arrow.stream'

const EMPTY = Buffer.alloc(0)
const END_OF_STREAM = Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])

// Schema.fbs and Message.fbs, the values used here
const V5 = 4
const HEADER_SCHEMA = 1
const HEADER_RECORD_BATCH = 3
const TYPE_INT = 2
const TYPE_FLOAT = 3
const TYPE_BINARY = 4
const TYPE_UTF8 = 5
const TYPE_BOOL = 6
const TYPE_DECIMAL = 7
const TYPE_DATE = 8
const TYPE_TIMESTAMP = 10
const TYPE_LIST = 12
const SINGLE = 1
const DOUBLE = 2
const DAY = 0
const MICROSECOND = 2

export function createArrowEncoder (columns: ReadonlyArray<Column>, context: ColumnsContext, options: EncoderOptions = {}): Encoder {
  const batch = new Columns(columns, options.binary === true ? binaryFormats(columns, context.keyIndexes) : null)
  const schemaOf = (sync: string | null): Buffer => message(HEADER_SCHEMA, (b) => {
    const fields = vector(b, columns.map((column) => field(b, column.name, column.value)))
    const pairs: Array<readonly [string, string]> = [['sluice.report', context.report], ['sluice.key', JSON.stringify(context.key)]]
    if (sync !== null) pairs.push(['sluice.sync_token', sync])
    const metadata = keyValues(b, pairs)
    b.startObject(4)
    b.addFieldOffset(1, fields, 0)
    b.addFieldOffset(2, metadata, 0)
    return b.endObject()
  }, 0, [])
  // what the head weighs before the first flush (a sync token, known by then, adds a little)
  const schema = schemaOf(null)
  let headed = false

  const writeBatch = (out: Out, after: string | null): void => {
    // field nodes and buffers in the schema's depth-first order
    const nodes: Array<readonly [length: number, nulls: number]> = []
    const buffers: Array<Buffer> = []
    const add = (column: ColumnData): void => {
      const n = column.length
      nodes.push([n, column.nulls])
      buffers.push(column.nulls === 0 ? EMPTY : column.valid.subarray(0, (n + 7) >> 3))
      if (column.width > 0) buffers.push(column.values.subarray(0, n * column.width))
      else if (column.kind === LIST) {
        buffers.push(column.offsets.subarray(0, 4 * (n + 1)))
        add(column.child!)
      } else if (column.offsets.length > 0) {
        buffers.push(column.offsets.subarray(0, 4 * (n + 1)), column.data.subarray(0, column.dataLength))
      } else {
        buffers.push(column.values.subarray(0, (n + 7) >> 3)) // bool: bits
      }
    }
    for (const column of batch.columns) add(column)
    const spans: Array<readonly [offset: number, length: number]> = []
    let body = 0
    for (const buffer of buffers) {
      spans.push([body, buffer.length])
      body += pad8(buffer.length)
    }
    const header = message(HEADER_RECORD_BATCH, (b) => {
      b.startVector(16, spans.length, 8)
      for (let i = spans.length - 1; i >= 0; i--) struct16(b, spans[i]![0], spans[i]![1])
      const bufferVector = b.endVector()
      b.startVector(16, nodes.length, 8)
      for (let i = nodes.length - 1; i >= 0; i--) struct16(b, nodes[i]![0], nodes[i]![1])
      const nodeVector = b.endVector()
      b.startObject(5)
      b.addFieldInt64(0, BigInt(batch.rows), 0n)
      b.addFieldOffset(1, nodeVector, 0)
      b.addFieldOffset(2, bufferVector, 0)
      return b.endObject()
    }, body, after === null ? [] : [['sluice.after', after]])
    const o = out.ensure(header.length + body)
    out.write(header)
    let at = out.pos
    for (const buffer of buffers) {
      buffer.copy(o, at)
      o.fill(0, at + buffer.length, at + pad8(buffer.length))
      at += pad8(buffer.length)
    }
    out.pos = at
  }

  return {
    formats: batch.formats,
    row (data, start) {
      batch.row(data, start)
    },
    size: () => (headed ? 0 : schema.length) + batch.size(),
    flush (out, { final, after, sync }) {
      if (!headed) out.write(sync === null ? schema : schemaOf(sync))
      headed = true
      if (batch.rows > 0) writeBatch(out, after)
      batch.reset()
      if (final) out.write(END_OF_STREAM)
    }
  }
}

function pad8 (n: number): number {
  return (n + 7) & ~7
}

/** A struct of two int64s (FieldNode, Buffer), written back to front as flatbuffers do. */
function struct16 (b: Builder, first: number, second: number): void {
  b.prep(8, 16)
  b.writeInt64(BigInt(second))
  b.writeInt64(BigInt(first))
}

function vector (b: Builder, offsets: readonly number[]): number {
  b.startVector(4, offsets.length, 4)
  for (let i = offsets.length - 1; i >= 0; i--) b.addOffset(offsets[i]!)
  return b.endVector()
}

function keyValues (b: Builder, pairs: ReadonlyArray<readonly [string, string]>): number {
  return vector(b, pairs.map(([key, value]) => {
    const k = b.createString(key)
    const v = b.createString(value)
    b.startObject(2)
    b.addFieldOffset(0, k, 0)
    b.addFieldOffset(1, v, 0)
    return b.endObject()
  }))
}

/** A Field: its name, nullable, its type (and a list's element as its child). */
function field (b: Builder, name: string, value: ValueType): number {
  const children = vector(b, value.type === 'list' ? [field(b, 'item', value.element)] : [])
  const nameOffset = b.createString(name)
  const [tag, type] = fieldType(b, value)
  b.startObject(7)
  b.addFieldOffset(0, nameOffset, 0)
  b.addFieldInt8(1, 1, 0)
  b.addFieldInt8(2, tag, 0)
  b.addFieldOffset(3, type, 0)
  b.addFieldOffset(5, children, 0)
  return b.endObject()
}

function fieldType (b: Builder, value: ValueType): [number, number] {
  switch (value.type) {
    case 'bool': return [TYPE_BOOL, empty(b)]
    case 'int32':
    case 'int64':
      b.startObject(2)
      b.addFieldInt32(0, value.type === 'int32' ? 32 : 64, 0)
      b.addFieldInt8(1, 1, 0)
      return [TYPE_INT, b.endObject()]
    case 'float32':
    case 'float64':
      b.startObject(1)
      b.addFieldInt16(0, value.type === 'float32' ? SINGLE : DOUBLE, 0)
      return [TYPE_FLOAT, b.endObject()]
    case 'decimal':
      b.startObject(3)
      b.addFieldInt32(0, value.precision, 0)
      b.addFieldInt32(1, value.scale, 0)
      b.addFieldInt32(2, 128, 128)
      return [TYPE_DECIMAL, b.endObject()]
    case 'date':
      b.startObject(1)
      b.addFieldInt16(0, DAY, 1)
      return [TYPE_DATE, b.endObject()]
    case 'timestamp':
    case 'timestamptz': {
      const zone = value.type === 'timestamptz' ? b.createString('UTC') : 0
      b.startObject(2)
      b.addFieldInt16(0, MICROSECOND, 0)
      if (zone !== 0) b.addFieldOffset(1, zone, 0)
      return [TYPE_TIMESTAMP, b.endObject()]
    }
    case 'binary': return [TYPE_BINARY, empty(b)]
    case 'list': return [TYPE_LIST, empty(b)]
    default: return [TYPE_UTF8, empty(b)]
  }
}

function empty (b: Builder): number {
  b.startObject(0)
  return b.endObject()
}

/**
 * One encapsulated message without its body: the continuation marker, the header's length
 * (padded so the body starts 8-byte aligned), the Message flatbuffer.
 */
function message (headerType: number, header: (b: Builder) => number, bodyLength: number, metadata: ReadonlyArray<readonly [string, string]>): Buffer {
  const b = new Builder(256)
  const headerOffset = header(b)
  const metadataOffset = metadata.length === 0 ? 0 : keyValues(b, metadata)
  b.startObject(5)
  b.addFieldInt16(0, V5, 0)
  b.addFieldInt8(1, headerType, 0)
  b.addFieldOffset(2, headerOffset, 0)
  b.addFieldInt64(3, BigInt(bodyLength), 0n)
  if (metadataOffset !== 0) b.addFieldOffset(4, metadataOffset, 0)
  b.finish(b.endObject())
  const bytes = b.asUint8Array()
  const length = pad8(8 + bytes.length) - 8
  const out = Buffer.alloc(8 + length)
  out.writeUInt32LE(0xffffffff, 0)
  out.writeInt32LE(length, 4)
  out.set(bytes, 8)
  return out
}

/** Arrow, as src/formats/index.ts lists it. */
export const arrowFormat: Format<'arrow'> = {
  name: 'arrow',
  contentType,
  attachment: true,
  schema: { type: 'string', format: 'binary' },
  create: (columns, _csv, context, options) => createArrowEncoder(columns, context, options)
}
