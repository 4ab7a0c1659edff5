import fastifyStatic from '@fastify/static'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Unauthorized } from '../src/errors.js'
import { DOCS_CSP, loadPages, PAGE_CSP, PUBLIC_DIR, SWAGGER_UI_DIR, SWAGGER_UI_FILES } from '../src/pages.js'
import { visible } from '../src/plugins/auth.js'
import { openApiDocument } from '../src/reports/openapi.js'

export default async function pageRoutes (app: FastifyInstance): Promise<void> {
  const config = { needsKey: true }
  const pages = await loadPages()
  const readable = (request: FastifyRequest) => [...app.reports.values()].filter((report) => visible(request, report))
  const html = (reply: FastifyReply, csp: string) => reply.type('text/html; charset=utf-8').header('content-security-policy', csp).header('cache-control', 'no-cache')

  // the page's own script and style, and the two files of Swagger UI it uses: no report is in
  // any of them, so they are open like the pages
  await app.register(fastifyStatic, { root: `${PUBLIC_DIR}assets`, prefix: '/assets/', decorateReply: false, index: false })
  await app.register(fastifyStatic, {
    root: SWAGGER_UI_DIR,
    prefix: '/docs/ui/',
    decorateReply: false,
    index: false,
    allowedPath: (pathName) => SWAGGER_UI_FILES.has(pathName)
  })

  // open (docs/http.md section 3): the page holds no report; its script asks GET /reports with the key
  app.get('/', async (_request, reply) => html(reply, PAGE_CSP).send(pages.home))
  app.get('/openapi.json', { config }, async (request) => openApiDocument(readable(request), app.apiKeys !== undefined))
  // needs a key like /openapi.json. A browser cannot send one when it opens a page, so a browser
  // asking without one gets the 401 with the page as its body: the same shell, which names no
  // report, asks for the key and shows the document only once /openapi.json answers with it.
  // Any other client gets the usual JSON 401.
  app.get('/docs', {
    config,
    errorHandler: (error: FastifyError, request, reply) => {
      if (!(error instanceof Unauthorized) || !(request.headers.accept ?? '').includes('text/html')) throw error
      html(reply.code(401).header('www-authenticate', 'Bearer'), DOCS_CSP).send(pages.docs)
    }
  }, async (_request, reply) => html(reply, DOCS_CSP).send(pages.docs))
}
