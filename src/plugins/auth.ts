import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { findKey, mayRead, type ApiKey } from '../auth/keys.js'
import { verifyLink } from '../auth/links.js'
import { Forbidden, Unauthorized } from '../errors.js'
import type { Report } from '../reports/report.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** the keys of API_KEYS_FILE; undefined when access is open */
    apiKeys: readonly ApiKey[] | undefined
  }
  interface FastifyRequest {
    apiKey: ApiKey | undefined
  }
  interface FastifyContextConfig {
    /** the route shows reports: with API keys on, it needs one */
    needsKey?: boolean
  }
}

/**
 * API keys (docs/http.md section 6): with API_KEYS_FILE set, the routes that show reports (marked
 * `config.needsKey`: the reports, their listing, the OpenAPI document and the pages) need
 * `Authorization: Bearer <key>`, or a signed link's parameters (src/auth/links.ts), which stand
 * for the key that signed it; /health, /ready and /metrics stay open for the operator's probes.
 */
export default fp(async (app, { keys }: { keys: readonly ApiKey[] | undefined }) => {
  app.decorate('apiKeys', keys)
  app.decorateRequest('apiKey', undefined)
  if (keys === undefined) return
  app.addHook('onRequest', async (request) => {
    // by the matched route, not the URL's text: no spelling of a path can slip past
    if (request.routeOptions.config.needsKey !== true) return
    if (Object.hasOwn(request.query as object, 'signature')) {
      // a link is for reading: GET and HEAD, never to mint another
      if (request.method !== 'GET' && request.method !== 'HEAD') throw new Unauthorized('an API key is required: Authorization: Bearer <key>')
      request.apiKey = verifyLink(app.config.linkSecret, keys, request.url)
      return
    }
    const header = request.headers.authorization
    const match = header === undefined ? null : /^Bearer +([\x21-\x7e]+) *$/i.exec(header)
    if (match === null) throw new Unauthorized('an API key is required: Authorization: Bearer <key>')
    const key = findKey(keys, match[1]!)
    if (key === undefined) throw new Unauthorized('unknown API key')
    request.apiKey = key
  })
}, { name: 'auth', dependencies: ['config'] })

/** Whether the request's key (if keys are on) may see the report: listings skip what it may not. */
export function visible (request: FastifyRequest, report: Report): boolean {
  const key = request.apiKey
  return key === undefined || mayRead(key, report.name, Object.keys(report.params))
}

/**
 * Before the parameters are validated: 403 for a report outside the key's scope, or a fixed
 * parameter asked with another value; then the key's fixed parameters are written into the query,
 * so they are validated, and used, like any other.
 */
export async function authorize (request: FastifyRequest, report: Report): Promise<void> {
  const key = request.apiKey
  if (key === undefined) return
  if (!mayRead(key, report.name, Object.keys(report.params))) {
    throw new Forbidden(`this API key may not read the report "${report.name}"`)
  }
  const query = request.query as Record<string, unknown>
  for (const [name, value] of Object.entries(key.params)) {
    const asked = query[name]
    if (asked !== undefined && asked !== String(value)) {
      throw new Forbidden(`parameter "${name}" is fixed for this API key`)
    }
    query[name] = String(value)
  }
}
