import type { FastifyInstance } from 'fastify'

export default async function healthRoutes (app: FastifyInstance): Promise<void> {
  app.get('/health', async () => ({ status: 'ok' }))

  // one check at a time, shared by every /ready that asks meanwhile: a flood of probes costs
  // the pool one connection, not all of them
  let checking: Promise<Error | undefined> | undefined
  const check = async (): Promise<Error | undefined> => {
    try {
      const lease = await app.leases.acquire()
      try {
        await lease.begin()
        await lease.end()
      } finally {
        lease.destroy()
      }
      return undefined
    } catch (error) {
      return error as Error
    }
  }

  app.get('/ready', async (request, reply) => {
    // a healthy replica can serve reports: its own checks run in the background (src/db/servers.ts)
    if (app.reads.usableReplicas > 0) return { status: 'ready' }
    checking ??= check().finally(() => { checking = undefined })
    const error = await checking
    if (error === undefined) return { status: 'ready' }
    request.log.warn({ reason: error.message }, 'database not answering')
    return reply.code(503).header('retry-after', '1').send({ statusCode: 503, error: 'Service Unavailable', message: 'the database does not answer' })
  })
}
