import { createHash, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'

/** One API key of API_KEYS_FILE (docs/http.md section 6), as stored: its hash, never the key. */
export interface ApiKey {
  readonly id: string
  readonly hash: Buffer
  /** report names or `*` globs this key may read */
  readonly reports: readonly string[]
  /** concurrent streams of this key at most */
  readonly maxStreams: number | undefined
  /** parameters fixed for every request with this key */
  readonly params: Readonly<Record<string, string | number | boolean>>
}

/** A keys file that cannot be used; the message says what is wrong, never a key or a hash. */
export class KeysFileError extends Error {
  override name = 'KeysFileError'
}

/** Reads and checks API_KEYS_FILE; throws a KeysFileError naming the file and the problem. */
export async function loadKeys (file: string): Promise<ApiKey[]> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new KeysFileError(`API_KEYS_FILE ${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  let entries: unknown
  try {
    entries = JSON.parse(text)
  } catch {
    // JSON.parse's message quotes the text around the fault, which may be part of a hash
    throw new KeysFileError(`API_KEYS_FILE ${file}: not valid JSON`)
  }
  if (!Array.isArray(entries) || entries.length === 0) throw new KeysFileError(`API_KEYS_FILE ${file}: must be a non-empty JSON array of keys`)
  const keys = entries.map((entry, i) => {
    try {
      return readKey(entry)
    } catch (error) {
      const id = typeof (entry as { id?: unknown })?.id === 'string' ? ` ("${(entry as { id: string }).id}")` : ''
      throw new KeysFileError(`API_KEYS_FILE ${file}: key ${i + 1}${id}: ${(error as Error).message}`)
    }
  })
  const ids = new Set<string>()
  const hashes = new Set<string>()
  for (const key of keys) {
    if (ids.has(key.id)) throw new KeysFileError(`API_KEYS_FILE ${file}: the id "${key.id}" is used twice`)
    if (hashes.has(key.hash.toString('hex'))) throw new KeysFileError(`API_KEYS_FILE ${file}: key "${key.id}" has the same sha256 as another key`)
    ids.add(key.id)
    hashes.add(key.hash.toString('hex'))
  }
  return keys
}

/**
 * The key whose hash matches the presented one. Every stored hash is compared, in constant time,
 * so neither the time taken nor where the match is tells anything about the keys.
 */
export function findKey (keys: readonly ApiKey[], presented: string): ApiKey | undefined {
  const hash = createHash('sha256').update(presented).digest()
  let found: ApiKey | undefined
  for (const key of keys) {
    if (timingSafeEqual(key.hash, hash)) found = key
  }
  return found
}

/** Whether `key` may read the report `name`: a glob of its list matches, and it declares every fixed parameter. */
export function mayRead (key: ApiKey, name: string, declared: readonly string[]): boolean {
  return key.reports.some((glob) => globMatches(glob, name)) && Object.keys(key.params).every((param) => declared.includes(param))
}

function globMatches (glob: string, name: string): boolean {
  const pattern = glob.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')
  return new RegExp(`^${pattern}$`).test(name)
}

const FIELDS = new Set(['id', 'sha256', 'reports', 'max_streams', 'params'])

function readKey (entry: unknown): ApiKey {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new Error('must be an object')
  const { id, sha256, reports, max_streams: maxStreams, params } = entry as Record<string, unknown>
  for (const field of Object.keys(entry)) if (!FIELDS.has(field)) throw new Error(`unknown field "${field}"`)
  if (typeof id !== 'string' || id.trim() === '') throw new Error('id must be a non-empty string')
  if (typeof sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(sha256)) throw new Error('sha256 must be the 64 hex digits of the key\'s SHA-256')
  if (!Array.isArray(reports) || reports.length === 0 || !reports.every((r) => typeof r === 'string' && r !== '')) {
    throw new Error('reports must be a non-empty list of report names or * globs')
  }
  if (maxStreams !== undefined && !(Number.isSafeInteger(maxStreams) && (maxStreams as number) > 0)) {
    throw new Error('max_streams must be a positive whole number')
  }
  if (params !== undefined && (typeof params !== 'object' || params === null || Array.isArray(params))) {
    throw new Error('params must be an object of fixed parameter values')
  }
  for (const [name, value] of Object.entries(params ?? {})) {
    if (!['string', 'number', 'boolean'].includes(typeof value)) throw new Error(`params.${name} must be a string, number or boolean`)
  }
  return {
    id,
    hash: Buffer.from(sha256, 'hex'),
    reports: reports as string[],
    maxStreams: maxStreams as number | undefined,
    params: (params ?? {}) as Record<string, string | number | boolean>
  }
}
