// docs/http.md section 3, `limit` and `after`: downloads cut at random byte counts and resumed from the
// key of the last complete row join up to one whole download, byte for byte; the JSON format's
// `next` pages through the same rows; and the same over the built-in composite-key demo report.
import t from 'tap'
import { listenTestApp } from './helpers/app.js'
import { scratchTable } from './helpers/db.js'
import { get, prng, reportsFolder, sameBytes, seedFromEnv, type Download } from './helpers/http.js'

const ROWS = 300_000
const { client, table } = await scratchTable(t, 'resume')
// created_at repeats: g and g + 150001 land on the same instant, far apart in id order, so a key
// of created_at alone would skip or repeat rows at a cut; the step of 1.234567 s gives every
// microsecond digit (and trailing zeros PostgreSQL drops). Labels carry CSV's awkward bytes.
await client.query(`
  create table ${table} (id bigint primary key, created_at timestamptz not null, grp int not null, label text, amount numeric);
  insert into ${table}
  select g,
    timestamptz '2026-01-01 00:00:00+00' + ((g::bigint * 7919) % 150001) * interval '1234567 microseconds',
    g % 7,
    case when g % 13 = 0 then null
      when g % 11 = 0 then 'line ' || g || E'\\nbreak, "quoted"; ok'
      when g % 17 = 0 then ''
      else 'label-' || substr(md5(g::text), 1, 12) end,
    case when g % 19 = 0 then null else round((g * 37 % 100000) / 100.0, 2) end
  from generate_series(1, ${ROWS}) g;
  create index on ${table} (created_at, id);
  analyze ${table};
`)

const reportsDir = await reportsFolder(t, {
  'by_id.sql': `/*\ntitle: By id\nkey: id\n*/\nselect id, created_at, grp, label, amount from ${table}\n`,
  'by_time.sql': `/*\ntitle: By time\nkey: [created_at, id]\n*/\nselect id, created_at, grp, label, amount from ${table}\n`
})
const { url } = await listenTestApp(t, { reportsDir })
const demo = await listenTestApp(t)

const seed = seedFromEnv()
const random = prng(seed)
const wholes = new Map<string, Promise<Download>>()

type Format = 'ndjson' | 'csv'

/** How a cut-short download's last complete row names the `after` that resumes behind it. */
type KeyOf = (row: string) => string

const idKey: Record<Format, KeyOf> = {
  ndjson: (row) => String((JSON.parse(row) as { id: number }).id),
  csv: (row) => csvFields(row)[0]!
}
// the key values as the row shows them, in key order: [created_at, id]
const timeKey: Record<Format, KeyOf> = {
  ndjson: (row) => {
    const { id, created_at: createdAt } = JSON.parse(row) as { id: number, created_at: string }
    return JSON.stringify([createdAt, id])
  },
  csv: (row) => {
    const [id, createdAt] = csvFields(row)
    return `[${JSON.stringify(createdAt)},${id}]`
  }
}

t.test(`NDJSON cut at random byte counts and resumed with after joins up to the whole download (seed ${seed}, SEED=${seed} replays)`, async (t) => {
  for (const [report, keyOf, order] of [['by_id', idKey, 'id'], ['by_time', timeKey, 'created_at, id']] as const) {
    const whole = await wholeDownload(`${url}/reports/${report}.ndjson`)
    t.equal(whole.status, 200)
    t.ok(whole.complete, `${report}: the whole download is complete`)
    const expectedIds = (await client.query<{ id: string }>(`select id from ${table} order by ${order}`)).rows.map((row) => row.id)
    sameBytes(t, Buffer.from(ndjsonIds(whole.body).join('\n')), Buffer.from(expectedIds.join('\n')), `${report}: the whole download holds every row once, in key order`)
    const { body, downloads } = await resumed(`${url}/reports/${report}.ndjson?`, 'ndjson', keyOf.ndjson, whole.body.length)
    t.ok(downloads > 3, `${report}: took ${downloads} downloads`)
    sameBytes(t, body, whole.body, `${report}: resumed pieces equal the whole download byte for byte`, { seed })
  }
})

t.test(`CSV cut at random byte counts and resumed with after (PostgreSQL's text of the key) joins up to the whole download (seed ${seed})`, async (t) => {
  for (const [report, keyOf] of [['by_time', timeKey], ['by_id', idKey]] as const) {
    const whole = await wholeDownload(`${url}/reports/${report}.csv`)
    t.equal(whole.status, 200)
    t.ok(whole.complete)
    t.equal(csvRecordEnds(whole.body).length, ROWS + 1, `${report}: header and every row`)
    const { body, downloads } = await resumed(`${url}/reports/${report}.csv?`, 'csv', keyOf.csv, whole.body.length)
    t.ok(downloads > 3, `${report}: took ${downloads} downloads`)
    sameBytes(t, body, whole.body, `${report}: resumed pieces equal the whole download byte for byte`, { seed })
  }
})

