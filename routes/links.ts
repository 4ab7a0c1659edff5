import type { FastifyInstance } from 'fastify'
import { mayRead } from '../src/auth/keys.js'
import { LINK_PARAMS, MAX_TTL, signLink } from '../src/auth/links.js'
import { BadRequest, Forbidden } from '../src/errors.js'

interface LinkRequest {
  path: string
  ttl: number
}

/** POST /links (docs/http.md section 6): a signed link for a report URL, with the caller's key's rights. */
export default async function linkRoutes (app: FastifyInstance): Promise<void> {
  // without API keys there is nothing to sign for: the route does not exist (404)
  if (app.apiKeys === undefined) return
  app.post<{ Body: LinkRequest }>('/links', {
    config: { needsKey: true },
    schema: {
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['path'],
        properties: {
          path: { type: 'string', minLength: 1, maxLength: 4096 },
          ttl: { type: 'integer', minimum: 1, maximum: MAX_TTL, default: 3600 }
        }
      }
    }
  }, async (request, reply) => {
    const { path, ttl } = request.body
    const key = request.apiKey!
    if (!path.startsWith('/reports/')) throw new BadRequest('path must be a report URL: /reports/{name}[.ext][?parameters]')
    const url = new URL(path, 'http://link')
    for (const name of LINK_PARAMS) {
      if (url.searchParams.has(name)) throw new BadRequest(`path must not carry "${name}": the link adds it`)
    }
    let name: string
    try {
      name = decodeURIComponent(url.pathname.slice('/reports/'.length)).replace(/\.[a-z]+$/, '')
    } catch {
      throw new BadRequest('path is not a valid URL: bad percent-encoding')
    }
    const report = app.reports.get(name)
    if (report === undefined) throw new BadRequest(`path: no report named "${name}"`)
    if (!mayRead(key, report.name, Object.keys(report.params))) throw new Forbidden(`this API key may not read the report "${report.name}"`)
    const link = signLink(app.config.linkSecret, key, path, ttl)
    return reply.code(201).send({ url: `${request.protocol}://${request.host}${link.path}`, expires: new Date(link.expires * 1000).toISOString() })
  })
}
