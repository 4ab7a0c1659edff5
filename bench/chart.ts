// bench/results/<date>.svg, written by hand (no dependency): on the left rows/s of every Sluice
// path over one data set with PostgreSQL's two COPY limits as reference bars and lines; on the
// right the server's RSS over one whole NDJSON download beside the load-everything baseline's.
import { COPY_CSV, COPY_JSON, type Results } from './summary.js'

const WIDTH = 1240
const BAR = 16
const BAR_GAP = 7
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, DejaVu Sans, sans-serif"'
const COLOURS: Readonly<Record<string, string>> = { csv: '#2f6db5', ndjson: '#2e9a5b', json: '#d07a1e', xlsx: '#7b4fb0', parquet: '#b0413e', arrow: '#3e9ab0', copy: '#8c8c8c' }
const SLUICE_LINE = '#2f6db5'
const BASELINE_LINE = '#c8372d'

export function chart (results: Results, dataset: string): string {
  const paths = results.measurements.filter((m) => m.dataset === dataset)
  const copies = results.copies.filter((c) => c.dataset === dataset && (c.name === COPY_CSV || c.name === COPY_JSON))
  const bars = [
    ...copies.map((c) => ({ label: c.name, rate: c.rowsPerSecond, colour: COLOURS.copy! })),
    ...paths.map((m) => ({ label: m.path, rate: m.rowsPerSecond, colour: COLOURS[m.format]! }))
  ]
  const height = Math.max(460, 96 + bars.length * (BAR + BAR_GAP) + 80)
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT} font-size="12" fill="#222">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    ...throughputPanel(results, dataset, bars, copies, height),
    ...memoryPanel(results, height),
    '</svg>',
    ''
  ]
  return parts.join('\n')
}

function throughputPanel (results: Results, dataset: string, bars: ReadonlyArray<{ label: string, rate: number, colour: string }>, copies: Results['copies'], height: number): string[] {
  const rows = results.measurements.find((m) => m.dataset === dataset)?.rows ?? 0
  const left = 190
  const right = 640
  const top = 96
  const bottom = top + bars.length * (BAR + BAR_GAP)
  const scale = axis(Math.max(...bars.map((b) => b.rate)) * 1.12)
  const x = (rate: number): number => round(left + (rate / scale.max) * (right - left))
  const out = [
    text(20, 26, `Rows per second, ${dataset} (${rows.toLocaleString('en')} rows)`, 'font-size="16" font-weight="600"'),
    text(20, 46, `median of ${results.rounds} round${results.rounds === 1 ? '' : 's'}; grey: COPY ... TO STDOUT of the same rows (${results.machine.copy})`, 'fill="#555"')
  ]
  for (const tick of scale.ticks) {
    out.push(`<line x1="${x(tick)}" y1="${top - 6}" x2="${x(tick)}" y2="${bottom}" stroke="#e4e4e4"/>`)
    out.push(text(x(tick), bottom + 18, rate(tick), 'text-anchor="middle" fill="#555"'))
  }
  out.push(`<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#888"/>`)
  out.push(text((left + right) / 2, bottom + 40, 'rows per second (request to last byte)', 'text-anchor="middle"'))
  bars.forEach((bar, i) => {
    const y = top + i * (BAR + BAR_GAP)
    out.push(text(left - 8, y + BAR - 4, bar.label, 'text-anchor="end"'))
    out.push(`<rect x="${left}" y="${y}" width="${Math.max(1, x(bar.rate) - left)}" height="${BAR}" fill="${bar.colour}"/>`)
    out.push(text(x(bar.rate) + 5, y + BAR - 4, rate(bar.rate), 'fill="#333"'))
  })
  // the COPY limits as lines across every bar, so each bar reads against both
  copies.forEach((copy, i) => {
    const at = x(copy.rowsPerSecond)
    out.push(`<line x1="${at}" y1="${top - 8}" x2="${at}" y2="${bottom}" stroke="#555" stroke-width="1.5" stroke-dasharray="5 4"/>`)
    out.push(text(at, top - 13 - i * 13, copy.name, 'text-anchor="middle" font-size="11" fill="#444"'))
  })
  const legendY = height - 16
  let legendX = 20
  for (const [name, colour] of [['csv', COLOURS.csv], ['ndjson', COLOURS.ndjson], ['json', COLOURS.json], ['xlsx', COLOURS.xlsx], ['parquet', COLOURS.parquet], ['arrow', COLOURS.arrow], ['COPY', COLOURS.copy]] as const) {
    out.push(`<rect x="${legendX}" y="${legendY - 10}" width="12" height="12" fill="${colour}"/>`)
    out.push(text(legendX + 17, legendY, name))
    legendX += 30 + name.length * 7
  }
  return out
}

