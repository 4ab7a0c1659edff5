// What a bench run found, as one JSON document, and the same as tables: plain text for the
// terminal, Markdown for bench/results/<date>.md.
import type { Strategy } from './datasets.js'
import type { Footprint } from './footprint.js'
import type { ProfileSummary } from './profile.js'

export type Format = 'csv' | 'ndjson' | 'json' | 'xlsx' | 'parquet' | 'arrow'
/** The formats measured beside CSV for rows/s and bytes, with no target: no COPY writes them. */
export const BESIDE_CSV: readonly Format[] = ['xlsx', 'parquet', 'arrow']

/** The two COPY limits: CSV's, and row_to_json's for NDJSON and JSON */
export const COPY_CSV = 'COPY csv'
export const COPY_JSON = 'COPY row_to_json'

/** One Sluice path over its rounds, each round a COPY baseline then the path itself. */
export interface Slope {
  readonly dataset: string
  readonly path: string
  readonly smallRows: number
  readonly smallPeak: number
  readonly largeRows: number
  readonly largePeak: number
}

export interface Measurement {
  readonly dataset: string
  /** `csv keyset`, `csv keyset delimiter=;`, `csv keyset gzip` */
  readonly path: string
  readonly format: Format
  readonly strategy: Strategy
  /** a CSV option or a compression; empty for the plain path */
  readonly variant: string
  /** the COPY each round ran just before it */
  readonly baseline: string
  readonly rows: number
  /** the body as the format makes it, before compression */
  readonly bytes: number
  readonly wireBytes: number
  /** medians over the rounds */
  readonly firstByteMs: number
  readonly medianMs: number
  readonly rowsPerSecond: number
  readonly mbPerSecond: number
  /** the median of the rounds' rows/s ratios to their COPY */
  readonly ratio: number
  readonly baselineMedianMs: number
  /** the highest over the rounds */
  readonly peakRss: number
  readonly rssRise: number
  readonly rounds: ReadonlyArray<{ readonly ms: number, readonly firstByteMs: number, readonly peakRss: number, readonly rssRise: number, readonly baselineMs: number, readonly ratio: number }>
}

/** A COPY over every round of every path that ran it. */
export interface CopyMeasurement {
  readonly dataset: string
  readonly name: string
  readonly rows: number
  readonly bytes: number
  readonly runs: number
  readonly medianMs: number
  readonly rowsPerSecond: number
  readonly mbPerSecond: number
}

export interface Check {
  readonly dataset: string
  readonly path: string
  /** what was compared: `sha256` of the bodies, or the `rows` (NDJSON lines) */
  readonly compared: 'sha256' | 'rows'
  readonly sluice: string
  readonly copy: string
  readonly bytes: number
  readonly ok: boolean
}

export interface Target {
  readonly name: string
  readonly measured: string
  readonly target: string
  readonly pass: boolean
}

export interface Results {
  readonly date: string
  readonly quick: boolean
  readonly rounds: number
  readonly machine: {
    readonly node: string
    readonly postgres: string
    readonly cpu: string
    readonly cores: number
    readonly os: string
    /** what ran the COPY baselines */
    readonly copy: string
    /** what read Sluice's measured downloads */
    readonly client: string
  }
  readonly idleRss: { readonly afterStart: number, readonly afterWarmUp: number }
  /** peak RSS of a small and of the whole download of the same path */
  readonly slope: readonly Slope[]
  readonly checks: readonly Check[]
  readonly copies: readonly CopyMeasurement[]
  readonly measurements: readonly Measurement[]
  /** keyset rows/s over cursor rows/s, the median of the rounds' ratios */
  readonly strategies: ReadonlyArray<{ readonly dataset: string, readonly format: Format, readonly ratio: number }>
  readonly concurrency: {
    readonly dataset: string
    readonly downloads: number
    readonly poolMax: number
    readonly limit: number
    readonly complete: number
    readonly ms: number
    readonly rows: number
    readonly rowsPerSecond: number
    /** one download of the same URL just before */
    readonly singleRowsPerSecond: number
    readonly ratio: number
    readonly peakRss: number
    readonly rssRise: number
  }
  readonly footprint: { readonly dataset: string, readonly sluice: Footprint, readonly baseline: Footprint }
  /** a pull of a few changed rows beside a full download of the same report (medians) */
  readonly pull?: {
    readonly dataset: string
    readonly rows: number
    readonly changed: number
    readonly pulledRows: number
    readonly pulledBytes: number
    readonly fullMs: number
    readonly pullMs: number
    /** the median of the rounds' pull ms over full ms */
    readonly ratio: number
  }
  readonly profile?: ProfileSummary
  readonly targets: readonly Target[]
}

