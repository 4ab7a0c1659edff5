import { objectWriter } from './ndjson.js'
import type { Column, Encoder } from './types.js'

export const contentType = 'application/json'

/** `{"rows":[...],"next":...}`, rows as in NDJSON, one per line. */
export function createJsonEncoder (columns: ReadonlyArray<Column>): Encoder {
  const writeObject = objectWriter(columns)
  let separator = ''
  return {
    head: () => '{"rows":[',
    rows (batch) {
      let out = ''
      for (const row of batch) {
        out += separator + writeObject(row)
        separator = ',\n'
      }
      return out
    },
    tail: next => '],"next":' + (next === null ? 'null' : JSON.stringify(next)) + '}'
  }
}
