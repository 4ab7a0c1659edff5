// Raw PostgreSQL text -> the JSON text `row_to_json` would write for it, following
// json_categorize_type and datum_to_json (src/backend/utils/adt/json.c, jsonfuncs.c). The test
// compares every kind with `row_to_json` itself.
import { COLON, QUOTE, T, ZERO } from './chars.js'
import { ARRAY_CLOSE, ARRAY_END, ARRAY_NULL, ARRAY_OPEN, ArrayText, isBareNumber, isTrue, timestampShape, TimestampText } from './pgtext.js'
import type { JsonKind } from './types.js'

/** A value writer: raw text (`null` for SQL NULL) -> JSON text. Compile once per column, call per row. */
export type JsonWriter = (text: string | null) => string

export function jsonWriter (kind: JsonKind): JsonWriter {
  const write = textWriter(kind)
  return text => text === null ? 'null' : write(text)
}

/**
 * The JSON text of one value: the key in `after` and `next` links. Rows go through ndjson.ts,
 * which writes the same from bytes (and comes here for arrays and timestamps); the tests hold
 * both to row_to_json.
 */
export function jsonValue (kind: JsonKind, text: string | null): string {
  return jsonWriter(kind)(text)
}

type TextWriter = (text: string) => string

function textWriter (kind: JsonKind): TextWriter {
  switch (kind.kind) {
    case 'number': return numberJson
    case 'bool': return boolJson
    case 'date': return quoted
    case 'timestamp': return timestampWriter()
    case 'json': return jsonJson
    case 'string': return stringJson
    case 'array': {
      const write = arrayWriter(kind)
      return text => {
        const bytes = Buffer.from(text)
        return write(bytes, 0, bytes.length)
      }
    }
  }
}

// NaN, Infinity and -Infinity have no bare JSON form
function numberJson (text: string): string {
  return isBareNumber(text.charCodeAt(0), text.charCodeAt(1)) ? text : '"' + text + '"'
}

function boolJson (text: string): string {
  return isTrue(text.charCodeAt(0)) ? 'true' : 'false'
}

// date output (ISO style) is digits, '-', ' BC' or infinity: nothing to escape
function quoted (text: string): string {
  return '"' + text + '"'
}

/**
 * A timestamp's text `data[p..q)` as the JSON string EncodeDateTime writes with USE_XSD_DATES: ISO
 * "2026-01-02 03:04:05.123+00 BC" -> XSD "2026-01-02T03:04:05.123+00:00 BC", a 'T' separator and a
 * zone of at least hours and minutes. Writes at `b[o..]`, which has room for `q - p + 5` bytes, and
 * returns the new write offset; `text` is the caller's scratch.
 */
export function timestampJson (b: Uint8Array, o: number, data: Uint8Array, p: number, q: number, text: TimestampText): number {
  b[o++] = QUOTE
  timestampShape(data, p, q, text)
  if (text.infinite !== 0) {
    for (let k = p; k < q; k++) b[o++] = data[k]!
  } else {
    for (let k = p; k < text.time; k++) b[o++] = data[k]!
    b[o++] = T
    for (let k = text.time + 1; k < text.zoneEnd; k++) b[o++] = data[k]!
    // a zone of hours only, "+05": minutes added
    if (text.zoneEnd - text.zone === 3) { b[o++] = COLON; b[o++] = ZERO; b[o++] = ZERO }
    for (let k = text.zoneEnd; k < q; k++) b[o++] = data[k]!
  }
  b[o++] = QUOTE
  return o
}

function timestampWriter (): TextWriter {
  const scratch = new TimestampText()
  return text => {
    const data = Buffer.from(text, 'latin1')
    const b = Buffer.allocUnsafe(data.length + 5)
    return b.toString('latin1', 0, timestampJson(b, 0, data, 0, data.length, scratch))
  }
}

// A valid JSON text has no raw line break inside a string, so every CR/LF is whitespace between
// tokens and a space keeps the value while keeping an NDJSON row on one line.
function jsonJson (text: string): string {
  if (text.indexOf('\n') === -1 && text.indexOf('\r') === -1) return text
  return text.replace(/[\r\n]/g, ' ')
}

function stringJson (text: string): string {
  return JSON.stringify(text)
}

/**
 * An array's text `data[p..q)` -> array_to_json: '{' and '}' become brackets (nested for more
 * dimensions), an unquoted NULL is null, quoted elements lose their backslash escapes, the bounds
 * are dropped; int2vector's and oidvector's `1 2` is one dimension. What NDJSON and JSON rows
 * write for an array column.
 */
export function arrayWriter (kind: Extract<JsonKind, { kind: 'array' }>): (data: Buffer, p: number, q: number) => string {
  const write = textWriter(kind.element)
  const delimiter = kind.delimiter.charCodeAt(0)
  const array = new ArrayText()
  return (data, p, q) => {
    array.begin(data, p, q, delimiter)
    let out = ''
    // after an element or a closed sub-array: a comma before what comes next
    let after = false
    for (let token = array.next(); token !== ARRAY_END; token = array.next()) {
      if (token === ARRAY_CLOSE) {
        out += ']'
        after = true
        continue
      }
      if (after) out += ','
      after = token !== ARRAY_OPEN
      out += token === ARRAY_OPEN ? '[' : token === ARRAY_NULL ? 'null' : write(array.data.toString('utf8', array.start, array.end))
    }
    return out
  }
}
