// XLSX (docs/http.md section 3), with PostgreSQL as the oracle: every cell of the awkward values and of
// the demo reports, read back two ways. Strictly, from the file's own XML (its zip entries found
// through the central directory, CRCs checked): each cell's type and value against PostgreSQL's
// text and its own date arithmetic. And as a spreadsheet reads it: LibreOffice converts the
// workbooks to CSV and each field is compared with COPY's CSV of the same query, allowing only
// for how LibreOffice prints what it read (see `sameAsShown`).
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { copyOut } from '../harness/copy.js'
import { buildTestApp, listenTestApp } from './helpers/app.js'
import { createAwkwardTable } from './helpers/awkward.js'
import { connect } from './helpers/db.js'
import { get, reportsFolder, requestId, streamEnded } from './helpers/http.js'
import { columnIndex, findSoffice, libreOfficeCsv, parseCsv, readZip, sheetCells, type Cell } from './helpers/xlsx.js'

const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'
const SHEET_ROWS = 1_048_576
const SPLIT_ROWS = 1_100_000

const client = await connect()
const schema = `xlsx_${randomBytes(6).toString('hex')}`
const dir = await mkdtemp(path.join(tmpdir(), 'sluice-xlsx-'))
t.teardown(async () => {
  await client.query(`drop schema if exists ${schema} cascade`)
  await client.end()
  await rm(dir, { recursive: true, force: true })
})
const cases = await createAwkwardTable(client, schema)
// read by its key's index, page by page, so that the failing row fails only the page it is on
await client.query(`create table ${schema}.numbers as select g as id from generate_series(1, 5000) g; alter table ${schema}.numbers add primary key (id); analyze ${schema}.numbers`)
const awkwardSql = `select id, ${cases.map(([name]) => name).join(', ')} from ${schema}.awkward`
const reportsDir = await reportsFolder(t, {
  'awkward.sql': `/*\ntitle: Awkward values\nkey: id\n*/\n${awkwardSql}\n`,
  'long_texts.sql': `/*\ntitle: Texts longer than a cell\nkey: id\n*/\nselect 1 as id, repeat('a', 40000) as a, repeat('😀', 20000) as emoji, repeat('b', 32767) as whole, 'x' || repeat('é', 32766) as accents, '_x0041_ _X00e9_ _x00 _xZZZZ_' as underscores, chr(65534) || chr(65535) || chr(1) as unwritable\n`,
  'split.sql': `/*\ntitle: More rows than a sheet\nkey: id\nstrategy: cursor\n*/\nselect g as id, 'row ' || g as label from generate_series(1, ${SPLIT_ROWS}) g\n`,
  'capped.sql': `/*\ntitle: Capped\nkey: id\nmax_rows: 1000\n*/\nselect g as id, 'row ' || g as label from generate_series(1, 5000) g\n`,
  'fails.sql': `/*\ntitle: Fails part way\nkey: id\n*/\nselect id, 1 / (id - 3000) as x from ${schema}.numbers\n`
})

// The demo reports, and the same rows as plain SQL for PostgreSQL to answer.
const demo: Array<[name: string, sql: string]> = [
  ['orders', 'select id, customer_id, status, amount, currency, created_at, shipped_at, note, metadata, change_xid from orders order by id'],
  ['customers', 'select id, name, email, country, created_at, tags, notes from customers order by id'],
  ['products', 'select id, sku, name, price, attributes, created_at from products order by id']
]

const NUMBER_OIDS = new Set([20, 21, 23, 700, 701, 1700])
const BOOL = 16
const DATE = 1082
const TIMESTAMP = 1114
const TIMESTAMPTZ = 1184
// the awkward numbers a double does not hold (or Excel cannot), as PostgreSQL prints them: these
// stay text, every other number is a number cell
const TEXT_NUMBERS = new Set([
  'NaN', 'Infinity', '-Infinity',
  '123456789012345678901234567890.123456789012', '98765432109876543210987654321098765',
  '12345678901234567890123456789.0123456789', '5e-324', '1.7976931348623157e+308',
  '-9223372036854775808', '9223372036854775807', '9007199254740993'
])