t.test('the JSON format\'s next link, followed page by page, gives the rows of the whole download', async (t) => {
  // 300,000 = 5 x 60,000: the last page is full, and still nothing follows it
  for (const [report, limit, pages] of [['by_time', 70_000, 5], ['by_id', 60_000, 5], ['by_time', 299_999, 2]] as const) {
    const whole = await wholeDownload(`${url}/reports/${report}.json`)
    t.ok(whole.complete)
    const all = JSON.parse(whole.body.toString()) as JsonPage
    t.equal(all.next, null, 'no limit, no next')
    t.equal(all.rows.length, ROWS)
    const rows: unknown[] = []
    let next: string | null = `${url}/reports/${report}.json?limit=${limit}`
    let count = 0
    while (next !== null) {
      t.ok(++count <= pages, `${report} limit=${limit}: at most ${pages} pages`)
      if (count > pages) break
      const page = await get(new URL(next, url).href)
      t.equal(page.status, 200)
      t.ok(page.complete)
      const parsed = JSON.parse(page.body.toString()) as JsonPage
      if (parsed.next !== null) t.equal(parsed.rows.length, limit, 'a page with a next link is full')
      else t.ok(parsed.rows.length > 0 && parsed.rows.length <= limit, 'the last page holds the rest')
      for (const row of parsed.rows) rows.push(row)
      next = parsed.next
    }
    t.equal(count, pages, `${report} limit=${limit}: ${pages} pages, the last with next null`)
    sameBytes(t, Buffer.from(JSON.stringify(rows)), Buffer.from(JSON.stringify(all.rows)), `${report} limit=${limit}: pages join up to the whole download`, { seed })
  }
})

t.test('limit alone gives exactly that many rows, the first ones', async (t) => {
  const whole = await wholeDownload(`${url}/reports/by_time.ndjson`)
  for (const limit of [1, 999, 1000, 1001, 12_345]) {
    const res = await get(`${url}/reports/by_time.ndjson?limit=${limit}`)
    t.equal(res.status, 200)
    t.ok(res.complete)
    const end = nthLineEnd(whole.body, limit)
    sameBytes(t, res.body, whole.body.subarray(0, end), `limit=${limit}: the first ${limit} rows of the whole download`, { seed })
  }
  const csv = await get(`${url}/reports/by_id.csv?limit=777`)
  const wholeCsv = (await wholeDownload(`${url}/reports/by_id.csv`)).body
  sameBytes(t, csv.body, wholeCsv.subarray(0, csvRecordEnds(wholeCsv)[777]), 'CSV limit=777: the header and the first 777 rows')
  const json = JSON.parse((await get(`${url}/reports/by_id.json?limit=3`)).body.toString()) as JsonPage
  t.same(json.rows.map((row) => (row as { id: number }).id), [1, 2, 3])
  t.type(json.next, 'string', 'a limit that cut rows off gives a next link')
  const beyond = await get(`${url}/reports/by_id.ndjson?limit=${ROWS + 1}`)
  t.equal(lineCount(beyond.body), ROWS, 'a limit past the end gives every row')
})

t.test('after the very last key: an empty, complete response', async (t) => {
  const last = (await client.query<{ id: string, created_at: string }>(
    `select id, to_json(created_at) #>> '{}' as created_at from ${table} order by created_at desc, id desc limit 1`)).rows[0]!
  for (const format of ['ndjson', 'csv'] as const) {
    const after = encodeURIComponent(JSON.stringify([last.created_at, Number(last.id)]))
    const res = await get(`${url}/reports/by_time.${format}?${format === 'csv' ? 'header=0&' : ''}after=${after}`)
    t.equal(res.status, 200)
    t.ok(res.complete)
    t.equal(res.body.length, 0, `${format}: nothing after the last key`)
  }
})

t.test(`the demo report orders_by_status (key created_at, id) resumes over the seeded orders (seed ${seed})`, async (t) => {
  let twins = 0
  for (const status of ['pending', 'paid', 'shipped', 'cancelled']) {
    const base = `${demo.url}/reports/orders_by_status.ndjson?status=${status}&`
    const whole = await get(base)
    t.equal(whole.status, 200)
    t.ok(whole.complete)
    const expected = (await client.query<{ id: string }>(
      "select id from orders where status = $1 and created_at >= '2020-01-01' order by created_at, id", [status])).rows.map((row) => row.id)
    t.ok(expected.length > 0)
    sameBytes(t, Buffer.from(ndjsonIds(whole.body).join('\n')), Buffer.from(expected.join('\n')), `${status}: the whole download holds every order once, in key order`)
    const { body, downloads } = await resumed(base, 'ndjson', timeKey.ndjson, whole.body.length)
    t.ok(downloads > 2, `${status}: took ${downloads} downloads`)
    sameBytes(t, body, whole.body, `${status}: resumed pieces equal the whole download byte for byte`, { seed })
    // random cuts seldom fall between two orders of one instant: resume there on purpose
    const lines = whole.body.toString().split('\n').slice(0, -1)
    for (let i = 0; i + 1 < lines.length && twins < 100; i++) {
      if ((JSON.parse(lines[i]!) as Order).created_at !== (JSON.parse(lines[i + 1]!) as Order).created_at) continue
      twins++
      const res = await get(`${base}limit=2&after=${encodeURIComponent(timeKey.ndjson(lines[i]!))}`)
      sameBytes(t, res.body, Buffer.from(lines.slice(i + 1, i + 3).join('\n') + '\n'), `${status}: after the first of two orders at ${(JSON.parse(lines[i]!) as Order).created_at} comes the second`)
    }
  }
  t.ok(twins > 10, `resumed between ${twins} pairs of orders that share created_at`)
})

