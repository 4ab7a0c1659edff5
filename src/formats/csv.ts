// Byte for byte what `COPY (query) TO STDOUT WITH (FORMAT csv, HEADER, DELIMITER d)` writes, with
// COPY's defaults otherwise (quote and escape '"', NULL as the empty string, '\n' line ends); see
// CopyAttributeOutCSV in PostgreSQL's copyto.c. Works on the field bytes PostgreSQL sent.
import { BACKSLASH, CR, DOT, LF, QUOTE } from './chars.js'
import { FIRST_ROOM, Out } from './out.js'
import { FieldWalk } from './pgtext.js'
import type { Column, CsvOptions, Encoder, Format } from './types.js'

export const contentType = 'text/csv; charset=utf-8'

export function createCsvEncoder (columns: ReadonlyArray<Column>, options: CsvOptions): Encoder {
  const { delimiter } = options
  if (!delimiters.includes(delimiter)) throw new Error(`unsupported CSV delimiter ${JSON.stringify(delimiter)}`)
  const d = delimiter.charCodeAt(0)
  const single = columns.length === 1
  const n = columns.length
  const plain = columns.map(column => plainKinds.has(column.json.kind))
  const header = options.header
    ? columns.map(column => csvField(column.name, delimiter, single)).join(delimiter) + '\n'
    : ''
  // the batch's lines, handed over whole at flush; the head first
  const rows = new Out(FIRST_ROOM)
  rows.write(Buffer.from((options.bom ? '\uFEFF' : '') + header))
  const fields = new FieldWalk()
  return {
    row (data, start, end) {
      // the most a row can take: every byte a doubled quote, every field quoted, a delimiter each
      const b = rows.ensure(2 * (end - start) + 3 * n + 1)
      let o = rows.pos
      fields.begin(data, start)
      for (let i = 0; i < n; i++) {
        if (i !== 0) b[o++] = d
        const length = fields.next()
        if (length < 0) continue // NULL: nothing between the delimiters
        const p = fields.at
        const q = p + length
        if (plain[i]) {
          for (let k = p; k < q; k++) b[o++] = data[k]!
        } else if (length === 0) {
          // the empty string is quoted, so that it differs from NULL
          b[o++] = QUOTE
          b[o++] = QUOTE
        } else {
          // copy as if nothing needed quoting; start over quoted on the first byte that does
          const from = o
          let k = p
          for (; k < q; k++) {
            const c = data[k]!
            if (c === QUOTE || c === d || c === LF || c === CR) break
            b[o++] = c
          }
          // `\.` alone on a line would end COPY FROM's data: COPY quotes it
          if (k < q || (single && length === 2 && data[p] === BACKSLASH && data[p + 1] === DOT)) {
            o = from
            b[o++] = QUOTE
            for (k = p; k < q; k++) {
              const c = data[k]!
              b[o++] = c
              if (c === QUOTE) b[o++] = QUOTE
            }
            b[o++] = QUOTE
          }
        }
      }
      b[o++] = LF
      rows.pos = o
    },
    size: () => rows.pos,
    flush (out) {
      out.take(rows)
    }
  }
}

// the contract's choices (docs/http.md section 3); plainKinds below relies on them
const delimiters = [',', ';', '|', '\t']

// Numbers, booleans, dates and timestamps are never empty and never contain a quote, a line
// break or one of the allowed delimiters, so their bytes need no scan.
const plainKinds = new Set(['number', 'bool', 'date', 'timestamp'])

/** One CSV field of a header: a column name. */
function csvField (text: string, delimiter: string, single: boolean): string {
  if (text === '' || (single && text === '\\.') || /["\r\n]/.test(text) || text.includes(delimiter)) {
    return '"' + text.replaceAll('"', '""') + '"'
  }
  return text
}

/** CSV, as src/formats/index.ts lists it. */
export const csvFormat: Format<'csv'> = {
  name: 'csv',
  contentType,
  attachment: true,
  schema: { type: 'string' },
  create: (columns, csv) => createCsvEncoder(columns, csv)
}
