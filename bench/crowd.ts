// `npm run bench -- --crowd`: what a crowd gets, at the defaults (docs/http.md section 3, "Crowds").
// Each scene starts a fresh server (the process `npm start` runs), measures its RSS idle and after
// a first download of each format, then runs its crowd: N concurrent keyset downloads of the
// shaped table, the formats in turn, a quarter of the clients reading at 1 MB/s. It reports how
// many came back whole, cut or refused, each stream's rate, the aggregate against one download's,
// the first byte of a request made while the crowd runs, and RSS over time until a minute after.
import { download, type Download } from '../harness/download.js'
import { memoryOf, recordRss, type RssSample } from '../harness/memory.js'
import { startServer } from '../harness/server.js'
import { reportPath, type Dataset } from './datasets.js'

const FORMATS = ['csv', 'ndjson', 'json', 'xlsx', 'parquet', 'arrow'] as const
const SLOW_BYTES_PER_S = 1 << 20
const AFTER_MS = 60_000
const SAMPLE_MS = 250

export interface Scene {
  readonly name: string
  readonly clients: number
  /** rows each download asks for (`limit`) */
  readonly rows: number
  /** mixed: the six formats in turn and a quarter slow; else every client a fast CSV reader */
  readonly mixed: boolean
  /** server environment over the defaults (MAX_STREAMS, MALLOC_ARENA_MAX, ...) */
  readonly env?: Readonly<Record<string, string>>
}

export interface SceneResult {
  readonly scene: Scene
  readonly idleMiB: number
  /** after one download of each format: what the crowd starts from */
  readonly beforeMiB: number
  readonly peakMiB: number
  /** a minute after the crowd ended */
  readonly afterMiB: number
  readonly whole: number
  readonly cut: number
  readonly refused: number
  /** one CSV download of the same rows, alone, rows/s */
  readonly aloneRowsPerS: number
  /** rows of every whole download over the crowd's wall time */
  readonly aggregateRowsPerS: number
  /** per format, the fast clients' rows/s: min, median, max */
  readonly rates: Record<string, { min: number, median: number, max: number }>
  /** requests made while the crowd ran: status and ms to the first byte */
  readonly probes: Array<{ status: number, firstByteMs: number }>
  readonly rss: RssSample[]
  readonly seconds: number
}

