// The reports page (docs/http.md section 8). Everything it shows comes from Sluice's own API: the list
// from GET /reports, a preview from the JSON format with a small `limit`, the planner's estimate
// from HEAD. Downloads are the browser's own (a link it follows), never a fetch into this page:
// the file may be gigabytes. With API keys on, the key lives in this tab's sessionStorage only and
// downloads go through signed links (POST /links), since a followed link cannot send a header.
// Previews and estimates run no more at once than the key's max_streams, which GET /reports tells
// (Sluice-Max-Streams), and a 429 is asked again once its Retry-After has passed.
'use strict'

const KEY_ITEM = 'sluice.key'
const PREVIEW_ROWS = 20
// a page's link is followed at once; a short life keeps a copied URL from outliving the visit
const LINK_TTL = 300
// a 503 (the whole server busy) is asked again this many times before it is shown
const UNAVAILABLE_RETRIES = 3

const state = { keysOn: false, key: null }

document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('key-form').addEventListener('submit', (event) => {
    event.preventDefault()
    const key = event.target.elements.key.value.trim()
    if (key !== '') void useKey(key)
  })
  document.getElementById('forget-key').addEventListener('click', () => {
    sessionStorage.removeItem(KEY_ITEM)
    state.key = null
    streams.cap = Infinity
    showReports([])
    askKey('')
  })
  void start()
})

async function start () {
  // asked without a key first: a 401 is how the page learns that keys are on
  const open = await request('/reports')
  if (open === undefined) return
  if (open.ok) {
    showReports((await open.json()).reports)
    return
  }
  if (open.status !== 401) {
    notice(`GET /reports answered ${open.status}: ${await messageOf(open)}`)
    return
  }
  state.keysOn = true
  const stored = sessionStorage.getItem(KEY_ITEM)
  if (stored === null) askKey('')
  else await useKey(stored)
}

async function useKey (key) {
  const listing = await request('/reports', { headers: { authorization: `Bearer ${key}` } })
  if (listing === undefined) return
  if (!listing.ok) {
    sessionStorage.removeItem(KEY_ITEM)
    askKey(listing.status === 401 ? `This key was not accepted: ${await messageOf(listing)}` : `GET /reports answered ${listing.status}: ${await messageOf(listing)}`)
    return
  }
  state.key = key
  streams.cap = capOf(listing)
  sessionStorage.setItem(KEY_ITEM, key)
  document.getElementById('key-form').hidden = true
  document.getElementById('key-status').hidden = false
  showReports((await listing.json()).reports)
}

function askKey (message) {
  const form = document.getElementById('key-form')
  form.hidden = false
  document.getElementById('key-status').hidden = true
  document.getElementById('key-message').textContent = message
  form.elements.key.value = ''
  form.elements.key.focus()
}

/** fetch with the key, if there is one; undefined (and a notice) when Sluice cannot be reached */
async function request (url, init = {}) {
  const headers = { accept: 'application/json', ...init.headers }
  if (state.key !== null) headers.authorization = `Bearer ${state.key}`
  try {
    return await fetch(url, { ...init, headers })
  } catch (error) {
    if (error.name !== 'AbortError') notice(`Sluice did not answer: ${error.message}`)
    return undefined
  }
}

// ---- report requests: no more at once than the key may run (docs/http.md section 6) ----

/** this page's report requests (GET and HEAD under /reports/) running, and those waiting for a turn */
const streams = { cap: Infinity, running: 0, waiting: [] }

/** The key's max_streams from GET /reports' Sluice-Max-Streams; none said: no cap of the key's own. */
function capOf (listing) {
  const cap = Number(listing.headers.get('sluice-max-streams'))
  return Number.isSafeInteger(cap) && cap > 0 ? cap : Infinity
}

/**
 * A GET or HEAD of a report, started once this page runs fewer report requests than the key's
 * cap, and asked again after a 429 (the key's streams also run elsewhere: another tab, a download)
 * or, a few times, a 503, once its Retry-After has passed. `read` gets the response (undefined when Sluice
 * did not answer) while its turn is still held: the server counts a stream until its last byte,
 * so a body is read to its end before the next request starts. Nothing is read once `signal`
 * aborted it; `onWait` is told of each wait, in seconds.
 */
