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
}

export type FormatName = 'ndjson' | 'csv' | 'json' | 'xlsx'

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
  /** `next` is the JSON format's link to the following page; the other formats ignore it */
  tail(next: string | null): Buffer
  /**
   * Turns what this encoder wrote into `out` into the bytes to send, in place, just before the
   * chunk goes: XLSX deflates its sheet XML here, a batch at a time
   */
  finish?(out: Out): void
}