export async function runScene (scene: Scene, databaseUrl: string, reportsDir: string, dataset: Dataset, say: (line: string) => void): Promise<SceneResult> {
  const server = await startServer({ databaseUrl, reportsDir, env: { LOG_LEVEL: 'warn', ...scene.env } })
  try {
    const mib = (bytes: number): number => Math.round(bytes / 2 ** 20)
    const url = (format: string): string => `${server.url}${reportPath(dataset, 'keyset', format)}?limit=${scene.rows}`
    const idleMiB = mib(memoryOf(server.pid).rss)
    for (const format of FORMATS) await download(`${server.url}${reportPath(dataset, 'keyset', format)}?limit=1000`)
    const alone = await download(url('csv'))
    const aloneRowsPerS = scene.rows / (alone.totalMs / 1000)
    const beforeMiB = mib(memoryOf(server.pid).rss)
    say(`${scene.name}: idle ${idleMiB} MiB, after a first download of each format ${beforeMiB} MiB; one CSV download ${Math.round(aloneRowsPerS).toLocaleString('en-US')} rows/s`)

    const recording = recordRss(server.pid, SAMPLE_MS)
    const started = performance.now()
    let running = true
    const probes: Array<{ status: number, firstByteMs: number }> = []
    const probing = (async () => {
      // a new request each second while the crowd runs: its first byte, or its 503
      while (running) {
        await new Promise((resolve) => setTimeout(resolve, 1000))
        if (!running) break
        const controller = new AbortController()
        const probe = download(url('csv'), { signal: controller.signal, onChunk: () => controller.abort() })
        const result = await probe.catch(() => undefined)
        if (result !== undefined) probes.push({ status: result.status, firstByteMs: result.firstByteMs })
      }
    })()
    const results = await Promise.all(Array.from({ length: scene.clients }, async (_, i) => {
      const format = scene.mixed ? FORMATS[i % FORMATS.length]! : 'csv'
      const slow = scene.mixed && i % 4 === 3
      const result: Download = await download(url(format), slow ? { bytesPerSecond: SLOW_BYTES_PER_S } : {})
      return { format, slow, result }
    }))
    const seconds = (performance.now() - started) / 1000
    running = false
    await probing
    const whole = results.filter(({ result }) => result.status === 200 && result.complete).length
    const refused = results.filter(({ result }) => result.status !== 200).length
    const cut = results.length - whole - refused
    const rates: SceneResult['rates'] = {}
    for (const format of new Set(results.map(({ format }) => format))) {
      const each = results.filter((r) => r.format === format && !r.slow && r.result.complete).map(({ result }) => scene.rows / (result.totalMs / 1000)).sort((a, b) => a - b)
      if (each.length > 0) rates[format] = { min: each[0]!, median: each[Math.floor(each.length / 2)]!, max: each[each.length - 1]! }
    }
    const aggregateRowsPerS = whole * scene.rows / seconds
    say(`${scene.name}: ${whole} whole, ${cut} cut, ${refused} refused in ${seconds.toFixed(1)} s; aggregate ${Math.round(aggregateRowsPerS).toLocaleString('en-US')} rows/s (${(aggregateRowsPerS / aloneRowsPerS).toFixed(2)}x one download)`)
    // a minute after, as an operator would look
    await new Promise((resolve) => setTimeout(resolve, AFTER_MS))
    const rss = recording.stop()
    const peakMiB = mib(Math.max(...rss.map((sample) => sample.rss)))
    const afterMiB = mib(memoryOf(server.pid).rss)
    say(`${scene.name}: RSS peak ${peakMiB} MiB, a minute after ${afterMiB} MiB (before ${beforeMiB})`)
    return { scene, idleMiB, beforeMiB, peakMiB, afterMiB, whole, cut, refused, aloneRowsPerS, aggregateRowsPerS, rates, probes, rss, seconds }
  } finally {
    await server.stop()
  }
}

/** The scenes of `--crowd`: the issue's three, at the defaults but for MAX_STREAMS where it says. */
export const SCENES: readonly Scene[] = [
  { name: '64 fast CSV, 250,000 rows each', clients: 64, rows: 250_000, mixed: false },
  { name: '64 mixed, 250,000 rows each', clients: 64, rows: 250_000, mixed: true },
  { name: '256 mixed, 100,000 rows each, MAX_STREAMS=256', clients: 256, rows: 100_000, mixed: true, env: { MAX_STREAMS: '256' } }
]

/** The scenes' results as a Markdown section. */
export function renderCrowd (results: readonly SceneResult[]): string {
  const lines = ['## Crowds', '', '| scene | whole | cut | refused | aggregate vs one | slowest fast stream vs median | probe first byte (max) | idle | before | peak | a minute after |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']
  for (const r of results) {
    const spread = Object.values(r.rates).map(({ min, median }) => median / min)
    const probes = r.probes.filter((p) => p.status === 200).map((p) => p.firstByteMs)
    const refusedProbes = r.probes.filter((p) => p.status !== 200).length
    lines.push(`| ${r.scene.name} | ${r.whole} | ${r.cut} | ${r.refused} | ${(r.aggregateRowsPerS / r.aloneRowsPerS).toFixed(2)}x | ${spread.length === 0 ? '-' : `${Math.max(...spread).toFixed(2)}x`} | ${probes.length === 0 ? '-' : `${Math.round(Math.max(...probes))} ms`}${refusedProbes > 0 ? `, ${refusedProbes} refused` : ''} | ${r.idleMiB} MiB | ${r.beforeMiB} MiB | ${r.peakMiB} MiB | ${r.afterMiB} MiB |`)
  }
  lines.push('', 'RSS over time (MiB, every 5 s from the crowd\'s start to a minute after its end):', '')
  for (const r of results) {
    const every = r.rss.filter((_, i) => i % Math.round(5000 / SAMPLE_MS) === 0).map((s) => Math.round(s.rss / 2 ** 20))
    lines.push(`- ${r.scene.name}: ${every.join(' ')}`)
  }
  return lines.join('\n') + '\n'
}

