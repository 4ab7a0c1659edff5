// What the encoders need to know about a result column. Rows reach the encoders as the bytes of
// PostgreSQL's DataRow messages: each field's text as PostgreSQL sent it, or NULL.
import type { Out } from './out.js'

/** How a column's text becomes JSON, following PostgreSQL's own `row_to_json` (json_categorize_type). */
export type JsonKind =
  | { readonly kind: 'number' } // int2/int4/int8/float4/float8/numeric: bare, NaN/±Infinity as strings
  | { readonly kind: 'bool' } // 't'/'f' -> true/false
  | { readonly kind: 'date' } // date: quoted text as is (ISO datestyle)
  | { readonly kind: 'timestamp' } // timestamp, timestamptz: ISO 8601 with 'T' and ±hh:mm offset
  | { readonly kind: 'json' } // json, jsonb: embedded as is
  | { readonly kind: 'string' } // everything else: a JSON string of the text
  | { readonly kind: 'array'; readonly element: JsonKind; readonly delimiter: string }

export interface Column {
  /** result column name as PostgreSQL reports it */
  readonly name: string
  /** PostgreSQL type name, `format_type(oid, typmod)` */
  readonly type: string
  /**
   * type name to cast a text parameter to, `format_type(oid, -1)`: `bpchar`, not the `character`
   * that `format_type(oid, NULL)` gives and that as a cast means char(1)
   */
  readonly castType: string
  readonly oid: number
  readonly json: JsonKind
  /** how Parquet and Arrow type it */
  readonly value: ValueType
}

/** A column's type in the columnar formats (Parquet, Arrow): API.md section 3. */
export type ValueType =
  | { readonly type: 'bool' | 'int32' | 'int64' | 'float32' | 'float64' | 'date' | 'timestamp' | 'timestamptz' | 'string' | 'json' | 'binary' }
  | { readonly type: 'decimal'; readonly precision: number; readonly scale: number }
  | { readonly type: 'list'; readonly element: ValueType; readonly delimiter: string }

export type FormatName = 'ndjson' | 'csv' | 'json' | 'xlsx' | 'parquet' | 'arrow'

export interface CsvOptions {
  readonly header: boolean
  readonly bom: boolean
  /** one of ',', ';', '|', '\t' */
  readonly delimiter: string
}

/**
 * Turns rows into the bytes of one format: head(), then row() for every row, then tail(next);
 * `finish`, where a format has it, once a chunk holds its rows (and head or tail, if any).
 */
export interface Encoder {
  head(): Buffer
  /** Writes one DataRow (see RowSink in src/db/rowtap.ts for its layout) into `out`. */
  row(out: Out, data: Buffer, start: number, end: number): void
  /**
   * `next` is the link to the following page when `limit` cut the response (JSON writes it,
   * Parquet keeps it in its footer); the other formats ignore it
   */
  tail(next: string | null): Buffer
  /**
   * Turns what this encoder wrote into `out` into the bytes to send, in place, just before the
   * chunk goes: XLSX deflates its sheet XML here, Parquet and Arrow write the batch's columns.
   * `after` resumes right behind the batch's last row (null for a batch without rows).
   */
  finish?(out: Out, after: string | null): void
  /** Bytes of the batch held outside `out` (the columnar formats' columns), to size batches by */
  buffered?(): number
}

/** What the columnar formats write into their metadata about the report. */
export interface ColumnsContext {
  readonly report: string
  /** the key columns' names and indexes, in key order */
  readonly key: readonly string[]
  readonly keyIndexes: readonly number[]
}
