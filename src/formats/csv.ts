// Byte for byte what `COPY (query) TO STDOUT WITH (FORMAT csv, HEADER, DELIMITER d)` writes, with
// COPY's defaults otherwise (quote and escape '"', NULL as the empty string, '\n' line ends); see
// CopyAttributeOutCSV in PostgreSQL's copyto.c.
import type { Column, CsvOptions, Encoder } from './types.js'

export const contentType = 'text/csv; charset=utf-8'

export function createCsvEncoder (columns: ReadonlyArray<Column>, options: CsvOptions): Encoder {
  const { delimiter } = options
  if (!delimiters.includes(delimiter)) throw new Error(`unsupported CSV delimiter ${JSON.stringify(delimiter)}`)
  const single = columns.length === 1
  const writers = columns.map(column => fieldWriter(column, delimiter, single))
  const n = columns.length
  const header = options.header
    ? columns.map(column => csvField(column.name, delimiter, single)).join(delimiter) + '\n'
    : ''
  return {
    head: () => (options.bom ? '\uFEFF' : '') + header,
    rows (batch) {
      let out = ''
      for (const row of batch) {
        for (let i = 0; i < n; i++) {
          if (i !== 0) out += delimiter
          out += writers[i]!(row[i] as string | null)
        }
        out += '\n'
      }
      return out
    },
    tail: () => ''
  }
}

// API.md's choices; plainKinds below relies on them
const delimiters = [',', ';', '|', '\t']

type FieldWriter = (text: string | null) => string

// Numbers, booleans, dates and timestamps are never empty and never contain a quote, a line
// break or one of the allowed delimiters, so their text needs no scan.
const plainKinds = new Set(['number', 'bool', 'date', 'timestamp'])

function fieldWriter (column: Column, delimiter: string, single: boolean): FieldWriter {
  if (plainKinds.has(column.json.kind)) return text => text ?? ''
  return text => text === null ? '' : csvField(text, delimiter, single)
}

function csvField (text: string, delimiter: string, single: boolean): string {
  // COPY quotes a value that equals its NULL string (the empty string), and `\.` alone on a line
  // so that COPY FROM does not take it for the end-of-data marker.
  if (text === '' || (single && text === '\\.')) return '"' + text + '"'
  const d = delimiter.charCodeAt(0)
  let quote = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === QUOTE) return '"' + text.replaceAll('"', '""') + '"'
    if (c === d || c === LF || c === CR) quote = true
  }
  return quote ? '"' + text + '"' : text
}

const QUOTE = 34
const LF = 10
const CR = 13