/** The targets of the crowd scenes (the issue's), each with what was measured. */
export function crowdTargets (results: readonly SceneResult[]): Array<{ name: string, measured: string, target: string, pass: boolean }> {
  const targets: Array<{ name: string, measured: string, target: string, pass: boolean }> = []
  for (const r of results) {
    const { name, clients } = r.scene
    targets.push({ name: `${name}: whole`, measured: `${r.whole} of ${clients} (${r.cut} cut, ${r.refused} refused)`, target: `${clients} of ${clients}`, pass: r.whole === clients })
    if (!r.scene.mixed) {
      const ratio = r.aggregateRowsPerS / r.aloneRowsPerS
      targets.push({ name: `${name}: aggregate rows/s vs one download`, measured: `${ratio.toFixed(2)}x`, target: '>= 0.90x', pass: ratio >= 0.9 })
      const spread = Math.max(...Object.values(r.rates).map(({ min, median }) => median / min))
      targets.push({ name: `${name}: slowest stream's rate vs the median`, measured: `${spread.toFixed(2)}x slower`, target: 'within 2x', pass: spread <= 2 })
    } else {
      const peakTarget = clients > 64 ? 400 : 250
      targets.push({ name: `${name}: peak RSS`, measured: `${r.peakMiB} MiB`, target: `< ${peakTarget} MiB`, pass: r.peakMiB < peakTarget })
    }
    targets.push({ name: `${name}: RSS a minute after vs before`, measured: `${r.afterMiB - r.beforeMiB >= 0 ? '+' : ''}${r.afterMiB - r.beforeMiB} MiB`, target: '< +32 MiB', pass: r.afterMiB - r.beforeMiB < 32 })
    const late = r.probes.filter((p) => p.status === 200 && p.firstByteMs > 1000).length
    targets.push({ name: `${name}: a new request during the crowd`, measured: `${r.probes.length - late} of ${r.probes.length} first byte within 1 s or 503`, target: 'all', pass: late === 0 })
  }
  return targets
}

/** RSS over time of every scene, one line each, as an SVG. */
export function crowdChart (results: readonly SceneResult[]): string {
  const width = 720
  const height = 300
  const pad = 40
  const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd']
  const maxMs = Math.max(...results.flatMap((r) => r.rss.map((s) => s.ms)))
  const maxMiB = Math.ceil(Math.max(...results.flatMap((r) => r.rss.map((s) => s.rss))) / 2 ** 20 / 50) * 50
  const x = (ms: number): number => pad + (ms / maxMs) * (width - 2 * pad)
  const y = (mib: number): number => height - pad - (mib / maxMiB) * (height - 2 * pad)
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<text x="${pad}" y="16">RSS of the server during each crowd and a minute after (MiB over seconds)</text>`,
    `<line x1="${pad}" y1="${height - pad}" x2="${width - pad}" y2="${height - pad}" stroke="#888"/>`,
    `<line x1="${pad}" y1="${pad}" x2="${pad}" y2="${height - pad}" stroke="#888"/>`]
  for (let mib = 0; mib <= maxMiB; mib += 50) parts.push(`<text x="4" y="${y(mib) + 4}">${mib}</text>`)
  for (let s = 0; s <= maxMs / 1000; s += 30) parts.push(`<text x="${x(s * 1000) - 6}" y="${height - pad + 14}">${s}</text>`)
  results.forEach((r, i) => {
    const color = colors[i % colors.length]!
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${r.rss.map((s) => `${x(s.ms).toFixed(1)},${y(s.rss / 2 ** 20).toFixed(1)}`).join(' ')}"/>`)
    parts.push(`<text x="${pad + 10}" y="${pad + 14 * i}" fill="${color}">${r.scene.name}</text>`)
  })
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}