interface Section {
  readonly title: string
  readonly head: readonly string[]
  readonly rows: ReadonlyArray<readonly string[]>
}

export function median (values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

export const mib = (bytes: number): string => `${(bytes / (1 << 20)).toFixed(0)} MiB`
export const signedMib = (bytes: number): string => `${bytes >= 0 ? '+' : ''}${mib(bytes)}`
export const times = (ratio: number): string => `${ratio.toFixed(2)}x`
export const perSecond = (rate: number): string => Math.round(rate).toLocaleString('en')
const mb = (bytes: number): string => (bytes / 1e6).toFixed(1)
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`
const millis = (ms: number): string => (Number.isNaN(ms) ? '' : `${ms.toFixed(1)} ms`)

function sections (results: Results): Section[] {
  const out: Section[] = []
  out.push({
    title: 'Targets',
    head: ['target', 'measured', 'target', 'result'],
    rows: results.targets.map((t) => [t.name, t.measured, t.target, t.pass ? 'PASS' : 'FAIL'])
  })
  for (const dataset of [...new Set(results.measurements.map((m) => m.dataset))]) {
    const copies = results.copies.filter((c) => c.dataset === dataset)
    const paths = results.measurements.filter((m) => m.dataset === dataset)
    out.push({
      title: `${dataset}: ${paths[0]!.rows.toLocaleString('en')} rows, medians of ${results.rounds} round${results.rounds === 1 ? '' : 's'}`,
      head: ['path', 'MB', 'wire MB', 'first byte', 'median', 'rows/s', 'MB/s', 'ratio', 'peak RSS', 'RSS rise'],
      rows: [
        ...copies.map((c) => [`${c.name} (${c.runs} run${c.runs === 1 ? '' : 's'})`, mb(c.bytes), '', '', seconds(c.medianMs), perSecond(c.rowsPerSecond), c.mbPerSecond.toFixed(1), '', '', '']),
        ...paths.map((m) => [
          m.path,
          mb(m.bytes),
          m.wireBytes === m.bytes ? '' : mb(m.wireBytes),
          millis(m.firstByteMs),
          seconds(m.medianMs),
          perSecond(m.rowsPerSecond),
          m.mbPerSecond.toFixed(1),
          `${times(m.ratio)} ${m.baseline}`,
          mib(m.peakRss),
          signedMib(m.rssRise)
        ])
      ]
    })
  }
  out.push({
    title: 'keyset rows/s over cursor rows/s',
    head: ['data set', 'format', 'keyset / cursor'],
    rows: results.strategies.map((s) => [s.dataset, s.format, times(s.ratio)])
  })
  const c = results.concurrency
  const { sluice, baseline } = results.footprint
  out.push({
    title: 'Memory (server RSS)',
    head: ['when', 'RSS (before)', 'peak', 'rise'],
    rows: [
      ['idle, after start', mib(results.idleRss.afterStart), '', ''],
      ['idle, after the warm-up', mib(results.idleRss.afterWarmUp), '', ''],
      [`${c.downloads} concurrent downloads`, '', mib(c.peakRss), signedMib(c.rssRise)],
      ...([[`Sluice, one ${sluice.rows.toLocaleString('en')}-row NDJSON download (${results.footprint.dataset}, ${seconds(sluice.ms)})`, sluice],
        [`load-everything baseline, the same rows (${seconds(baseline.ms)})`, baseline]] as const).map(([when, footprint]) => {
        const before = footprint.samples[0]?.rss ?? 0
        return [when, mib(before), mib(footprint.peakRss), signedMib(footprint.peakRss - before)]
      })
    ]
  })
  out.push({
    title: `${c.downloads} concurrent downloads, POOL_MAX=${c.poolMax}`,
    head: ['', 'value'],
    rows: [
      ['each', `${c.dataset} csv keyset, limit=${c.limit.toLocaleString('en')}`],
      ['complete', `${c.complete} of ${c.downloads}`],
      ['wall time', seconds(c.ms)],
      ['aggregate rows/s', perSecond(c.rowsPerSecond)],
      ['one download rows/s', perSecond(c.singleRowsPerSecond)],
      ['ratio', times(c.ratio)]
    ]
  })
  if (results.pull !== undefined) {
    const p = results.pull
    out.push({
      title: `Changes since the last pull (${p.dataset}, ${p.rows.toLocaleString('en')} rows, ${p.changed} updated)`,
      head: ['', 'value'],
      rows: [
        ['full CSV download', seconds(p.fullMs)],
        ['the pull with its token', `${p.pullMs.toFixed(1)} ms, ${p.pulledRows} rows, ${p.pulledBytes.toLocaleString('en')} bytes`],
        ['pull / full', `${(p.ratio * 100).toFixed(2)}%`]
      ]
    })
  }
  out.push({
    title: 'Checks, once per data set before measuring',
    head: ['data set', 'path', 'compared', 'Sluice', 'COPY', 'MB', 'result'],
    rows: results.checks.map((k) => [k.dataset, k.path, k.compared, k.sluice, k.copy, mb(k.bytes), k.ok ? 'same' : 'DIFFERENT'])
  })
  if (results.profile !== undefined) {
    const p = results.profile
    out.push({
      title: `CPU profile: self time, % of ${seconds(p.sampledMs - p.idleMs)} busy (${seconds(p.idleMs)} idle)`,
      head: ['self', '%', 'function', 'where'],
      rows: p.top.map((f) => [millis(f.selfMs), `${f.percent.toFixed(1)}%`, f.name, f.location])
    })
  }
  return out
}

export function machineLine (m: Results['machine']): string {
  return `node ${m.node}, PostgreSQL ${m.postgres}, ${m.cores} × ${m.cpu}, ${m.os}; COPY baselines: ${m.copy}; Sluice read by ${m.client}`
}

const NOTES = [
  'rows/s and MB/s: request to last byte; MB = 10^6 bytes of the body before compression; wire MB what crossed the wire.',
  'ratio: the median over the rounds of Sluice rows/s over the rows/s of the COPY run just before it',
  '(csv, and xlsx, parquet and arrow, which have no target: COPY csv HEADER with the same options; ndjson, json: COPY of row_to_json). Peak RSS and rise: the highest of the rounds.'
]

export function renderText (results: Results): string {
  const lines: string[] = []
  for (const section of sections(results)) {
    lines.push('', section.title, textTable(section.head, section.rows))
  }
  lines.push('', ...NOTES)
  return lines.join('\n')
}

export function renderMarkdown (results: Results, chart: string): string {
  const lines = [`# Sluice bench ${results.date}${results.quick ? ' (--quick smoke run)' : ''}`, '', machineLine(results.machine), '', `![throughput and memory](${chart})`]
  for (const section of sections(results)) {
    lines.push('', `## ${section.title}`, '', markdownTable(section.head, section.rows))
  }
  lines.push('', ...NOTES, '')
  return lines.join('\n')
}

export function textTable (head: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const all = [head, ...rows]
  const widths = head.map((_, i) => Math.max(...all.map((line) => line[i]!.length)))
  // numbers right-aligned; the first column and anything with letters reads better left-aligned
  const numeric = head.map((_, i) => i > 0 && rows.every((line) => /^[-+\d.,]*( [a-zA-Z%]+)?$/.test(line[i]!)))
  return all
    .map((line) => line.map((cell, i) => (numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd())
    .join('\n')
}

function markdownTable (head: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const escape = (cell: string): string => cell.replaceAll('|', '\\|')
  return [head, head.map(() => '---'), ...rows].map((line) => `| ${line.map(escape).join(' | ')} |`).join('\n')
}
