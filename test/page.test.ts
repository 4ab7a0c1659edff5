// The reports page (docs/http.md section 8) in a real browser: Debian's Chromium, driven by
// playwright-core, on a Sluice listening on a real port. What a person does: fill a report's
// form, read the preview and the estimate, make a mistake and read the server's word for it,
// download a CSV, the browser's own download, byte for byte what curl gets; then the same with
// API keys on, where the key lives in the tab and the download goes through a signed link; and a
// key of one stream, whose every preview and estimate still arrives, one request at a time.
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { listenTestApp } from './helpers/app.js'
import { connect } from './helpers/db.js'
import { sameBytes } from './helpers/http.js'

const CHROMIUM = '/usr/bin/chromium'
const CURL = '/usr/bin/curl'
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url))
const DESKTOP = { width: 1280, height: 900 }
const PHONE = { width: 390, height: 844 }
/** every demo report in view at once: all their previews and estimates are asked together */
const TALL = { width: 1280, height: 4000 }
const REPORT = 'orders_by_status'

interface Listed { name: string, params: { properties: Record<string, unknown> }, columns: Array<{ name: string }>, formats: string[] }
/** a row of the JSON format: JSON's values */
type Row = Record<string, string | number | boolean | null | object>
/** An element in the browser, as far as the checks below read one (the tests compile without the DOM's types). */
interface BrowserElement {
  readonly id: string
  readonly textContent: string | null
  readonly scrollWidth: number
  readonly clientWidth: number
  getAttribute (name: string): string | null
  querySelectorAll (selectors: string): Iterable<BrowserElement>
}

const missing = [CHROMIUM, CURL].filter((file) => !existsSync(file))
if (missing.length > 0) {
  if (process.env.SLUICE_REQUIRE_TOOLS === '1') t.fail(`${missing.join(' and ')} not found, and SLUICE_REQUIRE_TOOLS=1`)
  else t.plan(0, `skipped: ${missing.join(' and ')} not found (apt-get install chromium curl)`)
} else {
  await run()
}

