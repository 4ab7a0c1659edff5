import { objectWriter } from './ndjson.js'
import type { Column, Encoder } from './types.js'

export const contentType = 'application/json'

/** `{"rows":[...],"next":...}`, rows as in NDJSON, one per line. */
export function createJsonEncoder (columns: ReadonlyArray<Column>): Encoder {
  const writeObject = objectWriter(columns)
  let first = true
  return {
    head: () => HEAD,
    row (out, data, start, end) {
      if (!first) out.write(SEPARATOR)
      first = false
      writeObject(out, data, start, end)
    },
    tail: next => Buffer.from('],"next":' + (next === null ? 'null' : JSON.stringify(next)) + '}')
  }
}

const HEAD = Buffer.from('{"rows":[')
const SEPARATOR = Buffer.from(',\n')
