import type { FastifyInstance } from 'fastify'
import { FORMATS } from '../../src/formats/negotiate.js'
import { authorize, visible } from '../../src/plugins/auth.js'
import { paramsSchema, querySchema } from '../../src/reports/schema.js'
import { headReport } from '../../src/stream/head.js'
import { serveReport } from '../../src/stream/serve.js'

export default async function reportsRoutes (app: FastifyInstance): Promise<void> {
  const config = { needsKey: true }

  app.get('/', { config }, async (request, reply) => {
    // the key's own cap on its report requests at once, for a client that keeps within it, as the
    // reports page does (docs/http.md section 6)
    const cap = request.apiKey?.maxStreams
    if (cap !== undefined) reply.header('sluice-max-streams', String(cap))
    return {
      reports: [...app.reports.values()].filter((report) => visible(request, report)).map((report) => ({
        name: report.name,
        title: report.title,
        description: report.description,
        key: report.key,
        params: paramsSchema(report),
        columns: report.columns.map(({ name, type }) => ({ name, type })),
        formats: FORMATS,
        strategy: report.strategy
      }))
    }
  })

  for (const report of app.reports.values()) {
    const options = {
      config,
      schema: { querystring: querySchema(report) },
      preValidation: async (request: Parameters<typeof authorize>[0]) => { await authorize(request, report) }
    }
    app.get(`/${report.name}`, options, async (request, reply) => {
      await serveReport(app.streaming, report, request, reply, undefined)
      return reply
    })
    app.get<{ Params: { ext: string } }>(`/${report.name}.:ext`, options, async (request, reply) => {
      await serveReport(app.streaming, report, request, reply, request.params.ext)
      return reply
    })
    app.head(`/${report.name}`, options, async (request, reply) => {
      await headReport(app.streaming, report, request, reply, undefined)
      return reply.send()
    })
    app.head<{ Params: { ext: string } }>(`/${report.name}.:ext`, options, async (request, reply) => {
      await headReport(app.streaming, report, request, reply, request.params.ext)
      return reply.send()
    })
  }
}
