// Signed links (docs/http.md section 6): a URL that carries a key's rights for a while, for clients
// that cannot send a header (a browser's own download, a spreadsheet's "from web" import).
import { createHmac, timingSafeEqual } from 'node:crypto'
import { Forbidden } from '../errors.js'
import type { ApiKey } from './keys.js'

/** The query parameters a signed link adds; no report may declare them. */
export const LINK_PARAMS = ['expires', 'key_id', 'signature'] as const

/** The longest a link may live, in seconds (30 days). */
export const MAX_TTL = 2_592_000

export interface SignedLink {
  /** path and query, the link's own parameters added */
  readonly path: string
  /** Unix seconds */
  readonly expires: number
}

/** Signs `path` (with its query) for `key` until `now + ttl` seconds. */
export function signLink (secret: Buffer, key: ApiKey, path: string, ttl: number, now = Date.now()): SignedLink {
  const url = new URL(path, 'http://link')
  const expires = Math.floor(now / 1000) + ttl
  url.searchParams.set('expires', String(expires))
  url.searchParams.set('key_id', key.id)
  url.searchParams.set('signature', signature(secret, url.pathname, url.searchParams))
  return { path: url.pathname + url.search, expires }
}

/**
 * The key a signed request URL stands for, or a 403 saying why not: a changed path or parameter,
 * an expired link, or a key no longer in the keys file. The signature is checked first, so a
 * changed `expires` or `key_id` reads as the change it is.
 */
export function verifyLink (secret: Buffer, keys: readonly ApiKey[], rawUrl: string, now = Date.now()): ApiKey {
  let url: URL
  try {
    url = new URL(rawUrl, 'http://link')
  } catch {
    throw new Forbidden('this signed link is not a valid URL')
  }
  const given = url.searchParams.getAll('signature')
  if (given.length !== 1 || url.searchParams.getAll('expires').length !== 1 || url.searchParams.getAll('key_id').length !== 1) {
    throw new Forbidden('a signed link carries expires, key_id and signature once each')
  }
  const expected = Buffer.from(signature(secret, url.pathname, url.searchParams))
  const actual = Buffer.from(given[0]!)
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    throw new Forbidden('this signed link was changed: its path or parameters are not the ones signed')
  }
  const expires = Number(url.searchParams.get('expires'))
  if (!(expires * 1000 > now)) throw new Forbidden(`this signed link expired at ${new Date(expires * 1000).toISOString()}`)
  const id = url.searchParams.get('key_id')
  const key = keys.find((candidate) => candidate.id === id)
  if (key === undefined) throw new Forbidden('the API key that signed this link is no longer valid')
  return key
}

/** `url` with the value of its `signature` parameter replaced, for logs. */
export function redactSignature (url: string): string {
  return url.replace(/([?&]signature=)[^&#]*/g, '$1[redacted]')
}

/**
 * HMAC-SHA256 over one canonical form of the path and every parameter but the signature: pairs
 * sorted by name, then value, each percent-encoded the one way encodeURIComponent does, so that
 * URLs a server reads as equal verify as equal.
 */
function signature (secret: Buffer, pathname: string, params: URLSearchParams): string {
  const pairs = [...params].filter(([name]) => name !== 'signature')
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
    .sort()
  return createHmac('sha256', secret).update(`${decodeURIComponentSafe(pathname)}\n${pairs.join('&')}`).digest('base64url')
}

function decodeURIComponentSafe (text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}