async function run (): Promise<void> {
  const work = await mkdtemp(path.join(tmpdir(), 'sluice-page-'))
  t.teardown(() => rm(work, { recursive: true, force: true }))
  await mkdir(ARTIFACTS, { recursive: true })
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(() => browser.close())

  // a fixed estimate to compare with: no autovacuum's analyze between the page's HEAD and ours
  const client = await connect()
  await client.query('analyze orders')
  // a moment in the middle of the paid orders, so that `since` filters something
  const { rows: [middle] } = await client.query<{ at: string }>(`select to_char(percentile_disc(0.5) within group (order by created_at) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') as at from orders where status = 'paid'`)
  await client.end()
  const since = middle!.at

  t.test('without keys: form, preview, estimate, a bad parameter, a download as curl gets it', async (t) => {
    const { url } = await listenTestApp(t)
    const { context, page, seen } = await open(t, browser, url, DESKTOP)
    const listed = ((await (await fetch(`${url}/reports`)).json()) as { reports: Listed[] }).reports
    await page.goto(`${url}/`)
    await page.locator(`#report-${REPORT}`).waitFor()
    for (const report of listed) {
      const section = page.locator(`section#report-${report.name}`)
      t.equal(await section.count(), 1, `a section for ${report.name}`)
      for (const name of [...Object.keys(report.params.properties), 'limit']) {
        t.equal(await section.locator(`form [name="${name}"]`).count(), 1, `${report.name}: a field named ${name}`)
      }
      t.same(await section.locator('[data-format]').evaluateAll((nodes: BrowserElement[]) => nodes.map((node) => node.getAttribute('data-format'))), report.formats, `${report.name}: one download per format`)
    }
    t.equal(await page.locator('input[name="key"]').isVisible(), false, 'no key asked for')

    const section = page.locator(`#report-${REPORT}`)
    await section.locator('select[name="status"]').selectOption('paid')
    await section.locator('input[name="since"]').fill(since)
    await section.locator('input[name="since"]').press('Enter')
    await page.locator(`#report-${REPORT}[aria-busy="false"]`).waitFor()
    const query = `status=paid&since=${encodeURIComponent(`${since}Z`)}`
    const api = await (await fetch(`${url}/reports/${REPORT}.json?${query}&limit=20`)).json() as { rows: Row[] }
    t.equal(api.rows.length, 20, 'the API has 20 rows to compare with')
    const columns = listed.find((report) => report.name === REPORT)!.columns.map((column) => column.name)
    await samePreview(t, page, REPORT, columns, api.rows)

    const head = await fetch(`${url}/reports/${REPORT}?${query}`, { method: 'HEAD' })
    const estimate = await section.locator('[data-estimate]').getAttribute('data-estimate')
    t.equal(estimate, head.headers.get('x-estimated-rows'), `the planner's estimate, as HEAD gives it (${estimate})`)
    t.ok(Number(estimate) > 0)

    // a bad parameter: the server's own message, next to its field
    await section.locator('input[name="limit"]').fill('0')
    await section.locator('input[name="limit"]').press('Enter')
    await page.locator(`#report-${REPORT}[aria-busy="false"]`).waitFor()
    const refused = await fetch(`${url}/reports/${REPORT}.json?${query}&limit=0`)
    t.equal(refused.status, 400)
    const message = ((await refused.json()) as { message: string }).message
    const limitField = section.locator('.field', { has: page.locator('input[name="limit"]') })
    t.equal(await limitField.locator('.field-error').textContent(), message, `"${message}" next to the limit field`)
    t.equal(await section.locator('input[name="limit"]').getAttribute('aria-invalid'), 'true')
    t.equal(await section.locator('.preview table').count(), 0, 'no preview of rows that were refused')
    await section.locator('input[name="limit"]').fill('')
    await section.locator('input[name="limit"]').press('Enter')
    await page.locator(`#report-${REPORT}[aria-busy="false"]`).waitFor()
    t.equal(await limitField.locator('.field-error').textContent(), '', 'the message goes once the field is right')

    const saved = await downloadCsv(t, page, work, 'open.csv')
    const expected = await curl(work, `${url}/reports/${REPORT}.csv?${query}`, 'open-curl.csv')
    sameBytes(t, saved, expected, 'the browser saved what curl downloads')
    t.ok(expected.toString().startsWith(`${columns.join(',')}\n`), 'a CSV with its header')

    const toReport = `document.getElementById('report-${REPORT}').scrollIntoView()`
    await page.evaluate(toReport)
    await page.screenshot({ path: path.join(ARTIFACTS, 'page-desktop.png') })
    await page.setViewportSize(PHONE)
    await page.evaluate(toReport)
    await page.screenshot({ path: path.join(ARTIFACTS, 'page-phone.png') })
    // expressions run in the page are given as text: the tests compile without the DOM's types
    t.ok(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'), 'at a phone width the page does not scroll sideways')
    t.ok(await section.locator('.scroll').evaluate((node: BrowserElement) => node.scrollWidth > node.clientWidth), 'the preview table scrolls inside its card')

    await page.goto(`${url}/docs`)
    await page.locator('.opblock').first().waitFor()
    t.equal(await page.locator('.opblock').count(), listed.length, '/docs shows one operation per report')
    await page.screenshot({ path: path.join(ARTIFACTS, 'docs-phone.png') })
    await context.close()
    onlySluice(t, seen, url)
  })

  t.test('with keys: the key asked once and kept in the tab, downloads through signed links', async (t) => {
    const key = randomBytes(24).toString('base64url')
    const keysFile = path.join(work, 'keys.json')
    // a key that fixes a parameter, as a tenant's would: it reads only the reports that declare it
    await writeFile(keysFile, JSON.stringify([{ id: 'page', sha256: createHash('sha256').update(key).digest('hex'), reports: ['orders*'], params: { status: 'shipped' } }]))
    const { url, logs } = await listenTestApp(t, { apiKeysFile: keysFile })
    const { context, page, seen } = await open(t, browser, url, DESKTOP)
    const bearer = { authorization: `Bearer ${key}` }
    const listed = ((await (await fetch(`${url}/reports`, { headers: bearer })).json()) as { reports: Listed[] }).reports

    await page.goto(`${url}/`)
    const prompt = page.locator('input[name="key"]')
    await prompt.waitFor()
    t.equal(await page.locator('section[id^="report-"]').count(), 0, 'no report before a key')
    await prompt.fill('not-a-key')
    await prompt.press('Enter')
    await page.locator('#key-message', { hasText: 'not accepted' }).waitFor()
    t.match(await page.locator('#key-message').textContent(), /unknown API key/, "the server's 401, said plainly")
    t.equal(await page.evaluate('sessionStorage.length'), 0, 'a refused key is not kept')

    await prompt.fill(key)
    await prompt.press('Enter')
    await page.locator(`#report-${REPORT}`).waitFor()
    t.same(await page.locator('section[id^="report-"]').evaluateAll((nodes: BrowserElement[]) => nodes.map((node) => node.id)), listed.map((report) => `report-${report.name}`), 'the reports this key may read')
    t.equal(await page.evaluate('sessionStorage.getItem("sluice.key")'), key, 'the key is in sessionStorage')
    t.equal(await page.evaluate('localStorage.length'), 0, 'nothing in localStorage')
    t.same(await context.cookies(), [], 'no cookie')

    t.same(listed.map((report) => report.name), [REPORT], 'which is the one report that declares the fixed parameter')

    // the key's fixed parameter asked with another value: the server's 403, next to its field
    const section = page.locator(`#report-${REPORT}`)
    await section.locator('select[name="status"]').selectOption('paid')
    await page.locator(`#report-${REPORT}[aria-busy="false"]`).waitFor()
    const refused = await fetch(`${url}/reports/${REPORT}.json?status=paid&limit=20`, { headers: bearer })
    t.equal(refused.status, 403)
    const message = ((await refused.json()) as { message: string }).message
    const statusField = section.locator('.field', { has: page.locator('select[name="status"]') })
    t.equal(await statusField.locator('.field-error').textContent(), message, `"${message}" next to the status field`)

    await section.locator('select[name="status"]').selectOption('shipped')
    await page.locator(`#report-${REPORT}[aria-busy="false"]`).waitFor()
    t.equal(await statusField.locator('.field-error').textContent(), '')
    const api = await (await fetch(`${url}/reports/${REPORT}.json?status=shipped&limit=20`, { headers: bearer })).json() as { rows: Row[] }
    await samePreview(t, page, REPORT, listed.find((report) => report.name === REPORT)!.columns.map((column) => column.name), api.rows)

    let signature = ''
    const saved = await downloadCsv(t, page, work, 'keyed.csv', (download) => {
      const link = new URL(download)
      signature = link.searchParams.get('signature') ?? ''
      t.equal(link.origin, url, 'the signed link is on Sluice')
      t.ok(link.searchParams.has('signature') && link.searchParams.get('key_id') === 'page', 'the download went through a signed link')
      t.notOk(download.includes(key), 'the link does not carry the key')
    })
    const expected = await curl(work, `${url}/reports/${REPORT}.csv?status=shipped`, 'keyed-curl.csv', bearer)
    sameBytes(t, saved, expected, 'the browser saved what curl downloads with the key')
    await page.screenshot({ path: path.join(ARTIFACTS, 'page-keys-desktop.png') })

    await page.reload()
    await page.locator(`#report-${REPORT}`).waitFor()
    t.equal(await prompt.isVisible(), false, 'asked once: a reload keeps the key of the tab')
    await page.goto(`${url}/docs`)
    await page.locator('.opblock').first().waitFor()
    t.equal(await page.locator('.opblock').count(), listed.length + 1, "/docs shows the key's reports and POST /links")
    await context.close()

    const fresh = await open(t, browser, url, PHONE)
    await fresh.page.goto(`${url}/`)
    await fresh.page.locator('input[name="key"]').waitFor()
    t.pass('another browser session asks again: the key was not kept beyond the tab')
    await fresh.page.screenshot({ path: path.join(ARTIFACTS, 'page-keys-phone.png') })
    await fresh.context.close()
    onlySluice(t, [...seen, ...fresh.seen], url)
    const logged = JSON.stringify(logs)
    t.ok(logged.includes('/links') && logged.includes('signature=[redacted]'), 'the log has the visit')
    t.notOk(logged.includes(key) || logged.includes(signature), 'but neither the key nor the signature')
  })

  t.test('a key of one stream: every preview and estimate, one report request at a time, a 429 asked again', async (t) => {
    const key = randomBytes(24).toString('base64url')
    const check = randomBytes(24).toString('base64url')
    const keysFile = path.join(work, 'one-stream.json')
    const sha = (text: string): string => createHash('sha256').update(text).digest('hex')
    await writeFile(keysFile, JSON.stringify([
      { id: 'one-stream', sha256: sha(key), reports: ['*'], max_streams: 1 },
      // the test's own reads, to compare with: a key of their own, taking none of the page's stream
      { id: 'check', sha256: sha(check), reports: ['*'] }
    ]))
    const { app, url } = await listenTestApp(t, { apiKeysFile: keysFile })
    // the page key's report requests as the server sees them: from their arrival to their response's end
    let running = 0
    let most = 0
    let answered = 0
    app.server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      if (!(request.url ?? '').startsWith('/reports/') || request.headers.authorization !== `Bearer ${key}`) return
      running++
      most = Math.max(most, running)
      response.on('close', () => {
        running--
        answered++
      })
    })
    const checking = { authorization: `Bearer ${check}` }
    const listing = await fetch(`${url}/reports`, { headers: { authorization: `Bearer ${key}` } })
    t.equal(listing.headers.get('sluice-max-streams'), '1', 'GET /reports tells the key its max_streams')
    const listed = ((await listing.json()) as { reports: Listed[] }).reports
    t.ok(listed.length >= 5, `${listed.length} reports on the page`)
    t.equal((await fetch(`${url}/reports`, { headers: checking })).headers.get('sluice-max-streams'), null, 'a key without max_streams is told none')

    const { context, page, seen } = await open(t, browser, url, TALL)
    const refusals: string[] = []
    page.on('response', (response) => { if (response.status() === 429) refusals.push(response.url()) })
    await page.goto(`${url}/`)
    await page.locator('input[name="key"]').fill(key)
    await page.locator('input[name="key"]').press('Enter')
    await page.locator(`#report-${REPORT}`).waitFor()
    // the one report with a required parameter previews once it is given, while the others' run
    await page.locator(`#report-${REPORT} select[name="status"]`).selectOption('paid')
    for (const report of listed) {
      const section = page.locator(`#report-${report.name}`)
      // done: its preview shown, or an error under its form
      await page.locator(`#report-${report.name}[aria-busy="false"]`).filter({ has: page.locator('table, .form-error:not(:empty)') }).waitFor({ timeout: 60_000 })
      t.equal(await section.locator('.form-error').textContent(), '', `${report.name}: no error under the form`)
      const query = report.name === REPORT ? 'status=paid' : ''
      const api = await (await fetch(`${url}/reports/${report.name}.json?${query === '' ? '' : `${query}&`}limit=20`, { headers: checking })).json() as { rows: Row[] }
      t.ok(api.rows.length > 0, `${report.name}: the API has rows to compare with`)
      await samePreview(t, page, report.name, report.columns.map((column) => column.name), api.rows)
      const head = await fetch(`${url}/reports/${report.name}?${query}`, { method: 'HEAD', headers: checking })
      const estimate = await section.locator('[data-estimate]').getAttribute('data-estimate')
      t.ok(estimate !== null && /^\d+$/.test(estimate), `${report.name}: an estimate (${estimate})`)
      t.equal(estimate, head.headers.get('x-estimated-rows'), `${report.name}: the planner's estimate, as HEAD gives it`)
    }
    t.equal(answered, 2 * listed.length, 'a preview and an estimate per report reached the server')
    t.equal(most, 1, 'never more than one of them at once')
    t.same(refusals, [], 'so none was refused')

    // the key's one stream taken elsewhere (another tab, a download): the page's request gets 429s,
    // waits as their Retry-After says and asks again, then shows the rows once the stream is free
    const other = app.streaming.streams.take({ id: 'one-stream', maxStreams: 1 })
    let given = false
    const giveBack = (): void => {
      if (!given) app.streaming.streams.give(other)
      given = true
    }
    t.teardown(giveBack)
    const products = page.locator('#report-products')
    const refused = page.waitForResponse((response) => response.url().includes('/reports/products.json') && response.status() === 429)
    await products.locator('input[name="limit"]').fill('5')
    await products.locator('input[name="limit"]').press('Enter')
    const first = await refused
    t.equal(await first.headerValue('retry-after'), '1', 'a 429 with its Retry-After')
    await products.locator('.preview-status', { hasText: 'asking again in 1 s' }).waitFor()
    t.equal(await products.getAttribute('aria-busy'), 'true', 'the preview waits')
    t.equal(await products.locator('.form-error').textContent(), '', 'with no error shown')
    const askedAgain = refusals.length
    await page.waitForResponse((response) => response.url().includes('/reports/products.json') && response.status() === 429)
    t.ok(refusals.length > askedAgain, 'asked again, and refused again while the stream is taken')
    const served = page.waitForResponse((response) => response.url().includes('/reports/products.json') && response.status() === 200)
    const freed = Date.now()
    giveBack()
    await served
    t.ok(Date.now() - freed < 2500, 'asked again within a Retry-After of the stream coming free')
    await page.locator('#report-products[aria-busy="false"]').waitFor()
    const api = await (await fetch(`${url}/reports/products.json?limit=5`, { headers: checking })).json() as { rows: Row[] }
    await samePreview(t, page, 'products', listed.find((report) => report.name === 'products')!.columns.map((column) => column.name), api.rows)
    t.equal(most, 1, 'and the server never had more than one of the page key\'s requests at once')
    await context.close()
    onlySluice(t, seen, url)
  })
}

