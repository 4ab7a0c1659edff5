// `npx tsx bench/encoders.ts [rows]`: the encoders alone, in this process: rows/s and bytes of
// CSV, NDJSON and JSON, of XLSX at each deflate level it could use (LEVELS=1,3,6), of Parquet and
// of Arrow, over the same rows. The rows are the memory test's (test/memory.test.ts): id,
// account, amount, label, created_at, as PostgreSQL writes them, in batches as src/stream/rows.ts
// makes them: 100 rows first, then (here) 40,000 at a time.
import { Drive } from '../src/formats/drive.js'
import { createCsvEncoder } from '../src/formats/csv.js'
import { createJsonEncoder } from '../src/formats/json.js'
import { createNdjsonEncoder } from '../src/formats/ndjson.js'
import type { Column, Encoder } from '../src/formats/types.js'
import { createXlsxEncoder } from '../src/formats/xlsx.js'
import { createParquetEncoder } from '../src/formats/parquet.js'
import { createArrowEncoder } from '../src/formats/arrow.js'
import { dataRow } from '../test/helpers/datarow.js'

const rows = Number(process.argv[2] ?? 1_000_000)
const FIRST_BATCH_ROWS = 100
const BATCH_ROWS = 40_000

const column = (name: string, type: string, oid: number, kind: Column['json']['kind'], value: Column['value']): Column =>
  ({ name, type, castType: type, oid, json: { kind } as Column['json'], value })
const columns: Column[] = [
  column('id', 'bigint', 20, 'number', { type: 'int64' }),
  column('account', 'integer', 23, 'number', { type: 'int32' }),
  column('amount', 'numeric(12,2)', 1700, 'number', { type: 'decimal', precision: 12, scale: 2 }),
  column('label', 'text', 25, 'string', { type: 'string' }),
  column('created_at', 'timestamp with time zone', 1184, 'timestamp', { type: 'timestamptz' })
]
const context = { report: 'bench', key: ['id'], keyIndexes: [0] }

// every batch's DataRows, made once: the encoders are what is timed
const batches: Array<{ data: Buffer, starts: number[], ends: number[] }> = []
for (let first = 1; first <= rows;) {
  const size = first === 1 ? FIRST_BATCH_ROWS : BATCH_ROWS
  const messages: Buffer[] = []
  for (let g = first; g < Math.min(rows + 1, first + size); g++) {
    const at = new Date(Date.UTC(2026, 0, 1) + g * 1000).toISOString().replace('T', ' ').replace('.000Z', '+00')
    messages.push(dataRow([String(g), String(g % 10000), ((g % 100000) / 100).toFixed(2), `item ${g}`, at]))
  }
  first += size
  const data = Buffer.concat(messages)
  const starts: number[] = []
  const ends: number[] = []
  let offset = 0
  for (const message of messages) {
    starts.push(offset + 5)
    offset += message.length
    ends.push(offset)
  }
  batches.push({ data, starts, ends })
}

const measure = (name: string, encoder: Encoder): void => {
  const started = performance.now()
  let bytes = 0
  const drive = new Drive(encoder)
  for (const [i, batch] of batches.entries()) {
    for (let k = 0; k < batch.starts.length; k++) drive.row(batch.data, batch.starts[k]!, batch.ends[k]!)
    bytes += drive.chunk({ final: i === batches.length - 1, after: String(i) }, 6 << 20).length
  }
  const seconds = (performance.now() - started) / 1000
  console.log(`${name.padEnd(16)} ${Math.round(rows / seconds).toLocaleString('en').padStart(10)} rows/s  ${(bytes / 1e6).toFixed(1).padStart(7)} MB  ${seconds.toFixed(2)} s`)
}

console.log(`${rows.toLocaleString('en')} rows, ${columns.length} columns`)
for (let round = 0; round < 2; round++) {
  measure('csv', createCsvEncoder(columns, { header: true, bom: false, delimiter: ',' }))
  measure('ndjson', createNdjsonEncoder(columns))
  measure('json', createJsonEncoder(columns))
  for (const level of (process.env.LEVELS ?? '1,3,6').split(',').map(Number)) measure(`xlsx level ${level}`, createXlsxEncoder(columns, { level }))
  measure('parquet', createParquetEncoder(columns, context))
  measure('arrow', createArrowEncoder(columns, context))
}