async function reportRequest (url, init, read, onWait = () => {}) {
  let unavailable = 0
  for (;;) {
    if (!(await takeTurn(init.signal))) return
    let response
    let seconds
    try {
      response = await request(url, init)
      seconds = retryAfter(response, unavailable)
      if (seconds === undefined) return await read(response)
    } finally {
      giveTurn()
    }
    if (response.status === 503) unavailable++
    onWait(response.status, seconds)
    if (!(await pause(seconds * 1000, init.signal))) return
  }
}

/** The seconds to wait before asking again, or undefined when the answer is to be shown as it is. */
function retryAfter (response, unavailable) {
  if (response === undefined) return undefined
  const header = response.headers.get('retry-after')
  const retry = response.status === 429 || (response.status === 503 && header !== null && unavailable < UNAVAILABLE_RETRIES)
  if (!retry) return undefined
  // Sluice sends whole seconds; at least one, so that a busy key is not asked in a tight loop
  return /^\d+$/.test(header?.trim() ?? '') ? Math.max(1, Number(header)) : 1
}

/** Resolves true once this request may start, or false when `signal` aborts it first. */
function takeTurn (signal) {
  if (signal.aborted) return Promise.resolve(false)
  return new Promise((resolve) => {
    const start = () => {
      signal.removeEventListener('abort', leave)
      streams.running++
      resolve(true)
    }
    const leave = () => {
      streams.waiting.splice(streams.waiting.indexOf(start), 1)
      resolve(false)
    }
    signal.addEventListener('abort', leave, { once: true })
    streams.waiting.push(start)
    startWaiting()
  })
}

function giveTurn () {
  streams.running--
  startWaiting()
}

/** In the order they came: a preview asked first is shown first. */
function startWaiting () {
  while (streams.running < streams.cap && streams.waiting.length > 0) streams.waiting.shift()()
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function pause (ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(false)
      return
    }
    const done = (waited) => {
      clearTimeout(timer)
      signal.removeEventListener('abort', stop)
      resolve(waited)
    }
    const stop = () => done(false)
    const timer = setTimeout(() => done(true), ms)
    signal.addEventListener('abort', stop, { once: true })
  })
}

async function messageOf (response) {
  try {
    const body = await response.json()
    return typeof body.message === 'string' ? body.message : response.statusText
  } catch {
    return response.statusText
  }
}

function notice (text) {
  const element = document.getElementById('notice')
  element.textContent = text
  element.hidden = text === ''
}

// ---- the reports ----

function showReports (reports) {
  notice('')
  const container = document.getElementById('reports')
  const toc = document.getElementById('toc')
  container.replaceChildren()
  toc.replaceChildren()
  toc.hidden = reports.length === 0
  if (reports.length === 0 && (!state.keysOn || state.key !== null)) {
    container.append(el('p', { className: 'card' }, state.key === null ? 'No reports to show.' : 'This key may read no report.'))
  }
  for (const report of reports) {
    toc.append(el('a', { href: `#report-${report.name}` }, report.title || report.name))
    container.append(reportSection(report))
  }
}

