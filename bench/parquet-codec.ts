// `npx tsx bench/parquet-codec.ts [rows] [table]` (DATABASE_URL: a database `npm run seed` filled;
// table: `orders` by default, or any table keyed on `id`, such as the bench's shaped one): the
// Parquet page codecs side by side on the pages a download of that table makes. The rows are read
// once as PostgreSQL's texts; each codec then encodes them, a row group per ~4 MiB of plain values
// (src/stream/rows.ts's batch), and is timed in the codec alone. The codecs take turns within a
// round, and each round starts one codec later, so a shared machine's drift falls on all of them.
// From Node's own zlib: ZSTD at levels -3, 1 (Sluice's) and 3, and gzip 1; Node's zlib cannot set
// ZSTD level -1: it takes -1 for a parameter left unset, which is level 3. Snappy is measured when
// `snappy` is installed (`npm install --no-save snappy`: prebuilt binaries from the npm registry).
// Each codec's time is given twice: wall clock, and the process's CPU time, which a shared machine
// disturbs less. docs/decisions/0003-parquet-codec.md has the last run.
import zlib from 'node:zlib'
import pg from 'pg'
import { resolveColumns } from '../src/db/types.js'
import { RAW_TYPES } from '../src/db/pool.js'
import type { Codec } from '../src/formats/codec.js'
import { Drive } from '../src/formats/drive.js'
import { createParquetEncoder } from '../src/formats/parquet.js'
import { dataRow } from '../test/helpers/datarow.js'

const rows = Number(process.argv[2] ?? 1_000_000)
const table = process.argv[3] ?? 'orders'
const ROUNDS = Number(process.env.ROUNDS ?? 3)
const BATCH_BYTES = 4 << 20 // src/stream/rows.ts
const MAX_BATCH_ROWS = 100_000

const client = new pg.Client(process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test')
await client.connect()
await client.query("set timezone = 'UTC'; set datestyle = 'ISO'")
const select = table === 'orders'
  ? 'select id, customer_id, status, amount, currency, created_at, shipped_at, note, metadata from orders'
  : `select * from ${client.escapeIdentifier(table)}`
const result = await client.query<Array<string | null>>({
  text: `${select} order by id limit ${rows}`,
  rowMode: 'array',
  types: RAW_TYPES
})
const columns = await resolveColumns(client, result.fields)
await client.end()
const messages = result.rows.map((row) => dataRow(row))

const zstd = (level: number) => (bytes: Buffer): Buffer =>
  zlib.zstdCompressSync(bytes, { params: { [zlib.constants.ZSTD_c_compressionLevel]: level } })
const codecs: Array<[string, (bytes: Buffer) => Buffer]> = [
  ['zstd -3', zstd(-3)],
  ['zstd 1', zstd(1)],
  ['zstd 3', zstd(3)],
  ['gzip 1', (bytes) => zlib.gzipSync(bytes, { level: 1 })]
]
try {
  // a name TypeScript does not resolve: the package is optional and not among the dependencies
  const optional: string = 'snappy'
  const snappy = await import(optional) as { compressSync: (bytes: Buffer) => Buffer }
  codecs.unshift(['snappy', (bytes) => snappy.compressSync(bytes)])
} catch {
  console.log('(snappy is not installed: Snappy not measured)')
}

console.log(`${messages.length.toLocaleString('en')} rows of ${table}, node ${process.version} (zstd ${process.versions.zstd ?? '?'}), ${ROUNDS} rounds`)
for (let round = 1; round <= ROUNDS; round++) {
  for (let turn = 0; turn < codecs.length; turn++) {
    const [name, compress] = codecs[(turn + round - 1) % codecs.length]!
    let ms = 0
    let cpuMs = 0
    let plain = 0
    const codec: Codec = {
      id: 0,
      name,
      compress: (bytes) => {
        const started = performance.now()
        const cpu = process.cpuUsage()
        const out = compress(bytes)
        const used = process.cpuUsage(cpu)
        ms += performance.now() - started
        cpuMs += (used.user + used.system) / 1000
        plain += bytes.length
        return out
      }
    }
    const drive = new Drive(createParquetEncoder(columns, { report: table, key: ['id'], keyIndexes: [0] }, { codec }))
    let bytes = 0
    let groups = 0
    for (let first = 0; first < messages.length;) {
      let last = first
      while (last < messages.length && last - first < MAX_BATCH_ROWS && drive.size() < BATCH_BYTES) {
        const message = messages[last++]!
        drive.row(message, 5, message.length)
      }
      bytes += drive.chunk({ final: last >= messages.length }, 1 << 20).length
      groups++
      first = last
    }
    console.log(`round ${round} ${name.padEnd(7)} ${(plain / 1e6).toFixed(1)} MB of pages in ${groups} row groups -> file ${(bytes / 1e6).toFixed(2)} MB (${(plain / bytes).toFixed(2)}x) in ${ms.toFixed(0)} ms: ${(plain / 1e6 / (ms / 1000)).toFixed(0)} MB/s, CPU ${cpuMs.toFixed(0)} ms: ${(plain / 1e6 / (cpuMs / 1000)).toFixed(0)} MB/s`)
  }
}
