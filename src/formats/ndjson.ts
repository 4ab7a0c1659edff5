// One JSON object per row, as `row_to_json` writes it (json_categorize_type and datum_to_json in
// PostgreSQL's json.c), made from the field bytes PostgreSQL sent. The tests compare every kind
// with `row_to_json` itself.
import { BACKSLASH, CLOSE, COLON, CR, LF, MINUS, NINE, PLUS, QUOTE, SPACE, T, ZERO } from './chars.js'
import { jsonWriter } from './json-value.js'
import { int32, type Out } from './out.js'
import type { Column, Encoder, JsonKind } from './types.js'

export const contentType = 'application/x-ndjson'

export function createNdjsonEncoder (columns: ReadonlyArray<Column>): Encoder {
  const writeObject = objectWriter(columns)
  return {
    head: () => EMPTY,
    row (out, data, start, end) {
      writeObject(out, data, start, end)
      out.buf[out.pos++] = LF // objectWriter leaves room for one byte more
    },
    tail: () => EMPTY
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
const OTHER = 6 // arrays: through the text writer, they are rare enough

export function objectWriter (columns: ReadonlyArray<Column>): ObjectWriter {
  const n = columns.length
  const keys = columns.map((column, i) => Buffer.from((i === 0 ? '{' : ',') + JSON.stringify(column.name) + ':'))
  const keyBytes = keys.reduce((sum, key) => sum + key.length, 0)
  const kinds = columns.map(column => kindCode(column.json))
  const others = columns.map(column => kindCode(column.json) === OTHER ? jsonWriter(column.json) : undefined)
  return (out, data, start, end) => {
    // the most a row can take: every byte a \u00XX escape, two quotes and ':00' per value
    let b = out.ensure(6 * (end - start) + keyBytes + 6 * n + 2)
    let o = out.pos
    let p = start + 2
    for (let i = 0; i < n; i++) {
      const key = keys[i]!
      for (let k = 0; k < key.length; k++) b[o++] = key[k]!
      const length = int32(data, p)
      p += 4
      if (length < 0) {
        b[o++] = 110; b[o++] = 117; b[o++] = 108; b[o++] = 108 // null
        continue
      }
      const q = p + length
      switch (kinds[i]) {
        case NUMBER: {
          // PostgreSQL's own test: a numeric output that starts like a number is one; NaN,
          // Infinity and -Infinity have no bare JSON form and are strings
          const c = data[p]!
          const bare = (c >= ZERO && c <= NINE) || (c === MINUS && data[p + 1]! >= ZERO && data[p + 1]! <= NINE)
          if (!bare) b[o++] = QUOTE
          for (let k = p; k < q; k++) b[o++] = data[k]!
          if (!bare) b[o++] = QUOTE
          break
        }
        case BOOL:
          if (data[p] === 116) { b[o++] = 116; b[o++] = 114; b[o++] = 117; b[o++] = 101 } // true
          else { b[o++] = 102; b[o++] = 97; b[o++] = 108; b[o++] = 115; b[o++] = 101 } // false
          break
        case DATE:
          // ISO datestyle: digits, '-', ' BC' or infinity, nothing to escape
          b[o++] = QUOTE
          for (let k = p; k < q; k++) b[o++] = data[k]!
          b[o++] = QUOTE
          break
        case TIMESTAMP:
          o = timestamp(b, o, data, p, q)
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
          const json = Buffer.from(others[i]!(data.toString('utf8', p, q)))
          out.pos = o
          b = out.ensure(json.length + 6 * (end - q) + keyBytes + 6 * n + 2)
          b.set(json, o)
          o += json.length
        }
      }
      p = q
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

// ISO "2026-01-02 03:04:05.123+00 BC" -> XSD "2026-01-02T03:04:05.123+00:00 BC", as EncodeDateTime
// writes with USE_XSD_DATES: 'T' separator and a zone of at least hours and minutes. Returns the
// new write offset.
function timestamp (b: Buffer, o: number, data: Buffer, p: number, q: number): number {
  b[o++] = QUOTE
  let space = p
  while (space < q && data[space] !== SPACE) space++
  if (space === q) { // infinity, -infinity
    for (let k = p; k < q; k++) b[o++] = data[k]!
    b[o++] = QUOTE
    return o
  }
  for (let k = p; k < space; k++) b[o++] = data[k]!
  b[o++] = T
  let zone = space + 9 // past "hh:mm:ss"
  let c = 0
  while (zone < q && (c = data[zone]!) !== PLUS && c !== MINUS && c !== SPACE) zone++
  let end = zone
  if (zone < q && c !== SPACE) {
    end = zone + 1
    while (end < q && data[end] !== SPACE) end++
  }
  for (let k = space + 1; k < end; k++) b[o++] = data[k]!
  // a zone of hours only, "+05": minutes added
  if (end - zone === 3) { b[o++] = COLON; b[o++] = ZERO; b[o++] = ZERO }
  for (let k = end; k < q; k++) b[o++] = data[k]!
  b[o++] = QUOTE
  return o
}

const ESCAPES: readonly Buffer[] = Array.from({ length: 128 }, (_, c) => {
  const text = JSON.stringify(String.fromCharCode(c))
  return Buffer.from(text.slice(1, -1))
})

const EMPTY = Buffer.alloc(0)