function reportSection (report) {
  const section = el('section', { id: `report-${report.name}`, className: 'card report' })
  section.setAttribute('aria-busy', 'false')
  const titleId = `title-${report.name}`
  section.setAttribute('aria-labelledby', titleId)
  section.append(
    el('header', {},
      el('h2', { id: titleId }, report.title || report.name),
      el('code', { className: 'name' }, report.name)),
    report.description ? el('p', { className: 'description' }, report.description) : '',
    el('p', { className: 'meta' }, `Key ${report.key.join(', ')} · ${report.strategy} · ${report.columns.length} columns`),
    el('ul', { className: 'columns', 'aria-label': 'Columns' }, ...report.columns.map((column) =>
      el('li', {}, el('code', {}, column.name), ' ', el('span', { className: 'type' }, column.type))))
  )

  const form = el('form', { className: 'params', noValidate: true })
  const schema = report.params ?? {}
  const required = new Set(schema.required ?? [])
  const fields = el('div', { className: 'fields' })
  for (const [name, property] of Object.entries(schema.properties ?? {})) {
    fields.append(field(report.name, name, property, required.has(name)))
  }
  fields.append(field(report.name, 'limit', { type: 'integer', minimum: 1, description: 'at most this many rows; empty: all' }, false))
  const formError = el('p', { className: 'error form-error', role: 'alert' })
  form.append(fields, el('div', { className: 'actions' }, el('button', { type: 'submit' }, 'Preview')), formError)
  section.append(form)

  const estimate = el('output', { className: 'estimate' })
  estimate.dataset.estimate = ''
  estimate.textContent = '—'
  const downloads = el('div', { className: 'downloads' }, el('span', { className: 'label' }, 'Download'))
  for (const format of report.formats) downloads.append(downloadControl(report, form, format))
  section.append(el('div', { className: 'summary' }, el('p', {}, 'Estimated rows: ', estimate), downloads))

  const preview = el('div', { className: 'preview' }, el('p', { className: 'preview-status' }, ''))
  section.append(preview)

  let current
  const refresh = () => {
    current?.abort()
    current = new AbortController()
    void showPreview(report, section, form, current.signal)
  }
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    refresh()
  })
  form.addEventListener('change', refresh)
  form.addEventListener('input', () => updateLinks(report, section, form))
  updateLinks(report, section, form)
  // namedItem, not elements[name]: a parameter may be called `length` or `item`
  if ([...required].every((name) => form.elements.namedItem(name)?.value !== '')) {
    setStatus(section, 'The preview loads when the report comes into view.')
    whenSeen(section, () => { if (current === undefined) refresh() })
  } else {
    setStatus(section, `Fill in ${[...required].join(', ')} to see a preview.`)
  }
  return section
}

// A preview runs the report's query (a cursor report's whole sort or aggregate): only for the
// reports the person scrolls to, not for every report of a long list at once
const seen = new WeakMap()
const observer = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (!entry.isIntersecting) continue
    observer.unobserve(entry.target)
    seen.get(entry.target)?.()
  }
}, { rootMargin: '200px' })

function whenSeen (element, callback) {
  seen.set(element, callback)
  observer.observe(element)
}

/** One form field from a parameter's JSON Schema; its name is the parameter's (docs/http.md section 8). */
function field (reportName, name, schema, isRequired) {
  const id = `${reportName}-${name}`
  let input
  let hint = schema.description ?? ''
  const values = Array.isArray(schema.enum) ? schema.enum : schema.type === 'boolean' ? [true, false] : undefined
  if (values !== undefined) {
    input = el('select', {})
    if (!isRequired || schema.default === undefined) input.append(el('option', { value: '' }, isRequired ? 'choose…' : ''))
    for (const value of values) input.append(el('option', { value: String(value) }, String(value)))
  } else if (schema.type === 'integer' || schema.type === 'number') {
    input = el('input', { type: 'number', step: schema.type === 'integer' ? '1' : 'any' })
    if (schema.minimum !== undefined) input.min = String(schema.minimum)
    if (schema.maximum !== undefined) input.max = String(schema.maximum)
  } else if (schema.format === 'date') {
    input = el('input', { type: 'date' })
  } else if (schema.format === 'date-time') {
    // datetime-local has no zone: the field is read, and sent, as UTC
    input = el('input', { type: 'datetime-local', step: '1' })
    input.dataset.utc = ''
    hint = hint || 'UTC'
  } else {
    input = el('input', { type: 'text' })
    if (schema.pattern !== undefined) input.placeholder = schema.pattern
  }
  Object.assign(input, { id, name })
  input.setAttribute('aria-describedby', `${id}-error`)
  if (isRequired) {
    input.required = true
    input.setAttribute('aria-required', 'true')
  }
  if (schema.default !== undefined) {
    input.value = input.dataset.utc === undefined ? String(schema.default) : toLocalInput(schema.default)
    hint = [hint, `default ${schema.default}`].filter(Boolean).join(' · ')
  }
  const label = el('label', { htmlFor: id }, name)
  if (isRequired) label.append(' ', el('abbr', { title: 'required', className: 'required' }, '*'))
  return el('div', { className: 'field' }, label, input,
    hint ? el('small', { className: 'hint' }, hint) : '',
    el('p', { id: `${id}-error`, className: 'error field-error' }))
}