t.test('HTTP: negotiated, named, and not compressed again', async (t) => {
  const { app } = await buildTestApp(t)
  for (const [url, headers] of [
    ['/reports/orders.xlsx?limit=5', {}],
    ['/reports/orders?format=xlsx&limit=5', {}],
    ['/reports/orders?limit=5', { accept: XLSX }],
    ['/reports/orders.xlsx?limit=5', { 'accept-encoding': 'gzip, br' }]
  ] as const) {
    const res = await app.inject({ url, headers })
    t.equal(res.statusCode, 200, url)
    t.equal(res.headers['content-type'], XLSX, `${url}: content type`)
    t.equal(res.headers['content-disposition'], 'attachment; filename="orders.xlsx"', `${url}: a download named after the report`)
    t.equal(res.headers['content-encoding'], undefined, `${url} ${JSON.stringify(headers)}: the zip is sent as it is, already deflated`)
    t.equal(readZip(res.rawPayload).size, 6, `${url}: a whole zip`)
  }
  const head = await app.inject({ method: 'HEAD', url: '/reports/orders.xlsx' })
  t.equal(head.headers['content-disposition'], 'attachment; filename="orders.xlsx"', 'HEAD says the same')
  const listed = (await app.inject('/reports')).json<{ reports: Array<{ name: string, formats: string[] }> }>()
  t.ok(listed.reports.find((r) => r.name === 'orders')!.formats.includes('xlsx'), 'GET /reports lists xlsx')
  const openapi = (await app.inject('/openapi.json')).json<{ paths: Record<string, { get: { responses: { 200: { content: Record<string, unknown> } } } }> }>()
  t.ok(XLSX in openapi.paths['/reports/orders']!.get.responses[200].content, 'the OpenAPI document has the XLSX response')
  const refused = await app.inject({ url: '/reports/orders', headers: { accept: 'application/vnd.ms-excel' } })
  t.equal(refused.statusCode, 406)
  t.match(refused.json(), { message: new RegExp(XLSX.replaceAll('.', '\\.')) }, 'the 406 names the XLSX type')
})

