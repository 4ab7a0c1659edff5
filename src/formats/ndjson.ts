// One JSON object per row, as `row_to_json` writes it (json_categorize_type and datum_to_json in
// PostgreSQL's json.c), made from the field bytes PostgreSQL sent. The tests compare every kind
// with `row_to_json` itself.
import { BACKSLASH, CLOSE, CR, LF, QUOTE, SPACE } from './chars.js'
import { arrayWriter, timestampJson } from './json-value.js'
import { FIRST_ROOM, Out } from './out.js'
import { FieldWalk, isBareNumber, isTrue, TimestampText } from './pgtext.js'
import type { Column, Encoder, Format, JsonKind } from './types.js'

export const contentType = 'application/x-ndjson'

export function createNdjsonEncoder (columns: ReadonlyArray<Column>): Encoder {
  const writeObject = objectWriter(columns)
  // the batch's lines, handed over whole at flush
  const rows = new Out(FIRST_ROOM)
  return {
    row (data, start, end) {
      writeObject(rows, data, start, end)
      rows.buf[rows.pos++] = LF // objectWriter leaves room for one byte more
    },
    size: () => rows.pos,
    flush (out) {
      out.take(rows)
    }
  }
}

/** Writes one row as the JSON object `row_to_json` gives: keys are the column names, in column order. */
export type ObjectWriter = (out: Out, data: Buffer, start: number, end: number) => void

// Each value's kind, as a small integer the row loop switches on.
const NUMBER = 0
const BOOL = 1
const DATE = 2
const TIMESTAMP = 3
const JSON_TEXT = 4
const STRING = 5
const OTHER = 6 // arrays: through JS strings, they are rare enough

export function objectWriter (columns: ReadonlyArray<Column>): ObjectWriter {
  const n = columns.length
  const keys = columns.map((column, i) => Buffer.from((i === 0 ? '{' : ',') + JSON.stringify(column.name) + ':'))
  const keyBytes = keys.reduce((sum, key) => sum + key.length, 0)
  const kinds = columns.map(column => kindCode(column.json))
  const arrays = columns.map(column => column.json.kind === 'array' ? arrayWriter(column.json) : undefined)
  const fields = new FieldWalk()
  const stamp = new TimestampText()
  return (out, data, start, end) => {
    // the most a row can take: every byte a \u00XX escape, two quotes and ':00' per value
    let b = out.ensure(6 * (end - start) + keyBytes + 6 * n + 2)
    let o = out.pos
    fields.begin(data, start)
    for (let i = 0; i < n; i++) {
      const key = keys[i]!
      for (let k = 0; k < key.length; k++) b[o++] = key[k]!
      const length = fields.next()
      if (length < 0) {
        b[o++] = 110; b[o++] = 117; b[o++] = 108; b[o++] = 108 // null
        continue
      }
      const p = fields.at
      const q = p + length
      switch (kinds[i]) {
        case NUMBER: {
          // NaN, Infinity and -Infinity have no bare JSON form: strings
          const bare = isBareNumber(data[p]!, data[p + 1]!)
          if (!bare) b[o++] = QUOTE
          for (let k = p; k < q; k++) b[o++] = data[k]!
          if (!bare) b[o++] = QUOTE
          break
        }
        case BOOL:
          if (isTrue(data[p]!)) { b[o++] = 116; b[o++] = 114; b[o++] = 117; b[o++] = 101 } // true
          else { b[o++] = 102; b[o++] = 97; b[o++] = 108; b[o++] = 115; b[o++] = 101 } // false
          break
        case DATE:
          // ISO datestyle: digits, '-', ' BC' or infinity, nothing to escape
          b[o++] = QUOTE
          for (let k = p; k < q; k++) b[o++] = data[k]!
          b[o++] = QUOTE
          break
        case TIMESTAMP:
          o = timestampJson(b, o, data, p, q, stamp)
          break
        case JSON_TEXT:
          // a valid JSON text has no raw line break inside a string: every CR/LF is whitespace
          // between tokens, and a space keeps the value while keeping the row on one line
          for (let k = p; k < q; k++) {
            const c = data[k]!
            b[o++] = c === LF || c === CR ? SPACE : c
          }
          break
        case STRING:
          b[o++] = QUOTE
          for (let k = p; k < q; k++) {
            const c = data[k]!
            if (c >= SPACE && c !== QUOTE && c !== BACKSLASH) {
              b[o++] = c
              continue
            }
            // what JSON.stringify writes: \" \\ \b \f \n \r \t, other controls as \u00xx
            const escape = ESCAPES[c]!
            for (let e = 0; e < escape.length; e++) b[o++] = escape[e]!
          }
          b[o++] = QUOTE
          break
        default: {
          const json = Buffer.from(arrays[i]!(data, p, q))
          out.pos = o
          b = out.ensure(json.length + 6 * (end - q) + keyBytes + 6 * n + 2)
          b.set(json, o)
          o += json.length
        }
      }
    }
    b[o++] = CLOSE
    out.pos = o
  }
}

function kindCode (kind: JsonKind): number {
  switch (kind.kind) {
    case 'number': return NUMBER
    case 'bool': return BOOL
    case 'date': return DATE
    case 'timestamp': return TIMESTAMP
    case 'json': return JSON_TEXT
    case 'string': return STRING
    case 'array': return OTHER
  }
}

const ESCAPES: readonly Buffer[] = Array.from({ length: 128 }, (_, c) => {
  const text = JSON.stringify(String.fromCharCode(c))
  return Buffer.from(text.slice(1, -1))
})

/** NDJSON, as src/formats/index.ts lists it. */
export const ndjsonFormat: Format<'ndjson'> = {
  name: 'ndjson',
  contentType,
  attachment: false,
  schema: { type: 'string' },
  create: (columns) => createNdjsonEncoder(columns)
}
