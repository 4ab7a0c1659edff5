// The two HTML pages: `/`, the reports with a form for their parameters and download links, and
// `/docs`, the OpenAPI document made readable. Rendered on the server, no script needed but the
// one line that leaves empty form fields out of the query.
import type { Report } from './reports/report.js'

export function homePage (reports: readonly Report[]): string {
  const sections = reports.map((report) => {
    const fields = Object.entries(report.params).map(([name, schema]) => field(name, schema, report.required.includes(name))).join('\n')
    const links = ['csv', 'ndjson', 'json', 'xlsx'].map((ext) => `<a href="/reports/${esc(report.name)}.${ext}?download=1">${ext.toUpperCase()}</a>`).join(' · ')
    return `<section>
<h2>${esc(report.title)} <code>${esc(report.name)}</code></h2>
${report.description === '' ? '' : `<p>${esc(report.description)}</p>`}
<p class="meta">Columns: ${report.columns.map((c) => `${esc(c.name)} <small>${esc(c.type)}</small>`).join(', ')} · key ${esc(report.key.join(', '))} · ${esc(report.strategy)}</p>
<form action="/reports/${esc(report.name)}" method="get" onsubmit="for (const e of this.elements) if (e.name && e.value === '') e.disabled = true">
${fields}
<label>format <select name="format"><option>csv</option><option>ndjson</option><option>json</option><option>xlsx</option></select></label>
<label>limit <input name="limit" type="number" min="1"${report.maxRows === undefined ? '' : ` max="${report.maxRows}"`}></label>
<input type="hidden" name="download" value="1">
<button>Download</button>
</form>
<p>Everything: ${links}</p>
</section>`
  }).join('\n')
  return page('Sluice reports', `<h1>Sluice reports</h1>
<p>Every report streams as CSV, NDJSON, JSON or XLSX. <a href="/docs">API</a> · <a href="/openapi.json">OpenAPI</a></p>
${sections === '' ? '<p>No reports to show.</p>' : sections}`)
}

interface OpenApiParameter { name: string, required?: boolean, schema?: Record<string, unknown>, description?: string }
interface OpenApiOperation { summary?: string, description?: string, parameters?: OpenApiParameter[], responses?: Record<string, { description: string }> }

export function docsPage (document: { paths?: Record<string, Record<string, OpenApiOperation>> }): string {
  const operations = Object.entries(document.paths ?? {}).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => `<section>
<h2><code>${esc(method.toUpperCase())} ${esc(path)}</code> ${esc(op.summary ?? '')}</h2>
${(op.description ?? '').split('\n\n').map((line) => `<p>${esc(line)}</p>`).join('\n')}
<table><tr><th>parameter</th><th>schema</th><th></th></tr>
${(op.parameters ?? []).map((p) => `<tr><td><code>${esc(p.name)}</code>${p.required === true ? ' <b>required</b>' : ''}</td><td><code>${esc(JSON.stringify(p.schema ?? {}))}</code></td><td>${esc(p.description ?? '')}</td></tr>`).join('\n')}
</table>
<ul>${Object.entries(op.responses ?? {}).map(([code, r]) => `<li><b>${esc(code)}</b> ${esc(r.description)}</li>`).join('')}</ul>
</section>`)).join('\n')
  return page('Sluice API', `<h1>Sluice API</h1><p><a href="/">Reports</a> · <a href="/openapi.json">openapi.json</a></p>\n${operations}`)
}

function field (name: string, schema: Record<string, unknown>, required: boolean): string {
  const label = `${esc(name)}${required ? ' *' : ''}`
  const fallback = schema.default === undefined ? '' : ` placeholder="${esc(String(schema.default))}"`
  if (Array.isArray(schema.enum)) {
    const options = [required ? '' : '<option value=""></option>', ...schema.enum.map((v) => `<option>${esc(String(v))}</option>`)].join('')
    return `<label>${label} <select name="${esc(name)}"${required ? ' required' : ''}>${options}</select></label>`
  }
  const type = schema.type === 'integer' || schema.type === 'number' ? 'number' : schema.format === 'date' ? 'date' : 'text'
  return `<label>${label} <input name="${esc(name)}" type="${type}"${required ? ' required' : ''}${fallback}></label>`
}

function page (title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222 }
section { border-top: 1px solid #ddd; padding: .5rem 0 1rem }
label { margin-right: 1rem; white-space: nowrap } .meta, small { color: #666 }
table { border-collapse: collapse } td, th { border: 1px solid #ddd; padding: .2rem .5rem; text-align: left; vertical-align: top }
</style></head>
<body>
${body}
</body></html>
`
}

function esc (text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}
