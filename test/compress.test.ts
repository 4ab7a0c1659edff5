// API.md section 3: "`Accept-Encoding: gzip` or `br` compresses the stream as it goes: the first
// bytes of a large report arrive before the query has finished." Real sockets, so what is measured
// is what a client receives, not what Fastify hands to inject.
import type { Transform } from 'node:stream'
import zlib from 'node:zlib'
import t from 'tap'
import { listenTestApp } from './helpers/app.js'
import { scratchTable } from './helpers/db.js'
import { get, reportsFolder, requestId, sameBytes, streamEnded } from './helpers/http.js'

const ROWS = 500_000
const { client, table } = await scratchTable(t, 'compress')
await client.query(`
  create table ${table} (id bigint primary key, created_at timestamptz not null, grp int not null, label text, amount numeric);
  insert into ${table}
  select g, timestamptz '2026-01-01 00:00:00+00' + g * interval '1234567 microseconds', g % 7,
    case when g % 11 = 0 then E'line\\nbreak, "quoted" 😀' else 'label-' || substr(md5(g::text), 1, 12) end,
    round((g * 37 % 100000) / 100.0, 2)
  from generate_series(1, ${ROWS}) g;
  analyze ${table};
`)
const reportsDir = await reportsFolder(t, {
  'big.sql': `/*\ntitle: Big\nkey: id\n*/\nselect id, created_at, grp, label, amount from ${table}\n`
})
const { url, logs } = await listenTestApp(t, { reportsDir })
const demo = await listenTestApp(t)

const contentTypes = { ndjson: /^application\/x-ndjson\b/, csv: /^text\/csv\b/, json: /^application\/json\b/ }
const decoders = {
  gzip: { sync: zlib.gunzipSync, stream: zlib.createGunzip },
  br: { sync: zlib.brotliDecompressSync, stream: zlib.createBrotliDecompress }
} as const

t.test('gzip and br: content-encoding set, and the decompressed body equals the uncompressed response byte for byte', async (t) => {
  const requests: Array<[what: string, url: string, headers?: Record<string, string>]> = [
    // 60,000 rows span several keyset pages, so several chunks go through the compressor
    ['big.ndjson', `${url}/reports/big.ndjson?limit=60000`],
    ['big.csv', `${url}/reports/big.csv?limit=60000`],
    ['big.json', `${url}/reports/big.json?limit=60000`],
    ['big by Accept: application/x-ndjson', `${url}/reports/big?limit=5000`, { accept: 'application/x-ndjson' }],
    ['demo orders.ndjson', `${demo.url}/reports/orders.ndjson`],
    ['demo orders.csv', `${demo.url}/reports/orders.csv`]
  ]
  for (const [what, target, headers = {}] of requests) {
    const plain = await get(target, { headers })
    t.equal(plain.status, 200, `${what}: 200`)
    t.ok(plain.complete, `${what}: complete`)
    t.equal(plain.headers['content-encoding'], undefined, `${what}: not compressed unasked`)
    const format = /ndjson/.test(plain.headers['content-type'] ?? '') ? 'ndjson' : /csv/.test(plain.headers['content-type'] ?? '') ? 'csv' : 'json'
    t.match(plain.headers['content-type'], contentTypes[format])
    for (const encoding of ['gzip', 'br'] as const) {
      const res = await get(target, { headers: { ...headers, 'accept-encoding': encoding } })
      t.equal(res.status, 200)
      t.ok(res.complete, `${what} ${encoding}: complete`)
      t.equal(res.headers['content-encoding'], encoding, `${what} ${encoding}: content-encoding`)
      t.match(res.headers['content-type'], contentTypes[format], `${what} ${encoding}: content-type as uncompressed`)
      t.ok(res.body.length < plain.body.length / 2, `${what} ${encoding}: ${res.body.length} compressed bytes for ${plain.body.length}`)
      sameBytes(t, decoders[encoding].sync(res.body), plain.body, `${what} ${encoding}: decompresses to the uncompressed response`)
    }
  }
})

t.test('the first compressed bytes of a big report arrive long before its last row is read', async (t) => {
  const start = (await get(`${url}/reports/big.ndjson?limit=20000`)).body
  for (const encoding of ['gzip', 'br'] as const) {
    const reqId = requestId()
    const decoder: Transform = decoders[encoding].stream()
    const decoded: Buffer[] = []
    let compressed = 0
    // the first complete row out of the decoder is enough: the client leaves there
    const firstRow = new Promise<void>((resolve, reject) => {
      decoder.on('data', (chunk: Buffer) => {
        decoded.push(chunk)
        if (chunk.includes(10)) resolve()
      })
      decoder.on('error', reject)
    })
    const res = await get(`${url}/reports/big.ndjson`, {
      headers: { 'x-request-id': reqId, 'accept-encoding': encoding },
      onChunk: (chunk) => {
        compressed += chunk.length
        decoder.write(chunk)
        return false
      },
      until: firstRow
    })
    decoder.destroy()
    t.equal(res.headers['content-encoding'], encoding)
    t.equal(res.complete, false, `${encoding}: left after ${compressed} compressed bytes`)
    const body = Buffer.concat(decoded)
    t.ok(body.includes(10), `${encoding}: a complete row decoded`)
    const common = Math.min(body.length, start.length)
    sameBytes(t, body.subarray(0, common), start.subarray(0, common), `${encoding}: the first ${common} decoded bytes are the start of the report`)
    const line = await streamEnded(logs, reqId)
    t.equal(line.outcome, 'client_closed', `${encoding}: the stream was still going when the client left`)
    t.ok(typeof line.rows === 'number' && line.rows < ROWS / 4, `${encoding}: ${String(line.rows)} of ${ROWS} rows read when the first bytes had arrived`)
  }
})
