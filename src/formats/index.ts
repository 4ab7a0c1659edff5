import { contentType as csvType, createCsvEncoder } from './csv.js'
import { contentType as jsonType, createJsonEncoder } from './json.js'
import { contentType as ndjsonType, createNdjsonEncoder } from './ndjson.js'
import { contentType as xlsxType, createXlsxEncoder } from './xlsx.js'
import { contentType as parquetType, createParquetEncoder } from './parquet.js'
import { contentType as arrowType, createArrowEncoder } from './arrow.js'
import type { Column, ColumnsContext, CsvOptions, Encoder, FormatName } from './types.js'

export { jsonValue, jsonWriter, type JsonWriter } from './json-value.js'

export const contentTypes: Readonly<Record<FormatName, string>> = {
  ndjson: ndjsonType,
  csv: csvType,
  json: jsonType,
  xlsx: xlsxType,
  parquet: parquetType,
  arrow: arrowType
}

/** For encoders made outside a request (tests, benchmarks): a report without a name or key. */
const NO_CONTEXT: ColumnsContext = { report: '', key: [], keyIndexes: [] }

/** A fresh encoder for one response (the JSON encoder remembers whether it wrote a row). */
export function createEncoder (format: FormatName, columns: ReadonlyArray<Column>, csv: CsvOptions, context: ColumnsContext = NO_CONTEXT): Encoder {
  switch (format) {
    case 'ndjson': return createNdjsonEncoder(columns)
    case 'csv': return createCsvEncoder(columns, csv)
    case 'json': return createJsonEncoder(columns)
    case 'xlsx': return createXlsxEncoder(columns)
    case 'parquet': return createParquetEncoder(columns, context)
    case 'arrow': return createArrowEncoder(columns, context)
  }
}
