import type { FastifyInstance } from 'fastify'

export default async function healthRoutes (app: FastifyInstance): Promise<void> {
  app.get('/health', async () => ({ status: 'ok' }))

  app.get('/ready', async (request, reply) => {
    try {
      const lease = await app.leases.acquire()
      try {
        await lease.begin()
        await lease.end()
      } finally {
        lease.destroy()
      }
      return { status: 'ready' }
    } catch (error) {
      request.log.warn({ reason: (error as Error).message }, 'database not answering')
      return reply.code(503).header('retry-after', '1').send({ statusCode: 503, error: 'Service Unavailable', message: 'the database does not answer' })
    }
  })
}