/** The form as a query: empty fields left out (the report's defaults then apply). */
function queryOf (form) {
  const query = new URLSearchParams()
  for (const input of form.elements) {
    if (input.name === '' || input.value === '') continue
    query.append(input.name, input.dataset.utc === undefined ? input.value : fromLocalInput(input.value))
  }
  return query
}

function toLocalInput (value) {
  const date = new Date(value)
  return Number.isNaN(date.getTime()) ? '' : date.toISOString().slice(0, 19)
}

function fromLocalInput (value) {
  return `${value.length === 16 ? `${value}:00` : value}Z`
}

function downloadUrl (report, form, format) {
  const query = queryOf(form)
  query.set('download', '1')
  return `/reports/${encodeURIComponent(report.name)}.${format}?${query}`
}

/**
 * Without keys a plain link: the browser downloads it itself. With keys a button that mints a
 * signed link and has the browser follow that one; either way the file never passes through here.
 */
function downloadControl (report, form, format) {
  const text = format.toUpperCase()
  if (!state.keysOn) {
    const link = el('a', { className: 'button', download: '' }, text)
    link.dataset.format = format
    link.addEventListener('click', (event) => { if (refused(form)) event.preventDefault() })
    return link
  }
  const button = el('button', { type: 'button', className: 'button' }, text)
  button.dataset.format = format
  button.addEventListener('click', async () => {
    if (refused(form)) return
    button.disabled = true
    try {
      const response = await request('/links', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ path: downloadUrl(report, form, format), ttl: LINK_TTL })
      })
      if (response === undefined) return
      const section = document.getElementById(`report-${report.name}`)
      if (!response.ok) {
        showError(section, form, response.status, await messageOf(response))
        return
      }
      const { url } = await response.json()
      // the path and query only: the download stays on the origin this page came from
      const signed = new URL(url)
      const follow = el('a', { href: signed.pathname + signed.search, download: '', hidden: true })
      document.body.append(follow)
      follow.click()
      follow.remove()
    } catch (error) {
      notice(`No signed link for the download: ${error.message}`)
    } finally {
      button.disabled = false
    }
  })
  return button
}

/** A field the server refused is still as it was: a download would only fetch its 400. */
function refused (form) {
  const field = form.querySelector('[aria-invalid="true"]')
  field?.focus()
  return field !== null
}

function updateLinks (report, section, form) {
  for (const link of section.querySelectorAll('a[data-format]')) link.href = downloadUrl(report, form, link.dataset.format)
}

async function showPreview (report, section, form, signal) {
  section.setAttribute('aria-busy', 'true')
  clearErrors(form)
  const query = queryOf(form)
  // the first rows only, however many the form asks for; a limit the server refuses is sent as
  // it is, so that its message comes back
  if (!query.has('limit') || Number(query.get('limit')) > PREVIEW_ROWS) query.set('limit', String(PREVIEW_ROWS))
  const path = `/reports/${encodeURIComponent(report.name)}`
  const estimateQuery = queryOf(form)
  const waiting = (status, seconds) => setStatus(section, status === 429
    ? `This key runs all the streams it may (max_streams); asking again in ${seconds} s.`
    : `Sluice is busy; asking again in ${seconds} s.`)
  try {
    // each shown as it comes; with a key of one stream, the rows first
    await Promise.all([
      reportRequest(`${path}.json?${query}`, { signal }, (rows) => showRows(report, section, form, rows, signal), waiting),
      reportRequest(`${path}?${estimateQuery}`, { method: 'HEAD', signal }, (head) => showEstimate(section, head, signal))
    ])
  } finally {
    if (!signal.aborted) section.setAttribute('aria-busy', 'false')
  }
}

