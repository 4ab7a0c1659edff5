import fp from 'fastify-plugin'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Leases } from '../db/leases.js'

export interface Metrics {
  readonly registry: Registry
  readonly rows: Counter<'report' | 'format'>
  readonly bytes: Counter<'report' | 'format'>
  readonly buffers: Counter<'source'>
  readonly trims: Counter<'released'>
  readonly ended: Counter<'report' | 'format' | 'strategy' | 'outcome'>
  readonly duration: Histogram<'report' | 'format' | 'strategy' | 'outcome'>
  readonly leaseWait: Histogram<'turn'>
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics
  }
}

const STREAM_LABELS = ['report', 'format', 'strategy', 'outcome'] as const

/**
 * Prometheus metrics (prom-client), in a registry of the app's own so that several apps in one
 * process (tests) do not share counters: the counters and histograms the database and the
 * streams write to. Their gauges come with `metricGauges`, once those exist.
 */
export default fp(async (app) => {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const registers = [registry]
  app.decorate('metrics', {
    registry,
    rows: new Counter({ name: 'sluice_rows_sent_total', help: 'Rows sent in report responses', labelNames: ['report', 'format'], registers }),
    bytes: new Counter({ name: 'sluice_bytes_sent_total', help: 'Body bytes of report responses, before compression', labelNames: ['report', 'format'], registers }),
    buffers: new Counter({ name: 'sluice_batch_buffers_total', help: 'Buffers report batches were written into: reused from a chunk already sent, or new', labelNames: ['source'], registers }),
    trims: new Counter({ name: 'sluice_heap_trims_total', help: 'Times the process gave the kernel back the free pages of its heaps (malloc_trim), by whether there were any', labelNames: ['released'], registers }),
    ended: new Counter({ name: 'sluice_streams_ended_total', help: 'Report responses ended, by outcome', labelNames: STREAM_LABELS, registers }),
    duration: new Histogram({
      name: 'sluice_stream_duration_seconds',
      help: 'How long report responses took, by outcome',
      labelNames: STREAM_LABELS,
      buckets: [0.01, 0.05, 0.25, 1, 5, 30, 120, 600, 3600],
      registers
    }),
    leaseWait: new Histogram({
      name: 'sluice_lease_wait_seconds',
      help: 'How long a database connection was waited for, by turn: first (a new request), next (a running stream\'s next page), hold (a cursor)',
      labelNames: ['turn'],
      buckets: [0.0005, 0.002, 0.01, 0.05, 0.25, 1, 5, 30],
      registers
    })
  })
}, { name: 'metrics' })

/**
 * The gauges of the pools, the replicas and the running streams, read at scrape from what the
 * db and reports plugins made; in the registry after the counters, as they always were.
 */
export const metricGauges = fp(async (app) => {
  const registers = [app.metrics.registry]
  const servers = (): Leases[] => [app.reads.primary, ...app.reads.replicas.map((replica) => replica.leases)]
  new Gauge({
    name: 'sluice_streams_active',
    help: 'Report responses running now',
    registers,
    collect () { this.set(app.streaming.streams.active) }
  })
  new Gauge({
    name: 'sluice_stream_memory_bytes',
    help: 'STREAM_MEMORY_MB: the budget of the running responses (budget), and what their batches have reserved of it now (reserved)',
    labelNames: ['state'],
    registers,
    collect () {
      const { memory } = app.streaming.streams
      this.set({ state: 'budget' }, memory.bytes)
      this.set({ state: 'reserved' }, memory.reserved)
    }
  })
  // per server, named `primary`, `replica1`...: never by URL, which may hold a password
  new Gauge({
    name: 'sluice_pool_connections',
    help: 'Database connections of each server\'s pool: in use, idle, and requests waiting for one',
    labelNames: ['server', 'state'],
    registers,
    collect () {
      for (const { name, pool, turns } of servers()) {
        const { totalCount, idleCount } = pool
        this.set({ server: name, state: 'in_use' }, totalCount - idleCount)
        this.set({ server: name, state: 'idle' }, idleCount)
        this.set({ server: name, state: 'waiting' }, turns.waitingFirst + turns.waitingNext)
      }
    }
  })
  new Gauge({
    name: 'sluice_turns_waiting',
    help: 'Waiting for a turn at a server\'s connections: new requests (first), running streams\' next pages (next)',
    labelNames: ['server', 'turn'],
    registers,
    collect () {
      for (const { name, turns } of servers()) {
        this.set({ server: name, turn: 'first' }, turns.waitingFirst)
        this.set({ server: name, turn: 'next' }, turns.waitingNext)
      }
    }
  })
  new Gauge({
    name: 'sluice_replica_healthy',
    help: 'Whether a read replica gets new work: 1 healthy, 0 down, not a standby, or lagging past REPLICA_MAX_LAG_MS',
    labelNames: ['server'],
    registers,
    collect () {
      for (const replica of app.reads.replicas) this.set({ server: replica.name }, replica.healthy ? 1 : 0)
    }
  })
  new Gauge({
    name: 'sluice_replica_lag_ms',
    help: 'How far a read replica\'s replay was behind what it received, at its last check',
    labelNames: ['server'],
    registers,
    collect () {
      for (const replica of app.reads.replicas) this.set({ server: replica.name }, Math.round(replica.lagMs))
    }
  })
}, { name: 'metric-gauges', dependencies: ['metrics', 'db', 'reports'] })
