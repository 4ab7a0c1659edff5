// `Accept-Encoding: zstd`, `br` or `gzip` compresses the stream as it goes (zstd preferred when the
// client offers it): the first bytes of a large report arrive before the query has finished. Real
// sockets, so what is measured is what a client receives, not what Fastify hands to inject.
import { execFile, spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { Transform } from 'node:stream'
import zlib from 'node:zlib'
import t from 'tap'
import { listenTestApp } from './helpers/app.js'
import { connect, scratchTable } from './helpers/db.js'
import { get, reportsFolder, requestId, sameBytes, streamEnded, waitFor } from './helpers/http.js'

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
  br: { sync: zlib.brotliDecompressSync, stream: zlib.createBrotliDecompress },
  zstd: { sync: zlib.zstdDecompressSync, stream: zlib.createZstdDecompress }
} as const
const CODINGS = ['zstd', 'gzip', 'br'] as const

/** A tool's output; fails the test with its stderr when it exits non-zero. */
async function run (tool: string, args: string[]): Promise<{ stdout: Buffer }> {
  return await new Promise((resolve, reject) => {
    execFile(tool, args, { encoding: 'buffer', maxBuffer: 1 << 30 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`${tool} ${args.join(' ')}: ${error.message} ${stderr.toString()}`))
      else resolve({ stdout })
    })
  })
}

t.test('zstd, gzip and br: content-encoding set, and the decompressed body equals the uncompressed response byte for byte', async (t) => {
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
    for (const encoding of CODINGS) {
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
  for (const encoding of CODINGS) {
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

t.test('zstd is preferred when offered; `*` stays gzip, which every client decodes', async (t) => {
  for (const [accept, coding] of [['zstd, br, gzip', 'zstd'], ['gzip, br, zstd', 'zstd'], ['br, gzip', 'br'], ['zstd;q=0, gzip', 'gzip'], ['*', 'gzip']] as const) {
    const res = await get(`${url}/reports/big.csv?limit=2000`, { headers: { 'accept-encoding': accept } })
    t.equal(res.headers['content-encoding'], coding, `Accept-Encoding: ${accept} -> ${coding}`)
  }
})

t.test('curl --compressed and Debian\'s zstd -d get the plain body back from zstd', async (t) => {
  const missing = ['curl', 'zstd'].filter((tool) => spawnSync(tool, ['--version']).error !== undefined)
  if (missing.length > 0) {
    if (process.env.SLUICE_REQUIRE_TOOLS === '1') return t.fail(`${missing.join(' and ')} not found, and SLUICE_REQUIRE_TOOLS=1`)
    return t.plan(0, `skipped: ${missing.join(' and ')} not found (apt-get install curl zstd)`)
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-zstd-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  for (const target of [`${url}/reports/big.csv?limit=60000`, `${url}/reports/big.ndjson?limit=60000`, `${demo.url}/reports/orders.json`]) {
    const plain = await get(target)
    t.ok(plain.complete, `${target}: the plain body`)
    // curl offers every coding it was built with (zstd, br, gzip here) and decodes what it gets;
    // the server runs in this process, so the tools run without blocking it
    const curl = await run('curl', ['-sS', '--compressed', '-D', '-', '-o', `${dir}/decoded`, target])
    t.match(curl.stdout.toString(), /\r\ncontent-encoding: zstd\r\n/i, `curl --compressed ${target}: was sent zstd`)
    sameBytes(t, await readFile(`${dir}/decoded`), plain.body, `curl --compressed: ${target} decodes to the plain body`)
    await run('curl', ['-sS', '-H', 'accept-encoding: zstd', '-o', `${dir}/body.zst`, target])
    const zstd = await run('zstd', ['-d', '-q', '-c', `${dir}/body.zst`])
    sameBytes(t, zstd.stdout, plain.body, `zstd -d: ${target} decodes to the plain body`)
  }
})

t.test('zstd: a slow report\'s first batch leaves while its next page still waits in the database', async (t) => {
  const lockKey = 1_000_000 + Math.floor(Math.random() * 1_000_000)
  // rows past 150 wait for an advisory lock the test holds: the first batch (100 rows) is read,
  // the next page, asked at once, waits in PostgreSQL until the test lets it go
  await client.query(`
    create function ${table}_nap (id bigint) returns boolean stable language plpgsql as $$
    begin
      if id > 150 then perform pg_advisory_xact_lock_shared(${lockKey}); end if;
      return true;
    end $$`)
  const slow = await reportsFolder(t, { 'slow.sql': `/*\ntitle: Slow\nkey: id\n*/\nselect id, label from ${table} where ${table}_nap(id)\n` })
  const slowApp = await listenTestApp(t, { reportsDir: slow })
  const holder = await connect()
  t.teardown(() => holder.end())
  await holder.query('select pg_advisory_lock($1)', [lockKey])
  let released = false
  const release = async (): Promise<void> => {
    released = true
    await holder.query('select pg_advisory_unlock($1)', [lockKey])
  }

  const target = `${slowApp.url}/reports/slow.ndjson?limit=300`
  const decoder = zlib.createZstdDecompress()
  const decoded: Buffer[] = []
  let lines = 0
  let seenWhileWaiting: Promise<{ rows: number, waiting: number }> | undefined
  decoder.on('data', (chunk: Buffer) => {
    decoded.push(chunk)
    for (const byte of chunk) if (byte === 10) lines++
    // the whole first batch is here: is the next page really waiting on the lock meanwhile?
    if (lines >= 100 && seenWhileWaiting === undefined) {
      seenWhileWaiting = waitFor(async () => {
        const { rows } = await holder.query<{ n: number }>(
          "select count(*)::int as n from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock' and wait_event = 'advisory'", [slowApp.applicationName])
        return rows[0]!.n > 0 ? rows[0]!.n : undefined
      }, { timeout: 10_000, what: 'the next page waiting on the lock' }).then(async (waiting) => {
        const rows = lines
        await release()
        return { rows, waiting }
      })
    }
  })
  const res = await get(target, { headers: { 'accept-encoding': 'zstd' }, onChunk: (chunk) => { decoder.write(chunk); return false } })
  decoder.end()
  await new Promise((resolve) => decoder.on('end', resolve))
  t.equal(res.headers['content-encoding'], 'zstd')
  t.ok(res.complete, 'the download ends whole once the page may go on')
  t.ok(seenWhileWaiting !== undefined, 'the first batch was decoded before the lock was let go')
  const seen = await seenWhileWaiting!
  t.ok(released, 'and only then was it let go')
  t.equal(seen.rows, 100, 'all 100 rows of the first batch had arrived')
  t.ok(seen.waiting >= 1, 'while the next page waited in PostgreSQL')
  const plain = await get(target)
  sameBytes(t, Buffer.concat(decoded), plain.body, 'the decoded body is the plain one')
})
