// `npx tsx bench/compression.ts <file> [rounds]`: the response compressors on a file of report
// output (a CSV from `psql -c "\copy (...) to file csv header"`), fed as the pump feeds them: 64 KiB
// writes into a zlib stream with 64 KiB output chunks, with and without a flush after every
// write. CPU time of the process per MB of input (the thread pool's work included: one stream
// keeps one pool thread busy), and the output's size. docs/decisions/0002-zstd-on-the-wire.md
// has what it measured and what was chosen.
import { readFileSync } from 'node:fs'
import zlib from 'node:zlib'

const file = process.argv[2]
if (file === undefined) {
  console.error('usage: npx tsx bench/compression.ts <file> [rounds]')
  process.exit(2)
}
const rounds = Number(process.argv[3] ?? 3)
const input = readFileSync(file)
const WRITE = 64 * 1024
const chunkSize = 64 * 1024
const { constants: z } = zlib

type Make = () => zlib.Gzip | zlib.BrotliCompress | zlib.ZstdCompress
const zstd = (level: number, flush: boolean): Make => () => zlib.createZstdCompress({ chunkSize, params: { [z.ZSTD_c_compressionLevel]: level }, ...(flush ? { flush: z.ZSTD_e_flush } : {}) })
const candidates: Array<[string, Make]> = [
  ['gzip 1', () => zlib.createGzip({ level: 1, memLevel: 9, chunkSize })],
  ['gzip 1, flush each write', () => zlib.createGzip({ level: 1, memLevel: 9, chunkSize, flush: z.Z_SYNC_FLUSH })],
  ['br 1', () => zlib.createBrotliCompress({ chunkSize, params: { [z.BROTLI_PARAM_QUALITY]: 1, [z.BROTLI_PARAM_LGWIN]: 18 } })],
  ['br 1, flush each write', () => zlib.createBrotliCompress({ chunkSize, flush: z.BROTLI_OPERATION_FLUSH, params: { [z.BROTLI_PARAM_QUALITY]: 1, [z.BROTLI_PARAM_LGWIN]: 18 } })]
]
for (const level of [-5, -1, 1, 2, 3]) {
  candidates.push([`zstd ${level}`, zstd(level, false)], [`zstd ${level}, flush each write`, zstd(level, true)])
}

/** Feeds the input through one compressor with backpressure; CPU ms of the process and output bytes. */
async function run (make: Make): Promise<{ cpuMs: number, wallMs: number, bytes: number }> {
  const started = process.cpuUsage()
  const wall = performance.now()
  const stream = make()
  let bytes = 0
  stream.on('data', (chunk: Buffer) => { bytes += chunk.length })
  const done = new Promise<void>((resolve, reject) => stream.on('end', resolve).on('error', reject))
  for (let offset = 0; offset < input.length; offset += WRITE) {
    if (!stream.write(input.subarray(offset, offset + WRITE))) await new Promise((resolve) => stream.once('drain', resolve))
  }
  stream.end()
  await done
  const cpu = process.cpuUsage(started)
  return { cpuMs: (cpu.user + cpu.system) / 1000, wallMs: performance.now() - wall, bytes }
}

const results = new Map<string, Array<{ cpuMs: number, wallMs: number, bytes: number }>>()
for (let round = 0; round < rounds; round++) {
  for (const [name, make] of candidates) {
    const result = await run(make)
    results.set(name, [...(results.get(name) ?? []), result])
  }
}
const median = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!
console.log(`${(input.length / 1e6).toFixed(1)} MB of ${file}, ${rounds} rounds, medians; MB/s of input per CPU second`)
console.log('compressor'.padEnd(32), 'MB/s cpu'.padStart(9), 'MB/s wall'.padStart(10), 'ratio'.padStart(7), 'MB'.padStart(7))
for (const [name, runs] of results) {
  const cpu = median(runs.map((r) => r.cpuMs))
  const wall = median(runs.map((r) => r.wallMs))
  const bytes = runs[0]!.bytes
  console.log(name.padEnd(32), (input.length / 1e3 / cpu).toFixed(0).padStart(9), (input.length / 1e3 / wall).toFixed(0).padStart(10), (bytes / input.length).toFixed(3).padStart(7), (bytes / 1e6).toFixed(1).padStart(7))
}