function showEstimate (section, head, signal) {
  if (signal.aborted) return
  const estimate = section.querySelector('[data-estimate]')
  const estimated = head?.ok ? head.headers.get('x-estimated-rows') : null
  estimate.dataset.estimate = estimated ?? ''
  estimate.textContent = estimated === null ? '—' : `≈ ${Number(estimated).toLocaleString('en')}`
}

async function showRows (report, section, form, rows, signal) {
  if (signal.aborted || rows === undefined) return
  try {
    if (!rows.ok) {
      showError(section, form, rows.status, await messageOf(rows))
      section.querySelector('.preview .scroll')?.remove()
      setStatus(section, 'No preview.')
      return
    }
    const page = parseWithSource(await rows.text())
    if (signal.aborted) return
    section.querySelector('.preview .scroll')?.remove()
    section.querySelector('.preview').append(previewTable(report, page.rows))
    setStatus(section, page.rows.length === 0
      ? 'No rows.'
      : page.next === null ? `All ${page.rows.length} rows.` : `The first ${page.rows.length} rows.`)
  } catch (error) {
    // a newer preview aborted this one while its body was still arriving: that one will show
    if (!signal.aborted) setStatus(section, `No preview: ${error.message}`)
  }
}

function previewTable (report, rows) {
  const scroll = el('div', { className: 'scroll', tabIndex: 0 })
  const table = el('table', {},
    el('thead', {}, el('tr', {}, ...report.columns.map((column) => el('th', { scope: 'col', title: column.type, className: alignOf(column) }, column.name)))),
    el('tbody', {}, ...rows.map((row) => el('tr', {}, ...report.columns.map((column) => cell(row[column.name], alignOf(column)))))))
  // the stable hook is the table itself; the wrapper only scrolls it on a narrow screen
  scroll.append(table)
  return scroll
}

/** Numbers right-aligned, by the column's PostgreSQL type (a text of digits stays text). */
function alignOf (column) {
  return /^(smallint|integer|bigint|numeric|real|double precision|int[248]|float[48])\b/.test(column.type) ? 'number' : ''
}

function cell (value, className) {
  if (value === null || value === undefined) return el('td', { className: 'null' })
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value)
  const td = el('td', { className }, text)
  if (text.length > 40) td.title = text
  return td
}

/**
 * JSON.parse, with every number kept as the text Sluice sent (where the browser can give it):
 * a bigint or a numeric of many digits is shown as PostgreSQL wrote it, not as a double. Kept as
 * raw JSON, so that a number inside a json column is written back as a number, not a string.
 */
function parseWithSource (text) {
  const raw = typeof JSON.rawJSON === 'function'
  return JSON.parse(text, (_key, value, context) => raw && typeof value === 'number' && typeof context?.source === 'string' ? JSON.rawJSON(context.source) : value)
}

function setStatus (section, text) {
  section.querySelector('.preview-status').textContent = text
}

function clearErrors (form) {
  for (const error of form.querySelectorAll('.error')) error.textContent = ''
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid')
}

/**
 * The server's own message, next to the field it names: its 400s and 403s say `parameter "NAME"`
 * (or `missing required parameter "NAME"`, `unknown parameter "NAME"`). Anything else, and a key
 * that was refused, goes under the form.
 */
function showError (section, form, status, message) {
  if (status === 401 && state.keysOn) {
    sessionStorage.removeItem(KEY_ITEM)
    state.key = null
    askKey(`The key was refused (401): ${message}`)
  }
  const name = /parameter "([^"]+)"/.exec(message)?.[1]
  const input = name === undefined ? null : form.elements.namedItem(name)
  if (input instanceof HTMLElement && input.name === name) {
    input.setAttribute('aria-invalid', 'true')
    document.getElementById(`${input.id}-error`).textContent = message
    return
  }
  const what = status === 403 ? 'Not allowed with this key' : status === 401 ? 'No valid key' : `Refused (${status})`
  form.querySelector('.form-error').textContent = `${what}: ${message}`
}

function el (tag, properties, ...children) {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(properties)) {
    if (name.includes('-')) element.setAttribute(name, value)
    else element[name] = value
  }
  element.append(...children)
  return element
}
