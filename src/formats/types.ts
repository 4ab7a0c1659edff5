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

/** A column's type in the columnar formats (Parquet, Arrow): docs/http.md section 3. */
export type ValueType =
  | { readonly type: 'bool' | 'int32' | 'int64' | 'float32' | 'float64' | 'date' | 'timestamp' | 'timestamptz' | 'string' | 'json' | 'binary' }
  | { readonly type: 'decimal'; readonly precision: number; readonly scale: number }
  | { readonly type: 'list'; readonly element: ValueType; readonly delimiter: string }

/**
 * One format, as its file describes it: src/formats/index.ts lists them, and negotiation, the
 * response headers and the OpenAPI document read them from that list.
 */
export interface Format<Name extends string = string> {
  /** the path suffix and the `format` parameter */
  readonly name: Name
  /** a response's Content-Type; its type/subtype is what an Accept header asks for */
  readonly contentType: string
  /** a file a browser saves: Content-Disposition: attachment, whether or not `download=1` */
  readonly attachment: boolean
  /** the body's JSON Schema in the OpenAPI document */
  readonly schema: Readonly<Record<string, unknown>>
  /** A fresh encoder for one response. */
  create (columns: ReadonlyArray<Column>, csv: CsvOptions, context: ColumnsContext, options: EncoderOptions): Encoder
}

export interface EncoderOptions {
  /**
   * Compress on libuv's thread pool, off the thread that writes the rows (XLSX's deflate): `flush`
   * then returns a promise, so only an asynchronous driver (Drive.chunkLater: the service) may
   * ask for it; tests and benches that drive encoders synchronously leave it off.
   */
  readonly offThread?: boolean
  /**
   * Read columns in PostgreSQL's binary form where a format maps it (Parquet and Arrow: numbers,
   * dates, timestamps, bytea); the encoder's `formats` then says which, and its rows must be
   * asked for so (Lease#queryInto). Only the service asks for it; tests and benches that feed
   * text DataRows leave it off.
   */
  readonly binary?: boolean
}

export interface CsvOptions {
  readonly header: boolean
  readonly bom: boolean
  /** one of ',', ';', '|', '\t' */
  readonly delimiter: string
}

/**
 * Turns rows into the bytes of one format, a batch at a time: `row` takes each of a batch's
 * DataRows, then `flush` writes the batch into the chunk that is sent. The format's head goes out
 * with the first flush, its tail with the flush that is `final`, after which the encoder is done.
 * Every format follows this one protocol, and src/formats/drive.ts is what calls it.
 */
export interface Encoder {
  /**
   * The result format code per column this encoder reads its rows in (0 text, 1 binary), made
   * with `binary`; absent or null: all text.
   */
  readonly formats?: readonly number[] | null
  /** Takes one DataRow (see RowSink in src/db/rowtap.ts for its layout). */
  row(data: Buffer, start: number, end: number): void
  /** Bytes taken since the last flush (the head among them, before the first): what sizes batches. */
  size(): number
  /**
   * Writes everything taken since the last flush into `out`. An encoder made `offThread` may
   * finish later (a promise): it has taken what it needs of the batch when it returns, so the
   * next batch's rows may come in while it finishes; its driver (Drive.chunkLater) asks for no
   * other flush until it has.
   */
  flush(out: Out, batch: Flush): void | Promise<void>
}

/** What a flush is told of the batch it ends. */
export interface Flush {
  /** the last batch: the format's tail follows its rows */
  readonly final: boolean
  /**
   * with `final`, the link to the following page when `limit` cut the response (JSON writes it,
   * Parquet keeps it in its footer; the other formats have nowhere to put it)
   */
  readonly next: string | null
  /** the `after` that resumes right behind the batch's last row; null for a batch without rows */
  readonly after: string | null
  /**
   * the response's sync token, for a report with `changes:` (known by the first flush): JSON
   * writes it in its envelope, Arrow in its schema's metadata, Parquet in its footer's
   */
  readonly sync: string | null
}

/** What the columnar formats write into their metadata about the report. */
export interface ColumnsContext {
  readonly report: string
  /** the key columns' names and indexes, in key order */
  readonly key: readonly string[]
  readonly keyIndexes: readonly number[]
}
