// Raw PostgreSQL text -> the JSON text `row_to_json` would write for it, following
// json_categorize_type and datum_to_json (src/backend/utils/adt/json.c, jsonfuncs.c). The test
// compares every kind with `row_to_json` itself.
import { BACKSLASH, BRACKET, CLOSE, MINUS, NINE, OPEN, PLUS, QUOTE, SPACE, ZERO } from './chars.js'
import type { JsonKind } from './types.js'

/** A value writer: raw text (`null` for SQL NULL) -> JSON text. Compile once per column, call per row. */
export type JsonWriter = (text: string | null) => string

export function jsonWriter (kind: JsonKind): JsonWriter {
  const write = textWriter(kind)
  return text => text === null ? 'null' : write(text)
}

/**
 * The JSON text of one value: the key in `after` and `next` links. Rows go through ndjson.ts,
 * which writes the same from bytes (and comes here only for arrays); the tests hold both to
 * row_to_json.
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
    case 'timestamp': return timestampJson
    case 'json': return jsonJson
    case 'string': return stringJson
    case 'array': return arrayJson(textWriter(kind.element), kind.delimiter.charCodeAt(0))
  }
}

// PostgreSQL's own test: a numeric output that starts like a number is one; the rest are
// NaN, Infinity and -Infinity, which JSON has no bare form for.
function numberJson (text: string): string {
  const c = text.charCodeAt(0)
  if (c >= ZERO && c <= NINE) return text
  if (c === MINUS) {
    const d = text.charCodeAt(1)
    if (d >= ZERO && d <= NINE) return text
  }
  return '"' + text + '"'
}

function boolJson (text: string): string {
  return text === 't' ? 'true' : 'false'
}

// date output (ISO style) is digits, '-', ' BC' or infinity: nothing to escape
function quoted (text: string): string {
  return '"' + text + '"'
}

// ISO "2026-01-02 03:04:05.123+00 BC" -> XSD "2026-01-02T03:04:05.123+00:00 BC", as EncodeDateTime
// writes with USE_XSD_DATES: 'T' separator and a zone of at least hours and minutes.
function timestampJson (text: string): string {
  const space = text.indexOf(' ')
  if (space === -1) return '"' + text + '"' // infinity, -infinity
  const n = text.length
  let zone = space + 9 // past "hh:mm:ss"
  let c = 0
  while (zone < n && (c = text.charCodeAt(zone)) !== PLUS && c !== MINUS && c !== SPACE) zone++
  const date = text.slice(0, space)
  if (zone === n || c === SPACE) return '"' + date + 'T' + text.slice(space + 1) + '"'
  let end = text.indexOf(' ', zone)
  if (end === -1) end = n
  if (end - zone !== 3) return '"' + date + 'T' + text.slice(space + 1) + '"'
  return '"' + date + 'T' + text.slice(space + 1, end) + ':00' + text.slice(end) + '"'
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

// array_out text -> array_to_json: '{' and '}' become brackets (nested for more dimensions), an
// unquoted NULL is null, quoted elements lose their backslash escapes. array_out never writes
// whitespace outside quotes.
function arrayJson (write: TextWriter, delimiter: number): TextWriter {
  return text => {
    const n = text.length
    let i = 0
    const first = text.charCodeAt(0)
    if (first === BRACKET) i = text.indexOf('=') + 1 // "[0:1]={1,2}": array_to_json drops the bounds
    else if (first !== OPEN) return vectorJson(write, text)
    let out = ''
    while (i < n) {
      let c = text.charCodeAt(i)
      if (c === OPEN) {
        out += '['
        i++
      } else if (c === CLOSE) {
        out += ']'
        i++
      } else if (c === delimiter) {
        out += ','
        i++
      } else if (c === QUOTE) {
        let value = ''
        let start = ++i
        while (i < n && (c = text.charCodeAt(i)) !== QUOTE) {
          if (c === BACKSLASH) {
            value += text.slice(start, i)
            start = ++i
          }
          i++
        }
        out += write(value + text.slice(start, i))
        i++
      } else {
        const start = i
        while (i < n && (c = text.charCodeAt(i)) !== delimiter && c !== CLOSE) i++
        const value = text.slice(start, i)
        out += value === 'NULL' ? 'null' : write(value)
      }
    }
    return out
  }
}

// int2vector and oidvector are arrays to array_to_json, but their output is space-separated
// without braces ("1 2"), and never has NULLs.
function vectorJson (write: TextWriter, text: string): string {
  return text === '' ? '[]' : '[' + text.split(' ').map(write).join(',') + ']'
}
