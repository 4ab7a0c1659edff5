import { jsonWriter } from './json-value.js'
import type { Column, Encoder, Row } from './types.js'

export const contentType = 'application/x-ndjson'

export function createNdjsonEncoder (columns: ReadonlyArray<Column>): Encoder {
  const writeObject = objectWriter(columns)
  return {
    head: () => '',
    rows (batch) {
      let out = ''
      for (const row of batch) out += writeObject(row) + '\n'
      return out
    },
    tail: () => ''
  }
}

/** One row as the JSON object `row_to_json` gives: keys are the column names, in column order. */
export function objectWriter (columns: ReadonlyArray<Column>): (row: Row) => string {
  const keys = columns.map((column, i) => (i === 0 ? '' : ',') + JSON.stringify(column.name) + ':')
  const writers = columns.map(column => jsonWriter(column.json))
  const n = columns.length
  return row => {
    let out = '{'
    for (let i = 0; i < n; i++) out += keys[i]! + writers[i]!(row[i] as string | null)
    return out + '}'
  }
}
