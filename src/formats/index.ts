// The formats Sluice writes: each is one file that describes itself (Format in ./types.ts), listed
// here once. Negotiation, the headers, /reports and the OpenAPI document all read this list.
import { arrowFormat } from './arrow.js'
import { csvFormat } from './csv.js'
import { jsonFormat } from './json.js'
import { ndjsonFormat } from './ndjson.js'
import { parquetFormat } from './parquet.js'
import type { Column, ColumnsContext, CsvOptions, Encoder, EncoderOptions, Format } from './types.js'
import { xlsxFormat } from './xlsx.js'

export { jsonValue, jsonWriter, type JsonWriter } from './json-value.js'

/** Every format, in the order /reports lists them; the first is the default. */
export const formats = [ndjsonFormat, csvFormat, jsonFormat, xlsxFormat, parquetFormat, arrowFormat] as const satisfies readonly Format[]

export type FormatName = typeof formats[number]['name']

export const formatNames: readonly FormatName[] = formats.map((format) => format.name)

/** The format named `name`. */
export function formatOf (name: FormatName): Format {
  return formats.find((format) => format.name === name)!
}

export const contentTypes = Object.fromEntries(formats.map((format) => [format.name, format.contentType])) as Readonly<Record<FormatName, string>>

/** For encoders made outside a request (tests, benchmarks): a report without a name or key. */
const NO_CONTEXT: ColumnsContext = { report: '', key: [], keyIndexes: [] }

/** A fresh encoder for one response (the JSON encoder remembers whether it wrote a row). */
export function createEncoder (format: FormatName, columns: ReadonlyArray<Column>, csv: CsvOptions, context: ColumnsContext = NO_CONTEXT, options: EncoderOptions = {}): Encoder {
  return formatOf(format).create(columns, csv, context, options)
}
