import { contentType as csvType, createCsvEncoder } from './csv.js'
import { contentType as jsonType, createJsonEncoder } from './json.js'
import { contentType as ndjsonType, createNdjsonEncoder } from './ndjson.js'
import { contentType as xlsxType, createXlsxEncoder } from './xlsx.js'
import type { Column, CsvOptions, Encoder, FormatName } from './types.js'

export { jsonValue, jsonWriter, type JsonWriter } from './json-value.js'

export const contentTypes: Readonly<Record<FormatName, string>> = {
  ndjson: ndjsonType,
  csv: csvType,
  json: jsonType,
  xlsx: xlsxType
}

/** A fresh encoder for one response (the JSON encoder remembers whether it wrote a row). */
export function createEncoder (format: FormatName, columns: ReadonlyArray<Column>, csv: CsvOptions): Encoder {
  switch (format) {
    case 'ndjson': return createNdjsonEncoder(columns)
    case 'csv': return createCsvEncoder(columns, csv)
    case 'json': return createJsonEncoder(columns)
    case 'xlsx': return createXlsxEncoder(columns)
  }
}
