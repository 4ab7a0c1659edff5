// The two HTML pages, `/` (the reports page, docs/http.md section 8) and `/docs` (Swagger UI over
// /openapi.json), are static files: public/*.html and the plain scripts and styles in
// public/assets/. They hold no report and no name of one; everything they show, the page's
// script reads from the API with the key the person enters. Nothing is built for them, and
// nothing they load comes from anywhere but Sluice.
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** public/ beside src/ when run from sources, dist/public when built (`npm run build` copies it). */
export const PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url))

/** The installed swagger-ui-dist, found without loading its 1.5 MB bundle into the server. */
export const SWAGGER_UI_DIR = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'))

/** What /docs/ui/ serves of swagger-ui-dist: its own index.html and initializer point elsewhere. */
export const SWAGGER_UI_FILES: ReadonlySet<string> = new Set(['/swagger-ui.css', '/swagger-ui-bundle.js', '/favicon-32x32.png', '/favicon-16x16.png'])

/** The reports page talks to Sluice only: its own script and style, fetches and downloads to itself. */
export const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

/** Swagger UI sets style attributes and draws some icons from data: URLs. */
export const DOCS_CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

export interface Pages {
  readonly home: Buffer
  readonly docs: Buffer
}

/** The two pages' HTML, read once at start: a few KiB that never change while the process runs. */
export async function loadPages (): Promise<Pages> {
  const [home, docs] = await Promise.all([readFile(path.join(PUBLIC_DIR, 'index.html')), readFile(path.join(PUBLIC_DIR, 'docs.html'))])
  return { home, docs }
}