t.test('every cell of the awkward values, from the file itself', async (t) => {
  const { app } = await buildTestApp(t, { reportsDir })
  const res = await app.inject('/reports/awkward.xlsx')
  t.equal(res.statusCode, 200)
  const parts = readZip(res.rawPayload)
  t.same([...parts.keys()].sort(), ['[Content_Types].xml', '_rels/.rels', 'xl/_rels/workbook.xml.rels', 'xl/styles.xml', 'xl/workbook.xml', 'xl/worksheets/sheet1.xml'])
  const styles = parts.get('xl/styles.xml')!.toString()
  const sheet = parts.get('xl/worksheets/sheet1.xml')!.toString()
  t.match(sheet, /<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"\/>/, 'the header row is frozen')
  const { rows: expected, fields } = await client.query<Array<string | null>>({ text: `${awkwardSql} order by id`, rowMode: 'array', types: { getTypeParser: () => (v: string) => v } })
  const lastColumn = sheetCells(sheet)[0]!.cells.at(-1)!.ref.replace(/\d+$/, '')
  t.match(sheet, new RegExp(`</sheetData><autoFilter ref="A1:${lastColumn}${expected.length + 1}"/></worksheet>$`), 'a filter over the header and every row')
  const serials = await serialSeconds(fields)
  checkCells(t, sheet, styles, fields, expected, serials)
})

t.test('a text longer than a cell holds is cut to 32,767 characters, the last an ellipsis; _x escapes', async (t) => {
  const { app } = await buildTestApp(t, { reportsDir })
  const res = await app.inject('/reports/long_texts.xlsx')
  const [, row] = sheetCells(readZip(res.rawPayload).get('xl/worksheets/sheet1.xml')!.toString())
  const [, a, emoji, whole, accents, underscores, unwritable] = row!.cells.map((cell) => cell.value)
  t.equal(a, 'a'.repeat(32766) + '…', 'ASCII: 32,766 characters and the mark')
  t.equal(emoji, '😀'.repeat(16383) + '…', 'surrogate pairs count twice and are never split')
  t.equal(whole, 'b'.repeat(32767), 'a text of exactly 32,767 characters is whole')
  t.equal(accents, 'x' + 'é'.repeat(32766), 'two-byte characters count once: 32,767 fit')
  t.equal(underscores, '_x0041_ _X00e9_ _x00 _xZZZZ_', 'a literal _xHHHH_ stays literal')
  t.equal(unwritable, '\uFFFE\uFFFF\x01', 'characters XML cannot hold come back through _xHHHH_')
})

const { soffice, skip } = await findSoffice()

t.test('LibreOffice reads the awkward values and the demo reports as PostgreSQL has them', { skip }, async (t) => {
  const { app } = await buildTestApp(t)
  const awkwardApp = (await buildTestApp(t, { reportsDir })).app
  const files: Array<{ file: string, sql: string, cells: ReturnType<typeof sheetCells> }> = []
  for (const [name, sql, from] of [['awkward', `${awkwardSql} order by id`, awkwardApp] as const, ...demo.map(([name, sql]) => [name, sql, app] as const)]) {
    const res = await from.inject(`/reports/${name}.xlsx`)
    t.equal(res.statusCode, 200, name)
    const file = path.join(dir, `${name}.xlsx`)
    await writeFile(file, res.rawPayload)
    files.push({ file, sql, cells: sheetCells(readZip(res.rawPayload).get('xl/worksheets/sheet1.xml')!.toString()) })
  }
  const read = await libreOfficeCsv(t, soffice!, files.map(({ file }) => file))
  for (const { file, sql, cells } of files) {
    const name = path.basename(file, '.xlsx')
    const sheets = read.get(name)!
    t.equal(sheets.length, 1, `${name}: one sheet`)
    const shown = parseCsv(sheets[0]!)
    const copied = parseCsv((await copyOut(client, `copy (${sql}) to stdout with (format csv, header)`)).toString())
    t.equal(shown.length, copied.length, `${name}: every row`)
    let differences = 0
    for (const [i, row] of copied.entries()) {
      const typed = new Map(cells[i]!.cells.map((cell) => [columnIndex(cell.ref), cell]))
      for (const [j, value] of row.entries()) {
        const seen = shown[i]?.[j] ?? ''
        if (i === 0 ? seen !== value : !sameAsShown(seen, value, typed.get(j))) {
          if (differences++ < 20) t.fail(`${name} row ${i} column ${copied[0]![j]}: LibreOffice shows ${JSON.stringify(seen)}, PostgreSQL has ${JSON.stringify(value)}`)
        }
      }
    }
    t.equal(differences, 0, `${name}: ${copied.length - 1} rows, every field as PostgreSQL has it`)
  }
})

t.test(`past ${SHEET_ROWS.toLocaleString('en')} rows the rows go on in a second sheet, with the header again`, async (t) => {
  const { app } = await buildTestApp(t, { reportsDir })
  const res = await app.inject('/reports/split.xlsx')
  t.equal(res.statusCode, 200)
  const parts = readZip(res.rawPayload)
  t.match(parts.get('xl/workbook.xml')!.toString(), /<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"\/><sheet name="Sheet2" sheetId="2" r:id="rId2"\/><\/sheets>/, 'the workbook has two sheets')
  const perSheet = SHEET_ROWS - 1
  for (const [k, first, last] of [[1, 1, perSheet], [2, perSheet + 1, SPLIT_ROWS]] as const) {
    const xml = parts.get(`xl/worksheets/sheet${k}.xml`)!.toString()
    const rows = last - first + 2
    let count = 0
    for (let at = xml.indexOf('<row '); at !== -1; at = xml.indexOf('<row ', at + 1)) count++
    t.equal(count, rows, `sheet ${k}: ${rows} rows, the header's among them`)
    const head = sheetCells(xml.slice(0, xml.indexOf('</row>', xml.indexOf('<row r="2"')) + 6))
    t.same(head.map((row) => row.cells.map((cell) => cell.value)), [['id', 'label'], [String(first), `row ${first}`]], `sheet ${k}: the header, then id ${first}`)
    const tail = sheetCells(xml.slice(xml.lastIndexOf('<row ')))
    t.same(tail, [{ r: rows, cells: [{ ref: `A${rows}`, type: undefined, style: 0, value: String(last) }, { ref: `B${rows}`, type: 'inlineStr', style: 0, value: `row ${last}` }] }], `sheet ${k}: ends with id ${last} in row ${rows}`)
    t.match(xml, new RegExp(`<autoFilter ref="A1:B${rows}"/></worksheet>$`), `sheet ${k}: its filter`)
  }
})

t.test('a download the server cuts is a broken file: no central directory, no final chunk', async (t) => {
  const { url, logs } = await listenTestApp(t, { reportsDir })
  for (const [report, outcome] of [['capped', 'row_cap'], ['fails', 'db_error']] as const) {
    const reqId = requestId()
    const res = await get(`${url}/reports/${report}.xlsx`, { headers: { 'x-request-id': reqId } })
    t.equal((await streamEnded(logs, reqId)).outcome, outcome, `${report}: logged as ${outcome}`)
    t.equal(res.status, 200, `${report}: the headers went out`)
    t.equal(res.complete, false, `${report}: the response ended without its final chunk`)
    t.ok(res.body.subarray(0, 4).equals(Buffer.from('PK\x03\x04')), `${report}: the rows before the cut arrived, a zip's first entry`)
    t.equal(res.body.indexOf(Buffer.from('PK\x01\x02')), -1, `${report}: no central directory header`)
    t.equal(res.body.indexOf(Buffer.from('PK\x05\x06')), -1, `${report}: no end of central directory`)
    t.throws(() => readZip(res.body), /no end of central directory/, `${report}: a zip reader refuses it`)
  }
})

/**
 * Each cell against PostgreSQL's own value: numbers as numbers where a double holds them, bool as
 * boolean, dates and timestamps as serials PostgreSQL's date arithmetic agrees with (to the
 * microsecond), NULL as no cell, everything else as exactly PostgreSQL's text.
 */
function checkCells (t: Test, sheet: string, styles: string, fields: ReadonlyArray<{ name: string, dataTypeID: number }>, expected: ReadonlyArray<ReadonlyArray<string | null>>, serials: ReadonlyArray<ReadonlyArray<string | null>>): void {
  const rows = sheetCells(sheet)
  t.equal(rows.length, expected.length + 1, 'a header row and every row')
  t.same(rows[0]!.cells.map((cell) => [cell.value, cell.type, cell.style]), fields.map((field) => [field.name, 'inlineStr', 1]), 'the header: the column names')
  const formats = [...styles.matchAll(/<xf numFmtId="(\d+)" fontId="(\d+)"[^>]*xfId="0"/g)].map((m) => ({ numFmt: Number(m[1]), font: Number(m[2]) }))
  t.match(styles, /<fonts count="2"><font>.*?<\/font><font><b\/>/, 'font 1 is bold')
  t.equal(formats[1]!.font, 1, 'the header style is bold')
  const formatCode = (style: number): string => new RegExp(`<numFmt numFmtId="${formats[style]!.numFmt}" formatCode="([^"]*)"`).exec(styles)?.[1] ?? ''
  let wrong = 0
  const fail = (message: string): void => { if (wrong++ < 20) t.fail(message) }
  for (const [i, values] of expected.entries()) {
    const row = rows[i + 1]!
    t.equal(row.r, i + 2)
    const byColumn = new Map(row.cells.map((cell) => [columnIndex(cell.ref), cell]))
    for (const [j, value] of values.entries()) {
      const cell = byColumn.get(j)
      const { name, dataTypeID: oid } = fields[j]!
      const where = `row ${i + 2} ${name} ${JSON.stringify(value)}`
      if (cell !== undefined && cell.ref !== `${cell.ref.replace(/\d+$/, '')}${i + 2}`) fail(`${where}: cell ${cell.ref} in row ${i + 2}`)
      if (value === null) {
        if (cell !== undefined) fail(`${where}: NULL has a cell`)
        continue
      }
      if (cell === undefined) { fail(`${where}: no cell`); continue }
      const serial = serials[i]![j]
      const isText = cell.type === 'inlineStr' && cell.value === value && cell.style === 0
      if (NUMBER_OIDS.has(oid) && !TEXT_NUMBERS.has(value)) {
        if (!(cell.type === undefined && cell.value === value && Number(cell.value) === Number(value))) fail(`${where}: not a number cell of its text: ${JSON.stringify(cell)}`)
      } else if (oid === BOOL) {
        if (!(cell.type === 'b' && cell.value === (value === 't' ? '1' : '0'))) fail(`${where}: not a boolean: ${JSON.stringify(cell)}`)
      } else if ((oid === DATE || oid === TIMESTAMP || oid === TIMESTAMPTZ) && serial !== null) {
        const code = formatCode(cell.style)
        const micros = Number(cell.value) * 86_400_000_000
        const want = Number(serial) * 1_000_000
        const fraction = oid !== DATE && /\.\d+/.test(value)
        const format = oid === DATE ? 'yyyy\\-mm\\-dd' : fraction ? 'yyyy\\-mm\\-dd\\ hh:mm:ss.000' : 'yyyy\\-mm\\-dd\\ hh:mm:ss'
        if (!(cell.type === undefined && Math.abs(micros - want) < 1 && code === format)) fail(`${where}: not the date serial ${serial} s shown as ${format}: ${JSON.stringify(cell)}, ${code}`)
        if (oid === DATE && !/^\d+$/.test(cell.value)) fail(`${where}: a date's serial is a whole number: ${cell.value}`)
      } else if (!isText) {
        fail(`${where}: not its text: ${JSON.stringify(cell)}`)
      }
    }
  }
  t.equal(wrong, 0, `${expected.length} rows of ${fields.length} columns, every cell as PostgreSQL has it`)
}

/**
 * Per row and column, a date or timestamp's seconds since 1899-12-30 (timestamptz in UTC) by
 * PostgreSQL's own arithmetic, where Excel has a serial for it (1900-03-01 to 9999-12-31); null
 * elsewhere, and in other columns.
 */
async function serialSeconds (fields: ReadonlyArray<{ name: string, dataTypeID: number }>): Promise<Array<Array<string | null>>> {
  const columns = fields.map(({ name, dataTypeID: oid }) => {
    const at = oid === TIMESTAMPTZ ? `(${name} at time zone 'UTC')` : oid === DATE ? `${name}::timestamp` : oid === TIMESTAMP ? name : undefined
    if (at === undefined) return 'null'
    return `case when ${at} >= '1900-03-01' and ${at} < '10000-01-01' then extract(epoch from ${at} - timestamp '1899-12-30')::text end`
  })
  const { rows } = await client.query<Array<string | null>>({ text: `select ${columns.join(', ')} from (${awkwardSql}) a order by id`, rowMode: 'array' })
  return rows
}

/**
 * A field as LibreOffice shows it, against COPY's text of the same value. What LibreOffice may
 * change, and nothing else:
 * - a number cell: printed to at most 15 significant digits, in its own notation (`1E-030`,
 *   `-0.5` for -0.50, `0` for -0); it must be the value rounded to 15 digits
 * - a boolean: TRUE and FALSE for t and f
 * - a date or timestamp: the cell's display format, `yyyy-mm-dd[ hh:mm:ss[.000]]`, without the
 *   zone (timestamptz are in UTC); it must be the same instant to the millisecond shown, give or
 *   take that millisecond (LibreOffice rounds .144499 to .145: its display rounds the serial, a
 *   double, not the exact time; the serial itself holds the microseconds, see checkCells)
 * - a text: a CR LF inside it reads back as LF (LibreOffice's own line break)
 */
function sameAsShown (shown: string, copied: string, cell: Cell | undefined): boolean {
  if (cell === undefined) return shown === '' && copied === ''
  if (cell.type === 'b') return shown === (copied === 't' ? 'TRUE' : 'FALSE')
  if (cell.type === 'inlineStr') return shown === copied.replaceAll('\r\n', '\n')
  if (cell.style === 0) return Number(shown) === Number(Number(copied).toPrecision(15))
  const match = /^(\d{4}-\d\d-\d\d)(?: (\d\d:\d\d:\d\d)(\.\d{3})?)?$/.exec(shown)
  if (match === null) return false
  if (match[2] === undefined) return shown === copied
  const instant = (text: string): number => Date.parse(text.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00').replace(/(\.\d{3})\d*/, '$1') + (/[+-]\d\d(:\d\d)?$/.test(text) ? '' : 'Z'))
  const micros = (text: string): number => Number(/\.(\d+)/.exec(text)?.[1]?.padEnd(6, '0') ?? 0)
  const exact = Math.floor(instant(copied) / 1000) * 1e6 + micros(copied)
  const seen = Math.floor(instant(shown) / 1000) * 1e6 + micros(shown)
  return Math.abs(exact - seen) <= 1000 && (match[3] !== undefined) === /\.\d+/.test(copied)
}