/** A fresh context (its own storage, cookies, downloads) and a page that records every request. */
async function open (t: Test, browser: Browser, url: string, viewport: { width: number, height: number }): Promise<{ context: BrowserContext, page: Page, seen: string[] }> {
  const context = await browser.newContext({ viewport, acceptDownloads: true })
  context.setDefaultTimeout(15_000)
  t.teardown(() => context.close())
  const seen: string[] = []
  context.on('request', (request) => { seen.push(request.url()) })
  const page = await context.newPage()
  page.on('pageerror', (error) => { t.fail(`the page threw: ${error.message}`) })
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) t.fail(`refused by the page's CSP: ${message.text()}`)
  })
  return { context, page, seen }
}

function onlySluice (t: Test, seen: string[], url: string): void {
  const elsewhere = seen.filter((request) => !request.startsWith(`${url}/`))
  t.same(elsewhere, [], `the pages asked nothing of anyone but Sluice (${seen.length} requests)`)
}

/** The preview table's header cells are the column names, its cells the API's rows. */
async function samePreview (t: Test, page: Page, name: string, columns: string[], rows: Row[]): Promise<void> {
  const table = page.locator(`#report-${name} table`)
  t.same(await table.locator('thead th').allTextContents(), columns, 'the header cells are the column names')
  const cells = await table.locator('tbody tr').evaluateAll((trs: BrowserElement[]) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')))
  t.equal(cells.length, rows.length, `${rows.length} rows in the preview`)
  const mismatches: string[] = []
  rows.forEach((row, i) => {
    columns.forEach((column, j) => {
      const value = row[column]
      const text = cells[i]?.[j]
      const same = value === null ? text === '' : typeof value === 'number' ? Number(text) === value : typeof value === 'object' ? JSON.stringify(JSON.parse(text ?? 'null')) === JSON.stringify(value) : text === String(value)
      if (!same) mismatches.push(`row ${i} ${column}: page ${JSON.stringify(text)}, API ${JSON.stringify(value)}`)
    })
  })
  t.same(mismatches, [], 'every cell as the API has it')
}

/** Clicks the CSV download of the report and saves what the browser downloaded. */
async function downloadCsv (t: Test, page: Page, dir: string, file: string, check?: (url: string) => void): Promise<Buffer> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator(`#report-${REPORT} [data-format="csv"]`).click()])
  t.equal(download.suggestedFilename(), `${REPORT}.csv`, "the server's file name")
  check?.(download.url())
  const target = path.join(dir, file)
  await download.saveAs(target)
  t.equal(await download.failure(), null, 'the download completed')
  return await readFile(target)
}

async function curl (dir: string, url: string, file: string, headers: Record<string, string> = {}): Promise<Buffer> {
  const target = path.join(dir, file)
  const args = ['-sS', '--fail-with-body', '-o', target, ...Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]), url]
  await promisify(execFile)(CURL, args)
  return await readFile(target)
}
