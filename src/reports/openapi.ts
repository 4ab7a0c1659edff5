import { formatNames, formats } from '../formats/index.js'
import type { Report } from './report.js'

const ERROR = { $ref: '#/components/schemas/Error' }
const ERRORS: Record<string, string> = {
  400: 'A bad parameter; the message names it',
  401: 'No API key, or an unknown one',
  403: 'The API key may not read this report, or a parameter it fixes was given another value',
  404: 'No such report',
  406: 'None of the asked formats is served',
  429: "The API key's concurrent streams are all in use",
  503: 'No connection or stream slot free in time (see Retry-After), or the server is shutting down',
  504: 'The database timed out before the first row'
}

/** An OpenAPI 3 document of these reports (those a key may read), made from the registry. */
export function openApiDocument (reports: Iterable<Report>, withKeys: boolean): Record<string, unknown> {
  const paths: Record<string, unknown> = {}
  for (const report of reports) {
    paths[`/reports/${report.name}`] = {
      get: {
        operationId: `report_${report.name}`,
        summary: report.title,
        description: [report.description, `Key: ${report.key.join(', ')}; strategy: ${report.strategy}${report.maxRows === undefined ? '' : `; at most ${report.maxRows} rows`}.`].filter((line) => line !== '').join('\n\n'),
        parameters: [
          ...Object.entries(report.params).map(([name, schema]) => ({
            name,
            in: 'query',
            required: report.required.includes(name),
            schema
          })),
          ...reservedParameters(report),
          ...(withKeys ? LINK_PARAMETERS : []),
          ...(report.version === undefined ? [] : CONDITIONAL_PARAMETERS),
          ...(report.sync === undefined ? [] : [CHANGED_SINCE])
        ],
        responses: {
          200: {
            description: `Every row, in key order: ${report.columns.map((column) => `${column.name} (${column.type})`).join(', ')}`,
            content: Object.fromEntries(formats.map((format) => [format.contentType.split(';')[0]!, { schema: format.schema }])),
            ...(report.version === undefined && report.sync === undefined ? {} : { headers: { ...(report.version === undefined ? {} : validatorHeaders(report)), ...(report.sync === undefined ? {} : SYNC_HEADER) } })
          },
          ...(report.version === undefined ? {} : { 304: { description: 'Not Modified: the copy If-None-Match or If-Modified-Since names is current; no body, and the report did not run', headers: validatorHeaders(report) } }),
          ...Object.fromEntries(Object.entries(ERRORS)
            .filter(([code]) => withKeys || !['401', '403', '429'].includes(code))
            .map(([code, description]) => [code, { description, content: { 'application/json': { schema: ERROR } } }]))
        }
      }
    }
  }
  if (withKeys) paths['/links'] = LINKS
  return {
    openapi: '3.1.0',
    info: { title: 'Sluice', version: '1', description: 'Reports streamed out of PostgreSQL as NDJSON, CSV, JSON or XLSX.' },
    paths,
    components: {
      schemas: {
        Error: {
          type: 'object',
          required: ['statusCode', 'error', 'message'],
          properties: { statusCode: { type: 'integer' }, error: { type: 'string' }, message: { type: 'string' } }
        }
      },
      ...(withKeys ? { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } } : {})
    },
    ...(withKeys ? { security: [{ apiKey: [] }] } : {})
  }
}

const LINK_PARAMETERS = ['expires', 'key_id', 'signature'].map((name) => ({
  name, in: 'query', schema: { type: 'string' }, description: 'A signed link\'s own (POST /links): with all three, no Authorization is needed'
}))

const LINKS = {
  post: {
    operationId: 'mint_link',
    summary: 'A signed link to a report URL',
    description: 'The link works without Authorization until it expires, with the rights of the key that minted it.',
    requestBody: {
      required: true,
      content: { 'application/json': { schema: { type: 'object', required: ['path'], additionalProperties: false, properties: { path: { type: 'string', example: '/reports/orders.csv?status=paid' }, ttl: { type: 'integer', minimum: 1, maximum: 2_592_000, default: 3600 } } } } }
    },
    responses: {
      201: { description: 'The link', content: { 'application/json': { schema: { type: 'object', properties: { url: { type: 'string' }, expires: { type: 'string', format: 'date-time' } } } } } },
      400: { description: 'A bad path or ttl', content: { 'application/json': { schema: ERROR } } },
      401: { description: ERRORS[401], content: { 'application/json': { schema: ERROR } } },
      403: { description: 'The API key may not read this report', content: { 'application/json': { schema: ERROR } } }
    }
  }
}

// a versioned report's (docs/http.md section 3, "Conditional requests")
const CONDITIONAL_PARAMETERS = [
  { name: 'If-None-Match', in: 'header', schema: { type: 'string' }, description: 'ETags of copies the client holds (or *): 304 when one is current' },
  { name: 'If-Modified-Since', in: 'header', schema: { type: 'string' }, description: 'Without If-None-Match: 304 when the report has not changed since (Last-Modified)' }
]

// a report with `changes:` (docs/http.md section 3, "Changes since the last pull")
const CHANGED_SINCE = { name: 'changed_since', in: 'query', schema: { type: 'string' }, description: 'The Sluice-Sync-Token of an earlier response: only the rows written since it' }
const SYNC_HEADER = {
  'Sluice-Sync-Token': { schema: { type: 'string' }, description: 'The snapshot these rows were read in: send it as changed_since to get only what changed after' }
}

function validatorHeaders (report: Report): Record<string, unknown> {
  const dated = report.versionColumn?.json.kind === 'date' || report.versionColumn?.json.kind === 'timestamp'
  return {
    ETag: { schema: { type: 'string' }, description: 'Strong: changes with the report\'s version, its parameters and options, the format and the content-coding' },
    ...(dated ? { 'Last-Modified': { schema: { type: 'string' }, description: 'The version, a date or timestamp, to the second' } } : {}),
    'Cache-Control': { schema: { type: 'string', enum: ['private, no-cache'] }, description: 'Keep it, but ask again with If-None-Match before using it' }
  }
}

function reservedParameters (report: Report): Array<Record<string, unknown>> {
  const flag = { type: 'integer', enum: [0, 1] }
  return [
    { name: 'format', in: 'query', schema: { type: 'string', enum: formatNames }, description: 'Instead of the Accept header' },
    { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, ...(report.maxRows === undefined ? {} : { maximum: report.maxRows }) }, description: 'At most this many rows' },
    { name: 'after', in: 'query', schema: { type: 'string' }, description: report.key.length === 1 ? `Resume after this ${report.key[0]}` : `Resume after this key: a JSON array of ${report.key.join(', ')}` },
    { name: 'download', in: 'query', schema: flag, description: '1: Content-Disposition: attachment' },
    { name: 'header', in: 'query', schema: flag, description: 'CSV: 0 leaves out the header line' },
    { name: 'bom', in: 'query', schema: flag, description: 'CSV: 1 starts with a UTF-8 byte order mark' },
    { name: 'delimiter', in: 'query', schema: { type: 'string', enum: [',', ';', '|', 'tab'] }, description: 'CSV delimiter' }
  ]
}
