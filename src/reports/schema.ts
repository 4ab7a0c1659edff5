import type { Report } from './report.js'

/** The JSON Schema of a report's own parameters, as `GET /reports` lists it. */
export function paramsSchema (report: Report): Record<string, unknown> {
  return { type: 'object', properties: report.params, required: [...report.required], additionalProperties: false }
}

const FLAG = { type: 'integer', enum: [0, 1] }

/**
 * The query string of `GET /reports/{name}`: the report's parameters and the reserved ones.
 * Validated by Fastify (Ajv, with type coercion); an unknown parameter is a 400.
 */
export function querySchema (report: Report): Record<string, unknown> {
  return {
    type: 'object',
    additionalProperties: false,
    required: [...report.required],
    properties: {
      ...report.params,
      format: { type: 'string' },
      limit: { type: 'integer', minimum: 1, maximum: report.maxRows ?? Number.MAX_SAFE_INTEGER },
      after: { type: 'string', minLength: 1 },
      download: FLAG,
      header: FLAG,
      bom: FLAG,
      delimiter: { type: 'string', enum: [',', ';', '|', 'tab'] },
      // any report may be asked; one without `changes:` answers 400 saying so (src/stream/sync.ts)
      changed_since: { type: 'string', minLength: 1 },
      // a signed link's own (src/auth/links.ts), checked before validation
      expires: { type: 'string' },
      key_id: { type: 'string' },
      signature: { type: 'string' }
    }
  }
}
