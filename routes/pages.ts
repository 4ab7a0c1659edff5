import type { FastifyInstance, FastifyRequest } from 'fastify'
import { docsPage, homePage } from '../src/pages.js'
import { visible } from '../src/plugins/auth.js'
import { openApiDocument } from '../src/reports/openapi.js'

export default async function pageRoutes (app: FastifyInstance): Promise<void> {
  const config = { needsKey: true }
  const readable = (request: FastifyRequest) => [...app.reports.values()].filter((report) => visible(request, report))
  const document = (request: FastifyRequest) => openApiDocument(readable(request), app.apiKeys !== undefined)

  app.get('/', { config }, async (request, reply) => reply.type('text/html; charset=utf-8').send(homePage(readable(request))))
  app.get('/openapi.json', { config }, async (request) => document(request))
  app.get('/docs', { config }, async (request, reply) => reply.type('text/html; charset=utf-8').send(docsPage(document(request))))
}
