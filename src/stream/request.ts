import type { FastifyRequest } from 'fastify'
import { NotAcceptable } from '../errors.js'
import { contentTypes, formatOf, type FormatName } from '../formats/index.js'
import { FORMATS, negotiate } from '../formats/negotiate.js'
import type { CsvOptions } from '../formats/types.js'
import type { ParamValues, Report } from '../reports/report.js'
import { parseAfter, type AfterValue } from './keys.js'
import { decodeToken } from './sync.js'

/** The query string of a report request, after its schema validated and coerced it. */
export interface ReportQuery {
  format?: string
  limit?: number
  after?: string
  download?: number
  header?: number
  bom?: number
  delimiter?: string
  changed_since?: string
  [param: string]: unknown
}

/** A GET or HEAD of a report, read once: everything the response depends on besides the rows. */
export interface ReportRequest {
  readonly format: FormatName
  /** CSV's `header`, `bom` and `delimiter`; the other formats ignore them */
  readonly csv: CsvOptions
  readonly limit: number | null
  /** resume after this key (`after`, parsed) */
  readonly after: AfterValue[] | null
  /** `changed_since`: the token as sent, and the snapshot it holds (src/stream/sync.ts) */
  readonly changedSince: { readonly token: string, readonly snapshot: string } | null
  /** the report's own parameters */
  readonly params: ParamValues
  /** `download=1` */
  readonly download: boolean
  /** Content-Disposition, which only a streamed body gets: an error body is no file */
  readonly disposition: Readonly<Record<string, string>>
}

const DELIMITERS: Readonly<Record<string, string>> = { ',': ',', ';': ';', '|': '|', tab: '\t' }

/**
 * Reads a report request: its format (the URL's suffix, else `format`, else Accept: 406 when none
 * is served), `after` (400 when it is not a key of this report), `changed_since` (400 when it is
 * not a sync token of this report), `limit`, CSV's options and the report's parameters.
 */
export function readRequest (report: Report, request: FastifyRequest, suffix: string | undefined): ReportRequest {
  const query = request.query as ReportQuery
  const format = negotiate(suffix, query.format, request.headers.accept)
  if (format === undefined) throw notAcceptable(suffix ?? query.format, request.headers.accept)
  const after = query.after === undefined ? null : parseAfter(query.after, report.key.length)
  const token = query.changed_since
  const changedSince = token === undefined ? null : { token, snapshot: decodeToken(report, token) }
  const params: Record<string, unknown> = {}
  for (const name of Object.keys(report.params)) params[name] = query[name]
  const download = query.download === 1
  return {
    format,
    csv: {
      header: query.header !== 0,
      bom: query.bom === 1,
      delimiter: DELIMITERS[query.delimiter ?? ','] ?? ','
    },
    limit: query.limit ?? null,
    after,
    changedSince,
    params,
    download,
    disposition: formatOf(format).attachment || download
      ? { 'content-disposition': `attachment; filename="${report.name}.${format}"` }
      : {}
  }
}

function notAcceptable (asked: string | undefined, accept: string | undefined): NotAcceptable {
  const served = FORMATS.join(', ')
  if (asked !== undefined) return new NotAcceptable(`format "${asked}" is not served; formats: ${served}`)
  return new NotAcceptable(`none of the types in Accept (${accept ?? ''}) is served: ${Object.values(contentTypes).map((type) => type.split(';')[0]).join(', ')}`)
}
