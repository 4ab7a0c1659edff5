// Rows given as texts, written as the DataRow messages PostgreSQL sends, and run through an
// encoder: for tests of the encoders alone. The real socket's DataRows are tested end to end.
import { Drive } from '../../src/formats/drive.js'
import type { Encoder } from '../../src/formats/types.js'

export type TextRow = ReadonlyArray<string | null>

/** One DataRow message: 'D', int32 length, int16 field count, then per field int32 length (-1 for NULL) and bytes. */
export function dataRow (row: TextRow): Buffer {
  const fields = row.map((text) => text === null ? null : Buffer.from(text))
  const length = 4 + 2 + fields.reduce((sum, field) => sum + 4 + (field?.length ?? 0), 0)
  const message = Buffer.alloc(1 + length)
  message[0] = 68
  message.writeInt32BE(length, 1)
  message.writeInt16BE(fields.length, 5)
  let at = 7
  for (const field of fields) {
    message.writeInt32BE(field === null ? -1 : field.length, at)
    at += 4
    if (field !== null) at += field.copy(message, at)
  }
  return message
}

/** Every row, then the final chunk with `next`: the bytes a response of these rows carries. */
export function encodeAll (encoder: Encoder, rows: ReadonlyArray<TextRow>, next: string | null = null): Buffer {
  const drive = new Drive(encoder)
  for (const row of rows) {
    const message = dataRow(row)
    drive.row(message, 5, message.length)
  }
  return Buffer.from(drive.chunk({ final: true, next }))
}
