import { objectWriter } from './ndjson.js'
import { FIRST_ROOM, Out } from './out.js'
import type { Column, Encoder, Format } from './types.js'

export const contentType = 'application/json'

/** `{"rows":[...],"next":...}`, rows as in NDJSON, one per line; `"sync_token"` last for a report with `changes:`. */
export function createJsonEncoder (columns: ReadonlyArray<Column>): Encoder {
  const writeObject = objectWriter(columns)
  // the batch's bytes, handed over whole at flush; the head first
  const rows = new Out(FIRST_ROOM)
  rows.write(HEAD)
  let first = true
  return {
    row (data, start, end) {
      if (!first) rows.write(SEPARATOR)
      first = false
      writeObject(rows, data, start, end)
    },
    size: () => rows.pos,
    flush (out, { final, next, sync }) {
      out.take(rows)
      if (final) out.write(Buffer.from('],"next":' + (next === null ? 'null' : JSON.stringify(next)) + (sync === null ? '' : ',"sync_token":' + JSON.stringify(sync)) + '}'))
    }
  }
}

const HEAD = Buffer.from('{"rows":[')
const SEPARATOR = Buffer.from(',\n')

/** JSON, as src/formats/index.ts lists it. */
export const jsonFormat: Format<'json'> = {
  name: 'json',
  contentType,
  attachment: false,
  schema: { type: 'object', properties: { rows: { type: 'array', items: { type: 'object' } }, next: { type: ['string', 'null'] }, sync_token: { type: 'string' } } },
  create: (columns) => createJsonEncoder(columns)
}
