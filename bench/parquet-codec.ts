// `npx tsx bench/parquet-codec.ts [rows]` (DATABASE_URL: a database `npm run seed` filled): the
// Parquet page codecs side by side on the pages a download of `orders` makes. The rows are read
// once as PostgreSQL's texts; each codec then encodes every batch (src/stream/rows.ts's size) into
// row groups and is timed in the codec alone. Snappy and gzip come with Sluice and Node; ZSTD is
// measured when `zstd-napi` is installed (`npm install --no-save zstd-napi`, which compiles zstd).
import zlib from 'node:zlib'
import pg from 'pg'
import { compressSync } from 'snappy'
import { resolveColumns } from '../src/db/types.js'
import { RAW_TYPES } from '../src/db/pool.js'
import type { Codec } from '../src/formats/codec.js'
import { Out } from '../src/formats/out.js'
import { createParquetEncoder } from '../src/formats/parquet.js'
import { dataRow } from '../test/helpers/datarow.js'

const rows = Number(process.argv[2] ?? 1_000_000)
const BATCH_ROWS = 24_000 // what a 4 MiB batch of orders holds

const client = new pg.Client(process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test')
await client.connect()
await client.query("set timezone = 'UTC'; set datestyle = 'ISO'")
const result = await client.query<Array<string | null>>({
  text: `select id, customer_id, status, amount, currency, created_at, shipped_at, note, metadata from orders order by id limit ${rows}`,
  rowMode: 'array',
  types: RAW_TYPES
})
const columns = await resolveColumns(client, result.fields)
await client.end()
const messages = result.rows.map((row) => dataRow(row))

const codecs: Array<[string, (bytes: Buffer) => Buffer]> = [
  ['snappy', (bytes) => compressSync(bytes)],
  ['gzip 1', (bytes) => zlib.gzipSync(bytes, { level: 1 })]
]
try {
  // a name TypeScript does not resolve: the package is optional and not among the dependencies
  const optional: string = 'zstd-napi'
  const zstd = await import(optional) as { compress: (bytes: Buffer, options: { compressionLevel: number }) => Buffer }
  for (const level of [1, 3]) codecs.push([`zstd ${level}`, (bytes) => zstd.compress(bytes, { compressionLevel: level })])
} catch {
  console.log('(zstd-napi is not installed: ZSTD not measured)')
}

console.log(`${messages.length.toLocaleString('en')} orders, batches of ${BATCH_ROWS.toLocaleString('en')} rows`)
for (let round = 1; round <= 3; round++) {
  for (const [name, compress] of codecs) {
    let ms = 0
    let plain = 0
    const codec: Codec = {
      id: 0,
      name,
      compress: (bytes) => {
        const started = performance.now()
        const out = compress(bytes)
        ms += performance.now() - started
        plain += bytes.length
        return out
      }
    }
    const encoder = createParquetEncoder(columns, { report: 'orders', key: ['id'], keyIndexes: [0] }, { codec })
    let bytes = encoder.head().length
    for (let first = 0; first < messages.length; first += BATCH_ROWS) {
      const out = new Out(1 << 20)
      for (const message of messages.slice(first, first + BATCH_ROWS)) encoder.row(out, message, 5, message.length)
      if (first + BATCH_ROWS >= messages.length) out.write(encoder.tail(null))
      encoder.finish?.(out, null)
      bytes += out.pos
    }
    console.log(`round ${round} ${name.padEnd(7)} ${(plain / 1e6).toFixed(1)} MB of pages -> file ${(bytes / 1e6).toFixed(1)} MB (${(plain / bytes).toFixed(2)}x) in ${ms.toFixed(0)} ms: ${(plain / 1e6 / (ms / 1000)).toFixed(0)} MB/s`)
  }
}