function memoryPanel (results: Results, height: number): string[] {
  const { sluice, baseline, dataset } = results.footprint
  const left = 760
  const right = WIDTH - 30
  const top = 104
  const bottom = height - 80
  const MiB = 1 << 20
  const xScale = axis(Math.max(sluice.ms, baseline.ms, ...[...sluice.samples, ...baseline.samples].map((s) => s.ms)) / 1000)
  const yScale = axis(Math.max(sluice.peakRss, baseline.peakRss, ...[...sluice.samples, ...baseline.samples].map((s) => s.rss)) / MiB * 1.08)
  const x = (seconds: number): number => round(left + (seconds / xScale.max) * (right - left))
  const y = (mebibytes: number): number => round(bottom - (mebibytes / yScale.max) * (bottom - top))
  const out = [
    text(690, 26, `Server RSS during one ${sluice.rows.toLocaleString('en')}-row NDJSON download`, 'font-size="16" font-weight="600"'),
    text(690, 46, `${dataset}, sampled every 50 ms from /proc; each server a process of its own`, 'fill="#555"')
  ]
  for (const tick of yScale.ticks) {
    out.push(`<line x1="${left}" y1="${y(tick)}" x2="${right}" y2="${y(tick)}" stroke="#e4e4e4"/>`)
    out.push(text(left - 8, y(tick) + 4, tick.toLocaleString('en'), 'text-anchor="end" fill="#555"'))
  }
  for (const tick of xScale.ticks) {
    out.push(`<line x1="${x(tick)}" y1="${bottom}" x2="${x(tick)}" y2="${bottom + 5}" stroke="#888"/>`)
    out.push(text(x(tick), bottom + 18, String(tick), 'text-anchor="middle" fill="#555"'))
  }
  out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#888"/>`)
  out.push(`<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#888"/>`)
  out.push(text((left + right) / 2, bottom + 40, 'seconds from the request', 'text-anchor="middle"'))
  out.push(text(left - 52, (top + bottom) / 2, 'RSS (MiB)', `text-anchor="middle" transform="rotate(-90 ${left - 52} ${(top + bottom) / 2})"`))
  for (const [samples, colour] of [[baseline.samples, BASELINE_LINE], [sluice.samples, SLUICE_LINE]] as const) {
    const points = samples.map((s) => `${x(s.ms / 1000)},${y(s.rss / MiB)}`).join(' ')
    out.push(`<polyline points="${points}" fill="none" stroke="${colour}" stroke-width="2" stroke-linejoin="round"/>`)
  }
  const legend = [
    [`Sluice: peak ${Math.round(sluice.peakRss / MiB).toLocaleString('en')} MiB, ${(sluice.ms / 1000).toFixed(1)} s`, SLUICE_LINE],
    [`load everything, then JSON.stringify: peak ${Math.round(baseline.peakRss / MiB).toLocaleString('en')} MiB, ${(baseline.ms / 1000).toFixed(1)} s`, BASELINE_LINE]
  ] as const
  legend.forEach(([label, colour], i) => {
    const ly = 70 + i * 18
    out.push(`<line x1="${left - 60}" y1="${ly - 4}" x2="${left - 36}" y2="${ly - 4}" stroke="${colour}" stroke-width="3"/>`)
    out.push(text(left - 30, ly, label))
  })
  return out
}

/** An axis from 0 past `max` in steps of 1, 2 or 5 times a power of ten, about five of them. */
function axis (max: number): { max: number, ticks: number[] } {
  const safe = max > 0 ? max : 1
  const raw = safe / 5
  const power = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!
  const ticks = Array.from({ length: Math.ceil(safe / step) + 1 }, (_, i) => Number((i * step).toPrecision(12)))
  return { max: ticks[ticks.length - 1]!, ticks }
}

function rate (value: number): string {
  if (value >= 1e6) return `${Number((value / 1e6).toFixed(2))}M`
  if (value >= 1e3) return `${Math.round(value / 1e3)}k`
  return String(Math.round(value))
}

function text (x: number, y: number, content: string, attributes = ''): string {
  const escaped = content.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
  return `<text x="${round(x)}" y="${round(y)}" ${attributes}>${escaped}</text>`
}

function round (value: number): number {
  return Math.round(value * 10) / 10
}