interface Order { id: number, created_at: string }

interface JsonPage { rows: unknown[], next: string | null }

/** One uncut download per URL for the whole file: the reference the pieces are held against. */
async function wholeDownload (target: string): Promise<Download> {
  let whole = wholes.get(target)
  if (whole === undefined) {
    whole = get(target)
    wholes.set(target, whole)
  }
  return await whole
}

/**
 * Downloads `base` (a URL ending in `?` or `&`) in pieces: each download is cut at a random byte
 * count, and the next one resumes after the key of the last complete row, until one completes.
 * Returns the joined complete rows (and the CSV header of the first piece).
 */
async function resumed (base: string, format: Format, keyOf: KeyOf, size: number): Promise<{ body: Buffer, downloads: number }> {
  const pieces: Buffer[] = []
  let after: string | undefined
  for (let downloads = 1; downloads <= 2000; downloads++) {
    // a quarter of the cuts fall within the first row or two: no progress, the same after again
    const cut = random() < 0.25 ? 1 + Math.floor(random() * 300) : 1 + Math.floor(random() * size / 6)
    const query = after === undefined ? '' : `${format === 'csv' ? 'header=0&' : ''}after=${encodeURIComponent(after)}`
    const res = await get(base + query, { stopAfter: cut, close: random() < 0.5 ? 'reset' : 'destroy' })
    if (res.status !== 200) throw new Error(`${base + query}: status ${res.status}: ${res.body.toString()}`)
    if (res.complete) {
      pieces.push(res.body)
      return { body: Buffer.concat(pieces), downloads }
    }
    const ends = format === 'csv' ? csvRecordEnds(res.body) : lineEnds(res.body)
    // the first CSV piece starts with the header, which is no row
    const skip = format === 'csv' && after === undefined ? 1 : 0
    if (ends.length <= skip) continue
    const end = ends[ends.length - 1]!
    const start = ends.length >= 2 ? ends[ends.length - 2]! : 0
    pieces.push(res.body.subarray(0, end))
    after = keyOf(res.body.subarray(start, end - 1).toString())
  }
  throw new Error(`${base}: no download completed`)
}

function lineEnds (body: Buffer): number[] {
  const ends: number[] = []
  for (let i = body.indexOf(10); i !== -1; i = body.indexOf(10, i + 1)) ends.push(i + 1)
  return ends
}

function lineCount (body: Buffer): number {
  return lineEnds(body).length
}

function nthLineEnd (body: Buffer, n: number): number {
  const end = lineEnds(body)[n - 1]
  if (end === undefined) throw new Error(`fewer than ${n} lines`)
  return end
}

function ndjsonIds (body: Buffer): string[] {
  return body.toString().split('\n').filter((line) => line !== '').map((line) => String((JSON.parse(line) as { id: number }).id))
}

/** Where each complete CSV record ends: a line break outside quotes (bytes: UTF-8 never hides '"' or '\n'). */
function csvRecordEnds (body: Buffer): number[] {
  const ends: number[] = []
  let quoted = false
  for (let i = 0; i < body.length; i++) {
    const c = body[i]
    if (c === 34) quoted = !quoted
    else if (c === 10 && !quoted) ends.push(i + 1)
  }
  return ends
}

/** The fields of one CSV record (without its line break), unquoted. */
function csvFields (record: string): string[] {
  const fields: string[] = []
  let i = 0
  for (;;) {
    let field = ''
    if (record[i] === '"') {
      i++
      for (;;) {
        const close = record.indexOf('"', i)
        if (close === -1) throw new Error(`unterminated quote in ${JSON.stringify(record)}`)
        field += record.slice(i, close)
        i = close + 1
        if (record[i] !== '"') break
        field += '"'
        i++
      }
    } else {
      const comma = record.indexOf(',', i)
      const end = comma === -1 ? record.length : comma
      field = record.slice(i, end)
      i = end
    }
    fields.push(field)
    if (i >= record.length) return fields
    i++ // the comma
  }
}
